// The forwarder's SMTP client against Postfix's smtp-sink, a C server that
// pipelines its replies (the bench's stand-in for PowerMTA): messages in a row
// on the pooled connection arrive whole, with the envelope and parameters as sent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { Forwarder } from '../../src/forward/forwarder.js';
import { tmpDir, waitFor } from '../helpers/env.js';

const SINK = ['/usr/sbin/smtp-sink', '/usr/bin/smtp-sink'].find((f) => {
  try {
    accessSync(f, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('Forwarder against Postfix smtp-sink', { skip: SINK ? false : 'smtp-sink not installed (apt-get install postfix)' }, () => {
  it('30 messages in a row over the pool (one connection at most): each arrives whole, stamped, with its envelope and BODY=8BITMIME', async () => {
    const { dir, cleanup } = tmpDir();
    chmodSync(dir, 0o777); // smtp-sink run as root drops to nobody, who writes the dump
    const dump = path.join(dir, 'dump.txt');
    const port = await freePort();
    const sink = spawn(SINK!, ['-c', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-D', dump, `127.0.0.1:${port}`, '64'], { stdio: 'ignore' });
    const fwd = new Forwarder({ host: '127.0.0.1', port, maxConnections: 1, maxMessagesPerConnection: 1000, connectTimeoutMs: 2_000, replyTimeoutMs: 5_000, clientName: 'agent.test' });
    try {
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const c = net.connect(port, '127.0.0.1');
            c.once('connect', () => (c.destroy(), resolve(true)));
            c.once('error', () => resolve(false));
          }),
        10_000,
        'smtp-sink listening',
      );
      for (let i = 0; i < 30; i++) {
        const msg = `Subject: n${i}\r\nMessage-ID: <n${i}@sos-mail.com>\r\n\r\n.dot ${i}\r\ncaf\u00e9\r\nlast ${i}`;
        const out = await fwd.forward(
          { mailFrom: 'news@sos-mail.com', rcptTo: [`a${i}@example.net`, `b${i}@example.net`], vmta: 'sos-expat-45-123-10-1', jobFallback: 'sos-expat-20261125', mailParams: { body: '8BITMIME' } },
          Readable.from([Buffer.from(msg, 'utf8')]),
        );
        assert.deepEqual(out, { kind: 'accepted', response: '250 2.0.0 Ok', accepted: [`a${i}@example.net`, `b${i}@example.net`], rejected: [] });
      }
      fwd.close();
      // smtp-sink writes its dump with LF line ends, one transaction after another.
      await waitFor(() => (readFileSync(dump, 'utf8').match(/^last \d+$/gm) ?? []).length === 30, 5_000, 'every message in the dump');
      const text = readFileSync(dump, 'utf8');
      for (let i = 0; i < 30; i++) {
        assert.ok(
          text.includes(
            `X-Mail-Args: <news@sos-mail.com> BODY=8BITMIME\nX-Rcpt-Args: <a${i}@example.net>\nX-Rcpt-Args: <b${i}@example.net>\n`,
          ),
          `envelope of message ${i}`,
        );
        assert.ok(text.includes(`X-Virtual-MTA: sos-expat-45-123-10-1\nX-Job: sos-expat-20261125\nSubject: n${i}\nMessage-ID: <n${i}@sos-mail.com>\n\n.dot ${i}\ncaf\u00e9\nlast ${i}\n`), `message ${i}`);
      }
      assert.equal((text.match(/^X-Client-Addr:/gm) ?? []).length, 30);
    } finally {
      fwd.close();
      sink.kill('SIGTERM');
      cleanup();
    }
  });
});
