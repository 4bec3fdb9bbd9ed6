// Warmup schedule arithmetic. Pure: every function takes the day it reasons
// about, so the daemon's Clock (not the host clock) decides what "today" is.
import type { DayKey, IpState } from '../types.js';

export interface WarmupStep {
  days: number;
  dailyCap: number;
}

/** Consecutive steps from the warmup start day, then `activeDailyCap` for good. */
export interface WarmupSchedule {
  steps: WarmupStep[];
  activeDailyCap: number;
}

/**
 * Five weekly steps (50, 200, 500, 1500, 5000 a day); from day 36 the IP is
 * active at 10000 a day. Frozen because every tenant without its own
 * schedule shares this object.
 */
export const DEFAULT_SCHEDULE: WarmupSchedule = Object.freeze({
  steps: Object.freeze(
    [50, 200, 500, 1500, 5000].map((dailyCap) => Object.freeze({ days: 7, dailyCap })),
  ) as WarmupStep[],
  activeDailyCap: 10000,
});

const MS_PER_DAY = 86_400_000;
const DAY_KEY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

// Building an Intl.DateTimeFormat is far slower than using one, and dayKey
// runs on every message, so keep one per zone.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    // Throws RangeError for an unknown zone, which is what a config check wants.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The calendar day (`YYYY-MM-DD`) that instant `at` falls on in the IANA zone. */
export function dayKey(at: Date, timeZone: string): DayKey {
  if (Number.isNaN(at.getTime())) throw new RangeError('dayKey: invalid date');
  let year = '';
  let month = '';
  let day = '';
  for (const part of formatterFor(timeZone).formatToParts(at)) {
    if (part.type === 'year') year = part.value;
    else if (part.type === 'month') month = part.value;
    else if (part.type === 'day') day = part.value;
  }
  return `${year.padStart(4, '0')}-${month}-${day}` as DayKey;
}

export function isDayKey(s: string): s is DayKey {
  return parseDayKey(s) !== null;
}

/** UTC midnight of the day in ms, or null if `s` is not a real calendar day. */
function parseDayKey(s: string): number | null {
  const m = DAY_KEY_RE.exec(s);
  if (m === null) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  // Date.UTC silently rolls 2026-02-30 over to March; reject instead.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) {
    return null;
  }
  return ms;
}

function utcMidnight(day: DayKey): number {
  const ms = parseDayKey(day);
  if (ms === null) throw new RangeError(`not a YYYY-MM-DD day: ${JSON.stringify(day)}`);
  return ms;
}

function fromUtcMidnight(ms: number): DayKey {
  return new Date(ms).toISOString().slice(0, 10) as DayKey;
}

export function addDays(day: DayKey, n: number): DayKey {
  if (!Number.isInteger(n)) throw new RangeError(`addDays: n must be an integer, got ${n}`);
  return fromUtcMidnight(utcMidnight(day) + n * MS_PER_DAY);
}

/**
 * Calendar days from `from` to `to` (negative if `to` is earlier). Works on
 * UTC midnights built from the date parts, so a 23- or 25-hour local day
 * around a DST change still counts as one day.
 */
export function daysBetween(from: DayKey, to: DayKey): number {
  return Math.round((utcMidnight(to) - utcMidnight(from)) / MS_PER_DAY);
}

/** 1 on the start day, 2 the day after; 0 for any day before the start. */
export function warmupDayNumber(start: DayKey, today: DayKey): number {
  const d = daysBetween(start, today);
  return d < 0 ? 0 : d + 1;
}

export interface Phase {
  /** "not_started", "week_1".."week_N", "active", "paused" or "retired". */
  phase: string;
  dailyCap: number;
  /** True once a warming IP has run past the last step. */
  graduated: boolean;
}

/** Phase for 1-based day `day` of a warmup. */
export function phaseForDay(schedule: WarmupSchedule, day: number): Phase {
  const d = Math.floor(day);
  if (!(d >= 1)) return { phase: 'not_started', dailyCap: 0, graduated: false };
  let lastDayOfStep = 0;
  for (const step of schedule.steps) {
    lastDayOfStep += step.days;
    if (d <= lastDayOfStep) {
      return { phase: `week_${Math.ceil(d / 7)}`, dailyCap: step.dailyCap, graduated: false };
    }
  }
  return { phase: 'active', dailyCap: schedule.activeDailyCap, graduated: true };
}

/** Today's cap for an IP given its state; only a warming IP follows the schedule. */
export function capFor(
  ip: { state: IpState; warmupStart: DayKey },
  today: DayKey,
  schedule: WarmupSchedule,
): Phase {
  switch (ip.state) {
    case 'paused':
    case 'retired':
      return { phase: ip.state, dailyCap: 0, graduated: false };
    case 'active':
      return { phase: 'active', dailyCap: schedule.activeDailyCap, graduated: true };
    case 'warming':
      return phaseForDay(schedule, warmupDayNumber(ip.warmupStart, today));
  }
}

/** Problems with a schedule, as sentences for a config error; empty when valid. */
export function validateSchedule(s: WarmupSchedule): string[] {
  const problems: string[] = [];
  if (s.steps.length === 0) problems.push('warmup schedule has no steps');
  let prevCap: number | null = null;
  s.steps.forEach((step, i) => {
    const n = i + 1;
    if (!Number.isInteger(step.days) || step.days <= 0) {
      problems.push(`step ${n}: days must be a positive integer, got ${step.days}`);
    }
    if (!Number.isFinite(step.dailyCap) || step.dailyCap < 0) {
      problems.push(`step ${n}: dailyCap must be a non-negative number, got ${step.dailyCap}`);
    } else if (prevCap !== null && step.dailyCap < prevCap) {
      problems.push(`step ${n}: dailyCap ${step.dailyCap} is below the previous step's ${prevCap}`);
    }
    if (Number.isFinite(step.dailyCap)) prevCap = step.dailyCap;
  });
  if (!Number.isFinite(s.activeDailyCap) || s.activeDailyCap < 0) {
    problems.push(`activeDailyCap must be a non-negative number, got ${s.activeDailyCap}`);
  } else if (prevCap !== null && s.activeDailyCap < prevCap) {
    problems.push(`activeDailyCap ${s.activeDailyCap} is below the last step's ${prevCap}`);
  }
  return problems;
}
