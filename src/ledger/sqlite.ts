import { randomUUID } from 'node:crypto';
import type { Db } from '../store/db.js';
import type { DayKey, IpAddress } from '../types.js';
import type { IpUsage, QuotaLedger, Reservation } from './ledger.js';

/** How long a swept reservation is remembered for a late commit. */
const EXPIRED_KEPT_MS = 24 * 3600 * 1000;

interface ReservationRow {
  id: string;
  ip: string;
  day: string;
  n: number;
  expires_at: number;
}

/**
 * better-sqlite3 is synchronous, so inside one process each call is atomic; the
 * IMMEDIATE transactions make it atomic across processes sharing the file too.
 */
export class SqliteLedger implements QuotaLedger {
  private readonly stmts;
  private readonly reserveTx;
  private readonly settleTx;
  private readonly sweepTx;
  private readonly renewTx;

  constructor(private readonly db: Db) {
    this.stmts = {
      ensureRow: db.prepare('INSERT OR IGNORE INTO quota_usage (ip, day) VALUES (?, ?)'),
      take: db.prepare(
        'UPDATE quota_usage SET reserved = reserved + @n WHERE ip = @ip AND day = @day AND committed + reserved + @n <= @cap',
      ),
      insertRes: db.prepare('INSERT INTO reservations (id, ip, day, n, expires_at) VALUES (@id, @ip, @day, @n, @expires)'),
      deleteRes: db.prepare('DELETE FROM reservations WHERE id = ? RETURNING id, ip, day, n, expires_at, state'),
      settle: db.prepare(
        'UPDATE quota_usage SET reserved = MAX(0, reserved - @n), committed = committed + @used WHERE ip = @ip AND day = @day',
      ),
      addCommitted: db.prepare(
        'INSERT INTO quota_usage (ip, day, committed) VALUES (@ip, @day, @used) ON CONFLICT (ip, day) DO UPDATE SET committed = committed + @used',
      ),
      expired: db.prepare(
        "UPDATE reservations SET state = 'expired' WHERE state = 'held' AND expires_at <= ? RETURNING id, ip, day, n, expires_at",
      ),
      renew: db.prepare("UPDATE reservations SET expires_at = ? WHERE id = ? AND state = 'held'"),
      purge: db.prepare("DELETE FROM reservations WHERE state = 'expired' AND expires_at <= ?"),
      usage: db.prepare('SELECT ip, committed, reserved FROM quota_usage WHERE day = ?'),
      all: db.prepare("SELECT id, ip, day, n, expires_at FROM reservations WHERE state = 'held' ORDER BY expires_at"),
    };
    this.reserveTx = db.transaction((ip: string, day: string, n: number, cap: number, expires: number) => {
      this.stmts.ensureRow.run(ip, day);
      if (this.stmts.take.run({ ip, day, n, cap }).changes !== 1) return null;
      const id = randomUUID();
      this.stmts.insertRes.run({ id, ip, day, n, expires });
      return id;
    });
    this.settleTx = db.transaction((id: string, used: number | null) => {
      const row = this.stmts.deleteRes.get(id) as (ReservationRow & { state: string }) | undefined;
      if (!row) return 'settled-before';
      const n = used === null ? 0 : Math.min(used, row.n);
      if (row.state === 'held') {
        this.stmts.settle.run({ ip: row.ip, day: row.day, n: row.n, used: n });
        return 'ok';
      }
      // Swept already (its units went back), yet PowerMTA took the mail: it was
      // sent, so it counts. Keep the TTL well above the forward timeouts to avoid this.
      if (n > 0) this.stmts.addCommitted.run({ ip: row.ip, day: row.day, used: n });
      return 'late';
    });
    this.renewTx = db.transaction((ids: string[], expires: number) => ids.filter((id) => this.stmts.renew.run(expires, id).changes === 0));
    this.sweepTx = db.transaction((now: number) => {
      const rows = this.stmts.expired.all(now) as ReservationRow[];
      for (const row of rows) this.stmts.settle.run({ ip: row.ip, day: row.day, n: row.n, used: 0 });
      this.stmts.purge.run(now - EXPIRED_KEPT_MS);
      return rows.length;
    });
  }

  async reserve(ip: IpAddress, day: DayKey, n: number, cap: number, now: Date, ttlMs: number): Promise<Reservation | null> {
    if (n <= 0) throw new RangeError('reserve needs n > 0');
    const id = this.reserveTx.immediate(ip, day, n, cap, now.getTime() + ttlMs);
    return id === null ? null : { id, ip, day, n };
  }

  async commit(r: Reservation, used = r.n): Promise<void> {
    this.settleTx.immediate(r.id, used);
  }

  async release(r: Reservation): Promise<void> {
    this.settleTx.immediate(r.id, null);
  }

  async usage(day: DayKey, ips: readonly IpAddress[]): Promise<Map<IpAddress, IpUsage>> {
    const out = new Map<IpAddress, IpUsage>(ips.map((ip) => [ip, { committed: 0, reserved: 0 }]));
    for (const row of this.stmts.usage.all(day) as Array<{ ip: IpAddress; committed: number; reserved: number }>) {
      if (out.has(row.ip)) out.set(row.ip, { committed: row.committed, reserved: row.reserved });
    }
    return out;
  }

  async renew(rs: readonly Reservation[], now: Date, ttlMs: number): Promise<string[]> {
    if (rs.length === 0) return [];
    return this.renewTx.immediate(
      rs.map((r) => r.id),
      now.getTime() + ttlMs,
    );
  }

  async sweep(now: Date): Promise<number> {
    return this.sweepTx.immediate(now.getTime());
  }

  async inFlight(): Promise<Array<Reservation & { expiresAt: Date }>> {
    return (this.stmts.all.all() as ReservationRow[]).map((r) => ({
      id: r.id,
      ip: r.ip as IpAddress,
      day: r.day as DayKey,
      n: r.n,
      expiresAt: new Date(r.expires_at),
    }));
  }
}
