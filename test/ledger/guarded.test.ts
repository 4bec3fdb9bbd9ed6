import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { GuardedLedger } from '../../src/ledger/guarded.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { createLogger } from '../../src/log/logger.js';
import { openDb, type Db } from '../../src/store/db.js';
import { ManualClock, type DayKey, type IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

const ip = '45.123.10.1' as IpAddress;
const day = '2026-11-25' as DayKey;
const TTL = 1000;

describe('reservations live as long as their owner (GuardedLedger)', () => {
  let db: Db;
  let cleanup: () => void;
  let clock: ManualClock;
  let mine: GuardedLedger;
  let other: SqliteLedger; // another agent's view of the same store
  beforeEach(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'l.db'));
    clock = new ManualClock('2026-11-25T10:00:00Z');
    mine = new GuardedLedger(new SqliteLedger(db), createLogger({ level: 'error', write: () => undefined }), { ttlMs: () => TTL, now: () => clock.now() });
    other = new SqliteLedger(db);
  });
  afterEach(() => {
    db.close();
    cleanup();
  });

  const usage = async () => (await other.usage(day, [ip])).get(ip);

  it('its own sweeps renew what it holds, so nobody frees the units of a live session however long it lasts', async () => {
    const r = await mine.reserve(ip, day, 3, 3, clock.now(), TTL);
    assert.ok(r);
    for (let i = 0; i < 10; i++) {
      clock.advance(TTL / 2);
      await mine.sweep(clock.now());
      assert.equal(await other.sweep(clock.now()), 0);
    }
    assert.deepEqual(await usage(), { committed: 0, reserved: 3 });
    assert.equal(await other.reserve(ip, day, 1, 3, clock.now(), TTL), null, 'the cap stays held');
    await mine.commit(r);
    assert.deepEqual(await usage(), { committed: 3, reserved: 0 });
  });

  it('an owner that stops renewing (gone) has its units swept after the TTL', async () => {
    assert.ok(await mine.reserve(ip, day, 2, 3, clock.now(), TTL));
    clock.advance(TTL + 1);
    assert.equal(await other.sweep(clock.now()), 1);
    assert.deepEqual(await usage(), { committed: 0, reserved: 0 });
  });

  it('a reservation swept while its owner could not renew is found lost before its mail goes out', async () => {
    const r = await mine.reserve(ip, day, 1, 3, clock.now(), TTL);
    assert.ok(r);
    clock.advance(TTL + 1);
    await other.sweep(clock.now());
    await mine.confirm([r]);
    assert.equal(mine.lost(r), true);
  });

  it('a recent renewal makes the check at DATA free: nothing is written', async () => {
    const r = await mine.reserve(ip, day, 1, 3, clock.now(), TTL);
    assert.ok(r);
    await mine.sweep(clock.now());
    const before = db.prepare('SELECT expires_at FROM reservations WHERE id = ?').get(r.id);
    clock.advance(TTL / 4);
    await mine.confirm([r]);
    assert.deepEqual(db.prepare('SELECT expires_at FROM reservations WHERE id = ?').get(r.id), before);
    assert.equal(mine.lost(r), false);
  });

  it('a commit the store refuses is thrown to the caller (who keeps it), and the reservation stays held and renewed', async () => {
    const r = await mine.reserve(ip, day, 1, 3, clock.now(), TTL);
    assert.ok(r);
    db.exec('CREATE TRIGGER no_commit BEFORE DELETE ON reservations BEGIN SELECT RAISE(ABORT, \'disk full\'); END');
    await assert.rejects(mine.commit(r), /disk full/);
    db.exec('DROP TRIGGER no_commit');
    clock.advance(TTL / 2);
    await mine.sweep(clock.now());
    clock.advance(TTL / 2 + 1);
    assert.equal(await other.sweep(clock.now()), 0, 'renewed, so not swept');
    await mine.commit(r);
    assert.deepEqual(await usage(), { committed: 1, reserved: 0 });
  });
});
