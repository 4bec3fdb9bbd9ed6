import type { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

// smtp-server waits 100 ms after accepting a connection before its 220 greeting and
// answers anything sent in that time with 421 "You talk too soon": a trap for spam
// bots on a public MX. The agent's listener serves MailWizz on a private port, and
// only after AUTH; there the pause only caps every session at 10 connections a
// second (issue 15: 20 sessions could not pass 200 msg/s in MailWizz's default of
// one message per connection).
//
// SMTPConnection.init() is replaced by the same steps without the timer, for the
// servers registered here only (the PowerMTA simulator keeps the pause). It is
// replaced only if the library's init() is, token for token, the one this was
// written against (smtp-server 3.21); otherwise the pause stays and
// greetWithoutPause() returns false, which test/ingress/greeting.test.ts turns into
// a failure on the upgrade that changed it, instead of a broken production listener.

const EXPECTED_INIT =
  "init(){this._setListeners(()=>{if(this._server.options.maxClients&&this._server.connections.size>this._server.options.maxClients){returnthis.send(421,this.name+'Toomanyconnectedclients,tryagaininamoment',false);}letreadyTimer=setTimeout(()=>this.connectionReady(),100);readyTimer.unref();});}";

interface ConnectionInternals {
  _server: SMTPServer & { options: { maxClients?: number } };
  name: string;
  _setListeners(callback: () => void): void;
  connectionReady(next?: () => void): void;
  send(code: number, data?: string, context?: string | false): void;
}

const withoutPause = new WeakSet<object>();
let patched: boolean | null = null;

const tokens = (source: string) => source.replace(/\/\/[^\n]*\n/g, '').replace(/\s+/g, '');

function install(): boolean {
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals & { init(): void };
  const original = proto.init;
  if (typeof original !== 'function' || tokens(original.toString()) !== EXPECTED_INIT) return false;
  if (typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') return false;
  proto.init = function (this: ConnectionInternals) {
    if (!withoutPause.has(this._server)) return original.call(this);
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };
  return true;
}

/** Greet this server's clients at once. False when the installed smtp-server is not the one this patch knows: the pause stays. */
export function greetWithoutPause(server: SMTPServer): boolean {
  patched ??= install();
  if (patched) withoutPause.add(server);
  return patched;
}
