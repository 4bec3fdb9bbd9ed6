// What a batch of accounting records changes: per-IP daily counts, the
// suppression list (hard bounces, complaints), the tailer's counters and, for
// tenants with feedback to MailWizz, the feedback outbox, all in one SQLite
// transaction together with whatever the caller adds (the file checkpoint), so
// a crash leaves either all of a batch or none of it.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import type { Counts } from './stats.js';
import type { DayKey, IpAddress } from '../types.js';
import { dayKey } from '../warmup/schedule.js';
import { feedbackLine, isFeedbackCandidate } from '../feedback/record.js';
import type { AcctRecord, BounceRecord, ComplaintRecord } from './records.js';
import type { Resolver } from './resolve.js';
import { SuppressionStore } from './suppression.js';

export interface EffectsBatch {
  records: readonly AcctRecord[];
  /** Lines in the batch that could not be read as records. */
  malformed: number;
}

/** What accounting records count: every column of the daily stats but `accepted`, which the SMTP side counts. */
export type RecordCounts = Omit<Counts, 'accepted'>;

/** What one batch did to one IP (all days of the batch together). */
export interface IpOutcome extends RecordCounts {
  ip: IpAddress;
  tenantId: number;
}

/** Reported after each committed batch, for the health guard and the logs. */
export interface BatchSummary {
  ips: IpOutcome[];
  /** Addresses newly put on a tenant's suppression list. */
  suppressed: number;
  /** Records whose VMTA and source IP the agent does not know. */
  unknown: number;
  /** The distinct unknown VMTA names (or source IPs) of this batch. */
  unknownVmtas: string[];
  malformed: number;
  /** Record types the agent does not act on (`r`, `rs`). */
  ignored: number;
  /**
   * Only with the feedbackTenants option: bounce and complaint records queued
   * for MailWizz (feedback_outbox), and those of feedback tenants not queued
   * because MailWizz could not use them (no header_Message-Id, or a bounce
   * without bounceCat).
   */
  feedback?: { queued: number; skipped: number };
}

export const COUNTERS = ['records', 'malformed', 'unknown_vmta', 'ignored', 'suppressed'] as const;
export type CounterName = (typeof COUNTERS)[number];

export function readCounters(db: Db): Record<CounterName, number> {
  const out = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<CounterName, number>;
  for (const row of db.prepare('SELECT name, value FROM acct_counters').all() as Array<{ name: string; value: number }>) {
    if ((COUNTERS as readonly string[]).includes(row.name)) out[row.name as CounterName] = row.value;
  }
  return out;
}

// Every UTC offset in use is a whole multiple of 15 minutes, so all instants in
// one 15-minute slot fall on the same local day: one Intl call per slot, not per record.
const SLOT_MS = 15 * 60_000;

class DayCache {
  private slots = new Map<number, DayKey>();
  constructor(private readonly timeZone: string) {}
  day(at: Date): DayKey {
    const slot = Math.floor(at.getTime() / SLOT_MS);
    let d = this.slots.get(slot);
    if (d === undefined) {
      if (this.slots.size > 4096) this.slots.clear();
      d = dayKey(at, this.timeZone);
      this.slots.set(slot, d);
    }
    return d;
  }
}

interface DayCounts extends RecordCounts {
  tenantId: number;
}

const SOURCE = 'pmta-acct';
const MAX_DETAIL = 500;

interface PendingSuppression {
  tenantId: number;
  email: string;
  reason: 'hard-bounce' | 'complaint';
  detail: string;
  at: Date;
}

/**
 * A batch being gathered: records are folded into per-(IP, day) counts as they
 * come, so a large batch holds counts and the few addresses to suppress, not
 * its records. Made by AccountingEffects.begin, written by commit.
 */
export class PendingBatch {
  readonly perIp = new Map<IpAddress, Map<DayKey, DayCounts>>();
  /** tenant → address → entry */
  readonly suppress = new Map<number, Map<string, PendingSuppression>>();
  readonly unknownNames = new Set<string>();
  /** Feedback for MailWizz, in record order: tenant and the JSON record. */
  readonly feedback: Array<{ tenantId: number; body: string }> = [];
  records = 0;
  malformed = 0;
  unknown = 0;
  ignored = 0;
  feedbackSkipped = 0;

  constructor(
    private readonly resolve: Resolver,
    private readonly days: DayCache,
    private readonly feedbackTenants?: (tenantId: number) => boolean,
  ) {}

  get empty(): boolean {
    return this.records === 0 && this.malformed === 0;
  }

