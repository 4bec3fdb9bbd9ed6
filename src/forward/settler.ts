import { commitGrants, releaseGrants, reservationsOf, type Grant } from '../ledger/grant.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { TenantRecord } from '../tenants/registry.js';
import type { HandoffJournal, HandoffStart, UnsettledHandoff } from './journal.js';
import type { PmtaHealth } from './pmta-health.js';
import type { Held, Settlement } from './settle.js';

/** A recipient PowerMTA refused for good after MailWizz had its 250: suppress it and tell MailWizz. */
export interface RefusedAfterAck {
  tenant: TenantRecord;
  mailFrom: string;
  messageId: string | null;
  rcpt: string;
  code: number;
  response: string;
  vmta: string;
}

export interface SettlerDeps {
  /** commit may throw (store down, disk full): the settler retries it from the journal. */
  ledger: QuotaLedger;
  journal: HandoffJournal;
  health: PmtaHealth;
  log: Logger;
  metrics?: Metrics;
  /** PowerMTA took n recipients from this IP (daily stats: "accepted"). */
  accepted?: (tenant: TenantRecord, ip: string, n: number) => void;
  refusedAfterAck?: (r: RefusedAfterAck) => void;
  retryMs?: number;
}

export interface SettleContext {
  tenant: TenantRecord;
  path: 'fast' | 'dispatch';
  journalId: number | null;
  /** The spool entry the recipients left over wait in (the message's id on the fast path). */
  spoolId: string | null;
  mailFrom: string;
  messageId: string | null;
  vmta: string;
  ip: string;
}

interface PendingCommit {
  journalId: number | null;
  grants: Grant[];
  /** The caller's part (spool update) is done too. */
  callerDone: boolean;
}

/**
 * Carries out a Settlement, the same for the fast path and the dispatcher: the
 * one place that commits and releases hand-off units. A commit that fails
 * (Redis down, SQLITE_FULL) is kept and retried, never dropped; its journal row
 * stays unsettled meanwhile, so a crash before the retry still counts the units.
 */
