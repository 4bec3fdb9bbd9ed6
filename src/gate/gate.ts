import type { QuotaLedger, Reservation } from '../ledger/ledger.js';
import type { IpRecord, Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock, DayKey } from '../types.js';
import { capFor, dayKey, type WarmupSchedule } from '../warmup/schedule.js';
import { chooseIp, remainingOf, type IpSnapshot } from './select.js';

export interface GateOptions {
  schedule: WarmupSchedule;
  timeZone: string;
  reservationTtlMs: number;
}

export interface Granted {
  reservation: Reservation;
  ip: IpRecord;
}

export interface IpQuotaView extends IpSnapshot {
  hostname: string;
  phase: string;
  committed: number;
  reserved: number;
  remaining: number;
}

/**
 * The quota decision: which of the tenant's IPs takes the next units, and the
 * reservation that holds them. Pure selection happens in select.ts; this class
 * only joins the registry, the schedule and the ledger.
 */
export class Gate {
  private rotation = 0;

  constructor(
    private readonly registry: Registry,
    private readonly ledger: QuotaLedger,
    private readonly clock: Clock,
    private opts: GateOptions,
  ) {}

  setOptions(opts: GateOptions): void {
    this.opts = opts;
  }

  today(): DayKey {
    return dayKey(this.clock.now(), this.opts.timeZone);
  }

  async snapshot(tenant: TenantRecord, day: DayKey = this.today()): Promise<IpQuotaView[]> {
    const usage = await this.ledger.usage(day, tenant.ips.map((i) => i.address));
    return tenant.ips.map((ip) => {
      const phase = capFor(ip, day, this.opts.schedule);
      const u = usage.get(ip.address) ?? { committed: 0, reserved: 0 };
      const snap: IpSnapshot = { ip: ip.address, vmta: ip.vmta, state: ip.state, cap: phase.dailyCap, used: u.committed + u.reserved };
      return { ...snap, hostname: ip.hostname, phase: phase.phase, committed: u.committed, reserved: u.reserved, remaining: remainingOf(snap) };
    });
  }

  /**
   * Reserve n units on one IP: the healthy one with the most left. Another process
   * may take units between snapshot and reserve, so a refused reserve retries on a
   * fresh snapshot; null means no IP of the tenant can take n more today.
   */
  async reserve(tenant: TenantRecord, n = 1, onlyIp?: string): Promise<Granted | null> {
    const day = this.today();
    for (let attempt = 0; attempt < 4; attempt++) {
      const snap = await this.snapshot(tenant, day);
      // A message goes out through one VMTA, so later recipients of a transaction stay on its IP.
      const pick = chooseIp(onlyIp ? snap.filter((s) => s.ip === onlyIp) : snap, this.rotation++, n);
      if (!pick) return null;
      const reservation = await this.ledger.reserve(pick.ip, day, n, pick.cap, this.clock.now(), this.opts.reservationTtlMs);
      if (reservation) return { reservation, ip: tenant.ips.find((i) => i.address === pick.ip)! };
    }
    return null;
  }

  /** Why nothing could be reserved, in words for the SMTP reply and the log. */
  async whyNoQuota(tenant: TenantRecord): Promise<string> {
    const snap = await this.snapshot(tenant);
    const usable = snap.filter((s) => s.state === 'warming' || s.state === 'active');
    if (usable.length === 0) return `tenant ${tenant.slug} has no warming or active IP`;
    const reserved = usable.reduce((a, s) => a + s.reserved, 0);
    return `daily quota of tenant ${tenant.slug} used on all ${usable.length} IP(s)${reserved ? ` (${reserved} held by transactions in flight)` : ''}`;
  }

  /** Most units one IP of the tenant can still take today. */
  async bestRemaining(tenant: TenantRecord): Promise<number> {
    const snap = await this.snapshot(tenant);
    return Math.max(0, ...snap.filter((s) => s.state === 'warming' || s.state === 'active').map((s) => s.remaining));
  }
}
