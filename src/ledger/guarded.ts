import type { Logger } from '../log/logger.js';
import type { DayKey, IpAddress } from '../types.js';
import type { IpUsage, QuotaLedger, Reservation } from './ledger.js';

/**
 * Releasing must never fail a message nor crash a session: if the store is
 * down, a release is logged and the reservation comes back on its own at
 * expiry (under-sending for a while is safe). A failed commit is logged and
 * thrown: its units were sent, so the caller keeps it and retries
 * (forward/settler.ts). Reserve and usage throw too, so the gate can fail
 * closed (no reservation, no forwarding).
 */
export class GuardedLedger implements QuotaLedger {
  constructor(
    private readonly inner: QuotaLedger,
    private readonly log: Logger,
  ) {}

  reserve(ip: IpAddress, day: DayKey, n: number, cap: number, now: Date, ttlMs: number): Promise<Reservation | null> {
    return this.inner.reserve(ip, day, n, cap, now, ttlMs);
  }

  async commit(r: Reservation, used?: number): Promise<void> {
    try {
      await this.inner.commit(r, used);
    } catch (err) {
      this.log.error('ledger.commit_failed', { reservation: r.id, ip: r.ip, day: r.day, units: used ?? r.n, error: err as Error });
      throw err;
    }
  }

  async release(r: Reservation): Promise<void> {
    try {
      await this.inner.release(r);
    } catch (err) {
      this.log.warn('ledger.release_failed', { reservation: r.id, ip: r.ip, day: r.day, error: err as Error });
    }
  }

  usage(day: DayKey, ips: readonly IpAddress[]): Promise<Map<IpAddress, IpUsage>> {
    return this.inner.usage(day, ips);
  }

  sweep(now: Date): Promise<number> {
    return this.inner.sweep(now);
  }

  inFlight(): Promise<Array<Reservation & { expiresAt: Date }>> {
    return this.inner.inFlight();
  }
}
