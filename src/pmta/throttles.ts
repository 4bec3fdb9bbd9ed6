// Per-destination rate limits that keep a warming IP inside its warmup even
// when mail reaches PowerMTA by another path than the agent. Pure.
import { PmtaModelError, validateDomain } from './names.js';

export interface ThrottleGroup {
  /** Shown in a comment only. */
  label: string;
  /** Destination domains sharing one `<domain ...>` block. */
  domains: string[];
  /** Part of the IP's daily cap this destination may take in an hour's worth of sending. */
  share: number;
}

export interface ThrottleOptions {
  /**
   * The day's cap is spread over this many hours: `max-msg-rate` is
   * ceil(dailyCap * share / hours) per hour. It matches MailWizz's pacing
   * (mailwizz.ts `sendingHours`), so a campaign that MailWizz spreads over the
   * day passes PowerMTA without piling up, while a burst cannot.
   */
  hours: number;
  groups: ThrottleGroup[];
}

/**
 * Shares follow the usual make-up of a consumer list (Gmail largest, then
 * Microsoft, then Yahoo/AOL). PowerMTA applies a rate to each destination
 * queue (domain/VMTA), not to the block as a whole, so the shares bound each
 * big receiver separately: they need not add up to 1. The `<domain *>`
 * catch-all gets the whole hourly rate (dailyCap / hours) per other domain.
 */
export const DEFAULT_THROTTLES: ThrottleOptions = Object.freeze({
  hours: 10,
  groups: Object.freeze([
    Object.freeze({ label: 'Google', domains: ['gmail.com', 'googlemail.com'], share: 0.4 }),
    Object.freeze({ label: 'Microsoft', domains: ['outlook.com', 'hotmail.com', 'live.com', 'msn.com'], share: 0.3 }),
    Object.freeze({ label: 'Yahoo/AOL', domains: ['yahoo.com', 'ymail.com', 'aol.com'], share: 0.2 }),
  ]) as ThrottleGroup[],
}) as ThrottleOptions;

export interface DomainThrottle {
  label: string;
  /** `['*']` for the catch-all. */
  domains: string[];
  /** e.g. `20/h`. */
  maxMsgRate: string;
}

/** `max-msg-rate` for a share of the daily cap: at least 1/h so a tiny cap still trickles. */
export function hourlyRate(dailyCap: number, share: number, hours: number): number {
  // Round away float noise first: 0.1 * 30 is 3.0000000000000004, whose ceil is 4.
  const exact = Math.round(((dailyCap * share) / hours) * 1e6) / 1e6;
  return Math.max(1, Math.ceil(exact));
}

export function checkThrottles(t: ThrottleOptions): ThrottleOptions {
  if (!(Number.isFinite(t.hours) && t.hours > 0 && t.hours <= 24)) {
    throw new PmtaModelError('throttles.hours', `must be a number of hours in (0, 24], got ${t.hours}`);
  }
  const seen = new Set<string>();
  const groups = t.groups.map((g, i) => {
    if (!(Number.isFinite(g.share) && g.share > 0 && g.share <= 1)) {
      throw new PmtaModelError(`throttles.groups[${i}].share`, `must be in (0, 1], got ${g.share}`);
    }
    if (g.domains.length === 0) throw new PmtaModelError(`throttles.groups[${i}].domains`, 'must not be empty');
    const domains = g.domains.map((d, j) => {
      const name = validateDomain(d, `throttles.groups[${i}].domains[${j}]`);
      if (seen.has(name)) throw new PmtaModelError(`throttles.groups[${i}].domains[${j}]`, `${name} is in two groups`);
      seen.add(name);
      return name;
    });
    return { label: g.label.replace(/[\r\n]+/g, ' '), domains, share: g.share };
  });
  return { hours: t.hours, groups };
}

export function warmupThrottles(dailyCap: number, t: ThrottleOptions): DomainThrottle[] {
  // Groups keep the operator's order; the catch-all goes last where a reader
  // expects the default.
  const out: DomainThrottle[] = t.groups.map((g) => ({
    label: g.label,
    domains: [...g.domains],
    maxMsgRate: `${hourlyRate(dailyCap, g.share, t.hours)}/h`,
  }));
  out.push({ label: 'any other destination', domains: ['*'], maxMsgRate: `${hourlyRate(dailyCap, 1, t.hours)}/h` });
  return out;
}

