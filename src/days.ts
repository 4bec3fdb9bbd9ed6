// Calendar days (`YYYY-MM-DD`) in an IANA time zone, and arithmetic on them.
// Pure: every function takes the instant or day it reasons about, so the
// daemon's Clock (not the host clock) decides what "today" is.
import type { DayKey } from './types.js';

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
