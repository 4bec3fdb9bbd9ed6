import type { Logger } from '../log/logger.js';
import type { DayKey, IpAddress } from '../types.js';
import type { IpUsage, QuotaLedger, Reservation } from './ledger.js';

/** How this process keeps its reservations alive: their time to live, on the daemon's clock. */
export interface LiveOptions {
  ttlMs: () => number;
  now: () => Date;
}

/**
 * The ledger as the daemon uses it.
 *
 * Reservations live as long as their owner: every reservation this process
 * holds (a session between RCPT and DATA, a hand-off in flight, a commit still
 * owed) is renewed before each sweep, so a sweep (this process's or another
 * agent's) frees only reservations whose owner is gone (crashed, cut off).
 * One found swept anyway (the store was unreachable for a whole TTL) is
 * remembered as lost: its units may be someone else's now, so it must be
 * reserved again before its mail goes out.
 *
 * Releasing must never fail a message nor crash a session: if the store is
 * down, a release is logged and the reservation comes back on its own at
 * expiry (under-sending for a while is safe). A failed commit is logged and
 * thrown: its units were sent, so the caller keeps it and retries
 * (forward/settler.ts); it stays held and renewed meanwhile. Reserve and usage
 * throw too, so the gate can fail closed (no reservation, no forwarding).
 */
export class GuardedLedger implements QuotaLedger {
  private readonly held = new Map<string, Reservation>();
  private readonly lostIds = new Set<string>();
  /** When the last renewal of everything held succeeded (daemon clock, ms). */
  private renewedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly inner: QuotaLedger,
    private readonly log: Logger,
    private readonly live: LiveOptions | null = null,
  ) {}

  async reserve(ip: IpAddress, day: DayKey, n: number, cap: number, now: Date, ttlMs: number): Promise<Reservation | null> {
    const r = await this.inner.reserve(ip, day, n, cap, now, ttlMs);
    if (r) this.held.set(r.id, r);
    return r;
  }

  async commit(r: Reservation, used?: number): Promise<void> {
    try {
      await this.inner.commit(r, used);
    } catch (err) {
      this.log.error('ledger.commit_failed', { reservation: r.id, ip: r.ip, day: r.day, units: used ?? r.n, error: err as Error });
      throw err;
    }
    this.held.delete(r.id);
    this.lostIds.delete(r.id);
  }

  async release(r: Reservation): Promise<void> {
    this.held.delete(r.id);
    this.lostIds.delete(r.id);
    try {
      await this.inner.release(r);
    } catch (err) {
      this.log.warn('ledger.release_failed', { reservation: r.id, ip: r.ip, day: r.day, error: err as Error });
    }
  }

  usage(day: DayKey, ips: readonly IpAddress[]): Promise<Map<IpAddress, IpUsage>> {
    return this.inner.usage(day, ips);
  }

  renew(rs: readonly Reservation[], now: Date, ttlMs: number): Promise<string[]> {
    return this.inner.renew(rs, now, ttlMs);
  }

  /** Renews every reservation this process holds; returns how many were found lost. */
  async renewHeld(): Promise<number> {
    if (!this.live) return 0;
    const at = this.live.now().getTime();
    if (this.held.size === 0) {
      this.renewedAt = at;
      return 0;
    }
    return this.markLost(await this.inner.renew([...this.held.values()], this.live.now(), this.live.ttlMs()), at);
  }

  /**
   * Before a transaction's mail goes out: when the last renewal is older than
   * half the TTL (the store was unreachable, or the timer starved), its own
   * reservations are renewed now, so one swept meanwhile is found lost.
   */
  async confirm(rs: readonly Reservation[]): Promise<void> {
    if (!this.live || rs.length === 0) return;
    const at = this.live.now().getTime();
    if (at - this.renewedAt < this.live.ttlMs() / 2) return;
    const mine = rs.filter((r) => this.held.has(r.id));
    if (mine.length) this.markLost(await this.inner.renew(mine, this.live.now(), this.live.ttlMs()), null);
  }

  private markLost(lost: string[], renewedAllAt: number | null): number {
    if (renewedAllAt !== null) this.renewedAt = renewedAllAt;
    for (const id of lost) {
      const r = this.held.get(id);
      this.held.delete(id);
      this.lostIds.add(id);
      if (r) this.log.warn('ledger.reservation_lost', { reservation: id, ip: r.ip, day: r.day, units: r.n, note: 'reserved again before its mail goes out' });
    }
    return lost.length;
  }

  /** True when the reservation was swept while this process still held it. */
  lost(r: Reservation): boolean {
    return this.lostIds.has(r.id);
  }

  /** Renews this process's reservations first: a failed renewal skips the sweep (keeping units held is the safe side). */
  async sweep(now: Date): Promise<number> {
    await this.renewHeld();
    return this.inner.sweep(now);
  }

  inFlight(): Promise<Array<Reservation & { expiresAt: Date }>> {
    return this.inner.inFlight();
  }
}
