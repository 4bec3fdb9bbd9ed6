// Health-gated warmup progression. Pure: the caller passes today's day and
// yesterday's delivery stats, and stores what applyDecision returns.
//
// An IP's effective warmup day is still warmupDayNumber(warmupStart, today):
// holding a day moves warmupStart one day later, regressing moves it further.
// capFor() stays the one place that turns a start and a day into a cap, and a
// missed timer cannot skip or repeat a day, because the day comes from dates.
import type { DayKey, IpState } from '../types.js';
import { addDays, capFor, daysBetween, phaseForDay, warmupDayNumber, type WarmupSchedule } from './schedule.js';

export interface HealthThresholds {
  /** Bounce rate at or over which the IP holds its day. */
  holdBounceRate: number;
  /** Complaint rate at or over which the IP holds its day. */
  holdComplaintRate: number;
  /** Bounce rate at or over which the IP steps back a week. */
  regressBounceRate: number;
  /** Complaint rate at or over which the IP steps back a week. */
  regressComplaintRate: number;
  /** Messages the IP must have sent yesterday before its rates are judged. */
  minVolume: number;
}

/**
 * Complaints: Gmail's and Yahoo's bulk-sender rules (2024) require a spam
 * rate below 0.3% and recommend staying under 0.1%, so 0.1% holds and 0.3%
 * steps back. Bounces: a list in good shape bounces under 2-3%; 3% holds, and
 * 8% means a bad list or a block, which steps back.
 * minVolume 20: under about 20 messages one bounce is already 5%, so the rates
 * say nothing; 20 is well under the first step's 50 a day.
 */
export const DEFAULT_THRESHOLDS: HealthThresholds = Object.freeze({
  holdBounceRate: 0.03,
  holdComplaintRate: 0.001,
  regressBounceRate: 0.08,
  regressComplaintRate: 0.003,
  minVolume: 20,
});

/** One IP's delivery results for one day. */
export interface DayStats {
  sent: number;
  delivered: number;
  bouncedHard: number;
  bouncedSoft: number;
  complaints: number;
}

export type ProgressionDecision =
  /** Healthy yesterday: today is the next warmup day (warmupStart unchanged). */
  | { kind: 'advance' }
  /** Today repeats yesterday's warmup day. */
  | { kind: 'hold'; reason: string }
  /**
   * Today is `days` warmup days before yesterday's day: 7 (a week), fewer
   * when that would go before day 1.
   */
  | { kind: 'regress'; reason: string; days: number }
  /** A warming IP healthy past the last step: it becomes `active`. */
  | { kind: 'graduate' }
  /** Nothing to decide: not warming, or no warmup day behind it yet. */
  | { kind: 'none'; reason: string };

export type ProgressionKind = ProgressionDecision['kind'];

/** Bounces over attempted deliveries; 0 when nothing was attempted. */
export function bounceRate(s: DayStats): number {
  const bounced = s.bouncedHard + s.bouncedSoft;
  const attempted = s.delivered + bounced;
  return attempted > 0 ? bounced / attempted : 0;
}

/** Complaints over delivered messages (how Gmail's Postmaster Tools counts); 0 without deliveries. */
export function complaintRate(s: DayStats): number {
  return s.delivered > 0 ? s.complaints / s.delivered : 0;
}

/** Regress and graduate change what an operator must know about; advance and hold are audit-only. */
export function needsAlert(d: ProgressionDecision): boolean {
  return d.kind === 'regress' || d.kind === 'graduate';
}

/** The warmupStart that puts an IP on warmup day `day` today (operator "set day"). */
export function startForDay(today: DayKey, day: number): DayKey {
  if (!Number.isInteger(day) || day < 1) throw new RangeError(`warmup day must be an integer >= 1, got ${day}`);
  return addDays(today, -(day - 1));
}

