import net from 'node:net';

export type PmtaProbe =
  | { reachable: true; greeting: string; ms: number }
  | { reachable: false; error: string; ms: number };

/**
 * Whether PowerMTA answers now: a TCP connect and its 220 greeting, then QUIT.
 * The hand-off health only changes when mail moves, so on a quiet agent it would
 * still say "reachable" long after PowerMTA went away.
 */
export function probePmta(host: string, port: number, timeoutMs: number, now: () => number = Date.now): Promise<PmtaProbe> {
  const started = now();
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const socket = net.connect({ host, port });
    const done = (r: { greeting: string } | { error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if ('greeting' in r) socket.end('QUIT\r\n');
      else socket.destroy();
      const ms = now() - started;
      resolve('greeting' in r ? { reachable: true, greeting: r.greeting, ms } : { reachable: false, error: r.error, ms });
    };
    const timer = setTimeout(() => done({ error: `no greeting within ${timeoutMs} ms` }), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      // A multi-line greeting ends with "220 " (RFC 5321 §4.2.1).
      const last = /(?:^|\r?\n)(\d{3})([ -])([^\r\n]*)\r?\n$/.exec(buf);
      if (!last || last[2] === '-') {
        if (buf.length > 4096) done({ error: 'greeting longer than 4096 bytes' });
        return;
      }
      if (last[1] === '220') done({ greeting: `220 ${last[3]}`.trim() });
      else done({ error: `greeting ${last[1]} ${last[3]}`.trim() });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ? `${err.code} ${err.message}` : err.message }));
    socket.on('close', () => done({ error: 'connection closed before the greeting' }));
  });
}
