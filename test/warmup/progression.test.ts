import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DayKey } from '../../src/types.js';
import { DEFAULT_SCHEDULE, addDays, warmupDayNumber } from '../../src/warmup/schedule.js';
import {
  DEFAULT_THRESHOLDS,
  applyDecision,
  bounceRate,
  complaintRate,
  decideProgression,
  needsAlert,
  simulateWarmup,
  startForDay,
  type DayStats,
  type ProgressionInput,
} from '../../src/warmup/progression.js';

const day = (s: string): DayKey => s as DayKey;
const START = day('2026-03-02');

/** A clean day: everything sent was delivered. */
const healthy = (sent: number): DayStats => ({ sent, delivered: sent, bouncedHard: 0, bouncedSoft: 0, complaints: 0 });

/** `rate` of the day's mail bounced (hard). */
const bouncing = (sent: number, rate: number): DayStats => {
  const bounced = Math.round(sent * rate);
  return { sent, delivered: sent - bounced, bouncedHard: bounced, bouncedSoft: 0, complaints: 0 };
};

const WEEKLY_CAPS = [50, 200, 500, 1500, 5000];
/** Caps for days 1..35 of the default schedule. */
const SCHEDULE_CAPS = WEEKLY_CAPS.flatMap((cap) => Array<number>(7).fill(cap));

/** Decision for today, with the IP on `yesterdayDay` yesterday. */
function decideOn(yesterdayDay: number, yesterday: DayStats | null, extra: Partial<ProgressionInput> = {}) {
  const today = addDays(START, yesterdayDay);
  return decideProgression({
    state: 'warming',
    warmupStart: START,
    today,
    yesterday,
    schedule: DEFAULT_SCHEDULE,
    thresholds: DEFAULT_THRESHOLDS,
    ...extra,
  });
}

function simulate(days: number, statsFor: (date: DayKey, cap: number) => DayStats) {
  return simulateWarmup({ start: START, days, schedule: DEFAULT_SCHEDULE, thresholds: DEFAULT_THRESHOLDS, statsFor });
}

describe('rates', () => {
  it('counts hard and soft bounces over attempted deliveries', () => {
    assert.equal(bounceRate({ sent: 100, delivered: 90, bouncedHard: 6, bouncedSoft: 4, complaints: 0 }), 0.1);
  });

  it('counts complaints over delivered messages', () => {
    assert.equal(complaintRate({ sent: 1000, delivered: 800, bouncedHard: 0, bouncedSoft: 0, complaints: 2 }), 0.0025);
  });

  it('are 0 with no volume', () => {
    const none: DayStats = { sent: 0, delivered: 0, bouncedHard: 0, bouncedSoft: 0, complaints: 0 };
    assert.equal(bounceRate(none), 0);
    assert.equal(complaintRate(none), 0);
    assert.equal(complaintRate({ ...none, sent: 5, bouncedHard: 5 }), 0);
  });
});

describe('DEFAULT_THRESHOLDS', () => {
  it('holds at 0.1% complaints and steps back at 0.3%, the Gmail and Yahoo ceiling', () => {
    assert.equal(DEFAULT_THRESHOLDS.holdComplaintRate, 0.001);
    assert.equal(DEFAULT_THRESHOLDS.regressComplaintRate, 0.003);
    assert.ok(DEFAULT_THRESHOLDS.holdBounceRate < DEFAULT_THRESHOLDS.regressBounceRate);
    assert.ok(DEFAULT_THRESHOLDS.minVolume <= DEFAULT_SCHEDULE.steps[0]!.dailyCap);
  });
});

