import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Reservation } from '../ledger/ledger.js';
import type { Db } from '../store/db.js';
import { groupCommit, type GroupCommit } from '../store/group-commit.js';
import type { DayKey, IpAddress } from '../types.js';

/** What the agent handed to PowerMTA under one Message-ID (issue 14's sent-message index). */
export interface SentRecord {
  tenantId: number;
  ip: string;
  vmta: string;
  jobId: string | null;
  recipients: string[];
  day: string;
}

/** Looks a sent message up by its normalised Message-ID (see normaliseMessageId). */
export type SentLookup = (normalisedMessageId: string) => SentRecord | undefined;

/**
 * The one form of a Message-ID the index is keyed by: surrounding angle
 * brackets stripped, trimmed, lower-cased. PowerMTA's accounting writes the
 * header as it found it (`header_Message-Id`, with or without brackets, in the
 * sender's case), so both sides go through this before they are compared.
 */
export function normaliseMessageId(raw: string): string {
  let s = raw.trim();
  if (s.startsWith('<')) s = s.slice(1);
  if (s.endsWith('>')) s = s.slice(0, -1);
  return s.trim().toLowerCase();
}

/** One recipient's reservations as the journal keeps them. */
export interface JournalGrant {
  rcpt: string;
  reservations: Reservation[];
}

export interface HandoffStart {
  tenantId: number;
  /** The spool entry the dispatcher sends, null on the fast path. */
  spoolId: string | null;
  /** As written in the message; stored normalised. */
  messageId: string | null;
  jobId: string | null;
  ip: string;
  vmta: string;
  day: string;
  grants: JournalGrant[];
}

/** A hand-off an earlier process began and never saw settled in the ledger. */
export interface UnsettledHandoff {
  id: number;
  tenantId: number;
  spoolId: string | null;
  messageId: string | null;
  grants: JournalGrant[];
  /** Recipients PowerMTA took, or null when its answer was never recorded (fate unknown). */
  accepted: string[] | null;
  /**
   * The row was already marked of unknown fate (its reply lost after the final
   * dot, see answerLost): `accepted` then holds what accounting showed so far,
   * not PowerMTA's answer, and every unit counts as sent.
   */
  fateKnownUnknown: boolean;
}

interface Row {
  id: number;
  tenant_id: number;
  spool_id: string | null;
  message_id: string | null;
  ip: string;
  vmta: string;
  job_id: string | null;
  day: string;
  recipients: string;
  grants: string;
  accepted: string | null;
  fate: string | null;
}

type Packed = Array<[string, Array<[string, string, string, number]>]>;

/**
 * The durable record of each hand-off to PowerMTA, written before the message's
 * bytes go out. PowerMTA may take a message and the agent die before the ledger
 * hears of it (SIGKILL, Redis down, a full disk): a row still unsettled after
 * its process is gone counts its units as sent (or as PowerMTA answered, when
 * the answer was recorded), and tells the dispatcher which spooled recipients
 * PowerMTA already has. Kept `accounting.indexDays` as the sent-message index
 * the accounting side attributes records with.
 *
 * Per message: one INSERT before the hand-off and one UPDATE after it, both in
 * the group commit the ledger's writes share on the fast path; the "settled"
 * marks of the dispatcher are written in batches.
 */
