import { performance } from 'node:perf_hooks';

/**
 * After PowerMTA failed, new mail goes straight to the spool for a while instead
 * of each session waiting for its own connect timeout; the dispatcher probes it
 * again when the pause ends. Backoff is wall-clock plumbing, not business time,
 * so it runs on the monotonic clock rather than the daemon's (settable) Clock.
 */
export class PmtaHealth {
  private downUntil = 0;
  lastError: string | null = null;

  constructor(
    private backoffMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  setBackoff(ms: number): void {
    this.backoffMs = ms;
  }

  failed(reason: string): void {
    this.lastError = reason;
    this.downUntil = this.now() + this.backoffMs;
  }

  succeeded(): void {
    this.lastError = null;
    this.downUntil = 0;
  }

  isDown(): boolean {
    return this.now() < this.downUntil;
  }
}