export interface ProgressionInput {
  state: IpState;
  warmupStart: DayKey;
  today: DayKey;
  /** Yesterday's stats for this IP; null when none were recorded. */
  yesterday: DayStats | null;
  schedule: WarmupSchedule;
  thresholds: HealthThresholds;
  /** Operator hold from the API: the IP does not advance until released. */
  heldByOperator?: boolean | undefined;
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

function lastStepDay(schedule: WarmupSchedule): number {
  return schedule.steps.reduce((n, s) => n + s.days, 0);
}

/**
 * What today's rollover does to a warming IP, judged on yesterday.
 *
 * Order, first match wins:
 * 1. Not warming, or today is the first warmup day or earlier: `none`.
 * 2. Enough volume and a rate at or over a regress threshold: `regress`.
 *    This wins over an operator hold: stepping back only lowers volume, and
 *    reputation damage does not wait for an operator.
 * 3. Operator hold: `hold`.
 * 4. No stats, or fewer messages than min(minVolume, yesterday's cap): `hold`.
 *    An IP that barely sent has built no reputation, so it must not climb to
 *    a larger cap; and rates over a handful of messages are noise, so low
 *    volume never regresses either. Capping minVolume at yesterday's cap
 *    keeps a schedule with tiny first steps from holding forever.
 * 5. A rate at or over a hold threshold: `hold`.
 * 6. Otherwise `graduate` if the next day is past the last step, else `advance`.
 *
 * A rate exactly at a threshold counts as over it: the Gmail rule is "below 0.3%".
 */
export function decideProgression(input: ProgressionInput): ProgressionDecision {
  const { state, warmupStart, today, yesterday, schedule, thresholds: t } = input;
  if (state !== 'warming') return { kind: 'none', reason: `IP is ${state}, not warming` };
  const todayNumber = warmupDayNumber(warmupStart, today);
  if (todayNumber === 0) return { kind: 'none', reason: `warmup starts on ${warmupStart}` };
  if (todayNumber === 1) return { kind: 'none', reason: 'first warmup day: no earlier day to judge' };

  const day = todayNumber - 1; // yesterday's warmup day
  const yesterdayCap = phaseForDay(schedule, day).dailyCap;
  const minVolume = Math.min(t.minVolume, yesterdayCap);
  const judged = yesterday !== null && yesterday.sent >= minVolume ? yesterday : null;
  const bounces = judged === null ? 0 : bounceRate(judged);
  const complaints = judged === null ? 0 : complaintRate(judged);

  const regressWhy =
    judged === null
      ? null
      : complaints >= t.regressComplaintRate
        ? `complaint rate ${pct(complaints)} on day ${day} is at or over the regress threshold ${pct(t.regressComplaintRate)}`
        : bounces >= t.regressBounceRate
          ? `bounce rate ${pct(bounces)} on day ${day} is at or over the regress threshold ${pct(t.regressBounceRate)}`
          : null;
  if (regressWhy !== null) {
    // Past the last step (rollovers were missed while warming) counts as the
    // first active day, so a week back lands in the last step.
    const from = Math.min(day, lastStepDay(schedule) + 1);
    const to = Math.max(1, from - 7);
    return { kind: 'regress', days: day - to, reason: `${regressWhy}: back from day ${day} to day ${to}` };
  }

  if (input.heldByOperator === true) return { kind: 'hold', reason: `held by operator on day ${day}` };
  if (yesterday === null) return { kind: 'hold', reason: `no sending recorded on day ${day}` };
  if (judged === null) {
    return { kind: 'hold', reason: `sent ${yesterday.sent} on day ${day}, under the ${minVolume} needed to judge it` };
  }
  if (complaints >= t.holdComplaintRate) {
    return { kind: 'hold', reason: `complaint rate ${pct(complaints)} on day ${day} is at or over the hold threshold ${pct(t.holdComplaintRate)}` };
  }
  if (bounces >= t.holdBounceRate) {
    return { kind: 'hold', reason: `bounce rate ${pct(bounces)} on day ${day} is at or over the hold threshold ${pct(t.holdBounceRate)}` };
  }
  return phaseForDay(schedule, day + 1).graduated ? { kind: 'graduate' } : { kind: 'advance' };
}

/**
 * The IP's stored fields after today's decision. Hold moves warmupStart one
 * day later (today repeats yesterday's day); regress moves it `days + 1` later
 * (one for not advancing, `days` back). warmupStart never passes today, so the
 * IP stays on day 1 or later.
 */
export function applyDecision(
  warmupStart: DayKey,
  decision: ProgressionDecision,
  today: DayKey,
): { warmupStart: DayKey; state?: 'active' } {
  const later = (n: number): DayKey => {
    const moved = addDays(warmupStart, n);
    return daysBetween(moved, today) < 0 ? today : moved;
  };
  switch (decision.kind) {
    case 'hold':
      return { warmupStart: later(1) };
    case 'regress':
      return { warmupStart: later(decision.days + 1) };
    case 'graduate':
      return { warmupStart, state: 'active' };
    case 'advance':
    case 'none':
      return { warmupStart };
  }
}

export interface SimulatedDay {
  day: DayKey;
  /** Effective warmup day after today's decision. */
  warmupDay: number;
  phase: string;
  cap: number;
  state: IpState;
  decision: ProgressionKind;
}

/**
 * Runs one IP's warmup day by day from `start`: on each day the decision
 * judges the day before's stats, then the day's cap follows, then `statsFor`
 * says how that day went.
 */
export function simulateWarmup(opts: {
  start: DayKey;
  days: number;
  schedule: WarmupSchedule;
  thresholds: HealthThresholds;
  statsFor: (day: DayKey, cap: number) => DayStats;
  heldByOperatorOn?: (day: DayKey) => boolean;
}): SimulatedDay[] {
  let state: IpState = 'warming';
  let warmupStart = opts.start;
  let yesterday: DayStats | null = null;
  const out: SimulatedDay[] = [];
  for (let i = 0; i < opts.days; i++) {
    const today = addDays(opts.start, i);
    const decision = decideProgression({
      state,
      warmupStart,
      today,
      yesterday,
      schedule: opts.schedule,
      thresholds: opts.thresholds,
      heldByOperator: opts.heldByOperatorOn?.(today) ?? false,
    });
    const next = applyDecision(warmupStart, decision, today);
    warmupStart = next.warmupStart;
    if (next.state !== undefined) state = next.state;
    const p = capFor({ state, warmupStart }, today, opts.schedule);
    out.push({
      day: today,
      warmupDay: warmupDayNumber(warmupStart, today),
      phase: p.phase,
      cap: p.dailyCap,
      state,
      decision: decision.kind,
    });
    yesterday = opts.statsFor(today, p.dailyCap);
  }
  return out;
}

/** One judged day of one IP, with what decided it: the audit entry and the log line. */
export interface ProgressionChange {
  ip: string;
  /** The day the decision applies to. */
  day: DayKey;
  /** The day whose results were judged (the day before). */
  judged: DayKey;
  decision: Exclude<ProgressionKind, 'none'>;
  reason: string;
  from: { warmupDay: number; cap: number };
  to: { warmupDay: number; cap: number; state: IpState };
  /** The judged day's results; null when none were recorded. */
  figures: (DayStats & { bounceRate: number; complaintRate: number }) | null;
  warmupStart: DayKey;
}

/**
 * The why of a decision in words and numbers: the warmup day and cap before and
 * after, and the judged day's volumes and rates, so the audit log explains every change.
 */
export function explainDecision(
  ip: string,
  input: ProgressionInput,
  decision: Exclude<ProgressionDecision, { kind: 'none' }>,
  next: { warmupStart: DayKey; state?: 'active' },
): ProgressionChange {
  const judged = addDays(input.today, -1);
  const fromDay = warmupDayNumber(input.warmupStart, judged);
  const state: IpState = next.state ?? input.state;
  const toCap = capFor({ state, warmupStart: next.warmupStart }, input.today, input.schedule);
  const y = input.yesterday;
  const figures = y === null ? null : { ...y, bounceRate: round4(bounceRate(y)), complaintRate: round4(complaintRate(y)) };
  const rates = y === null ? '' : `: ${y.sent} sent, bounce rate ${pct(bounceRate(y))}, complaint rate ${pct(complaintRate(y))}`;
  const reason =
    decision.kind === 'advance'
      ? `healthy day ${fromDay}${rates}, under the hold thresholds`
      : decision.kind === 'graduate'
        ? `healthy last warmup day ${fromDay}${rates}: active from today`
        : decision.reason;
  return {
    ip,
    day: input.today,
    judged,
    decision: decision.kind,
    reason,
    from: { warmupDay: fromDay, cap: phaseForDay(input.schedule, fromDay).dailyCap },
    to: { warmupDay: state === 'warming' ? warmupDayNumber(next.warmupStart, input.today) : 0, cap: toCap.dailyCap, state },
    figures,
    warmupStart: next.warmupStart,
  };
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
