import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderScanner } from '../../src/stamp/scanner.js';
import type { HeaderInfo } from '../../src/stamp/headers.js';
import { chunksOf, mailwizzMessage, randomChunks, runThrough } from './streams.js';

describe('HeaderScanner', () => {
  it('passes every byte through unchanged and reports the headers once', async () => {
    const original = Buffer.from(mailwizzMessage({ extraHeaders: ['X-Job: job-7'] }));
    const s = new HeaderScanner();
    const events: HeaderInfo[] = [];
    s.on('headers', (info: HeaderInfo) => events.push(info));
    const out = await runThrough(s, randomChunks(original, 3, 40));
    assert.deepEqual(out, original);
    assert.equal(events.length, 1);
    assert.equal(s.info, events[0]);
    assert.deepEqual(s.info, {
      messageId: '<3f786850e387550fdab836ed7e6dc881de23001b@bounce.example.com>',
      xJob: 'job-7',
      campaignUid: null,
      feedbackId: 'cmp789:sub456:ab123:cust001',
      from: 'Acme News <news@example.com>',
    });
  });

  it('reports the headers as soon as the empty line arrives, before the body ends', async () => {
    const s = new HeaderScanner();
    let info: HeaderInfo | null = null;
    s.on('headers', (i: HeaderInfo) => {
      info = i;
    });
    s.resume();
    s.write(Buffer.from('Message-ID: <early@x>\r\n\r\nbody start'));
    await new Promise((r) => setImmediate(r));
    assert.equal((info as HeaderInfo | null)?.messageId, '<early@x>');
    s.end(Buffer.from(' and end'));
  });

  it('parses the same headers from 1-byte chunks', async () => {
    const original = Buffer.from(mailwizzMessage());
    const whole = new HeaderScanner();
    await runThrough(whole, [original]);
    const bytewise = new HeaderScanner();
    assert.deepEqual(await runThrough(bytewise, chunksOf(original, 1)), original);
    assert.deepEqual(bytewise.info, whole.info);
  });

  it('parses what it has when the stream ends without an empty line', async () => {
    const original = Buffer.from('Message-ID: <no-body@x>\r\nFrom: a@b');
    const s = new HeaderScanner();
    let events = 0;
    s.on('headers', () => events++);
    assert.deepEqual(await runThrough(s, chunksOf(original, 4)), original);
    assert.equal(events, 1);
    assert.equal(s.info?.messageId, '<no-body@x>');
    assert.equal(s.info?.from, 'a@b');
  });

  it('reads only the first maxHeaderBytes when no empty line comes, and still passes everything', async () => {
    const original = Buffer.from('Message-ID: <bounded@x>\r\n' + 'X-Filler: zzzzzzzzzz\r\n'.repeat(100) + 'From: late@x\r\n');
    const s = new HeaderScanner({ maxHeaderBytes: 100 });
    let events = 0;
    s.on('headers', () => events++);
    assert.deepEqual(await runThrough(s, chunksOf(original, 7)), original);
    assert.equal(events, 1);
    assert.equal(s.info?.messageId, '<bounded@x>');
    assert.equal(s.info?.from, null);
  });

  it('fails the stream when a headers listener throws', async () => {
    const s = new HeaderScanner();
    s.on('headers', () => {
      throw new Error('listener broke');
    });
    await assert.rejects(runThrough(s, [Buffer.from('A: 1\r\n\r\nb')]), /listener broke/);
  });
});
