import { performance } from 'node:perf_hooks';

/**
 * Failed AUTH from one address is answered later and later: the delay doubles
 * with each failure up to `maxMs`, and the answers to one address come one delay
 * apart however many connections it opens, so guessing passwords in parallel
 * buys nothing. A correct login is never delayed (MailWizz serves many tenants
 * from one address, one tenant's wrong password must not slow the others), and
 * it does not reset the count either: a tenant's own good logins must not make
 * room for guessing another tenant's password. An address is forgotten after
 * `forgetMs` without a failure. Wall-clock plumbing, so the monotonic clock.
 */
export class AuthThrottle {
  private readonly byAddress = new Map<string, { failures: number; last: number; answerAt: number }>();

  constructor(
    private readonly limits: () => { baseMs: number; maxMs: number },
    private readonly now: () => number = () => performance.now(),
    private readonly forgetMs = 15 * 60_000,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Records a failure from `address`; returns how long its answer waits, in ms. */
  failed(address: string): number {
    const { baseMs, maxMs } = this.limits();
    const t = this.now();
    let entry = this.byAddress.get(address);
    if (!entry || t - entry.last > this.forgetMs) {
      if (!entry && this.byAddress.size >= this.maxAddresses) this.forgetOld(t);
      entry = { failures: 0, last: t, answerAt: t };
      this.byAddress.set(address, entry);
    }
    entry.failures++;
    entry.last = t;
    const delay = Math.min(maxMs, baseMs * 2 ** Math.min(entry.failures - 1, 30));
    entry.answerAt = Math.min(t + maxMs, Math.max(t, entry.answerAt) + delay);
    return Math.round(entry.answerAt - t);
  }

  /** Failures counted for `address` (0 once forgotten). */
  failures(address: string): number {
    const entry = this.byAddress.get(address);
    return entry && this.now() - entry.last <= this.forgetMs ? entry.failures : 0;
  }

  private forgetOld(t: number): void {
    for (const [address, entry] of this.byAddress) if (t - entry.last > this.forgetMs) this.byAddress.delete(address);
    // Still full: a flood of addresses. Dropping the oldest half keeps memory bounded.
    if (this.byAddress.size >= this.maxAddresses) {
      let drop = this.byAddress.size / 2;
      for (const address of this.byAddress.keys()) {
        if (drop-- <= 0) break;
        this.byAddress.delete(address);
      }
    }
  }
}
