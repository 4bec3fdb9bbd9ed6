import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DayKey } from '../../src/types.js';
import {
  DEFAULT_SCHEDULE,
  addDays,
  capFor,
  dayKey,
  daysBetween,
  isDayKey,
  phaseForDay,
  validateSchedule,
  warmupDayNumber,
  type WarmupSchedule,
} from '../../src/warmup/schedule.js';

const day = (s: string): DayKey => s as DayKey;

describe('DEFAULT_SCHEDULE', () => {
  it('has five weekly steps of 50, 200, 500, 1500 and 5000, then 10000 a day', () => {
    assert.deepEqual(
      DEFAULT_SCHEDULE.steps.map((s) => [s.days, s.dailyCap]),
      [
        [7, 50],
        [7, 200],
        [7, 500],
        [7, 1500],
        [7, 5000],
      ],
    );
    assert.equal(DEFAULT_SCHEDULE.activeDailyCap, 10000);
  });

  it('cannot be changed by accident', () => {
    assert.throws(() => {
      DEFAULT_SCHEDULE.steps.push({ days: 1, dailyCap: 1 });
    });
    assert.throws(() => {
      (DEFAULT_SCHEDULE.steps[0] as { dailyCap: number }).dailyCap = 99;
    });
  });

  it('is valid', () => {
    assert.deepEqual(validateSchedule(DEFAULT_SCHEDULE), []);
  });
});

describe('phaseForDay', () => {
  it('gives week_1 at 50 a day on day 1 and still on day 7', () => {
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 1), { phase: 'week_1', dailyCap: 50, graduated: false });
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 7), { phase: 'week_1', dailyCap: 50, graduated: false });
  });

  it('moves to week_2 at 200 a day on day 8', () => {
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 8), { phase: 'week_2', dailyCap: 200, graduated: false });
  });

  it('is still in week_5 at 5000 a day on day 35', () => {
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 35), { phase: 'week_5', dailyCap: 5000, graduated: false });
  });

  it('graduates to active at 10000 a day on day 36 and stays there', () => {
    const active = { phase: 'active', dailyCap: 10000, graduated: true };
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 36), active);
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 400), active);
  });

  it('is not_started with no quota on day 0 or before', () => {
    const none = { phase: 'not_started', dailyCap: 0, graduated: false };
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, 0), none);
    assert.deepEqual(phaseForDay(DEFAULT_SCHEDULE, -3), none);
  });

  it('names phases by calendar week even when steps are not a week long', () => {
    const s: WarmupSchedule = {
      steps: [
        { days: 3, dailyCap: 10 },
        { days: 10, dailyCap: 20 },
      ],
      activeDailyCap: 30,
    };
    assert.deepEqual(phaseForDay(s, 3), { phase: 'week_1', dailyCap: 10, graduated: false });
    assert.deepEqual(phaseForDay(s, 4), { phase: 'week_1', dailyCap: 20, graduated: false });
    assert.deepEqual(phaseForDay(s, 13), { phase: 'week_2', dailyCap: 20, graduated: false });
    assert.deepEqual(phaseForDay(s, 14), { phase: 'active', dailyCap: 30, graduated: true });
  });
});

