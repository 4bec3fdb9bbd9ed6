import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataEncoder } from '../../src/forward/data-encoder.js';
import { chunksOf, randomChunks } from '../stamp/streams.js';

/** The rule written plainly: every line end a CRLF, a leading '.' doubled, a CRLF before the final dot if missing. */
function spec(input: Buffer): Buffer {
  const lines = input.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  let out = lines.replace(/(^|\r\n)\./g, '$1..');
  if (out.length > 0 && !out.endsWith('\r\n')) out += '\r\n';
  return Buffer.from(out + '.\r\n', 'latin1');
}

function encode(chunks: Buffer[]): { out: Buffer; unchanged: number } {
  const e = new DataEncoder();
  const parts: Buffer[] = [];
  let unchanged = 0;
  for (const c of chunks) {
    const o = e.encode(c);
    if (o === c) unchanged++;
    parts.push(o);
  }
  parts.push(e.end());
  return { out: Buffer.concat(parts), unchanged };
}

describe('DataEncoder: the message as SMTP DATA carries it', () => {
  const cases: Array<[string, string]> = [
    ['a CRLF message', 'Subject: x\r\n\r\nHello\r\n'],
    ['a leading dot on the first line', '.hidden\r\n'],
    ['dots at line starts and alone', 'a\r\n.\r\n..\r\n.x\r\n'],
    ['no final CRLF', 'a\r\nlast'],
    ['a bare LF', 'a\nb\r\n'],
    ['a bare CR', 'a\rb\r\n'],
    ['a dot after a bare CR or LF (SMTP smuggling)', 'a\r.\rb\n.\nc\r\n.\r\n'],
    ['a final bare CR', 'a\r'],
    ['CR CR LF and LF CR', 'a\r\r\nb\n\rc'],
    ['empty', ''],
  ];
  for (const [name, text] of cases) {
    it(`${name}: as the rule says, however the bytes are chunked`, () => {
      const input = Buffer.from(text, 'latin1');
      assert.deepEqual(encode([input]).out, spec(input));
      assert.deepEqual(encode(chunksOf(input, 1)).out, spec(input));
    });
  }

  it('random CR, LF, dot and letter soup in random chunks agrees with the rule', () => {
    const alphabet = [0x0d, 0x0a, 0x2e, 0x61];
    for (let seed = 1; seed <= 300; seed++) {
      let s = seed;
      const bytes = Buffer.alloc(1 + (seed % 97));
      for (let i = 0; i < bytes.length; i++) {
        s = (s * 1103515245 + 12345) >>> 0;
        bytes[i] = alphabet[(s >>> 16) % 4]!;
      }
      assert.deepEqual(encode(randomChunks(bytes, seed, 7)).out, spec(bytes), `seed ${seed}: ${JSON.stringify(bytes.toString('latin1'))}`);
    }
  });

  it('a chunk with nothing to change is passed on as it is, not copied', () => {
    const body = Buffer.from('Lorem ipsum\r\n'.repeat(100) + 'no end yet');
    const { unchanged } = encode([body.subarray(0, 700), body.subarray(700)]);
    assert.equal(unchanged, 2);
  });
});
