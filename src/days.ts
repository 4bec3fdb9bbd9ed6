// Calendar days (`YYYY-MM-DD`) in an IANA time zone, and arithmetic on them.
// Pure: every function takes the instant or day it reasons about, so the
// daemon's Clock (not the host clock) decides what "today" is.
import type { DayKey } from './types.js';

const MS_PER_DAY = 86_400_000;
const DAY_KEY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAY_PARTS = { year: 'numeric', month: '2-digit', day: '2-digit' } as const;
// h23, not hour12:false: the latter prints midnight as "24" on some ICU versions.
const TIME_PARTS = { ...DAY_PARTS, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' } as const;

// Building an Intl.DateTimeFormat is far slower than using one, and dayKey
// runs on every message, so keep one per zone; the day alone formats about
// three times faster than with the time, so that is a formatter of its own.
const formatters = new Map<string, Intl.DateTimeFormat>();

function partsOf(at: Date, timeZone: string, withTime: boolean): Record<string, string> {
  if (Number.isNaN(at.getTime())) throw new RangeError('invalid date');
  const key = `${withTime ? 'time' : 'day'} ${timeZone}`;
  let f = formatters.get(key);
  if (f === undefined) {
    // Throws RangeError for an unknown zone, which is what a config check wants.
    f = new Intl.DateTimeFormat('en-US', { timeZone, ...(withTime ? TIME_PARTS : DAY_PARTS) });
    formatters.set(key, f);
  }
  const v: Record<string, string> = {};
  for (const part of f.formatToParts(at)) v[part.type] = part.value;
  return v;
}

function dayOf(v: Record<string, string>): DayKey {
  return `${(v['year'] ?? '').padStart(4, '0')}-${v['month'] ?? ''}-${v['day'] ?? ''}` as DayKey;
}

// The day of the last minute asked, per zone: dayKey runs several times per
// message and formatting a date was 1.6% of the agent's CPU (issue 15). Since
// 1972 every zone's offset is a whole number of minutes, so a day never
// changes inside a minute; older instants are formatted each time.
const MS_PER_MINUTE = 60_000;
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1972, 0, 1);
const lastMinute = new Map<string, { minute: number; day: DayKey }>();

/** The calendar day (`YYYY-MM-DD`) that instant `at` falls on in the IANA zone. */
export function dayKey(at: Date, timeZone: string): DayKey {
  const t = at.getTime();
  if (!(t >= WHOLE_MINUTE_OFFSETS_SINCE)) return dayOf(partsOf(at, timeZone, false));
  const minute = Math.floor(t / MS_PER_MINUTE);
  const hit = lastMinute.get(timeZone);
  if (hit !== undefined && hit.minute === minute) return hit.day;
  const day = dayOf(partsOf(at, timeZone, false));
  lastMinute.set(timeZone, { minute, day });
  return day;
}

export interface LocalTime {
  day: DayKey;
  hour: number;
  minute: number;
  second: number;
}

/** The local calendar day and wall-clock time of instant `at` in the IANA zone. */
export function localTime(at: Date, timeZone: string): LocalTime {
  const v = partsOf(at, timeZone, true);
  return { day: dayOf(v), hour: Number(v['hour']) % 24, minute: Number(v['minute']), second: Number(v['second']) };
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
