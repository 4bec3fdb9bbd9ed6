import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SuppressedSet } from '../../src/accounting/suppressed-set.js';

test('SuppressedSet: every pair added is a "maybe" (never a false "no"); pairs not added are mostly a certain "no", per tenant', () => {
  const set = new SuppressedSet(20_000);
  for (let i = 0; i < 20_000; i++) set.add(i % 3, `user${i}@example.org`);
  for (let i = 0; i < 20_000; i++) assert.equal(set.mayHave(i % 3, `user${i}@example.org`), true);
  let maybes = 0;
  for (let i = 0; i < 20_000; i++) if (set.mayHave(i % 3, `other${i}@example.org`) || set.mayHave((i + 1) % 3, `user${i}@example.org`)) maybes++;
  assert.ok(maybes < 400, `${maybes} of 20,000 absent pairs answered "maybe"`);
  assert.equal(set.full, false);
});

test('SuppressedSet says when it holds more than it was sized for', () => {
  const set = new SuppressedSet(0);
  let n = 0;
  while (!set.full) set.add(1, `a${n++}@x.org`);
  assert.ok(n > 1000, `full after ${n}`);
});
