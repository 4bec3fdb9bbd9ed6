import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb, type Db } from '../../src/store/db.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

const ip = '45.123.10.1' as IpAddress;
const day = '2026-11-25' as DayKey;
const now = new Date('2026-11-25T10:00:00Z');

describe('SQLite quota ledger', () => {
  let db: Db;
  let ledger: SqliteLedger;
  let cleanup: () => void;
  before(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'ledger.db'));
    ledger = new SqliteLedger(db);
  });
  after(() => {
    db.close();
    cleanup();
  });

  it('reserves all n units or none, never past the cap', async () => {
    const a = await ledger.reserve(ip, day, 8, 10, now, 60_000);
    assert.ok(a);
    assert.equal(await ledger.reserve(ip, day, 3, 10, now, 60_000), null);
    const b = await ledger.reserve(ip, day, 2, 10, now, 60_000);
    assert.ok(b);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 10 });
    await ledger.release(a);
    await ledger.release(b);
  });

  it('commit counts used units and gives the rest back; commit and release are idempotent', async () => {
    const r = await ledger.reserve(ip, day, 3, 10, now, 60_000);
    assert.ok(r);
    await ledger.commit(r, 2);
    await ledger.commit(r, 2);
    await ledger.release(r);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 2, reserved: 0 });
  });

  it('a reservation past its expiry is swept and its units return', async () => {
    const r = await ledger.reserve(ip, day, 5, 10, now, 1_000);
    assert.ok(r);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 999)), 0);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 1_000)), 1);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 2, reserved: 0 });
    assert.deepEqual(await ledger.inFlight(), []);
  });

  it('a commit after the reservation was swept still counts what PowerMTA took', async () => {
    const r = await ledger.reserve(ip, day, 1, 10, now, 1);
    assert.ok(r);
    await ledger.sweep(new Date(now.getTime() + 10));
    await ledger.commit(r);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 3, reserved: 0 });
  });

  it('keeps each day apart', async () => {
    const tomorrow = '2026-11-26' as DayKey;
    const r = await ledger.reserve(ip, tomorrow, 10, 10, now, 60_000);
    assert.ok(r, 'a new day starts empty');
    await ledger.commit(r);
    assert.deepEqual((await ledger.usage(tomorrow, [ip])).get(ip), { committed: 10, reserved: 0 });
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 3, reserved: 0 });
  });

  it('holds the cap across two connections to the same file (two processes)', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day2 = '2026-11-27' as DayKey;
    let granted = 0;
    for (let i = 0; i < 30; i++) {
      if (await (i % 2 ? ledger : other).reserve(ip, day2, 1, 20, now, 60_000)) granted++;
    }
    assert.equal(granted, 20);
  });
});