describe('dayKey', () => {
  const at = new Date('2026-11-24T23:30:00Z');

  it('is already the next day in Europe/Paris late in the UTC evening', () => {
    assert.equal(dayKey(at, 'Europe/Paris'), '2026-11-25');
  });

  it('is still the same day in America/New_York at that instant', () => {
    assert.equal(dayKey(at, 'America/New_York'), '2026-11-24');
  });

  it('matches the UTC date in UTC', () => {
    assert.equal(dayKey(at, 'UTC'), '2026-11-24');
  });

  it('gives the same answer when asked again for a zone (cached formatter)', () => {
    assert.equal(dayKey(at, 'Europe/Paris'), dayKey(at, 'Europe/Paris'));
    assert.equal(dayKey(new Date('2026-01-01T00:00:00Z'), 'Europe/Paris'), '2026-01-01');
  });

  it('turns over at the zone\'s midnight to the millisecond, also in zones a half or three quarters of an hour off (per-minute cache)', () => {
    const rows: Array<[string, string, string, string]> = [
      ['Asia/Kolkata', '2026-11-24T18:29:59.999Z', '2026-11-24', '2026-11-25'], // +05:30
      ['Asia/Kathmandu', '2026-11-24T18:14:59.999Z', '2026-11-24', '2026-11-25'], // +05:45
      ['America/St_Johns', '2026-11-25T03:29:59.999Z', '2026-11-24', '2026-11-25'], // -03:30
      ['UTC', '2026-11-24T23:59:59.999Z', '2026-11-24', '2026-11-25'],
    ];
    for (const [zone, before, dayBefore, dayAfter] of rows) {
      const t = new Date(before).getTime();
      assert.equal(dayKey(new Date(t - 59_999), zone), dayBefore, `${zone} a minute before`);
      assert.equal(dayKey(new Date(t), zone), dayBefore, `${zone} last millisecond`);
      assert.equal(dayKey(new Date(t + 1), zone), dayAfter, `${zone} midnight`);
      assert.equal(dayKey(new Date(t), zone), dayBefore, `${zone} asked again for the old minute`);
      assert.equal(dayKey(new Date(t + 1), 'Europe/Paris'), dayKey(new Date(t + 1), 'Europe/Paris'), 'other zones do not disturb it');
      assert.equal(dayKey(new Date(t + 1), zone), dayAfter);
    }
  });

  it('an instant from before offsets were whole minutes (Liberia, 1971, -00:44:30) is still right', () => {
    assert.equal(dayKey(new Date('1971-06-01T00:44:29Z'), 'Africa/Monrovia'), '1971-05-31');
    assert.equal(dayKey(new Date('1971-06-01T00:44:30Z'), 'Africa/Monrovia'), '1971-06-01');
  });

  it('rejects an unknown time zone and an invalid date', () => {
    assert.throws(() => dayKey(at, 'Mars/Olympus_Mons'), RangeError);
    assert.throws(() => dayKey(new Date('nope'), 'UTC'), RangeError);
  });
});

describe('addDays and daysBetween', () => {
  it('adds across month and year ends and leap days', () => {
    assert.equal(addDays(day('2026-12-31'), 1), '2027-01-01');
    assert.equal(addDays(day('2028-02-28'), 1), '2028-02-29');
    assert.equal(addDays(day('2026-03-01'), -1), '2026-02-28');
    assert.equal(addDays(day('2026-05-10'), 0), '2026-05-10');
  });

  it('counts calendar days, negative when going back', () => {
    assert.equal(daysBetween(day('2026-01-01'), day('2026-02-05')), 35);
    assert.equal(daysBetween(day('2026-02-05'), day('2026-01-01')), -35);
    assert.equal(daysBetween(day('2026-01-01'), day('2026-01-01')), 0);
  });

  it('counts one day across the spring-forward night even though it lasts 23 hours', () => {
    // Europe/Paris switched to summer time on 2026-03-29.
    const before = dayKey(new Date('2026-03-28T23:30:00Z'), 'Europe/Paris');
    const after = dayKey(new Date('2026-03-29T22:30:00Z'), 'Europe/Paris');
    assert.equal(before, '2026-03-29');
    assert.equal(after, '2026-03-30');
    assert.equal(daysBetween(before, after), 1);
    assert.equal(daysBetween(day('2026-03-28'), day('2026-03-30')), 2);
  });

  it('counts one day across the fall-back night even though it lasts 25 hours', () => {
    assert.equal(daysBetween(day('2026-10-24'), day('2026-10-26')), 2);
    assert.equal(daysBetween(day('2026-10-31'), day('2026-11-02')), 2);
  });

  it('rejects strings that are not real calendar days', () => {
    assert.throws(() => addDays(day('2026-02-30'), 1), RangeError);
    assert.throws(() => daysBetween(day('2026-1-1'), day('2026-01-02')), RangeError);
    assert.throws(() => addDays(day('2026-01-01'), 1.5), RangeError);
    assert.equal(isDayKey('2026-02-28'), true);
    assert.equal(isDayKey('2026-02-29'), false);
  });
});

