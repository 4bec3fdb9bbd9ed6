import type { Db } from './db.js';

/** One write waiting for the next group commit, and the caller waiting for it. */
export interface GroupOp<T = unknown> {
  /** The statements, run inside the group's transaction (after the ops queued before it). */
  run(): T;
  /** Called once the transaction that ran it has committed. */
  done(result: T): void;
  fail(err: Error): void;
}

/** More than this many waiting writes are committed at once rather than at the end of the turn. */
const MAX_GROUP = 512;

/**
 * The writes of the fast path share transactions: what is queued in one turn of
 * the event loop (ledger reservations and settlements of every session, the
 * hand-off journal's rows and answers) runs in order inside one IMMEDIATE
 * transaction at the end of the turn, and each caller hears of its write only
 * once that transaction has committed. A commit costs far more than the
 * statements it holds (issue 15: one transaction per message was the largest
 * SQLite cost), and its page writes are shared by the rows it holds. If the
 * group's transaction fails (a full disk), each write is retried in its own,
 * so only the ones that really fail report an error.
 *
 * One per connection (groupCommit below): every writer on a connection queues
 * here, so a write queued after another is committed with it or after it.
 */
export class GroupCommit {
  private pending: GroupOp[] = [];
  private scheduled = false;
  private readonly groupTx;
  private readonly rollbackHooks: Array<() => void> = [];

  constructor(private readonly db: Db) {
    this.groupTx = db.transaction((ops: GroupOp[]) => ops.map((op) => op.run()));
  }

  /** Queues a write for this turn's group. */
  add<T>(op: GroupOp<T>): void {
    this.pending.push(op as GroupOp);
    if (this.pending.length >= MAX_GROUP) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Runs `run` in this turn's group; resolves with its result once committed. */
  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((done, fail) => this.add({ run, done, fail }));
  }

  /**
   * Runs `run` now, committed with whatever is queued in one transaction, and
   * returns its result (or throws its error) once committed: a write that must
   * be durable before the caller goes on takes the queue along instead of
   * paying a transaction of its own.
   */
  writeNow<T>(run: () => T): T {
    if (this.db.inTransaction) throw new Error('writeNow inside a transaction: it could not promise a commit');
    let out: { ok: true; value: T } | { ok: false; err: Error } | null = null;
    this.add<T>({ run, done: (value) => (out = { ok: true, value }), fail: (err) => (out = { ok: false, err }) });
    this.flush();
    const r = out as { ok: true; value: T } | { ok: false; err: Error } | null;
    if (r === null) throw new Error('group commit did not run');
    if (!r.ok) throw r.err;
    return r.value;
  }

  /** Writes waiting for the next commit. */
  get size(): number {
    return this.pending.length;
  }

  /** Called when a group rolled back: caches of what the store holds must forget what the group wrote. */
  onRollback(fn: () => void): void {
    this.rollbackHooks.push(fn);
  }

  /**
   * Commits the waiting writes now (a reader that must see them calls this
   * first). Not inside another transaction: that one could still roll back
   * after the callers were told theirs committed; the end of the turn does it.
   */
  flush(): void {
    const ops = this.pending;
    if (ops.length === 0) return;
    if (this.db.inTransaction) {
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
      return;
    }
    this.scheduled = false;
    this.pending = [];
    let results: unknown[];
    try {
      results = this.groupTx.immediate(ops);
    } catch {
      for (const fn of this.rollbackHooks) fn();
      // The whole group rolled back: each one alone, so an error reaches only its own caller.
      for (const op of ops) {
        let r: unknown;
        try {
          r = this.db.transaction(() => op.run()).immediate();
        } catch (err) {
          for (const fn of this.rollbackHooks) fn();
          op.fail(err as Error);
          continue;
        }
        op.done(r);
      }
      return;
    }
    for (let i = 0; i < ops.length; i++) ops[i]!.done(results[i]);
  }
}

const perConnection = new WeakMap<Db, GroupCommit>();

/** The group commit of this connection (all its fast-path writers share it). */
export function groupCommit(db: Db): GroupCommit {
  let g = perConnection.get(db);
  if (g === undefined) perConnection.set(db, (g = new GroupCommit(db)));
  return g;
}
