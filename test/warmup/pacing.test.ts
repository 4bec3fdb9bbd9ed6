import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dayKey } from '../../src/days.js';
import { Gate } from '../../src/gate/gate.js';
import { commitGrant } from '../../src/ledger/grant.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb } from '../../src/store/db.js';
import { Registry } from '../../src/tenants/registry.js';
import { syncTenantsFromConfig } from '../../src/tenants/sync.js';
import { ManualClock } from '../../src/types.js';
import { DEFAULT_SCHEDULE } from '../../src/warmup/schedule.js';
import { testConfig, tmpDir } from '../helpers/env.js';
import {
  hourKey,
  hourlyAllowance,
  nextHourStart,
  nextSendingHourStart,
  pacingLimit,
  validatePacing,
  type PacingOptions,
} from '../../src/warmup/pacing.js';

const PACING: PacingOptions = { enabled: true, startHour: 8, endHour: 20, burst: 0.1 };

describe('hourlyAllowance', () => {
  it('spreads the daily cap over the sending hours with the burst allowance, rounded up', () => {
    // 50 / 12 * 1.1 = 4.58
    assert.equal(hourlyAllowance(50, PACING), 5);
    assert.equal(hourlyAllowance(5000, PACING), 459);
  });

  it('does not round float noise up to an extra message', () => {
    // 120 / 12 * 1.1 is 11.000000000000002 in floating point.
    assert.equal(hourlyAllowance(120, PACING), 11);
  });

  it('allows at least one message an hour for a tiny cap, and none for a cap of 0', () => {
    assert.equal(hourlyAllowance(1, PACING), 1);
    assert.equal(hourlyAllowance(0, PACING), 0);
  });

  it('adds up over the day to at least the daily cap', () => {
    for (const cap of [1, 7, 50, 200, 500, 1500, 5000]) {
      assert.ok(hourlyAllowance(cap, { ...PACING, burst: 0 }) * 12 >= cap, `cap ${cap}`);
    }
  });
});

describe('pacingLimit', () => {
  const warming = { state: 'warming' as const, dailyCap: 50, hour: 9, opts: PACING };

  it('allows a warming IP what is left of the hour\'s allowance', () => {
    assert.equal(pacingLimit({ ...warming, usedThisHour: 3 }).allowed, 2);
  });

  it('allows nothing more once the hour\'s allowance is used, and says which limit', () => {
    const r = pacingLimit({ ...warming, usedThisHour: 5 });
    assert.equal(r.allowed, 0);
    assert.equal(r.reason, 'hourly pace: 5 of 5 sent this hour (daily cap 50 over sending hours 8-20)');
  });

  it('allows nothing outside the sending hours', () => {
    assert.deepEqual(pacingLimit({ ...warming, usedThisHour: 0, hour: 7 }), {
      allowed: 0,
      reason: 'outside sending hours 8-20',
    });
    assert.equal(pacingLimit({ ...warming, usedThisHour: 0, hour: 20 }).allowed, 0);
    assert.equal(pacingLimit({ ...warming, usedThisHour: 0, hour: 19 }).allowed, 5);
  });

  it('does not pace an active IP', () => {
    assert.deepEqual(pacingLimit({ ...warming, state: 'active', dailyCap: 10000, usedThisHour: 9999 }), {
      allowed: Infinity,
      reason: null,
    });
  });

  it('does not pace at all when disabled', () => {
    const off = { ...PACING, enabled: false };
    assert.deepEqual(pacingLimit({ ...warming, usedThisHour: 500, hour: 3, opts: off }), { allowed: Infinity, reason: null });
  });
});