export class Settler {
  private readonly pending = new Set<PendingCommit>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: SettlerDeps) {}

  /** Journal row for a hand-off about to start (before its bytes go out), in a transaction of its own. */
  begin(h: Omit<HandoffStart, 'grants'>, held: ReadonlyArray<Held<Grant>>): number {
    return this.deps.journal.begin({ ...h, grants: held.map((x) => ({ rcpt: x.rcpt, reservations: reservationsOf(x.grant) })) });
  }

  /** The same row in the turn's group commit: resolves once committed; the message's bytes must wait for it. */
  beginQueued(h: Omit<HandoffStart, 'grants'>, held: ReadonlyArray<Held<Grant>>): Promise<number> {
    return this.deps.journal.beginQueued({ ...h, grants: held.map((x) => ({ rcpt: x.rcpt, reservations: reservationsOf(x.grant) })) });
  }

  /**
   * Applies the settlement. PowerMTA's answer is journalled (the row still
   * unsettled: a crash from here on replays the answer, and the ledger's
   * idempotent commits count each unit once), the units are committed and
   * released, and the row is marked settled with the next batch once the
   * ledger has them. With `durableFirst` (the dispatcher) the answer is
   * committed before anything else, and the caller calls the returned `done`
   * once its spool entry is updated; the fast path asks for the answer, the
   * releases and the commits at once, so SQLite writes them in one group commit.
   */
  async apply(ctx: SettleContext, s: Settlement<Grant>, opts: { durableFirst?: boolean; blamePmta?: boolean } = {}): Promise<() => void> {
    const { journal, log, metrics, health } = this.deps;
    const id = ctx.journalId;
    const answered =
      id === null ? null : this.journalSafely(() => (s.fateUnknown ? journal.answerLost(id, ctx.spoolId) : journal.answered(id, s.forwarded, false)), ctx);
    if (opts.durableFirst) await answered;
    const released = releaseGrants(this.deps.ledger, s.release);
    const item: PendingCommit = { journalId: id, grants: s.commit, callerDone: !opts.durableFirst };
    const ok = await this.commitAll(item);
    await released;
    await answered;
    if (!ok) {
      this.pending.add(item);
      this.arm();
    } else if (item.callerDone && id !== null) this.markSettled(id);

    if (s.fateUnknown) {
      log.warn(`${ctx.path === 'fast' ? 'forward' : 'dispatch'}.fate_unknown`, {
        tenant: ctx.tenant.slug,
        handoff: id,
        messageId: ctx.messageId,
        spoolId: ctx.spoolId,
        rcpts: s.spool.length,
        reason: s.spoolReason,
        units: 'counted as sent',
      });
    }
    if (s.pmta.kind === 'answered') health.succeeded();
    else if (s.pmta.kind === 'failed' && opts.blamePmta !== false) {
      health.failed(s.pmta.reason);
      metrics?.pmtaErrors.inc({ path: ctx.path });
    }
    if (s.forwarded.length) {
      metrics?.recipients.inc({ tenant: ctx.tenant.slug, ip: ctx.ip }, s.forwarded.length);
      this.deps.accepted?.(ctx.tenant, ctx.ip, s.forwarded.length);
    }
    for (const r of s.refused) {
      log.warn(`${ctx.path === 'fast' ? 'forward' : 'dispatch'}.rcpt_refused`, {
        tenant: ctx.tenant.slug,
        messageId: ctx.messageId,
        rcpt: r.rcpt,
        reply: r.response,
      });
    }
    return () => {
      if (item.callerDone) return;
      item.callerDone = true;
      if (!this.pending.has(item) && id !== null) this.markSettled(id);
    };
  }

  /**
   * Hand-offs a crashed process left unsettled: a recorded answer is applied
   * as it was; without one the fate is unknown and every unit counts as sent.
   * Returns them so the dispatcher can drop spooled recipients PowerMTA already
   * took; `settle` marks them done once that is written.
   */
  async recover(): Promise<{ rows: UnsettledHandoff[]; settle(ids: number[]): void }> {
    const rows = this.deps.journal.unsettled();
    const failed = new Set<number>();
    for (const row of rows) {
      // A row already of unknown fate holds in `accepted` what accounting showed, not PowerMTA's answer: every unit counts.
      const took = row.accepted === null || row.fateKnownUnknown ? null : new Set(row.accepted.map((a) => a.toLowerCase()));
      try {
        for (const g of row.grants) {
          for (const r of g.reservations) {
            if (took === null || took.has(g.rcpt.toLowerCase())) await this.deps.ledger.commit(r);
            else await this.deps.ledger.release(r);
          }
        }
      } catch (err) {
        failed.add(row.id);
        const grants = row.grants.filter((g) => took === null || took.has(g.rcpt.toLowerCase()));
        this.pending.add({ journalId: row.id, grants: grants.map(asGrant), callerDone: false });
        this.deps.log.error('journal.recover_failed', { handoff: row.id, error: err as Error });
      }
      if (row.accepted === null && !row.fateKnownUnknown) {
        try {
          this.deps.journal.fateUnknown(row);
        } catch (err) {
          this.deps.log.error('journal.write_failed', { handoff: row.id, error: err as Error });
        }
        this.deps.log.warn('journal.fate_unknown', { handoff: row.id, tenant: row.tenantId, messageId: row.messageId, spoolId: row.spoolId, units: 'counted as sent' });
      }
    }
    if (rows.length) this.deps.log.info('journal.recovered', { handoffs: rows.length, failed: failed.size });
    if (failed.size) this.arm();
    return {
      rows,
      settle: (ids) => {
        const done = ids.filter((id) => !failed.has(id));
        this.deps.journal.settleNow(done);
        for (const item of this.pending) if (item.journalId !== null && ids.includes(item.journalId)) item.callerDone = true;
      },
    };
  }

  /**
   * Recipients PowerMTA refused for good in a message MailWizz got a 250 for:
   * MailWizz would never hear of them, so each is handled like the bounce
   * PowerMTA would have logged (suppressed when 5.1.x, fed back to MailWizz).
   */
  refusedAfterAck(ctx: SettleContext, refused: Settlement<Grant>['refused']): void {
    for (const r of refused) {
      try {
        this.deps.refusedAfterAck?.({ tenant: ctx.tenant, mailFrom: ctx.mailFrom, messageId: ctx.messageId, vmta: ctx.vmta, ...r });
      } catch (err) {
        this.deps.log.error('forward.refusal_record_failed', { tenant: ctx.tenant.slug, rcpt: r.rcpt, error: err as Error });
      }
    }
  }

  /** Commits still owed to the ledger. */
  pendingCount(): number {
    return this.pending.size;
  }

  /** Retries the owed commits now. */
  async retry(): Promise<void> {
    for (const item of [...this.pending]) {
      // The store is still failing: the others would too (and each failure is a log line).
      if (!(await this.commitAll(item))) break;
      this.pending.delete(item);
      this.deps.log.info('ledger.commit_retried', { handoff: item.journalId, units: item.grants.length });
      if (item.callerDone && item.journalId !== null) this.markSettled(item.journalId);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.retry();
    if (this.pending.size) this.deps.log.error('ledger.commits_owed', { handoffs: this.pending.size, note: 'the journal replays them at the next start' });
    this.deps.journal.close();
  }

  private async commitAll(item: PendingCommit): Promise<boolean> {
    try {
      await commitGrants(this.deps.ledger, item.grants);
      return true;
    } catch {
      // Logged by the ledger (ledger.commit_failed); kept and retried here.
      return false;
    }
  }

  private markSettled(id: number): void {
    try {
      this.deps.journal.settled(id);
    } catch (err) {
      this.deps.log.error('journal.write_failed', { handoff: id, error: err as Error });
    }
  }

  private async journalSafely(fn: () => Promise<void>, ctx: SettleContext): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // The row stays as begun: after a crash its units count as sent (safe), at worst a spooled copy goes again.
      this.deps.log.error('journal.write_failed', { tenant: ctx.tenant.slug, handoff: ctx.journalId, messageId: ctx.messageId, error: err as Error });
    }
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.retry().then(() => {
        if (this.pending.size === 0 && this.timer) {
          clearInterval(this.timer);
          this.timer = null;
        }
      });
    }, this.deps.retryMs ?? 1000);
    this.timer.unref();
  }
}

/** A recovered recipient's reservations as a grant (the IP record is not needed to commit). */
function asGrant(g: { reservations: import('../ledger/ledger.js').Reservation[] }): Grant {
  return { reservation: g.reservations[0]!, hourly: g.reservations[1] ?? null, ip: undefined as never };
}
