// Connections that have not authenticated yet. Before AUTH a connection costs us a
// socket and gives us nothing, and with one shared limit 200 idle ones locked MailWizz
// out (issue 13). So they have their own room and a deadline. When the room is full,
// the connection that has waited longest leaves to make room for the newcomer, but
// only one that has waited at least `minWaitMs` and is not having its credentials
// checked: MailWizz opens its connections in bursts (as many as it sends in parallel)
// and authenticates within milliseconds, so a fresh connection is never the one
// pushed out. When nobody may be pushed out, the newcomer still gets in: the deadline
// bounds how long anyone stays, and the listener's total limit bounds how many.

export type LeaveReason = 'crowded' | 'timeout';

interface Waiting {
  since: number;
  checking: boolean;
  timer: NodeJS.Timeout;
  close(why: LeaveReason): void;
}

export class WaitingRoom {
  /** In arrival order: the first entry has waited longest. */
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly limits: () => { max: number; timeoutMs: number; minWaitMs: number },
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A new connection; `close` ends it when it has to leave. */
  enter(id: string, close: (why: LeaveReason) => void): void {
    const { max, timeoutMs, minWaitMs } = this.limits();
    if (this.waiting.size >= max) {
      for (const [oldest, entry] of this.waiting) {
        if (entry.checking) continue;
        if (this.now() - entry.since >= minWaitMs) {
          this.leave(oldest);
          entry.close('crowded');
        }
        break;
      }
    }
    const timer = setTimeout(() => {
      if (this.leave(id)) close('timeout');
    }, timeoutMs);
    timer.unref();
    this.waiting.set(id, { since: this.now(), checking: false, timer, close });
  }

  /** Its credentials are being checked (true) or were refused (false). */
  checking(id: string, checking: boolean): void {
    const entry = this.waiting.get(id);
    if (entry) entry.checking = checking;
  }

  /** Authenticated or gone. */
  leave(id: string): boolean {
    const entry = this.waiting.get(id);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.waiting.delete(id);
    return true;
  }

  size(): number {
    return this.waiting.size;
  }

  clear(): void {
    for (const id of [...this.waiting.keys()]) this.leave(id);
  }
}
