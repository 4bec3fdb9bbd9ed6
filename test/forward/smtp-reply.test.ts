import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyParser, type Reply } from '../../src/forward/smtp-reply.js';
import { chunksOf } from '../stamp/streams.js';

function parse(chunks: Buffer[]): Reply[] {
  const p = new ReplyParser();
  const out: Reply[] = [];
  for (const c of chunks) p.feed(c, (r) => out.push(r));
  return out;
}

describe('ReplyParser: SMTP replies off the socket', () => {
  const wire = Buffer.from('250-pmta.example.com hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n250 2.1.0 ok\r\n354 go ahead\n554 5.7.1 caf\u00e9 refus\u00e9\r\n', 'utf8');
  const expected: Reply[] = [
    { code: 250, text: '250-pmta.example.com hello\n250-PIPELINING\n250 8BITMIME' },
    { code: 250, text: '250 2.1.0 ok' },
    { code: 354, text: '354 go ahead' },
    { code: 554, text: '554 5.7.1 caf\u00e9 refus\u00e9' },
  ];

  it('multi-line replies, pipelined replies, LF-only line ends and UTF-8 text, whole or byte by byte', () => {
    assert.deepEqual(parse([wire]), expected);
    assert.deepEqual(parse(chunksOf(wire, 1)), expected);
  });

  it('a line that is no SMTP reply is an error, not a guess', () => {
    assert.throws(() => parse([Buffer.from('HTTP/1.1 400 Bad Request\r\n')]), /not an SMTP reply/);
  });

  it('a reply line that never ends is not buffered without bound', () => {
    assert.throws(() => parse([Buffer.from('250 ' + 'x'.repeat(70_000))]), /longer than/);
  });
});
