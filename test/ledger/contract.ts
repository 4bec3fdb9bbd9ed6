import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { QuotaLedger } from '../../src/ledger/ledger.js';
import type { DayKey, IpAddress } from '../../src/types.js';

const day = '2026-11-25' as DayKey;
const now = new Date('2026-11-25T10:00:00Z');

/**
 * The semantics every QuotaLedger keeps, registered in the caller's describe:
 * SQLite and Redis run the same cases on one ledger. Each case has an IP of its
 * own, so the cases hold alone and in any order.
 */
export function ledgerContract(get: () => QuotaLedger): void {
  it('reserves all n units or none, never past the cap', async () => {
    const ip = '45.123.10.1' as IpAddress;
    const a = await get().reserve(ip, day, 8, 10, now, 60_000);
    assert.ok(a);
    assert.equal(await get().reserve(ip, day, 3, 10, now, 60_000), null);
    const b = await get().reserve(ip, day, 2, 10, now, 60_000);
    assert.ok(b);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 0, reserved: 10 });
    await get().release(a);
    await get().release(b);
  });

  it('commit counts used units and gives the rest back; commit and release are idempotent', async () => {
    const ip = '45.123.10.2' as IpAddress;
    const r = await get().reserve(ip, day, 3, 10, now, 60_000);
    assert.ok(r);
    await get().commit(r, 2);
    await get().commit(r, 2);
    await get().release(r);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 2, reserved: 0 });
  });

  it('a reservation past its expiry is swept and its units return', async () => {
    const ip = '45.123.10.3' as IpAddress;
    const r = await get().reserve(ip, day, 5, 10, now, 1_000);
    assert.ok(r);
    assert.equal(await get().sweep(new Date(now.getTime() + 999)), 0);
    assert.equal(await get().sweep(new Date(now.getTime() + 1_000)), 1);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 0, reserved: 0 });
    assert.deepEqual((await get().inFlight()).filter((h) => h.ip === ip), []);
  });

  it('a commit after the reservation was swept still counts what PowerMTA took', async () => {
    const ip = '45.123.10.4' as IpAddress;
    const r = await get().reserve(ip, day, 1, 10, now, 1);
    assert.ok(r);
    await get().sweep(new Date(now.getTime() + 10));
    await get().commit(r);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 1, reserved: 0 });
  });

  it('keeps each day apart', async () => {
    const ip = '45.123.10.5' as IpAddress;
    const tomorrow = '2026-11-26' as DayKey;
    const today = await get().reserve(ip, day, 3, 10, now, 60_000);
    assert.ok(today);
    await get().commit(today);
    const r = await get().reserve(ip, tomorrow, 10, 10, now, 60_000);
    assert.ok(r, 'a new day starts empty');
    await get().commit(r);
    assert.deepEqual((await get().usage(tomorrow, [ip])).get(ip), { committed: 10, reserved: 0 });
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 3, reserved: 0 });
  });

  it('renewing a held reservation moves its expiry, so a sweep leaves it; a swept or settled one is reported lost', async () => {
    const ip = '45.123.10.6' as IpAddress;
    const live = await get().reserve(ip, day, 1, 100, now, 1_000);
    const dead = await get().reserve(ip, day, 1, 100, now, 1_000);
    const done = await get().reserve(ip, day, 1, 100, now, 1_000);
    assert.ok(live && dead && done);
    await get().commit(done);
    // Only the live one is renewed before its expiry; the other is swept.
    assert.deepEqual(await get().renew([live], new Date(now.getTime() + 900), 1_000), []);
    assert.equal(await get().sweep(new Date(now.getTime() + 1_500)), 1);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 1, reserved: 1 });
    assert.deepEqual((await get().renew([live, dead, done], new Date(now.getTime() + 1_600), 1_000)).sort(), [dead.id, done.id].sort());
    assert.equal(await get().sweep(new Date(now.getTime() + 2_500)), 0, 'renewed again, so still held');
    await get().release(live);
    assert.deepEqual((await get().usage(day, [ip])).get(ip), { committed: 1, reserved: 0 });
  });
}
