import net from 'node:net';

/**
 * A TCP relay on loopback that keeps every byte each client wrote, so a test
 * can compare what a real mailer sent with what reached PowerMTA.
 */
export async function recordingProxy(targetPort: number): Promise<{ port: number; sent(): Buffer[]; close(): Promise<void> }> {
  const connections: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const chunks: Buffer[] = [];
    connections.push(chunks);
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d: Buffer) => chunks.push(d));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => connections.map((c) => Buffer.concat(c)),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Each transaction a client sent: its MAIL FROM line and the message after DATA, dot-unstuffed, without the final `.` line. */
export function transactions(clientBytes: Buffer): Array<{ mailFrom: string; data: Buffer }> {
  const text = clientBytes.toString('latin1');
  const out: Array<{ mailFrom: string; data: Buffer }> = [];
  let mailFrom = '';
  let i = 0;
  while (i < text.length) {
    const eol = text.indexOf('\r\n', i);
    if (eol < 0) break;
    const line = text.slice(i, eol);
    i = eol + 2;
    if (/^MAIL FROM:/i.test(line)) mailFrom = line;
    if (line.toUpperCase() !== 'DATA') continue;
    // The data ends at the first CRLF . CRLF (a lone dot on the very first line ends an empty message).
    const end = text.startsWith('.\r\n', i) ? i - 2 : text.indexOf('\r\n.\r\n', i);
    if (end < 0) break;
    const data = text.slice(i, end + 2).replace(/^\.\./, '.').replace(/\r\n\.\./g, '\r\n.');
    out.push({ mailFrom, data: Buffer.from(data, 'latin1') });
    i = end + 5;
  }
  return out;
}

/** The messages a client sent after each DATA, dot-unstuffed, without the final `.` line. */
export function dataPayloads(clientBytes: Buffer): Buffer[] {
  return transactions(clientBytes).map((t) => t.data);
}
