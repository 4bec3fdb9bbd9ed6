// Hourly pacing of a warming IP's daily cap. Pure: the caller passes the
// instant, the zone and how much the IP already sent this clock hour.
//
// Without pacing a campaign launched at 09:00 spends the whole day's warmup
// quota in its first minutes, and a burst from a new IP is exactly what
// mailbox providers throttle. Messages over the pace wait in the deferred
// spool, like those over the daily quota, until the next hour opens.
import { localTime } from '../days.js';
import type { DayKey, IpState } from '../types.js';

export interface PacingOptions {
  enabled: boolean;
  /** First sending hour, 0-23, local to the configured zone. */
  startHour: number;
  /** Hour sending stops, exclusive, 1-24: 8 and 20 send from 08:00 to 19:59. */
  endHour: number;
  /** Extra share allowed in any one hour, e.g. 0.1 for 10%. */
  burst: number;
}

/** Problems with pacing options, as sentences for a config error; empty when valid. */
export function validatePacing(o: PacingOptions): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(o.startHour) || o.startHour < 0 || o.startHour > 23) {
    problems.push(`startHour must be an integer hour 0-23, got ${o.startHour}`);
  }
  if (!Number.isInteger(o.endHour) || o.endHour < 1 || o.endHour > 24) {
    problems.push(`endHour must be an integer hour 1-24, got ${o.endHour}`);
  }
  if (problems.length === 0 && o.endHour <= o.startHour) {
    problems.push(`endHour ${o.endHour} must be after startHour ${o.startHour} (windows across midnight are not supported)`);
  }
  if (!Number.isFinite(o.burst) || o.burst < 0) problems.push(`burst must be a non-negative number, got ${o.burst}`);
  return problems;
}

export function sendingHours(o: PacingOptions): number {
  return o.endHour - o.startHour;
}

export function inSendingHours(hour: number, o: PacingOptions): boolean {
  return hour >= o.startHour && hour < o.endHour;
}

/** The local day and clock hour (0-23) that `at` falls in, in the IANA zone. */
export function hourKey(at: Date, timeZone: string): { day: DayKey; hour: number } {
  const t = localTime(at, timeZone);
  return { day: t.day, hour: t.hour };
}

/**
 * The instant the next local clock hour begins. Works from the local minute
 * and second, so zones offset by :30 or :45 get their own hour boundaries, and
 * across a DST change it is still the first instant of a new clock hour.
 */
export function nextHourStart(at: Date, timeZone: string): Date {
  const t = localTime(at, timeZone);
  const hourBegan = at.getTime() - at.getUTCMilliseconds() - (t.minute * 60 + t.second) * 1000;
  return new Date(hourBegan + 3_600_000);
}

/**
 * When a paced IP may next send: the next hour's start if that hour is a
 * sending hour, else the start of the next sending window. Stepping hour by
 * hour keeps DST days right (23 or 25 hours) without offset arithmetic.
 */
export function nextSendingHourStart(at: Date, timeZone: string, o: PacingOptions): Date {
  let next = nextHourStart(at, timeZone);
  for (let i = 0; i < 26 && !inSendingHours(hourKey(next, timeZone).hour, o); i++) {
    next = nextHourStart(next, timeZone);
  }
  return next;
}

/**
 * ceil(cap / sending hours * (1 + burst)), at least 1 when cap > 0 so a tiny
 * cap still trickles; 0 when cap is 0. Over the day's hours this always adds
 * up to at least the cap, and the daily quota still bounds the total.
 */
export function hourlyAllowance(dailyCap: number, opts: PacingOptions): number {
  if (!(dailyCap > 0)) return 0;
  if (dailyCap === Infinity) return Infinity;
  // Round away float noise first: 120 / 12 * 1.1 is 11.000000000000002, whose ceil is 12.
  const exact = Math.round((dailyCap / sendingHours(opts)) * (1 + opts.burst) * 1e6) / 1e6;
  return Math.max(1, Math.ceil(exact));
}

/**
 * How many more messages the IP may send in this clock hour. Only warming IPs
 * are paced: active IPs have earned their volume, and paused or retired IPs
 * are stopped by their daily cap of 0. `reason` is null exactly when
 * `allowed` is Infinity (no pacing applies); otherwise it names the limit,
 * for the 250 "queued" reply and the spool record. Spool when the message
 * needs more than `allowed`.
 */
export function pacingLimit(input: {
  state: IpState;
  dailyCap: number;
  usedThisHour: number;
  hour: number;
  opts: PacingOptions;
}): { allowed: number; reason: string | null } {
  const { state, dailyCap, usedThisHour, hour, opts } = input;
  if (!opts.enabled || state !== 'warming') return { allowed: Infinity, reason: null };
  if (!inSendingHours(hour, opts)) {
    return { allowed: 0, reason: `outside sending hours ${opts.startHour}-${opts.endHour}` };
  }
  const allowance = hourlyAllowance(dailyCap, opts);
  if (allowance === Infinity) return { allowed: Infinity, reason: null };
  const allowed = Math.max(0, allowance - usedThisHour);
  const reason =
    `hourly pace: ${usedThisHour} of ${allowance} sent this hour ` +
    `(daily cap ${dailyCap} over sending hours ${opts.startHour}-${opts.endHour})`;
  return { allowed, reason };
}
