// Warmup schedule arithmetic. Pure: every function takes the day it reasons
// about, so the daemon's Clock (not the host clock) decides what "today" is.
import { daysBetween } from '../days.js';
import type { DayKey, IpState } from '../types.js';

// The calendar arithmetic lives in days.ts; re-exported for the modules that still import it from here.
export { addDays, dayKey, daysBetween, isDayKey } from '../days.js';

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
