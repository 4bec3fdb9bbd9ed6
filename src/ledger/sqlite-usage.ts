import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import type { IpUsage } from './ledger.js';

/** Days kept in memory at once (today, yesterday being judged, a view of another day). */
const MAX_DAYS = 4;

/**
 * The quota counters as the gate reads them on every recipient, without a query
 * nor a forced commit: the rows as last committed (loaded once per day, then
 * moved by each write of this connection once it committed) plus the writes
 * still queued for the next group commit, so a read sees them at once.
 *
 * Another connection's commits (a second process on the file, a test's
 * second connection) are seen through SQLite's `PRAGMA data_version`, which
 * changes exactly when another connection committed: the rows are read again.
 * This is a view only: every reservation is still checked against the cap by
 * its own UPDATE in the transaction (sqlite.ts), so a view that is off by a
 * write can at worst choose an IP that refuses, never pass a cap.
 *
 * One per connection (usageView below), shared by every ledger on it.
 */
export class UsageView {
  private readonly days = new Map<string, Map<string, IpUsage>>();
  /** Per day and IP: what the queued writes will change, when they commit as expected. */
  private readonly queued = new Map<string, Map<string, IpUsage>>();
  private version: unknown = undefined;
  private readonly versionStmt: Statement;
  private readonly dayStmt: Statement;

  constructor(db: Db) {
    this.versionStmt = db.prepare('PRAGMA data_version').pluck();
    this.dayStmt = db.prepare('SELECT ip, committed, reserved FROM quota_usage WHERE day = ?');
  }

  /** Committed rows plus queued writes, for these keys of `day`. */
  read(day: string, ips: readonly string[]): Map<string, IpUsage> {
    const rows = this.rows(day);
    const queued = this.queued.get(day);
    const out = new Map<string, IpUsage>();
    for (const ip of ips) out.set(ip, sum(rows.get(ip), queued?.get(ip)));
    return out;
  }

  /**
   * One key, as read() gives it but without asking SQLite whether another
   * connection committed (that costs a read transaction): for the guess of
   * whether a reservation will be granted, which the UPDATE decides anyway.
   */
  guess(ip: string, day: string): IpUsage {
    return sum((this.days.get(day) ?? this.rows(day)).get(ip), this.queued.get(day)?.get(ip));
  }

  /** A write queued for the next commit will move the counters by this much. */
  queue(ip: string, day: string, committed: number, reserved: number): void {
    let ofDay = this.queued.get(day);
    if (ofDay === undefined) this.queued.set(day, (ofDay = new Map()));
    const q = ofDay.get(ip);
    if (q === undefined) ofDay.set(ip, { committed, reserved });
    else {
      q.committed += committed;
      q.reserved += reserved;
      if (q.committed === 0 && q.reserved === 0) {
        ofDay.delete(ip);
        if (ofDay.size === 0) this.queued.delete(day);
      }
    }
  }

  /** A write moved the row by this much, and it is committed. */
  committed(ip: string, day: string, committed: number, reserved: number): void {
    const rows = this.days.get(day);
    if (rows === undefined) return;
    const u = rows.get(ip);
    if (u === undefined) rows.set(ip, { committed, reserved: Math.max(0, reserved) });
    else {
      u.committed += committed;
      // As the UPDATE does: MAX(0, reserved - n).
      u.reserved = Math.max(0, u.reserved + reserved);
    }
  }

  /** Forget the rows (a sweep or a rolled-back group changed them): read again on next use. */
  forget(): void {
    this.days.clear();
  }

  private rows(day: string): Map<string, IpUsage> {
    const v = this.versionStmt.get();
    if (v !== this.version) {
      // Another connection committed since the rows were read.
      this.version = v;
      this.days.clear();
    }
    let rows = this.days.get(day);
    if (rows === undefined) {
      if (this.days.size >= MAX_DAYS) this.days.clear();
      rows = new Map();
      for (const r of this.dayStmt.all(day) as Array<{ ip: string; committed: number; reserved: number }>) rows.set(r.ip, { committed: r.committed, reserved: r.reserved });
      this.days.set(day, rows);
    }
    return rows;
  }
}

function sum(base: IpUsage | undefined, q: IpUsage | undefined): IpUsage {
  return { committed: (base?.committed ?? 0) + (q?.committed ?? 0), reserved: (base?.reserved ?? 0) + (q?.reserved ?? 0) };
}

const perConnection = new WeakMap<Db, UsageView>();

export function usageView(db: Db): UsageView {
  let v = perConnection.get(db);
  if (v === undefined) perConnection.set(db, (v = new UsageView(db)));
  return v;
}