describe('hourKey and nextHourStart', () => {
  it('gives the local day and clock hour in the zone', () => {
    const at = new Date('2026-11-24T23:30:00Z');
    assert.deepEqual(hourKey(at, 'Europe/Paris'), { day: '2026-11-25', hour: 0 });
    assert.deepEqual(hourKey(at, 'America/New_York'), { day: '2026-11-24', hour: 18 });
    assert.deepEqual(hourKey(new Date('2026-11-24T00:00:00Z'), 'UTC'), { day: '2026-11-24', hour: 0 });
  });

  it('finds the start of the next local hour, also in a zone offset by half an hour', () => {
    const at = new Date('2026-06-01T09:17:42.500Z');
    assert.equal(nextHourStart(at, 'Europe/Paris').toISOString(), '2026-06-01T10:00:00.000Z');
    // Asia/Kolkata is UTC+5:30: 14:47:42 local, next hour 15:00 local.
    assert.equal(nextHourStart(at, 'Asia/Kolkata').toISOString(), '2026-06-01T09:30:00.000Z');
  });

  it('steps over the hour skipped by the spring-forward change', () => {
    // Europe/Paris, 2026-03-29: 02:00 local becomes 03:00.
    const at = new Date('2026-03-29T00:30:00Z'); // 01:30 local
    const next = nextHourStart(at, 'Europe/Paris');
    assert.equal(next.toISOString(), '2026-03-29T01:00:00.000Z');
    assert.deepEqual(hourKey(next, 'Europe/Paris'), { day: '2026-03-29', hour: 3 });
  });

  it('opens the next sending window in the morning when asked after hours', () => {
    const evening = new Date('2026-06-01T18:10:00Z'); // 20:10 in Paris
    assert.equal(nextSendingHourStart(evening, 'Europe/Paris', PACING).toISOString(), '2026-06-02T06:00:00.000Z');
    const midday = new Date('2026-06-01T10:10:00Z'); // 12:10 in Paris
    assert.equal(nextSendingHourStart(midday, 'Europe/Paris', PACING).toISOString(), '2026-06-01T11:00:00.000Z');
  });
});

describe('a campaign launched at 09:00 on a warming IP, through the gate', () => {
  it('grants the hour\'s allowance, refuses the next unit with the pace as the reason, and grants again when the next hour opens', async () => {
    const { dir, cleanup } = tmpDir('pmta-agent-pacing-');
    const db = openDb(path.join(dir, 'agent.sqlite'));
    try {
      const zone = 'Europe/Paris';
      const clock = new ManualClock('2026-06-01T07:00:00Z'); // 09:00 in Paris, day 1 of the warmup: cap 50
      const cfg = testConfig(dir, 1, { sosIps: [{ address: '45.123.10.1', warmupStart: '2026-06-01' }] });
      await syncTenantsFromConfig(db, cfg, dayKey(clock.now(), zone));
      const registry = new Registry(db);
      const ledger = new SqliteLedger(db);
      const gate = new Gate(registry, ledger, clock, { schedule: DEFAULT_SCHEDULE, timeZone: zone, reservationTtlMs: 60_000, pacing: PACING });
      const sos = registry.tenant('sos-expat')!;
      // What PowerMTA's 250 does to a grant: both reservations count as sent.
      const send = async (): Promise<boolean> => {
        const g = await gate.reserve(sos);
        if (g) await commitGrant(ledger, g);
        return g !== null;
      };

      const first: boolean[] = [];
      for (let i = 0; i < 10; i++) first.push(await send());
      // 50 / 12 sending hours * 1.1 burst, rounded up: 5 an hour.
      assert.deepEqual(first, [true, true, true, true, true, false, false, false, false, false]);
      assert.match(await gate.whyNoQuota(sos), /hourly pace of tenant sos-expat reached .*5 of 5 sent this hour/);
      const [view] = await gate.snapshot(sos);
      assert.deepEqual(view?.hour, { allowance: 5, used: 5, reason: 'hourly pace: 5 of 5 sent this hour (daily cap 50 over sending hours 8-20)' });

      // The dispatcher's retry time: 10:00 in Paris.
      clock.set(nextHourStart(clock.now(), zone));
      assert.equal(clock.now().toISOString(), '2026-06-01T08:00:00.000Z');
      const next: boolean[] = [];
      for (let i = 0; i < 6; i++) next.push(await send());
      assert.deepEqual(next, [true, true, true, true, true, false]);
      assert.equal((await gate.snapshot(sos))[0]?.committed, 10);
    } finally {
      db.close();
      cleanup();
    }
  });
});

describe('validatePacing', () => {
  it('accepts 8-20 with a 10% burst', () => {
    assert.deepEqual(validatePacing(PACING), []);
  });

  it('explains hours out of range, a window across midnight and a negative burst', () => {
    assert.equal(validatePacing({ ...PACING, startHour: 24 }).length, 1);
    assert.match(validatePacing({ ...PACING, startHour: 22, endHour: 6 })[0] ?? '', /must be after startHour/);
    assert.match(validatePacing({ ...PACING, burst: -1 })[0] ?? '', /burst/);
  });
});