  addMalformed(n: number): void {
    this.malformed += n;
  }

  add(rec: AcctRecord): void {
    this.records++;
    if (rec.kind === 'other') {
      this.ignored++;
      // An `rs` with a bounceCat is a bounce to MailWizz; the stats leave it alone.
      if (this.feedbackTenants !== undefined && isFeedbackCandidate(rec)) {
        const at = this.resolve(rec.vmta, rec.dlvSourceIp);
        if (at !== null) this.feedbackLater(at.tenantId, rec);
      }
      return;
    }
    const where = this.resolve(rec.vmta, rec.dlvSourceIp);
    if (where === null) {
      this.unknown++;
      if (this.unknownNames.size < 100) this.unknownNames.add(detach(rec.vmta !== '' ? rec.vmta : rec.dlvSourceIp));
      return;
    }
    if (this.feedbackTenants !== undefined && (rec.kind === 'bounce' || rec.kind === 'complaint')) this.feedbackLater(where.tenantId, rec);
    let byDay = this.perIp.get(where.ipAddress);
    if (byDay === undefined) {
      byDay = new Map();
      this.perIp.set(where.ipAddress, byDay);
    }
    const day = this.days.day(rec.timeLogged);
    let c = byDay.get(day);
    if (c === undefined) {
      c = { tenantId: where.tenantId, delivered: 0, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 0, deferred: 0, complaints: 0 };
      byDay.set(day, c);
    }
    switch (rec.kind) {
      case 'delivered':
        c.delivered++;
        break;
      case 'bounce':
        if (rec.bounceClass === 'hard') {
          c.bouncedHard++;
          this.suppressLater(where.tenantId, rec, 'hard-bounce');
        } else if (rec.bounceClass === 'soft') c.bouncedSoft++;
        else c.bouncedOther++;
        break;
      case 'deferred':
        c.deferred++;
        break;
      case 'complaint':
        c.complaints++;
        this.suppressLater(where.tenantId, rec, 'complaint');
        break;
    }
  }

  private feedbackLater(tenantId: number, rec: AcctRecord): void {
    if (!this.feedbackTenants?.(tenantId)) return;
    const line = feedbackLine(rec);
    if (line === null) return;
    if (line === 'no-message-id' || line === 'no-bounce-category') this.feedbackSkipped++;
    else this.feedback.push({ tenantId, body: line });
  }

  private suppressLater(tenantId: number, rec: BounceRecord | ComplaintRecord, reason: PendingSuppression['reason']): void {
    let byEmail = this.suppress.get(tenantId);
    if (byEmail === undefined) {
      byEmail = new Map();
      this.suppress.set(tenantId, byEmail);
    }
    // The first reason wins, in the batch as in the table.
    if (byEmail.has(rec.rcpt)) return;
    const email = detach(rec.rcpt);
    byEmail.set(email, { tenantId, email, reason, detail: detailOf(rec), at: rec.timeLogged });
  }

  summary(): BatchSummary {
    const ips: IpOutcome[] = [];
    for (const [ip, byDay] of this.perIp) {
      const o: IpOutcome = { ip, tenantId: 0, delivered: 0, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 0, deferred: 0, complaints: 0 };
      for (const c of byDay.values()) {
        o.tenantId = c.tenantId;
        o.delivered += c.delivered;
        o.bouncedHard += c.bouncedHard;
        o.bouncedSoft += c.bouncedSoft;
        o.bouncedOther += c.bouncedOther;
        o.deferred += c.deferred;
        o.complaints += c.complaints;
      }
      ips.push(o);
    }
    return {
      ips,
      suppressed: 0,
      unknown: this.unknown,
      unknownVmtas: [...this.unknownNames],
      malformed: this.malformed,
      ignored: this.ignored,
      ...(this.feedbackTenants !== undefined ? { feedback: { queued: this.feedback.length, skipped: this.feedbackSkipped } } : {}),
    };
  }
}

export class AccountingEffects {
  private readonly upsertStats: Statement<[string, string, number, number, number, number, number, number, number]>;
  private readonly bumpCounter: Statement<[string, number]>;
  private readonly suppression: SuppressionStore;
  private readonly days: DayCache;
  private enqueueFeedback: Statement<[number, string, string]> | null = null;

