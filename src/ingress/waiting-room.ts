// Connections that have not authenticated yet. Before AUTH a connection costs us a
// socket and gives us nothing, and with one shared limit 200 idle ones locked MailWizz
// out (issue 13). So they have their own limit and a deadline: when the room is full
// the connection that has waited longest leaves to make room for the new one, and
// a connection that has not authenticated by the deadline is closed. MailWizz
// authenticates within milliseconds of connecting, so it is never the oldest; a
// connection whose AUTH is being checked goes to the back of the line for the same reason.

export type LeaveReason = 'crowded' | 'timeout';

interface Waiting {
  timer: NodeJS.Timeout;
  close(why: LeaveReason): void;
}

export class WaitingRoom {
  /** In arrival order: the first entry has waited longest. */
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly limits: () => { max: number; timeoutMs: number }) {}

  /** A new connection; `close` ends it when it has to leave. */
  enter(id: string, close: (why: LeaveReason) => void): void {
    const { max, timeoutMs } = this.limits();
    while (this.waiting.size >= max) {
      const [oldest, entry] = this.waiting.entries().next().value as [string, Waiting];
      this.leave(oldest);
      entry.close('crowded');
    }
    const timer = setTimeout(() => {
      if (this.leave(id)) close('timeout');
    }, timeoutMs);
    timer.unref();
    this.waiting.set(id, { timer, close });
  }

  /** Its AUTH is being checked: it is not the one to make room. */
  authenticating(id: string): void {
    const entry = this.waiting.get(id);
    if (!entry) return;
    this.waiting.delete(id);
    this.waiting.set(id, entry);
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
