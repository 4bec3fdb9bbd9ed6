// Pooled connections to PowerMTA: at most maxConnections open, each used for
// up to maxMessagesPerConnection transactions and then QUIT; an idle one ends
// itself after replyTimeoutMs (SmtpConnection). A message is never sent again
// on another connection: a failed hand-off goes back to its caller (the spool
// retries it).
import { SmtpConnection, type ConnectionOptions } from './smtp-client.js';

export interface PoolOptions extends ConnectionOptions {
  maxConnections: number;
  maxMessagesPerConnection: number;
}

interface Waiter {
  resolve: (c: SmtpConnection) => void;
  reject: (e: Error) => void;
}

export class SmtpPool {
  /** Connections counted against maxConnections: opening, idle or busy. */
  private open = 0;
  private readonly idle: SmtpConnection[] = [];
  private readonly busy = new Set<SmtpConnection>();
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  /** A connection for one transaction; give it back with release(). */
  acquire(): Promise<SmtpConnection> {
    if (this.closed) return Promise.reject(new Error('the connection pool to PowerMTA is closed'));
    const c = this.idle.pop();
    if (c) {
      this.busy.add(c);
      return Promise.resolve(c);
    }
    if (this.open < this.opts.maxConnections) return this.connect();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(c: SmtpConnection): void {
    this.busy.delete(c);
    if (c.dead) return;
    if (this.closed || c.messages >= this.opts.maxMessagesPerConnection) {
      c.quit(); // gone() opens a new one for a waiter
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.busy.add(c);
      w.resolve(c);
    } else this.idle.push(c);
  }

  /** Every transaction in progress and every one waiting for a connection fails with `err`. */
  abortAll(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
    for (const c of [...this.busy]) c.kill(err);
  }

  close(): void {
    this.closed = true;
    this.abortAll(new Error('the connection pool to PowerMTA is closed'));
    for (const c of this.idle.splice(0)) c.quit();
  }

  private async connect(): Promise<SmtpConnection> {
    this.open++;
    // A connection that fails to open reports it through gone() as well.
    const c = await SmtpConnection.open(this.opts, this.gone);
    this.busy.add(c);
    return c;
  }

  private readonly gone = (c: SmtpConnection): void => {
    this.open--;
    this.busy.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const w = this.waiters.shift();
    if (w && !this.closed) this.connect().then(w.resolve, w.reject);
  };
}