export class HandoffJournal {
  /** This process: rows of other owners left unsettled are a crashed process's. */
  readonly owner: string;
  private readonly stmts: {
    insert: Statement;
    finish: Statement;
    settled: Statement;
    byMessage: Statement;
    unsettled: Statement;
    prune: Statement;
    reconciled: Statement;
    unknown: Statement;
    lost: Statement;
    byId: Statement;
    bySpool: Statement;
  };
  /**
   * Hand-offs of unknown fate by Message-ID, with the recipients accounting has
   * shown so far. In memory because every accounting record is checked against
   * it: a miss (nearly every record) costs no query.
   */
  private readonly unknownFate = new Map<string, Array<{ id: number; tenantId: number; recipients: Set<string>; seen: Set<string> }>>();
  private pendingSettled: number[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly markSettled: (ids: number[]) => void;
  private readonly group: GroupCommit;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date,
    owner: string = randomUUID(),
  ) {
    this.owner = owner;
    this.group = groupCommit(db);
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO handoffs (owner, tenant_id, spool_id, message_id, ip, vmta, job_id, day, recipients, grants, created_at)
         VALUES (@owner, @tenantId, @spoolId, @messageId, @ip, @vmta, @jobId, @day, @recipients, @grants, @createdAt)`,
      ),
      finish: db.prepare('UPDATE handoffs SET accepted = @accepted, settled = @settled WHERE id = @id'),
      settled: db.prepare('UPDATE handoffs SET settled = 1 WHERE id = ?'),
      byMessage: db.prepare(
        'SELECT tenant_id, ip, vmta, job_id, day, recipients, accepted FROM handoffs WHERE message_id = ? ORDER BY id',
      ),
      unsettled: db.prepare(
        'SELECT id, tenant_id, spool_id, message_id, grants, accepted, fate FROM handoffs WHERE settled = 0 AND owner <> ? ORDER BY id',
      ),
      prune: db.prepare('DELETE FROM handoffs WHERE created_at < ? AND settled = 1'),
      reconciled: db.prepare('UPDATE handoffs SET accepted = @accepted, fate = @fate WHERE id = @id'),
      unknown: db.prepare("UPDATE handoffs SET fate = 'unknown' WHERE id = ? AND accepted IS NULL"),
      lost: db.prepare("UPDATE handoffs SET fate = 'unknown', spool_id = COALESCE(spool_id, @spoolId) WHERE id = @id AND accepted IS NULL"),
      byId: db.prepare('SELECT id, tenant_id, message_id, recipients FROM handoffs WHERE id = ?'),
      bySpool: db.prepare('SELECT accepted FROM handoffs WHERE spool_id = ? AND fate IS NOT NULL AND accepted IS NOT NULL'),
    };
    const rows = db
      .prepare("SELECT id, tenant_id, message_id, recipients, accepted FROM handoffs WHERE fate = 'unknown' AND message_id IS NOT NULL")
      .all() as Row[];
    for (const r of rows) this.remember(r.id, r.tenant_id, r.message_id!, JSON.parse(r.recipients) as string[], r.accepted === null ? [] : (JSON.parse(r.accepted) as string[]));
    this.markSettled = db.transaction((ids: number[]) => {
      for (const id of ids) this.stmts.settled.run(id);
    });
  }

  /**
   * Records a hand-off about to start, committed before it returns (with the
   * writes queued so far, in one transaction); returns its id. Throws when the
   * store cannot write it: then nothing may go out.
   */
  begin(h: HandoffStart): number {
    const params = this.row(h);
    return this.group.writeNow(() => Number(this.stmts.insert.run(params).lastInsertRowid));
  }

  /**
   * Records a hand-off about to start in the turn's group commit; resolves
   * with its id once that transaction has committed, so the caller holds the
   * message's first byte back until then. Rejects when the store cannot write
   * it: then nothing may go out.
   */
  beginQueued(h: HandoffStart): Promise<number> {
    const params = this.row(h);
    return this.group.write(() => Number(this.stmts.insert.run(params).lastInsertRowid));
  }

  private row(h: HandoffStart): Record<string, unknown> {
    const packed: Packed = h.grants.map((g) => [g.rcpt, g.reservations.map((r) => [r.id, r.ip, r.day, r.n])]);
    return {
      owner: this.owner,
      tenantId: h.tenantId,
      spoolId: h.spoolId,
      messageId: h.messageId === null ? null : normaliseMessageId(h.messageId) || null,
      ip: h.ip,
      vmta: h.vmta,
      jobId: h.jobId,
      day: h.day,
      recipients: JSON.stringify(h.grants.map((g) => g.rcpt)),
      grants: JSON.stringify(packed),
      createdAt: this.now().getTime(),
    };
  }

  /**
   * PowerMTA's answer: the recipients it took. `settled` says the ledger has it
   * too (nothing left to do for this hand-off after a crash). Written with the
   * turn's group commit (store/group-commit.ts); resolves once committed, and
   * rejects when it could not be written (the row then stays as begun: after a
   * crash its units count as sent, the safe side).
   */
  answered(id: number, accepted: readonly string[], settled: boolean): Promise<void> {
    const params = { id, accepted: JSON.stringify(accepted), settled: settled ? 1 : 0 };
    return this.group.write(() => {
      this.stmts.finish.run(params);
    });
  }

  /** The ledger (and the spool) have the outcome; written with the next batch. */
  settled(id: number): void {
    this.pendingSettled.push(id);
    if (this.pendingSettled.length >= 256) this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        try {
          this.flush();
        } catch {
          // Kept for the next batch (or replayed, harmlessly, after a crash).
        }
      }, 200);
      this.flushTimer.unref();
    }
  }

  /** Writes the pending "settled" marks now. A failure keeps them for the next try (a crash replays them, harmlessly). */
  flush(): void {
    // After the answers queued before them, or an answer could overwrite a mark.
    this.group.flush();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const ids = this.pendingSettled;
    if (ids.length === 0) return;
    this.pendingSettled = [];
    try {
      this.markSettled(ids);
    } catch (err) {
      this.pendingSettled.unshift(...ids);
      throw err;
    }
  }

  /** Hand-offs an earlier (crashed) process left unsettled, oldest first. */
  unsettled(): UnsettledHandoff[] {
    this.group.flush();
    return (this.stmts.unsettled.all(this.owner) as Row[]).map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      spoolId: r.spool_id,
      messageId: r.message_id,
      grants: (JSON.parse(r.grants) as Packed).map(([rcpt, rs]) => ({
        rcpt,
        reservations: rs.map(([id, ip, day, n]) => ({ id, ip: ip as IpAddress, day: day as DayKey, n })),
      })),
      accepted: r.accepted === null ? null : (JSON.parse(r.accepted) as string[]),
      fateKnownUnknown: r.fate !== null,
    }));
  }

  /** Marks recovered rows settled at once. */
  settleNow(ids: readonly number[]): void {
    this.group.flush();
    if (ids.length) this.markSettled([...ids]);
  }

  /**
   * A hand-off a crashed process left without PowerMTA's answer: its units were
   * counted as sent; from now on an accounting record for its Message-ID can
   * show that PowerMTA had it (see reconcile).
   */
  fateUnknown(h: Pick<UnsettledHandoff, 'id' | 'tenantId' | 'messageId' | 'grants'>): void {
    this.stmts.unknown.run(h.id);
    if (h.messageId !== null) this.remember(h.id, h.tenantId, h.messageId, h.grants.map((g) => g.rcpt), []);
  }

  /**
   * PowerMTA's reply to this process's hand-off was lost after the final dot:
   * the row becomes one of unknown fate, as a crashed process's does at
   * recovery (accepted stays null, so a restart before it is settled counts
   * every unit as sent and releases none), and names the spool entry its
   * recipients wait in (the fast path's row had none), so the dispatcher drops
   * those accounting shows PowerMTA took. Written with the turn's group commit;
   * accounting records count for it once that has committed.
   */
  async answerLost(id: number, spoolId: string | null): Promise<void> {
    const r = await this.group.write(() => (this.stmts.lost.run({ id, spoolId }).changes ? (this.stmts.byId.get(id) as Row | undefined) : undefined));
    if (r?.message_id) this.remember(r.id, r.tenant_id, r.message_id, JSON.parse(r.recipients) as string[], []);
  }

  /**
   * An accounting record for `rcpt` of this Message-ID, attributed to `tenantId`:
   * PowerMTA took that recipient, so a hand-off of unknown fate that carried it
   * is marked accepted by it (fate 'accounting' once every recipient is shown).
   * Only the tenant the record is attributed to, and only a recipient the
   * hand-off had: another tenant's message under a copied ID proves nothing
   * about this one. Returns how many recipients were newly known.
   */
  reconcile(normalisedMessageId: string, tenantId: number, rcpt: string): number {
    const open = this.unknownFate.get(normalisedMessageId);
    const who = rcpt.trim().toLowerCase();
    if (open === undefined || who === '') return 0;
    let n = 0;
    for (const h of open) {
      if (h.tenantId !== tenantId || !h.recipients.has(who) || h.seen.has(who)) continue;
      const seen = [...h.seen, who];
      // Memory follows the store only once the row is written (a failed write is retried with the batch).
      this.stmts.reconciled.run({ id: h.id, accepted: JSON.stringify(seen), fate: seen.length === h.recipients.size ? 'accounting' : 'unknown' });
      h.seen.add(who);
      n++;
    }
    const left = open.filter((h) => h.seen.size < h.recipients.size);
    if (left.length) this.unknownFate.set(normalisedMessageId, left);
    else this.unknownFate.delete(normalisedMessageId);
    return n;
  }

  /** Recipients of this spool entry that PowerMTA is known (from accounting) to have taken in a hand-off whose answer was lost. */
  knownAccepted(spoolId: string): string[] {
    this.group.flush();
    const out = new Set<string>();
    for (const r of this.stmts.bySpool.all(spoolId) as Array<{ accepted: string }>) for (const a of JSON.parse(r.accepted) as string[]) out.add(a.toLowerCase());
    return [...out];
  }

  /** Hand-offs still waiting for accounting to show their outcome. */
  unknownCount(): number {
    let n = 0;
    for (const hs of this.unknownFate.values()) n += hs.length;
    return n;
  }

  private remember(id: number, tenantId: number, messageId: string, recipients: string[], seen: string[]): void {
    const key = normaliseMessageId(messageId);
    const list = this.unknownFate.get(key) ?? [];
    list.push({ id, tenantId, recipients: new Set(recipients.map((r) => r.toLowerCase())), seen: new Set(seen.map((r) => r.toLowerCase())) });
    this.unknownFate.set(key, list);
  }

  /**
   * The sent-message index. When two tenants used the same Message-ID, the one
   * that sent it first keeps it: a later sender cannot take over the
   * attribution of another tenant's bounces and complaints by copying an ID.
   */
  readonly lookup: SentLookup = (normalisedMessageId) => {
    this.group.flush();
    const rows = this.stmts.byMessage.all(normalisedMessageId) as Row[];
    let out: SentRecord | undefined;
    const rcpts = new Set<string>();
    for (const r of rows) {
      if (out && r.tenant_id !== out.tenantId) continue;
      const took = JSON.parse(r.accepted ?? r.recipients) as string[];
      if (took.length === 0) continue;
      for (const x of took) rcpts.add(x);
      out = { tenantId: r.tenant_id, ip: r.ip, vmta: r.vmta, jobId: r.job_id, recipients: [], day: r.day };
    }
    if (out) out.recipients = [...rcpts];
    return out;
  };

  /** Drops settled rows older than `days` days; returns how many. */
  prune(days: number): number {
    return this.stmts.prune.run(this.now().getTime() - days * 86_400_000).changes;
  }

  close(): void {
    try {
      this.flush();
    } catch {
      /* left unsettled: the next start replays them, which is harmless */
    }
  }
}
