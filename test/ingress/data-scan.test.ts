import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { scanDataNatively } from '../../src/ingress/data-scan.js';

// The library's own parser, untouched: the CommonJS build of the same
// smtp-server is a separate class the patch never replaces.
const require = createRequire(import.meta.url);
const { SMTPStream: LibraryStream } = require('smtp-server/lib/smtp-stream.js') as { SMTPStream: typeof SMTPStream };

interface Parsed {
  data: string;
  byteLength: number;
  commands: string[];
}

/** Feeds `wire` (what a client sends after DATA) in these pieces to a parser in data mode. */
async function parse(Stream: typeof SMTPStream, pieces: Buffer[]): Promise<Parsed> {
  const s = new Stream();
  const commands: string[] = [];
  s.oncommand = (cmd: Buffer, cb: () => void) => {
    commands.push(cmd.toString('latin1'));
    cb();
  };
  const ds = s.startDataMode() as NodeJS.ReadableStream & { byteLength: number };
  const out: Buffer[] = [];
  ds.on('data', (d: Buffer) => out.push(d));
  const ended = new Promise<void>((r) => ds.once('end', r));
  ds.once('end', () => s.continue());
  for (const p of pieces) await new Promise<void>((r) => s.write(p, () => r()));
  await ended;
  await new Promise<void>((r) => s.end(() => r()));
  return { data: Buffer.concat(out).toString('latin1'), byteLength: ds.byteLength, commands };
}

const splitsOf = (wire: Buffer): Buffer[][] => {
  const out: Buffer[][] = [[wire], [...wire].map((b) => Buffer.from([b]))];
  for (let k = 1; k < wire.length; k++) out.push([wire.subarray(0, k), wire.subarray(k)]);
  for (let k = 1; k + 3 < wire.length; k += 3) out.push([wire.subarray(0, k), wire.subarray(k, k + 3), wire.subarray(k + 3)]);
  return out;
};

const WIRES = [
  'Subject: x\r\n\r\nHello\r\n.\r\nQUIT\r\n',
  '.\r\nQUIT\r\n',
  '..\r\n.\r\nQUIT\r\n',
  '..leading escape\r\n..\r\n...three\r\n.x kept\r\n.\r\nRSET\r\nQUIT\r\n',
  'a\r\n..\r\n.\r\n.\r\nQUIT\r\n',
  'bare\n.\nnot the end\r\n.\r\nQUIT\r\n',
  'line\r\n.. \r\n\r\n..\r\n\r\n.\r\nNOOP\r\nQUIT\r\n',
  'x\r\n.\rnot the end\r\n.\n\r\n.\r\nQUIT\r\n',
  '\r\n.\r\nQUIT\r\n',
  'caf\u00e9 \u00e9t\u00e9\r\n..\u00e9\r\n.\r\nQUIT\r\n',
];

describe("end of DATA found with Buffer.indexOf, as smtp-server's own loop finds it", () => {
  it('applies to the installed smtp-server (an upgrade that changes SMTPStream._feedDataStream fails here, not in production)', () => {
    assert.equal(scanDataNatively(), true);
    assert.notEqual(SMTPStream.prototype._feedDataStream, LibraryStream.prototype._feedDataStream);
  });

  it('gives the same message, byte count and following commands as the library for every way the bytes can arrive', async () => {
    scanDataNatively();
    for (const text of WIRES) {
      const wire = Buffer.from(text, 'latin1');
      for (const pieces of splitsOf(wire)) {
        const ours = await parse(SMTPStream, pieces);
        const lib = await parse(LibraryStream, pieces);
        assert.deepEqual(ours, lib, `${JSON.stringify(text)} in pieces of ${pieces.map((p) => p.length).join('+')}`);
      }
    }
  });

  it('unstuffs dots as RFC 5321 §4.5.2 says and leaves the commands after the end to the command parser', async () => {
    scanDataNatively();
    const r = await parse(SMTPStream, [Buffer.from('..leading escape\r\n..\r\n...three\r\n.\r\nRSET\r\nQUIT\r\n', 'latin1')]);
    assert.equal(r.data, '.leading escape\r\n.\r\n..three\r\n');
    assert.deepEqual(r.commands, ['RSET', 'QUIT']);
  });

  it('agrees with the library on random messages full of dots, CRs and LFs, in random pieces', async () => {
    scanDataNatively();
    const alphabet = Buffer.from('..\r\n\r\n\n\rab.', 'latin1');
    for (let n = 0; n < 300; n++) {
      const noise = [...randomBytes(8 + (n % 120))].map((b) => alphabet[b % alphabet.length]!);
      const wire = Buffer.concat([Buffer.from(noise), Buffer.from('\r\n.\r\nQUIT\r\n', 'latin1')]);
      const pieces: Buffer[] = [];
      for (let i = 0; i < wire.length; ) {
        const k = 1 + (randomBytes(1)[0]! % 9);
        pieces.push(wire.subarray(i, i + k));
        i += k;
      }
      assert.deepEqual(await parse(SMTPStream, pieces), await parse(LibraryStream, pieces), JSON.stringify(wire.toString('latin1')));
    }
  });

  it('a 1 MiB message in 64 KiB reads arrives whole', async () => {
    scanDataNatively();
    const line = 'x'.repeat(75) + '\r\n';
    const body = line.repeat(Math.ceil((1 << 20) / line.length));
    const wire = Buffer.from(`${body}.\r\nQUIT\r\n`, 'latin1');
    const pieces: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 65_536) pieces.push(wire.subarray(i, i + 65_536));
    const r = await parse(SMTPStream, pieces);
    assert.equal(r.data.length, body.length);
    assert.equal(r.data, body);
    assert.equal(r.byteLength, body.length);
    assert.deepEqual(r.commands, ['QUIT']);
  });
});
