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
import { attribute, UNATTRIBUTED_REASONS, type AttributionSources, type UnattributedReason } from './attribute.js';
import type { AcctRecord, BounceRecord, ComplaintRecord } from './records.js';
import { SuppressionStore } from './suppression.js';

/**
 * Where bounces and complaints go for MailWizz (src/feedback provides it):
 * accounting only hands records over, inside the batch's transaction.
 */
export interface FeedbackSink {
  /** Does this tenant send feedback? */
  enabled(tenantId: number): boolean;
  /** The body to queue for a record, why it cannot be used, or null when MailWizz has no use for the record type. */
  body(rec: AcctRecord): string | 'no-message-id' | 'no-bounce-category' | null;
  /** Called inside the batch's transaction. */
  enqueue(tenantId: number, body: string): void;
}

/** Record outcomes, for the metrics: counted on an IP, not attributed to any, or a type the agent does not act on. */
export type RecordOutcome = 'counted' | 'unattributed' | 'ignored';

/** An unattributed record, for the log (with the file). */
export interface UnattributedSample {
  reason: UnattributedReason;
  type: string;
  line: number;
  key: string;
}

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
  /** Records no IP of the agent could be found for (all reasons). */
  unknown: number;
  /** The same, per reason. */
  unattributed: Partial<Record<UnattributedReason, number>>;
  /** The first few of them, for the log. */
  unattributedSamples: UnattributedSample[];
  /** Records by type and outcome. */
  byType: Record<string, Partial<Record<RecordOutcome, number>>>;
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

export const COUNTERS = ['records', 'malformed', 'unattributed', 'ignored', 'suppressed'] as const;
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
const MAX_SAMPLES = 20;

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
  readonly unattributed: Partial<Record<UnattributedReason, number>> = {};
  readonly samples: UnattributedSample[] = [];
  readonly byType: Record<string, Partial<Record<RecordOutcome, number>>> = {};
  /** Feedback for MailWizz, in record order: tenant and the JSON record. */
  readonly feedback: Array<{ tenantId: number; body: string }> = [];
  records = 0;
  malformed = 0;
  unknown = 0;
  ignored = 0;
  feedbackSkipped = 0;

  constructor(
    private readonly sources: AttributionSources,
    private readonly days: DayCache,
    private readonly sink?: FeedbackSink,
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
      this.outcome(rec.type, 'ignored');
      // An `rs` with a bounceCat is a bounce to MailWizz; the stats leave it alone.
      if (this.sink !== undefined && rec.bounceCat) {
        const a = attribute(rec, this.sources);
        if (a.kind === 'attributed') this.feedbackLater(a.at.tenantId, rec, a.rcpt);
      }
      return;
    }
    const a = attribute(rec, this.sources);
    if (a.kind === 'unattributed') {
      this.unknown++;
      this.unattributed[a.reason] = (this.unattributed[a.reason] ?? 0) + 1;
      this.outcome(rec.type, 'unattributed');
      if (this.samples.length < MAX_SAMPLES) this.samples.push({ reason: a.reason, type: rec.type, line: rec.line, key: detach(a.key) });
      return;
    }
    this.outcome(rec.type, 'counted');
    const where = a.at;
    if (rec.messageId !== '' && this.sources.reconcile) this.sources.reconcile(this.sources.normalise(rec.messageId), where.tenantId, a.rcpt);
    if (rec.kind === 'bounce' || rec.kind === 'complaint') this.feedbackLater(where.tenantId, rec, a.rcpt);
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
          this.suppressLater(where.tenantId, rec, a.rcpt, 'hard-bounce');
        } else if (rec.bounceClass === 'soft') c.bouncedSoft++;
        else c.bouncedOther++;
        break;
      case 'deferred':
        c.deferred++;
        break;
      case 'complaint':
        c.complaints++;
        this.suppressLater(where.tenantId, rec, a.rcpt, 'complaint');
        break;
    }
  }

  private outcome(type: string, o: RecordOutcome): void {
    let t = this.byType[type];
    if (t === undefined) {
      // Only PowerMTA's short type names become keys (and metric labels); anything else is one bucket.
      t = this.byType[type.length <= 3 ? detach(type) : 'other'] ??= {};
    }
    t[o] = (t[o] ?? 0) + 1;
  }

  private feedbackLater(tenantId: number, rec: AcctRecord, rcpt: string): void {
    if (this.sink === undefined || !this.sink.enabled(tenantId)) return;
    // A report that redacted the recipient goes to MailWizz with the one the index knows.
    const body = this.sink.body(rcpt === rec.rcpt ? rec : { ...rec, rcpt });
    if (body === null) return;
    if (body === 'no-message-id' || body === 'no-bounce-category') this.feedbackSkipped++;
    else this.feedback.push({ tenantId, body });
  }

  private suppressLater(tenantId: number, rec: BounceRecord | ComplaintRecord, rcpt: string, reason: PendingSuppression['reason']): void {
    // A redacted report of a message the index does not know one recipient of: counted, nobody to suppress.
    if (rcpt === '') return;
    let byEmail = this.suppress.get(tenantId);
    if (byEmail === undefined) {
      byEmail = new Map();
      this.suppress.set(tenantId, byEmail);
    }
    // The first reason wins, in the batch as in the table.
    if (byEmail.has(rcpt)) return;
    const email = detach(rcpt);
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
      unattributed: { ...this.unattributed },
      unattributedSamples: this.samples.slice(),
      byType: this.byType,
      malformed: this.malformed,
      ignored: this.ignored,
      ...(this.sink !== undefined ? { feedback: { queued: this.feedback.length, skipped: this.feedbackSkipped } } : {}),
    };
  }
}

export interface AccountingEffectsOptions {
  sources: AttributionSources;
  timeZone: string;
  /** Bounces and complaints of tenants with feedback go here; without it nothing is queued. */
  feedback?: FeedbackSink;
  /** The daemon's one suppression store; a store of its own otherwise. */
  suppression?: SuppressionStore;
}

export class AccountingEffects {
  private readonly upsertStats: Statement<[string, string, number, number, number, number, number, number, number]>;
  private readonly bumpCounter: Statement<[string, number]>;
  private readonly suppression: SuppressionStore;
  private readonly days: DayCache;

  constructor(
    private readonly db: Db,
    private readonly opts: AccountingEffectsOptions,
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
    return new PendingBatch(this.opts.sources, this.days, this.opts.feedback);
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
      const counts: Array<[string, number]> = [
        ['records', pending.records],
        ['malformed', pending.malformed],
        ['unattributed', pending.unknown],
        ['ignored', pending.ignored],
        ['suppressed', suppressed],
      ];
      for (const r of UNATTRIBUTED_REASONS) counts.push([`unattributed:${r}`, pending.unattributed[r] ?? 0]);
      for (const [name, n] of counts) if (n > 0) this.bumpCounter.run(name, n);
      for (const f of pending.feedback) this.opts.feedback?.enqueue(f.tenantId, f.body);
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
  if (rec.kind === 'complaint' && rec.repSourceIp !== '') parts.push(`ip=${rec.repSourceIp}`);
  if (rec.messageId !== '') parts.push(`message-id=${rec.messageId}`);
  if (rec.jobId !== '') parts.push(`job=${rec.jobId}`);
  const s = parts.filter((p) => p !== '').join('; ');
  return s.length > MAX_DETAIL ? s.slice(0, MAX_DETAIL) : s;
}
