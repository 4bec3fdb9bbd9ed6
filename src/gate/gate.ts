import type { Grant } from '../ledger/grant.js';
import type { IpUsage, QuotaLedger, Reservation } from '../ledger/ledger.js';
import type { IpRecord, Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock, DayKey } from '../types.js';
import { capFor, dayKey, type WarmupSchedule } from '../warmup/schedule.js';
import { hourKey, pacingLimit, type PacingOptions } from '../warmup/pacing.js';
import type { IpAddress } from '../types.js';
import { chooseIp, remainingOf, type IpSnapshot } from './select.js';

export interface GateOptions {
  schedule: WarmupSchedule;
  timeZone: string;
  reservationTtlMs: number;
  pacing?: PacingOptions;
}

/** What the gate grants one recipient (the type lives with the ledger, which settles it). */
export type Granted = Grant;

/** The ledger key of an IP's clock hour: the same ledger, a key per hour. */
function hourBucket(ip: string, hour: number): IpAddress {
  return `${ip}#h${String(hour).padStart(2, '0')}` as IpAddress;
}

/** The quota store (Redis) cannot be read and nothing is known of today yet. */
export class StoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the quota store is unavailable (${(cause as Error)?.message ?? String(cause)}); nothing is known of today's counters yet`);
  }
}

export interface IpQuotaView extends IpSnapshot {
  hostname: string;
  phase: string;
  committed: number;
  reserved: number;
  remaining: number;
  /** This clock hour, when the IP is paced: allowance, used, and why it stops. */
  hour: { allowance: number; used: number; reason: string | null } | null;
  /** The counters are the last ones read: the quota store is unavailable now. */
  stale: boolean;
}

/**
 * The quota decision: which of the tenant's IPs takes the next units, and the
 * reservation that holds them. Pure selection happens in select.ts; this class
 * only joins the registry, the schedule and the ledger.
 */
export class Gate {
  private rotation = 0;
  private dayTurn: ((day: DayKey) => Promise<void>) | null = null;
  /** The last counters read per day and key, for read-only views while the store is down. */
  private readonly lastUsage = new Map<DayKey, Map<IpAddress, IpUsage>>();

  constructor(
    private readonly registry: Registry,
    private readonly ledger: QuotaLedger,
    private readonly clock: Clock,
    private opts: GateOptions,
  ) {}

  setOptions(opts: GateOptions): void {
    this.opts = opts;
  }

  /**
   * Called before anything of a day is granted or shown: the warmup judges the
   * previous day first, so the first reservation after midnight already gets the
   * judged cap (a bad day regresses before a unit of the next one leaves).
   */
  setDayTurn(fn: (day: DayKey) => Promise<void>): void {
    this.dayTurn = fn;
  }

  /** The tenant as it is once `day` has turned (judging may have moved its IPs). */
  private async turned(tenant: TenantRecord, day: DayKey): Promise<TenantRecord> {
    if (!this.dayTurn) return tenant;
    await this.dayTurn(day);
    return this.registry.tenant(tenant.id) ?? tenant;
  }

  today(): DayKey {
    return dayKey(this.clock.now(), this.opts.timeZone);
  }

  private pacedHour(day: DayKey): number | null {
    const pacing = this.opts.pacing;
    if (!pacing?.enabled) return null;
    const h = hourKey(this.clock.now(), this.opts.timeZone);
    return h.day === day ? h.hour : null;
  }

  /**
   * Today's view of the tenant's IPs. With `allowStale` (read endpoints), a store
   * that cannot be read gives the last counters read, marked stale; never for a
   * decision: reserve reads fresh counters or fails closed.
   */
  async snapshot(of: TenantRecord, day: DayKey = this.today(), opts: { allowStale?: boolean } = {}): Promise<IpQuotaView[]> {
    let stale = false;
    // A day that could not be judged yet (the shared store is down) is shown as it stands, marked stale.
    const tenant = opts.allowStale
      ? await this.turned(of, day).catch(() => {
          stale = true;
          return this.registry.tenant(of.id) ?? of;
        })
      : await this.turned(of, day);
    return this.views(tenant, day, opts.allowStale === true, stale);
  }

