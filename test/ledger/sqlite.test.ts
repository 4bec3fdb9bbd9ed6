import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb, type Db } from '../../src/store/db.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';
import { ledgerContract } from './contract.js';

const ip = '45.123.10.1' as IpAddress;
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

  ledgerContract(() => ledger);

  it('holds the cap across two connections to the same file (two processes)', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day2 = '2026-11-27' as DayKey;
    const granted = [];
    for (let i = 0; i < 30; i++) {
      const r = await (i % 2 ? ledger : other).reserve(ip, day2, 1, 20, now, 60_000);
      if (r) granted.push(r);
    }
    assert.equal(granted.length, 20);
    for (const r of granted) await ledger.release(r);
  });

  it('200 reservations asked in the same turn (one group commit) against a cap of 50: exactly 50 granted, on both connections', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day = '2026-11-28' as DayKey;
    const asks = Array.from({ length: 200 }, (_, i) => (i % 2 ? ledger : other).reserve(ip, day, 1, 50, now, 60_000));
    const got = (await Promise.all(asks)).filter((r) => r !== null);
    assert.equal(got.length, 50);
    assert.equal(new Set(got.map((r) => r.id)).size, 50, 'every reservation has its own id');
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 50 });
    // Commits and releases of the same turn settle together, each counted once.
    await Promise.all(got.map((r, i) => (i < 30 ? ledger.commit(r) : ledger.release(r))));
    await Promise.all(got.map((r) => ledger.commit(r)));
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 30, reserved: 0 });
  });

  it('a reservation resolves only after its group is committed: another connection already sees it', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day = '2026-11-29' as DayKey;
    const r = await ledger.reserve(ip, day, 3, 10, now, 60_000);
    assert.ok(r);
    assert.deepEqual((await other.usage(day, [ip])).get(ip), { committed: 0, reserved: 3 });
    await ledger.commit(r, 2);
    assert.deepEqual((await other.usage(day, [ip])).get(ip), { committed: 2, reserved: 0 });
  });

  it('a usage read while operations are queued shows them, without committing them early', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day = '2026-12-01' as DayKey;
    const held = await ledger.reserve(ip, day, 2, 10, now, 60_000);
    assert.ok(held);
    const asked = ledger.reserve(ip, day, 3, 10, now, 60_000);
    const committing = ledger.commit(held, 1);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 1, reserved: 3 }, 'this connection sees the queued reservation and commit');
    assert.deepEqual((await other.usage(day, [ip])).get(ip), { committed: 0, reserved: 2 }, 'not committed yet: another connection still sees the state before them');
    const r = await asked;
    await committing;
    assert.ok(r);
    assert.deepEqual((await other.usage(day, [ip])).get(ip), { committed: 1, reserved: 3 });
    await ledger.release(r);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 1, reserved: 0 });
  });

  it('the last unit asked for twice in one turn, with a usage read between: the read shows it taken, and only one reservation gets it', async () => {
    const day = '2026-12-02' as DayKey;
    const first = await ledger.reserve(ip, day, 9, 10, now, 60_000);
    assert.ok(first);
    const a = ledger.reserve(ip, day, 1, 10, now, 60_000);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 10 });
    const b = ledger.reserve(ip, day, 1, 10, now, 60_000);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 10 }, 'a reservation the cap will refuse is not shown as held');
    const got = (await Promise.all([a, b])).filter((r) => r !== null);
    assert.equal(got.length, 1);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 10 });
  });

  it("another connection's reservation is seen by the next usage read here, and holds the cap here too", async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day = '2026-12-03' as DayKey;
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 0 });
    const theirs = await other.reserve(ip, day, 4, 5, now, 60_000);
    assert.ok(theirs);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 0, reserved: 4 });
    assert.ok(await ledger.reserve(ip, day, 1, 5, now, 60_000));
    assert.equal(await ledger.reserve(ip, day, 1, 5, now, 60_000), null);
    await other.commit(theirs);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 4, reserved: 1 });
  });

  it('a group that cannot be written (read-only file) fails every caller in it, and nothing is granted', async () => {
    const t = tmpDir();
    try {
      const file = path.join(t.dir, 'ro.db');
      openDb(file).close();
      const ro = new SqliteLedger(new Database(file, { readonly: true }) as Db);
      const asks = [ro.reserve(ip, '2026-11-30' as DayKey, 1, 10, now, 60_000), ro.reserve(ip, '2026-11-30' as DayKey, 1, 10, now, 60_000)];
      for (const a of asks) await assert.rejects(a, /readonly|read-only|SQLITE_READONLY/i);
    } finally {
      t.cleanup();
    }
  });
});