describe('warmupDayNumber', () => {
  it('is 1 on the start day, 8 a week later and 0 before the start', () => {
    assert.equal(warmupDayNumber(day('2026-03-01'), day('2026-03-01')), 1);
    assert.equal(warmupDayNumber(day('2026-03-01'), day('2026-03-08')), 8);
    assert.equal(warmupDayNumber(day('2026-03-01'), day('2026-02-28')), 0);
  });

  it('reaches day 36 exactly five weeks after the start', () => {
    const start = day('2026-03-01');
    assert.equal(warmupDayNumber(start, addDays(start, 35)), 36);
  });
});

describe('capFor', () => {
  const start = day('2026-03-01');

  it('follows the schedule for a warming IP', () => {
    assert.deepEqual(capFor({ state: 'warming', warmupStart: start }, day('2026-03-08'), DEFAULT_SCHEDULE), {
      phase: 'week_2',
      dailyCap: 200,
      graduated: false,
    });
  });

  it('reports a warming IP past the last step as graduated', () => {
    assert.deepEqual(capFor({ state: 'warming', warmupStart: start }, addDays(start, 35), DEFAULT_SCHEDULE), {
      phase: 'active',
      dailyCap: 10000,
      graduated: true,
    });
  });

  it('gives a warming IP whose start is in the future no quota', () => {
    assert.deepEqual(capFor({ state: 'warming', warmupStart: start }, day('2026-02-27'), DEFAULT_SCHEDULE), {
      phase: 'not_started',
      dailyCap: 0,
      graduated: false,
    });
  });

  it('gives an active IP the active cap whatever its start day', () => {
    assert.deepEqual(capFor({ state: 'active', warmupStart: start }, start, DEFAULT_SCHEDULE), {
      phase: 'active',
      dailyCap: 10000,
      graduated: true,
    });
  });

  it('gives paused and retired IPs no quota, named by their state', () => {
    for (const state of ['paused', 'retired'] as const) {
      assert.deepEqual(capFor({ state, warmupStart: start }, day('2026-03-20'), DEFAULT_SCHEDULE), {
        phase: state,
        dailyCap: 0,
        graduated: false,
      });
    }
  });
});

describe('validateSchedule', () => {
  it('reports a schedule with no steps', () => {
    const problems = validateSchedule({ steps: [], activeDailyCap: 100 });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /no steps/);
  });

  it('reports non-positive and fractional day counts', () => {
    const problems = validateSchedule({
      steps: [
        { days: 0, dailyCap: 10 },
        { days: -2, dailyCap: 20 },
        { days: 1.5, dailyCap: 30 },
      ],
      activeDailyCap: 100,
    });
    assert.equal(problems.length, 3);
    assert.ok(problems.every((p) => /days must be a positive integer/.test(p)));
  });

  it('reports a step whose cap is lower than the one before', () => {
    const problems = validateSchedule({
      steps: [
        { days: 7, dailyCap: 100 },
        { days: 7, dailyCap: 100 },
        { days: 7, dailyCap: 50 },
      ],
      activeDailyCap: 200,
    });
    assert.deepEqual(problems, ["step 3: dailyCap 50 is below the previous step's 100"]);
  });

  it('reports an active cap below the last step', () => {
    const problems = validateSchedule({ steps: [{ days: 7, dailyCap: 500 }], activeDailyCap: 400 });
    assert.deepEqual(problems, ["activeDailyCap 400 is below the last step's 500"]);
  });

  it('reports negative or non-numeric caps', () => {
    const problems = validateSchedule({
      steps: [{ days: 7, dailyCap: -1 }],
      activeDailyCap: Number.NaN,
    });
    assert.equal(problems.length, 2);
  });
});