  /** The snapshot of a tenant whose day has turned already. */
  private async views(tenant: TenantRecord, day: DayKey, allowStale: boolean, staleTurn: boolean): Promise<IpQuotaView[]> {
    let stale = staleTurn;
    const hour = this.pacedHour(day);
    const keys = tenant.ips.map((i) => i.address);
    if (hour !== null) for (const i of tenant.ips) if (i.state === 'warming') keys.push(hourBucket(i.address, hour));
    let usage: Map<IpAddress, IpUsage>;
    try {
      usage = await this.ledger.usage(day, keys);
      let last = this.lastUsage.get(day);
      if (last === undefined) {
        if (this.lastUsage.size >= 3) this.lastUsage.clear();
        this.lastUsage.set(day, (last = new Map()));
      }
      for (const [k, u] of usage) last.set(k, u);
    } catch (err) {
      if (!allowStale) throw err;
      const last = this.lastUsage.get(day);
      if (last === undefined || !keys.every((k) => last.has(k))) throw new StoreUnavailableError(err);
      usage = new Map(keys.map((k) => [k, last.get(k)!]));
      stale = true;
    }
    return tenant.ips.map((ip) => {
      const phase = capFor(ip, day, this.opts.schedule);
      const u = usage.get(ip.address) ?? { committed: 0, reserved: 0 };
      const snap: IpSnapshot = { ip: ip.address, vmta: ip.vmta, state: ip.state, cap: phase.dailyCap, used: u.committed + u.reserved };
      let remaining = remainingOf(snap);
      let paced: IpQuotaView['hour'] = null;
      if (hour !== null && ip.state === 'warming') {
        const hu = usage.get(hourBucket(ip.address, hour)) ?? { committed: 0, reserved: 0 };
        const used = hu.committed + hu.reserved;
        const limit = pacingLimit({ state: ip.state, dailyCap: phase.dailyCap, usedThisHour: used, hour, opts: this.opts.pacing! });
        paced = { allowance: Number.isFinite(limit.allowed) ? limit.allowed + used : Infinity, used, reason: limit.reason };
        remaining = Math.min(remaining, limit.allowed);
      }
      // remaining is what is really left: the day's cap or this hour's pace, whichever is lower.
      return {
        ip: snap.ip,
        vmta: snap.vmta,
        state: snap.state,
        cap: snap.cap,
        used: snap.used,
        hostname: ip.hostname,
        phase: phase.phase,
        committed: u.committed,
        reserved: u.reserved,
        remaining,
        hour: paced,
        stale,
      };
    });
  }

  /**
   * Reserve n units on one IP: the healthy one with the most left. Another process
   * may take units between snapshot and reserve, so a refused reserve retries on a
   * fresh snapshot; null means no IP of the tenant can take n more today.
   */
  async reserve(of: TenantRecord, n = 1, onlyIp?: string): Promise<Granted | null> {
    const day = this.today();
    const tenant = await this.turned(of, day);
    for (let attempt = 0; attempt < 4; attempt++) {
      // The day has turned above: not again for every attempt.
      const snap = await this.views(tenant, day, false, false);
      // A message goes out through one VMTA, so later recipients of a transaction stay on its IP.
      const candidates = (onlyIp ? snap.filter((s) => s.ip === onlyIp) : snap).map((s) => ({ ...s, used: s.cap - s.remaining }));
      const pick = chooseIp(candidates, this.rotation++, n);
      if (!pick) return null;
      const view = snap.find((s) => s.ip === pick.ip)!;
      const now = this.clock.now();
      const reservation = await this.ledger.reserve(pick.ip, day, n, pick.cap, now, this.opts.reservationTtlMs);
      if (!reservation) continue;
      let hourly: Reservation | null = null;
      const hour = this.pacedHour(day);
      if (hour !== null && view.hour && Number.isFinite(view.hour.allowance)) {
        hourly = await this.ledger.reserve(hourBucket(pick.ip, hour), day, n, view.hour.allowance, now, this.opts.reservationTtlMs);
        if (!hourly) {
          await this.ledger.release(reservation);
          continue;
        }
      }
      return { reservation, hourly, ip: tenant.ips.find((i) => i.address === pick.ip)! };
    }
    return null;
  }

  /** Why nothing could be reserved, in words for the SMTP reply and the log. */
  async whyNoQuota(tenant: TenantRecord): Promise<string> {
    const snap = await this.snapshot(tenant);
    const usable = snap.filter((s) => s.state === 'warming' || s.state === 'active');
    if (usable.length === 0) return `tenant ${tenant.slug} has no warming or active IP`;
    const reserved = usable.reduce((a, s) => a + s.reserved, 0);
    const paced = usable.filter((s) => s.hour?.reason && s.cap - s.used > 0);
    if (paced.length === usable.length) {
      return `hourly pace of tenant ${tenant.slug} reached on all ${usable.length} IP(s) (${paced[0]!.hour!.reason}); it goes out as the next hour opens`;
    }
    return `daily quota of tenant ${tenant.slug} used on all ${usable.length} IP(s)${reserved ? ` (${reserved} held by transactions in flight)` : ''}`;
  }
}
