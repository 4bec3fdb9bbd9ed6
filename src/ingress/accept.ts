import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SMTPServer } from 'smtp-server';

// Before each session smtp-server reads a PROXY protocol header when `useProxy`
// asks for one; the agent's listener never does, and then _handleProxy only
// makes the session id, from 10 random bytes through a BigInt, and reads the
// peer address for `ignoredHosts` (unset here). SMTPConnection then asks the
// kernel for the socket's local address (getsockname), which on a listener bound
// to one address is that address. At MailWizz's default of one message per
// connection that is a few microseconds of a ~1 ms message (issue 15).
//
// For the servers registered here, _handleProxy is replaced on the instance by
// the same steps with an id from a counter behind a random per-process prefix
// (same form: 16 base-32 characters, unique within the process, unguessable
// across restarts) and the listening address as the local one. Only when the
// library's _handleProxy opens, token for token, as the one this was written
// against (smtp-server 3.21); otherwise acceptWithoutProxyCheck() returns false and
// test/ingress/accept.test.ts fails on the upgrade that changed it.

const EXPECTED_OPENING =
  "_handleProxy(socket,callback){letsocketOptions={id:BigInt('0x'+crypto.randomBytes(10).toString('hex')).toString(32).padStart(16,'0')};if(!this._expectsProxyHeader(socket)){socketOptions.ignore=this.options.ignoredHosts&&this.options.ignoredHosts.includes(socket.remoteAddress);setImmediate(()=>callback(null,socketOptions));return;}";

interface SocketOptions {
  id: string;
  ignore: boolean;
  localAddress?: string;
  localPort?: number;
}

interface ServerInternals {
  options: { useProxy?: unknown; ignoredHosts?: unknown; secure?: boolean; needsUpgrade?: boolean };
  server: { address(): ReturnType<import('node:net').Server['address']> };
  _handleProxy(socket: Socket, callback: (err: Error | null, options?: SocketOptions) => void): void;
}

const tokens = (source: string) => source.replace(/\/\/[^\n]*\n/g, '').replace(/\s+/g, '');

const PREFIX = BigInt('0x' + randomBytes(5).toString('hex')).toString(32).padStart(8, '0');
let counter = 0;

/** 16 base-32 characters, as smtp-server's own ids: 8 of a random prefix, 8 of a counter. */
export function nextSessionId(): string {
  counter = (counter + 1) % 32 ** 8;
  return PREFIX + counter.toString(32).padStart(8, '0');
}

/** Set up each session of this server without the PROXY-header step. False when the installed smtp-server is not the one this patch knows, or the server reads PROXY headers. */
export function acceptWithoutProxyCheck(server: SMTPServer): boolean {
  const s = server as unknown as ServerInternals;
  const original = s._handleProxy;
  if (typeof original !== 'function' || !tokens(original.toString()).startsWith(EXPECTED_OPENING)) return false;
  if (s.options.useProxy || s.options.ignoredHosts || (s.options.secure && !s.options.needsUpgrade)) return false;
  // Known once listening; a wildcard address says nothing about a connection's own local address.
  let local: { localAddress: string; localPort: number } | null | undefined;
  const localOf = () => {
    if (local !== undefined) return local;
    const a = s.server.address();
    if (!a || typeof a !== 'object') return null;
    return (local = a.address === '0.0.0.0' || a.address === '::' ? null : { localAddress: a.address, localPort: a.port });
  };
  s._handleProxy = (_socket, callback) => {
    const options: SocketOptions = { id: nextSessionId(), ignore: false, ...localOf() };
    setImmediate(() => callback(null, options));
  };
  return true;
}