  constructor(
    private readonly db: Db,
    private readonly opts: {
      resolve: Resolver;
      timeZone: string;
      /**
       * Tenants whose bounces and complaints go to MailWizz (src/feedback):
       * those records are queued in feedback_outbox in the batch's transaction.
       * Without it nothing is queued.
       */
      feedbackTenants?: (tenantId: number) => boolean;
      /** The daemon's one suppression store; a store of its own otherwise. */
      suppression?: SuppressionStore;
    },
  ) {
    this.upsertStats = db.prepare(
      `INSERT INTO ip_stats_daily (ip, day, tenant_id, delivered, bounced_hard, bounced_soft, bounced_other, deferred, complaints)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ip, day) DO UPDATE SET
         tenant_id = excluded.tenant_id,
         delivered = delivered + excluded.delivered,
         bounced_hard = bounced_hard + excluded.bounced_hard,
         bounced_soft = bounced_soft + excluded.bounced_soft,
         bounced_other = bounced_other + excluded.bounced_other,
         deferred = deferred + excluded.deferred,
         complaints = complaints + excluded.complaints`,
    );
    this.bumpCounter = db.prepare(
      'INSERT INTO acct_counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
    );
    this.suppression = opts.suppression ?? new SuppressionStore(db);
    this.days = new DayCache(opts.timeZone);
  }

  /** Starts a batch to fold records into; see commit. */
  begin(): PendingBatch {
    return new PendingBatch(this.opts.resolve, this.days, this.opts.feedbackTenants);
  }

  /** Applies a batch of records at once: begin, add each, commit. */
  apply(batch: EffectsBatch, alsoInTransaction?: () => void): BatchSummary {
    const pending = this.begin();
    for (const rec of batch.records) pending.add(rec);
    pending.addMalformed(batch.malformed);
    return this.commit(pending, alsoInTransaction);
  }

  /**
   * Writes the batch and runs `alsoInTransaction` (the checkpoint write) in
   * the same transaction. Throws if SQLite does; then nothing of the batch is kept.
   */
  commit(pending: PendingBatch, alsoInTransaction?: () => void): BatchSummary {
    const summary = pending.summary();
    this.db.transaction(() => {
      // One upsert per (IP, day) per batch, not per record.
      for (const [ip, byDay] of pending.perIp) {
        for (const [day, c] of byDay) {
          this.upsertStats.run(ip, day, c.tenantId, c.delivered, c.bouncedHard, c.bouncedSoft, c.bouncedOther, c.deferred, c.complaints);
        }
      }
      let suppressed = 0;
      for (const byEmail of pending.suppress.values()) {
        for (const s of byEmail.values()) {
          if (this.suppression.add(s.tenantId, s.email, { reason: s.reason, source: SOURCE, detail: s.detail, at: s.at })) suppressed++;
        }
      }
      const counts: Array<[CounterName, number]> = [
        ['records', pending.records],
        ['malformed', pending.malformed],
        ['unknown_vmta', pending.unknown],
        ['ignored', pending.ignored],
        ['suppressed', suppressed],
      ];
      for (const [name, n] of counts) if (n > 0) this.bumpCounter.run(name, n);
      if (pending.feedback.length > 0) {
        this.enqueueFeedback ??= this.db.prepare('INSERT INTO feedback_outbox (tenant_id, body, created_at) VALUES (?, ?, ?)');
        const now = new Date().toISOString();
        for (const f of pending.feedback) this.enqueueFeedback.run(f.tenantId, f.body, now);
      }
      alsoInTransaction?.();
      summary.suppressed = suppressed;
    })();
    return summary;
  }
}

/**
 * A copy of `s` that does not keep alive the string it was cut from: V8 makes
 * a substring a view into its parent, and a batch keeps these few strings
 * while the decoded text they came from should be collected.
 */
function detach(s: string): string {
  // A concatenation or slice can still point into the parent; a parsed string cannot.
  return JSON.parse(JSON.stringify(s)) as string;
}

function detailOf(rec: BounceRecord | ComplaintRecord): string {
  const parts =
    rec.kind === 'complaint'
      ? [`${rec.type} ${rec.feedbackType || 'complaint'}`]
      : [`${rec.type} ${rec.bounceCat} ${rec.dsnStatus}`.trim(), rec.dsnDiag];
  if (rec.vmta !== '') parts.push(`vmta=${rec.vmta}`);
  if (rec.messageId !== '') parts.push(`message-id=${rec.messageId}`);
  if (rec.jobId !== '') parts.push(`job=${rec.jobId}`);
  const s = parts.filter((p) => p !== '').join('; ');
  return s.length > MAX_DETAIL ? s.slice(0, MAX_DETAIL) : s;
}
