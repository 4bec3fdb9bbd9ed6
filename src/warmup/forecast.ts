// Capacity forecast: each IP's expected daily cap for the days ahead, and the
// tenant's total, optionally with IPs the tenant plans to add. Pure.
//
// It assumes every warming IP advances each day (no holds, no regressions):
// a forecast is the plan, and a held IP's real start moves later, which the
// next forecast picks up. Paused IPs count 0 throughout, since nothing says
// when they resume.
import type { DayKey, IpState } from '../types.js';
import { addDays, capFor, type WarmupSchedule } from './schedule.js';

export interface ForecastIp {
  address: string;
  state: IpState;
  warmupStart: DayKey;
}

export interface ForecastIpDay {
  address: string;
  cap: number;
  phase: string;
  /** True for an IP the plan adds (add_ip_every), not one the tenant has. */
  planned: boolean;
}

export interface ForecastDay {
  day: DayKey;
  total: number;
  ips: ForecastIpDay[];
}

export interface ForecastInput {
  ips: ForecastIp[];
  /** First forecast day, normally today. */
  from: DayKey;
  days: number;
  schedule: WarmupSchedule;
  /** Add one warming IP every this many days ("add one domain/IP per week" = 7). */
  addIpEvery?: number | undefined;
  /** Stop adding once the tenant has this many IPs that are not retired. */
  addIpsUpTo?: number | undefined;
  /** Planned IPs are named `<prefix>-1`, `<prefix>-2`, ...; default "planned". */
  newIpPrefix?: string | undefined;
}

function checkCount(name: string, n: number | undefined, min: number): void {
  if (n !== undefined && !(Number.isInteger(n) && n >= min)) {
    throw new RangeError(`forecast: ${name} must be an integer >= ${min}, got ${n}`);
  }
}

/**
 * The IPs the plan adds within the forecast. The first starts on `from` when
 * the tenant has no IP that is not retired (nothing to wait for), otherwise
 * `addIpEvery` days after `from`; each next one `addIpEvery` days later.
 * Anchoring on `from` rather than on the last IP's warmupStart keeps the plan
 * predictable: a warmupStart moved by holds is not the day the IP was added.
 */
export function plannedIps(input: ForecastInput): ForecastIp[] {
  const every = input.addIpEvery;
  if (every === undefined || input.days <= 0) return [];
  const existing = input.ips.filter((ip) => ip.state !== 'retired').length;
  const room = input.addIpsUpTo === undefined ? Infinity : input.addIpsUpTo - existing;
  const firstOffset = existing === 0 ? 0 : every;
  const prefix = input.newIpPrefix ?? 'planned';
  const out: ForecastIp[] = [];
  for (let k = 0; k < room; k++) {
    const offset = firstOffset + k * every;
    if (offset >= input.days) break;
    out.push({ address: `${prefix}-${k + 1}`, state: 'warming', warmupStart: addDays(input.from, offset) });
  }
  return out;
}

/**
 * One entry per day from `from`, listing every IP (the tenant's, then the
 * planned ones, which show `not_started` with cap 0 before their start).
 * Active IPs count the schedule's activeDailyCap; paused and retired count 0.
 */
export function forecast(input: ForecastInput): ForecastDay[] {
  checkCount('days', input.days, 0);
  checkCount('addIpEvery', input.addIpEvery, 1);
  checkCount('addIpsUpTo', input.addIpsUpTo, 0);
  const all = [
    ...input.ips.map((ip) => ({ ip, planned: false })),
    ...plannedIps(input).map((ip) => ({ ip, planned: true })),
  ];
  const out: ForecastDay[] = [];
  for (let i = 0; i < input.days; i++) {
    const day = addDays(input.from, i);
    let total = 0;
    const ips = all.map(({ ip, planned }) => {
      const p = capFor(ip, day, input.schedule);
      total += p.dailyCap;
      return { address: ip.address, cap: p.dailyCap, phase: p.phase, planned };
    });
    out.push({ day, total, ips });
  }
  return out;
}
