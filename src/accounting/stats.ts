// Per-IP, per-day counts of what happened to the mail, and the queries the API
// reads them with. Accounting effects fill delivered/bounced/deferred/complaints;
// the SMTP side reports accepted through recordAccepted.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import { groupCommit, type GroupCommit } from '../store/group-commit.js';
import type { DayKey, IpAddress } from '../types.js';

export interface Counts {
  accepted: number;
  delivered: number;
  bouncedHard: number;
  bouncedSoft: number;
  /** Policy, spam, content, expiry and uncategorised bounces. */
  bouncedOther: number;
  deferred: number;
  complaints: number;
}

export interface Rates {
  /** All bounces over everything that reached a verdict: (hard+soft+other) / (delivered+hard+soft+other). */
  bounceRate: number;
  /** hard / (delivered+hard+soft+other). */
  hardBounceRate: number;
  /** complaints / delivered. */
  complaintRate: number;
}

export type CountsWithRates = Counts & Rates;

export interface IpStats extends CountsWithRates {
  ip: IpAddress;
}

export interface DayStats extends CountsWithRates {
  day: DayKey;
}

export interface Overview {
  tenantId: number;
  day: DayKey;
  ips: IpStats[];
  totals: CountsWithRates;
}

export interface Performance {
  tenantId: number;
  from: DayKey;
  to: DayKey;
  /** Each IP summed over the range. */
  ips: IpStats[];
  /** The tenant's totals per day, days without rows left out. */
  days: DayStats[];
  totals: CountsWithRates;
}

export function emptyCounts(): Counts {
  return { accepted: 0, delivered: 0, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 0, deferred: 0, complaints: 0 };
}

export function rates(c: Counts): Rates {
  const bounced = c.bouncedHard + c.bouncedSoft + c.bouncedOther;
  const verdicts = c.delivered + bounced;
  return {
    bounceRate: verdicts === 0 ? 0 : bounced / verdicts,
    hardBounceRate: verdicts === 0 ? 0 : c.bouncedHard / verdicts,
    complaintRate: c.delivered === 0 ? 0 : c.complaints / c.delivered,
  };
}

function withRates<T extends Counts>(c: T): T & Rates {
  return { ...c, ...rates(c) };
}

function addInto(into: Counts, c: Counts): void {
  into.accepted += c.accepted;
  into.delivered += c.delivered;
  into.bouncedHard += c.bouncedHard;
  into.bouncedSoft += c.bouncedSoft;
  into.bouncedOther += c.bouncedOther;
  into.deferred += c.deferred;
  into.complaints += c.complaints;
}

const SUMS = `SUM(accepted) AS accepted, SUM(delivered) AS delivered, SUM(bounced_hard) AS bouncedHard,
  SUM(bounced_soft) AS bouncedSoft, SUM(bounced_other) AS bouncedOther, SUM(deferred) AS deferred, SUM(complaints) AS complaints`;

interface Statements {
  accepted: Statement<[string, string, number, number]>;
  byIp: Statement<[number, string, string]>;
  byDay: Statement<[number, string, string]>;
}

// Prepared once per connection: recordAccepted runs for every accepted message.
const statements = new WeakMap<Db, Statements>();

function stmts(db: Db): Statements {
  let s = statements.get(db);
  if (s === undefined) {
    s = {
      accepted: db.prepare(
        `INSERT INTO ip_stats_daily (ip, day, tenant_id, accepted) VALUES (?, ?, ?, ?)
         ON CONFLICT (ip, day) DO UPDATE SET accepted = accepted + excluded.accepted, tenant_id = excluded.tenant_id`,
      ),
      byIp: db.prepare(
        `SELECT ip, ${SUMS} FROM ip_stats_daily WHERE tenant_id = ? AND day BETWEEN ? AND ? GROUP BY ip ORDER BY ip`,
      ),
      byDay: db.prepare(
        `SELECT day, ${SUMS} FROM ip_stats_daily WHERE tenant_id = ? AND day BETWEEN ? AND ? GROUP BY day ORDER BY day`,
      ),
    };
    statements.set(db, s);
  }
  return s;
}

/** Counts `n` messages accepted for `ip` on `day` (the SMTP side calls this). */
export function recordAccepted(db: Db, ip: IpAddress | string, tenantId: number, day: DayKey | string, n: number): void {
  if (n === 0) return;
  stmts(db).accepted.run(ip, day, tenantId, n);
}

interface AcceptedRow {
  tenantId: number;
  ip: string;
  day: string;
  n: number;
}

/**
 * The SMTP side's "accepted" counts, written with the fast path's group commit
 * (store/group-commit.ts): the counts of one group are summed per IP and day
 * and written by one upsert each, in the transaction that holds the ledger's
 * commits of the same messages, instead of a transaction of their own per
 * turn. They are statistics, not quota (the ledger holds that): a failed write
 * is reported through `onError` and not retried.
 */
export class AcceptedCounter {
  private sums = new Map<string, AcceptedRow>();
  private readonly group: GroupCommit;

  constructor(
    private readonly db: Db,
    private readonly onError: (row: AcceptedRow, err: Error) => void,
  ) {
    this.group = groupCommit(db);
  }

  add(tenantId: number, ip: string, day: string, n: number): void {
    if (n === 0) return;
    const key = `${ip} ${day} ${tenantId}`;
    const row = this.sums.get(key);
    if (row) {
      row.n += n;
      return;
    }
    if (this.sums.size === 0) this.queue();
    this.sums.set(key, { tenantId, ip, day, n });
  }

  private queue(): void {
    let rows: AcceptedRow[] | null = null;
    this.group.add({
      run: () => {
        // Taken once: a group retried write by write runs this again with the same rows.
        if (rows === null) {
          rows = [...this.sums.values()];
          this.sums = new Map();
        }
        for (const r of rows) recordAccepted(this.db, r.ip, r.tenantId, r.day, r.n);
      },
      done: () => undefined,
      fail: (err) => {
        for (const r of rows ?? []) this.onError(r, err);
      },
    });
  }
}

/** One day of a tenant: each IP that has counts, and the tenant's total. */
export function overview(db: Db, tenantId: number, day: DayKey): Overview {
  const ips = (stmts(db).byIp.all(tenantId, day, day) as Array<Counts & { ip: IpAddress }>).map(withRates);
  const totals = emptyCounts();
  for (const ip of ips) addInto(totals, ip);
  return { tenantId, day, ips, totals: withRates(totals) };
}

/** A range of days (both ends included): per IP over the range, per day, and overall. */
export function performance(db: Db, tenantId: number, fromDay: DayKey, toDay: DayKey): Performance {
  const s = stmts(db);
  const ips = (s.byIp.all(tenantId, fromDay, toDay) as Array<Counts & { ip: IpAddress }>).map(withRates);
  const days = (s.byDay.all(tenantId, fromDay, toDay) as Array<Counts & { day: DayKey }>).map(withRates);
  const totals = emptyCounts();
  for (const d of days) addInto(totals, d);
  return { tenantId, from: fromDay, to: toDay, ips, days, totals: withRates(totals) };
}