describe('six simulated weeks of one IP', () => {
  it('follows the schedule exactly when every day is healthy and ends active at 10000 from day 36', () => {
    const rows = simulate(42, (_d, cap) => healthy(cap));
    assert.deepEqual(
      rows.slice(0, 35).map((r) => r.cap),
      SCHEDULE_CAPS,
    );
    assert.deepEqual(
      rows.slice(0, 35).map((r) => r.warmupDay),
      Array.from({ length: 35 }, (_, i) => i + 1),
    );
    assert.ok(rows.slice(0, 35).every((r) => r.state === 'warming'));
    assert.equal(rows[34]!.phase, 'week_5');
    assert.deepEqual(
      { state: rows[35]!.state, cap: rows[35]!.cap, phase: rows[35]!.phase, decision: rows[35]!.decision },
      { state: 'active', cap: 10000, phase: 'active', decision: 'graduate' },
    );
    assert.ok(rows.slice(35).every((r) => r.state === 'active' && r.cap === 10000));
    assert.deepEqual(
      rows.slice(36).map((r) => r.decision),
      Array<string>(6).fill('none'),
    );
  });

  it('judges the first day on the second: day 1 has nothing behind it', () => {
    const rows = simulate(3, (_d, cap) => healthy(cap));
    assert.deepEqual(
      rows.map((r) => r.decision),
      ['none', 'advance', 'advance'],
    );
  });

  it('holds the day after a day over the hold bounce threshold: same cap again, one extra day in total', () => {
    // Day 10 (week 2, 200 a day) bounces 5%: over the 3% hold, under the 8% regress.
    const badDate = addDays(START, 9);
    const rows = simulateWarmup({
      start: START,
      days: 43,
      schedule: DEFAULT_SCHEDULE,
      thresholds: DEFAULT_THRESHOLDS,
      statsFor: (d, cap) => (d === badDate ? bouncing(cap, 0.05) : healthy(cap)),
    });
    assert.equal(rows[10]!.decision, 'hold');
    assert.equal(rows[10]!.warmupDay, 10);
    assert.equal(rows[10]!.cap, 200);
    const expected = [...SCHEDULE_CAPS.slice(0, 10), 200, ...SCHEDULE_CAPS.slice(10)];
    assert.deepEqual(
      rows.slice(0, 36).map((r) => r.cap),
      expected,
    );
    assert.equal(rows[35]!.state, 'warming');
    assert.equal(rows[36]!.state, 'active');
  });

  it('steps back a week after a day over the regress bounce threshold: the previous week\'s cap', () => {
    // Day 10 (week 2, 200 a day) bounces 10%: today is day 3 (week 1, 50 a day).
    const badDate = addDays(START, 9);
    const rows = simulateWarmup({
      start: START,
      days: 60,
      schedule: DEFAULT_SCHEDULE,
      thresholds: DEFAULT_THRESHOLDS,
      statsFor: (d, cap) => (d === badDate ? bouncing(cap, 0.1) : healthy(cap)),
    });
    assert.equal(rows[10]!.decision, 'regress');
    assert.equal(rows[10]!.warmupDay, 3);
    assert.equal(rows[10]!.cap, 50);
    assert.deepEqual(
      rows.slice(0, 43).map((r) => r.cap),
      [...SCHEDULE_CAPS.slice(0, 10), ...SCHEDULE_CAPS.slice(2)],
    );
    // Eight days later than the 36th: one not advanced, seven gone back.
    assert.equal(rows[42]!.state, 'warming');
    assert.equal(rows[43]!.state, 'active');
  });

  it('stays on its day while an operator holds it, and advances once released', () => {
    const heldFrom = addDays(START, 5);
    const heldUntil = addDays(START, 8);
    const rows = simulateWarmup({
      start: START,
      days: 12,
      schedule: DEFAULT_SCHEDULE,
      thresholds: DEFAULT_THRESHOLDS,
      statsFor: (_d, cap) => healthy(cap),
      heldByOperatorOn: (d) => d >= heldFrom && d < heldUntil,
    });
    assert.deepEqual(
      rows.map((r) => r.warmupDay),
      [1, 2, 3, 4, 5, 5, 5, 5, 6, 7, 8, 9],
    );
  });
});

