// Test helpers: push chunks through a Transform and collect what comes out.
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export async function runThrough(t: Transform, chunks: readonly Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    t,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Splits into chunks of `size` bytes. */
export function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Deterministic pseudo-random chunking (mulberry32), 1..maxSize bytes each. */
export function randomChunks(buf: Buffer, seed: number, maxSize: number): Buffer[] {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * maxSize);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** A CRLF MailWizz-style campaign message with a DKIM signature. */
export function mailwizzMessage(opts: { extraHeaders?: string[]; body?: string } = {}): string {
  const headers = [
    'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=mailer;',
    '\th=From:To:Subject:Date:Message-ID; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;',
    '\tb=dGVzdA==',
    'Message-ID: <3f786850e387550fdab836ed7e6dc881de23001b@bounce.example.com>',
    'Date: Tue, 24 Nov 2026 23:30:00 +0000',
    'Subject: Weekly news',
    'From: Acme News <news@example.com>',
    'To: Jane <jane@example.org>',
    'List-Unsubscribe: <https://mw.example.com/lists/ab123/unsubscribe/sub456/cmp789>',
    'Feedback-ID: cmp789:sub456:ab123:cust001',
    ...(opts.extraHeaders ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  const body = opts.body ?? 'Hello Jane,\r\n\r\nThis is the news.\r\n.\r\n';
  return headers.join('\r\n') + '\r\n\r\n' + body;
}
