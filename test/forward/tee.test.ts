import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ForwardOutcome } from '../../src/forward/forwarder.js';
import { HoldingSink, type Held } from '../../src/forward/held.js';
import { tee } from '../../src/forward/tee.js';
import { tmpDir } from '../helpers/env.js';

const HEAD = 'Message-ID: <t1@sos-mail.com>\r\nX-Mw-Campaign-Uid: cmp9\r\n\r\n';
const message = (bodyBytes: number) => Buffer.from(HEAD + 'x'.repeat(bodyBytes));

/** The message split into chunks as a socket would deliver it. */
function chunked(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

/** Where the sink put the message: its bytes, and whether a file was written. */
function bytesOf(held: Held): Buffer {
  return held.kind === 'memory' ? held.bytes : readFileSync(held.path);
}

describe('tee: the message into memory or a temp file and to PowerMTA at once', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tmpDir()));
  afterEach(() => cleanup());

  const rows: Array<{ name: string; bytes: number; chunk: number }> = [
    { name: 'a small message in one chunk', bytes: 100, chunk: 1 << 20 },
    { name: 'headers split across one-byte chunks', bytes: 50, chunk: 1 },
    { name: 'a 3 MB message in 64 KiB chunks (back-pressure on both branches)', bytes: 3 << 20, chunk: 65536 },
  ];
  for (const row of rows) {
    it(`${row.name}: both branches get every byte, headers are parsed`, async () => {
      const msg = message(row.bytes);
      const file = path.join(dir, 'm.eml');
      let seen: Buffer | null = null;
      const t = await tee(chunked(msg, row.chunk), new HoldingSink(file, 0), async (s): Promise<ForwardOutcome> => {
        seen = await collect(s);
        return { kind: 'accepted', response: '250 ok', accepted: ['a@x.net'], rejected: [] };
      });
      assert.equal(t.size, msg.length);
      assert.ok(readFileSync(file).equals(msg), 'file');
      assert.ok(seen!.equals(msg), 'PowerMTA branch');
      assert.equal(t.info?.messageId, '<t1@sos-mail.com>');
      assert.equal(t.info?.campaignUid, 'cmp9');
      assert.equal(t.outcome?.kind, 'accepted');
    });
  }

  it('PowerMTA failing mid-message stops its branch; the file still gets every byte and nothing hangs', async () => {
    const msg = message(2 << 20);
    const file = path.join(dir, 'm.eml');
    const t = await tee(chunked(msg, 16384), new HoldingSink(file, 0), async (s): Promise<ForwardOutcome> => {
      // Read a little, then give up without draining (as a dropped connection does).
      for await (const _ of s as AsyncIterable<Buffer>) break;
      return { kind: 'unavailable', reason: 'connection reset' };
    });
    assert.ok(readFileSync(file).equals(msg));
    assert.deepEqual(t.outcome, { kind: 'unavailable', reason: 'connection reset' });
  });

  it('without a forward, only the file is written and the outcome is null', async () => {
    const msg = message(10);
    const file = path.join(dir, 'm.eml');
    const t = await tee(chunked(msg, 7), new HoldingSink(file, 0), null);
    assert.ok(readFileSync(file).equals(msg));
    assert.equal(t.outcome, null);
    assert.equal(t.info?.messageId, '<t1@sos-mail.com>');
  });

  const sizes: Array<{ name: string; bytes: number; limit: number; kind: Held['kind'] }> = [
    { name: 'a message under the memory limit stays in memory: no file is written', bytes: 10_000, limit: 256 * 1024, kind: 'memory' },
    { name: 'a message exactly at the limit stays in memory', bytes: 256 * 1024 - HEAD.length, limit: 256 * 1024, kind: 'memory' },
    { name: 'a message past the limit spills to the file: what was held first, then the rest', bytes: 3 << 20, limit: 256 * 1024, kind: 'file' },
  ];
  for (const row of sizes) {
    it(row.name, async () => {
      const msg = message(row.bytes);
      const file = path.join(dir, 'm.eml');
      let seen: Buffer | null = null;
      const t = await tee(chunked(msg, 65536), new HoldingSink(file, row.limit), async (s): Promise<ForwardOutcome> => {
        seen = await collect(s);
        return { kind: 'accepted', response: '250 ok', accepted: ['a@x.net'], rejected: [] };
      });
      assert.equal(t.held.kind, row.kind);
      assert.equal(existsSync(file), row.kind === 'file');
      assert.equal(t.held.size, msg.length);
      assert.ok(bytesOf(t.held).equals(msg), 'held bytes');
      assert.ok(seen!.equals(msg), 'PowerMTA branch');
    });
  }

  it('a message without an empty line is all header: still parsed', async () => {
    const file = path.join(dir, 'm.eml');
    const t = await tee(chunked(Buffer.from('Message-ID: <only@h>\r\nSubject: x\r\n'), 5), new HoldingSink(file, 0), null);
    assert.equal(t.info?.messageId, '<only@h>');
  });

  it('the client connection failing mid-upload rejects, and the PowerMTA branch is told', async () => {
    const file = path.join(dir, 'm.eml');
    const source = new Readable({ read() {} });
    source.push(Buffer.from(HEAD));
    let branchError: Error | null = null;
    const p = tee(source, new HoldingSink(file, 0), async (s): Promise<ForwardOutcome> => {
      try {
        await collect(s);
      } catch (err) {
        branchError = err as Error;
      }
      return { kind: 'unavailable', reason: 'aborted' };
    });
    setImmediate(() => source.destroy(new Error('client went away')));
    await assert.rejects(p, /client went away/);
    assert.match(String(branchError), /client went away/);
    assert.equal(existsSync(file), false, 'a partial upload leaves no file');
  });
});
