// A raw SMTP server on loopback that answers as a test scripts it and records
// what the client wrote, command by command, for protocol-level assertions
// (pipelining, RSET, QUIT, when the body's bytes arrived) that smtp-server does
// not expose.
import net from 'node:net';

export interface Script {
  greeting?: string;
  /** EHLO keywords offered; default PIPELINING and 8BITMIME. */
  extensions?: string[];
  mail?: (from: string) => string;
  rcpt?: (to: string) => string;
  data?: () => string;
  /** The reply to the message (raw wire bytes, still dot-stuffed, without the final ".\r\n"); null: never answer. */
  message?: (wire: Buffer) => string | null;
  /** Withhold the replies to MAIL and RCPT until a DATA command arrives: only a client that pipelines gets past MAIL FROM. */
  holdUntilData?: boolean;
  /** Close the connection as soon as this command arrives. */
  closeOn?: string;
  /** Close the connection once the final dot is read, without a reply (PowerMTA's answer lost after the message). */
  closeAfterMessage?: boolean;
  /** Close the connection as soon as bytes of the message arrive without its final dot. */
  closeInBody?: boolean;
}

export interface Session {
  commands: string[];
  /** Each message as it came on the wire. */
  messages: Buffer[];
  /** Bytes received after a 354, so far. */
  bodyBytes: number;
  /** A command arrived before the previous one was answered, without PIPELINING offered. */
  pipelinedUnasked: boolean;
  closed: boolean;
}

export interface ScriptedPmta {
  port: number;
  sessions: Session[];
  script: Script;
  close(): Promise<void>;
}

export async function scriptedPmta(script: Script = {}): Promise<ScriptedPmta> {
  const sessions: Session[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const s: Session = { commands: [], messages: [], bodyBytes: 0, pipelinedUnasked: false, closed: false };
    sessions.push(s);
    const ext = script.extensions ?? ['PIPELINING', '8BITMIME'];
    let buf = Buffer.alloc(0);
    let inData = false;
    let held: string[] = [];
    const reply = (text: string, holdable = false): void => {
      if (script.holdUntilData && holdable) held.push(text);
      else socket.write(text + '\r\n');
    };
    socket.on('close', () => {
      s.closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    socket.write((script.greeting ?? '220 scripted ESMTP') + '\r\n');
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (inData) s.bodyBytes += chunk.length;
      for (;;) {
        if (inData) {
          // The data started right after "DATA\r\n": a terminator at its very start ends an empty message.
          const end = buf.subarray(0, 3).equals(Buffer.from('.\r\n')) ? 0 : buf.indexOf('\r\n.\r\n');
          if (end < 0) {
            if (script.closeInBody && buf.length > 0) socket.destroy();
            return;
          }
          const wire = end === 0 ? Buffer.alloc(0) : buf.subarray(0, end + 2);
          buf = buf.subarray(end === 0 ? 3 : end + 5);
          inData = false;
          s.messages.push(wire);
          if (script.closeAfterMessage) {
            socket.destroy();
            return;
          }
          const r = script.message ? script.message(wire) : '250 2.0.0 Ok: queued as Q' + s.messages.length;
          if (r !== null) reply(r);
          continue;
        }
        const lf = buf.indexOf('\n');
        if (lf < 0) return;
        const line = buf.subarray(0, lf).toString('utf8').replace(/\r$/, '');
        buf = buf.subarray(lf + 1);
        if (buf.length > 0 && !ext.includes('PIPELINING')) s.pipelinedUnasked = true;
        s.commands.push(line);
        const verb = line.split(/[ :]/)[0]!.toUpperCase();
        if (script.closeOn && verb === script.closeOn) {
          socket.destroy();
          return;
        }
        if (verb === 'EHLO') reply(['scripted', ...ext].map((e, i, a) => `250${i === a.length - 1 ? ' ' : '-'}${e}`).join('\r\n'));
        else if (verb === 'HELO') reply('250 scripted');
        else if (verb === 'MAIL') reply(script.mail ? script.mail(line) : '250 2.1.0 Ok', true);
        else if (verb === 'RCPT') reply(script.rcpt ? script.rcpt(line) : '250 2.1.5 Ok', true);
        else if (verb === 'RSET') reply('250 2.0.0 Ok');
        else if (verb === 'DATA') {
          const r = script.data ? script.data() : '354 End data with <CR><LF>.<CR><LF>';
          if (script.holdUntilData) {
            socket.write(held.map((h) => h + '\r\n').join(''));
            held = [];
          }
          socket.write(r + '\r\n');
          if (r.startsWith('354')) {
            inData = true;
            s.bodyBytes += buf.length;
          }
        } else if (verb === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
          return;
        } else reply('502 5.5.2 Error: command not recognized');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sessions,
    script,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
