import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { HoldingSink } from '../../src/forward/held.js';
import { tmpDir } from '../helpers/env.js';

describe('HoldingSink', () => {
  it('a message that arrives in several chunks under the limit is held in memory and read back byte for byte, as one buffer', async () => {
    const { dir, cleanup } = tmpDir();
    try {
      const file = path.join(dir, 'msg.tmp');
      const sink = new HoldingSink(file, 1024);
      const parts = ['Subject: hi\r\n', '\r\n', 'line one\r\n', 'line two\r\n'].map((p) => Buffer.from(p));
      for (const p of parts) await sink.write(p);
      const held = await sink.end();
      assert.equal(held.kind, 'memory');
      assert.equal(existsSync(file), false);
      if (held.kind !== 'memory') return;
      assert.equal(held.size, Buffer.concat(parts).length);
      assert.deepEqual(held.bytes, Buffer.concat(parts));
      // Read again (the spool may), the same buffer: joined once.
      assert.equal(held.bytes, held.bytes);
    } finally {
      cleanup();
    }
  });

  it('an empty message is an empty buffer', async () => {
    const { dir, cleanup } = tmpDir();
    try {
      const held = await new HoldingSink(path.join(dir, 'msg.tmp'), 1024).end();
      assert.equal(held.kind, 'memory');
      if (held.kind === 'memory') assert.equal(held.bytes.length, 0);
    } finally {
      cleanup();
    }
  });
});