describe('decideProgression', () => {
  it('advances after a healthy day with enough volume', () => {
    assert.deepEqual(decideOn(12, healthy(200)), { kind: 'advance' });
  });

  it('holds on a complaint rate at the 0.1% hold threshold', () => {
    const d = decideOn(30, { ...healthy(5000), complaints: 5 });
    assert.equal(d.kind, 'hold');
    assert.match(d.kind === 'hold' ? d.reason : '', /complaint rate 0\.10% on day 30 is at or over the hold threshold/);
  });

  it('steps back a week on a complaint rate at the 0.3% regress threshold', () => {
    const d = decideOn(30, { ...healthy(5000), complaints: 15 });
    assert.equal(d.kind, 'regress');
    assert.equal(d.kind === 'regress' ? d.days : 0, 7);
    assert.match(d.kind === 'regress' ? d.reason : '', /back from day 30 to day 23/);
  });

  it('lands in the previous week when regressing from the last day of a week', () => {
    const today = addDays(START, 14);
    const d = decideOn(14, bouncing(200, 0.1));
    const after = applyDecision(START, d, today);
    assert.equal(warmupDayNumber(after.warmupStart, today), 7);
  });

  it('never steps back before day 1', () => {
    const today = addDays(START, 3);
    const d = decideOn(3, bouncing(50, 0.2));
    assert.deepEqual(d.kind === 'regress' ? d.days : null, 2);
    const after = applyDecision(START, d, today);
    assert.equal(warmupDayNumber(after.warmupStart, today), 1);
  });

  it('holds when an operator holds it, even after a healthy day', () => {
    assert.deepEqual(decideOn(12, healthy(200), { heldByOperator: true }), {
      kind: 'hold',
      reason: 'held by operator on day 12',
    });
  });

  it('still steps back under an operator hold when yesterday was over the regress threshold', () => {
    assert.equal(decideOn(12, bouncing(200, 0.1), { heldByOperator: true }).kind, 'regress');
  });

  it('holds, neither advancing nor stepping back, when yesterday sent under the minimum volume', () => {
    assert.deepEqual(decideOn(12, healthy(19)), {
      kind: 'hold',
      reason: 'sent 19 on day 12, under the 20 needed to judge it',
    });
    // 10 of 15 bounced is noise at that volume, not a reason to step back.
    assert.equal(decideOn(12, bouncing(15, 0.66)).kind, 'hold');
    assert.deepEqual(decideOn(12, healthy(20)), { kind: 'advance' });
  });

  it('holds when nothing was recorded for yesterday', () => {
    assert.deepEqual(decideOn(12, null), { kind: 'hold', reason: 'no sending recorded on day 12' });
  });

  it('lowers the minimum volume to the day\'s cap when a schedule starts below it', () => {
    const schedule = { steps: [{ days: 2, dailyCap: 5 }], activeDailyCap: 100 };
    const d = decideProgression({
      state: 'warming',
      warmupStart: START,
      today: addDays(START, 1),
      yesterday: healthy(5),
      schedule,
      thresholds: DEFAULT_THRESHOLDS,
    });
    assert.deepEqual(d, { kind: 'advance' });
  });

  it('graduates after a healthy last step day, and only then', () => {
    assert.deepEqual(decideOn(35, healthy(5000)), { kind: 'graduate' });
    assert.deepEqual(decideOn(34, healthy(5000)), { kind: 'advance' });
    assert.equal(decideOn(35, bouncing(5000, 0.05)).kind, 'hold');
  });

  it('steps back into the last step when a warming IP already past it has a bad day', () => {
    // Rollovers were missed: yesterday was day 50 while still warming.
    const today = addDays(START, 50);
    const d = decideOn(50, bouncing(10000, 0.1));
    const after = applyDecision(START, d, today);
    assert.equal(warmupDayNumber(after.warmupStart, today), 29);
  });

  it('decides nothing for an IP that is not warming', () => {
    for (const state of ['active', 'paused', 'retired'] as const) {
      assert.deepEqual(decideOn(12, bouncing(200, 0.5), { state }), { kind: 'none', reason: `IP is ${state}, not warming` });
    }
  });

  it('decides nothing before the warmup starts or on its first day', () => {
    assert.equal(decideOn(0, null, { today: addDays(START, -1) }).kind, 'none');
    assert.equal(decideOn(0, healthy(100)).kind, 'none');
  });
});

describe('applyDecision', () => {
  const today = addDays(START, 11); // day 12

  it('keeps the start on advance and none', () => {
    assert.deepEqual(applyDecision(START, { kind: 'advance' }, today), { warmupStart: START });
    assert.deepEqual(applyDecision(START, { kind: 'none', reason: 'x' }, today), { warmupStart: START });
  });

  it('moves the start one day later on hold, so today repeats yesterday\'s day', () => {
    const after = applyDecision(START, { kind: 'hold', reason: 'x' }, today);
    assert.equal(after.warmupStart, addDays(START, 1));
    assert.equal(warmupDayNumber(after.warmupStart, today), 11);
  });

  it('makes the IP active on graduate', () => {
    assert.deepEqual(applyDecision(START, { kind: 'graduate' }, today), { warmupStart: START, state: 'active' });
  });

  it('never moves the start past today', () => {
    const after = applyDecision(START, { kind: 'regress', reason: 'x', days: 30 }, today);
    assert.equal(after.warmupStart, today);
  });
});

describe('helpers', () => {
  it('alerts on regress and graduate only', () => {
    assert.equal(needsAlert({ kind: 'regress', reason: 'x', days: 7 }), true);
    assert.equal(needsAlert({ kind: 'graduate' }), true);
    assert.equal(needsAlert({ kind: 'hold', reason: 'x' }), false);
    assert.equal(needsAlert({ kind: 'advance' }), false);
    assert.equal(needsAlert({ kind: 'none', reason: 'x' }), false);
  });

  it('gives the start that puts an IP on a chosen day today', () => {
    const today = day('2026-04-10');
    assert.equal(warmupDayNumber(startForDay(today, 15), today), 15);
    assert.equal(startForDay(today, 1), today);
    assert.throws(() => startForDay(today, 0), RangeError);
  });
});
