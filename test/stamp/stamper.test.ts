import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { HeaderRefused, HeaderStamper } from '../../src/stamp/stamper.js';
import { jobIdFor, type HeaderInfo } from '../../src/stamp/headers.js';
import { chunksOf, mailwizzMessage, randomChunks, runThrough } from './streams.js';

const VMTA = 'acme-10-0-0-1';
const makeStamp = (info: HeaderInfo): { vmta: string; job: string } => ({
  vmta: VMTA,
  job: jobIdFor(info, 'acme'),
});

async function stamp(msg: string | Buffer, chunks?: (b: Buffer) => Buffer[]): Promise<Buffer> {
  const buf = typeof msg === 'string' ? Buffer.from(msg) : msg;
  return runThrough(new HeaderStamper(makeStamp), chunks ? chunks(buf) : [buf]);
}

function countLines(text: string, re: RegExp): number {
  return text.split(/\r?\n/).filter((l) => re.test(l)).length;
}

describe('HeaderStamper', () => {
  it('replaces a folded X-Virtual-MTA by exactly one with the new value and leaves the rest byte-identical', async () => {
    const original = mailwizzMessage({ extraHeaders: ['X-Virtual-MTA: mailwizz-default', '  -pool'] });
    const out = (await stamp(original)).toString();
    assert.equal(countLines(out, /^x-virtual-mta\s*:/i), 1);
    assert.ok(!out.includes('-pool'));
    const expected =
      `X-Virtual-MTA: ${VMTA}\r\nX-Job: cmp789\r\n` +
      original.replace('X-Virtual-MTA: mailwizz-default\r\n  -pool\r\n', '');
    assert.equal(out, expected);
  });

  it('adds X-Job from Feedback-ID for a stock MailWizz 2.1 message', async () => {
    const out = (await stamp(mailwizzMessage())).toString();
    assert.ok(out.startsWith(`X-Virtual-MTA: ${VMTA}\r\nX-Job: cmp789\r\nDKIM-Signature:`));
  });

  it('prefers X-Mw-Campaign-Uid, then X-Campaign-Uid, over Feedback-ID for the job', async () => {
    const mw = await stamp(mailwizzMessage({ extraHeaders: ['X-Campaign-Uid: plain', 'X-Mw-Campaign-Uid: mwuid'] }));
    assert.ok(mw.toString().startsWith(`X-Virtual-MTA: ${VMTA}\r\nX-Job: mwuid\r\n`));
    const plain = await stamp(mailwizzMessage({ extraHeaders: ['X-Campaign-Uid: plain'] }));
    assert.ok(plain.toString().startsWith(`X-Virtual-MTA: ${VMTA}\r\nX-Job: plain\r\n`));
  });

  it('uses the fallback job when no header names one', async () => {
    const out = (await stamp('Subject: hi\r\n\r\nbody')).toString();
    assert.equal(out, `X-Virtual-MTA: ${VMTA}\r\nX-Job: acme\r\nSubject: hi\r\n\r\nbody`);
  });

  it('leaves an existing X-Job untouched and does not add a second one', async () => {
    const original = mailwizzMessage({ extraHeaders: ['x-job: [CAMPAIGN_UID]-as-set'] });
    const out = (await stamp(original)).toString();
    assert.equal(countLines(out, /^x-job\s*:/i), 1);
    assert.equal(out, `X-Virtual-MTA: ${VMTA}\r\n` + original);
  });

  it('stamps an LF-only message with LF line endings', async () => {
    const original = 'From: a@example.com\nMessage-ID: <x@y>\n\nline 1\nline 2\n';
    const out = (await stamp(original)).toString();
    assert.equal(out, `X-Virtual-MTA: ${VMTA}\nX-Job: acme\n` + original);
  });

  it('gives the same output whether the message arrives whole, in 1-byte chunks or in random chunks', async () => {
    const original = Buffer.from(
      mailwizzMessage({
        extraHeaders: ['X-Virtual-MTA: old', '\tfolded'],
        body: 'x'.repeat(3000) + '\r\n\r\nmore\r\n',
      }),
    );
    const whole = await stamp(original);
    assert.deepEqual(await stamp(original, (b) => chunksOf(b, 1)), whole);
    for (const seed of [1, 2, 3, 42, 1234]) {
      for (const max of [3, 17, 256]) {
        assert.deepEqual(await stamp(original, (b) => randomChunks(b, seed, max)), whole, `seed ${seed} max ${max}`);
      }
    }
  });

  it('passes a 5 MB body through unchanged', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 8)) & 0xff;
    const head = Buffer.from(mailwizzMessage({ body: '' }));
    const out = await stamp(Buffer.concat([head, body]), (b) => randomChunks(b, 7, 65536));
    const stampedHead = Buffer.from(`X-Virtual-MTA: ${VMTA}\r\nX-Job: cmp789\r\n`);
    const outBody = out.subarray(stampedHead.length + head.length);
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    assert.equal(outBody.length, body.length);
    assert.equal(sha(outBody), sha(body));
  });

  it('emits the stamped headers and body before the input has ended', async () => {
    const s = new HeaderStamper(makeStamp);
    const out: Buffer[] = [];
    s.on('data', (c: Buffer) => out.push(c));
    s.write(Buffer.from('Subject: hi\r\n\r\nfirst part '));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(out).toString(), `X-Virtual-MTA: ${VMTA}\r\nX-Job: acme\r\nSubject: hi\r\n\r\nfirst part `);
    s.write(Buffer.from('second part'));
    await new Promise((r) => setImmediate(r));
    assert.ok(Buffer.concat(out).toString().endsWith('first part second part'));
    s.end();
  });

  it('stamps a header-only message that has no empty line', async () => {
    const original = 'Message-ID: <only@headers>\r\nX-Virtual-MTA: old\r\nSubject: hi\r\n';
    const s = new HeaderStamper(makeStamp);
    const out = (await runThrough(s, chunksOf(Buffer.from(original), 5))).toString();
    assert.equal(out, `X-Virtual-MTA: ${VMTA}\r\nX-Job: acme\r\nMessage-ID: <only@headers>\r\nSubject: hi\r\n`);
    assert.equal(s.info?.messageId, '<only@headers>');
  });

  it('treats a message starting with an empty line as having no headers, using its line ending', async () => {
    const out = (await stamp('\r\nbody\r\n\r\nX-Virtual-MTA: in-body\r\n')).toString();
    assert.equal(out, `X-Virtual-MTA: ${VMTA}\r\nX-Job: acme\r\n\r\nbody\r\n\r\nX-Virtual-MTA: in-body\r\n`);
  });

  it('refuses a header block longer than maxHeaderBytes instead of passing its unread rest (an X-Virtual-MTA could hide there)', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(20)}\r\n`).join('');
    const original = Buffer.from('X-Virtual-MTA: old\r\n' + lines + 'X-Virtual-MTA: late\r\n\r\nbody');
    for (const chunks of [[original], chunksOf(original, 1)]) {
      await assert.rejects(runThrough(new HeaderStamper(makeStamp, { maxHeaderBytes: 200 }), chunks), (err: Error) => {
        assert.ok(err instanceof HeaderRefused);
        assert.match(err.message, /longer than 200 bytes/);
        return true;
      });
    }
  });

  it('parses the headers before asking for the stamp and exposes them as info', async () => {
    const seen: HeaderInfo[] = [];
    const s = new HeaderStamper((info) => {
      seen.push(info);
      return { vmta: 'v', job: 'j' };
    });
    assert.equal(s.info as HeaderInfo | null, null);
    await runThrough(s, [Buffer.from(mailwizzMessage())]);
    assert.equal(seen.length, 1);
    assert.equal(s.info, seen[0]);
    assert.equal(s.info?.messageId, '<3f786850e387550fdab836ed7e6dc881de23001b@bounce.example.com>');
    assert.equal(s.info?.from, 'Acme News <news@example.com>');
    assert.equal(s.info?.feedbackId, 'cmp789:sub456:ab123:cust001');
  });

  it('keeps header bytes that are not valid UTF-8 and writes a non-ASCII job as UTF-8', async () => {
    const original = Buffer.concat([
      Buffer.from('Subject: caf'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('\r\n\r\nbody'),
    ]);
    const out = await runThrough(new HeaderStamper(() => ({ vmta: 'v', job: 'café' })), [original]);
    assert.deepEqual(out, Buffer.concat([Buffer.from('X-Virtual-MTA: v\r\nX-Job: café\r\n', 'utf8'), original]));
  });

  it('fails the stream when the stamp callback throws', async () => {
    const s = new HeaderStamper(() => {
      throw new Error('no IP left');
    });
    await assert.rejects(runThrough(s, [Buffer.from('A: 1\r\n\r\nb')]), /no IP left/);
  });

  it('fails the stream when the stamp would inject a header', async () => {
    const s = new HeaderStamper(() => ({ vmta: 'v\r\nBcc: x@y', job: 'j' }));
    await assert.rejects(runThrough(s, [Buffer.from('A: 1\r\n\r\nb')]), TypeError);
  });
});
