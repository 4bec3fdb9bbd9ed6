import net from 'node:net';

/** A bare SMTP client that sends one line at a time and reads whole replies, for protocol-level tests. */
export async function rawSmtp(
  port: number,
  opts: { localAddress?: string; firstLine?: string } = {},
): Promise<{
  cmd(line: string): Promise<string>;
  cmdMany(lines: string[]): Promise<string[]>;
  /** Bytes as they are, no reply awaited (a message body in parts). */
  write(data: string): void;
  /** The next reply. */
  reply(): Promise<string>;
  close(): void;
  greeting: string;
}> {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
  // Written as soon as the connection is up, before the greeting has been read.
  if (opts.firstLine !== undefined) sock.once('connect', () => sock.write(opts.firstLine + '\r\n'));
  let buf = '';
  const waiters: Array<(reply: string) => void> = [];
  const replies: string[] = [];
  sock.on('data', (d) => {
    buf += d.toString('utf8');
    let m: RegExpMatchArray | null;
    // A reply ends with a line whose code is followed by a space.
    while ((m = buf.match(/^((?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n)/))) {
      buf = buf.slice(m[1]!.length);
      const reply = m[1]!.trimEnd();
      const w = waiters.shift();
      if (w) w(reply);
      else replies.push(reply);
    }
  });
  const next = () => new Promise<string>((resolve) => (replies.length ? resolve(replies.shift()!) : waiters.push(resolve)));
  const greeting = await next();
  return {
    greeting,
    cmd(line: string) {
      sock.write(line + '\r\n');
      return next();
    },
    /** Pipelining: every line in one write, then one reply per line. */
    cmdMany(lines: string[]) {
      sock.write(lines.map((l) => l + '\r\n').join(''));
      return Promise.all(lines.map(() => next()));
    },
    write: (data: string) => void sock.write(data),
    reply: next,
    close: () => sock.destroy(),
  };
}
