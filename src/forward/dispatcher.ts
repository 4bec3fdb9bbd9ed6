import type { Grant } from '../ledger/grant.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import type { Forwarder } from './forwarder.js';
import type { PmtaHealth } from './pmta-health.js';
import { localFailure, settle, type Held } from './settle.js';
import type { Settler } from './settler.js';
import type { Spool, SpoolEntry } from './spool.js';

/** Whether a tenant may no longer mail an address (the accounting side keeps the list). */
export interface SuppressionCheck {
  check(tenantId: number, email: string): { reason: 'hard-bounce' | 'complaint' | 'manual' } | null;
}

/**
 * Where the dispatcher gets units from: the gate, passed down by whoever
 * builds the dispatcher (forward/ does not reach back up into gate/).
 */
export interface QuotaSource {
  /** One recipient's units on the tenant's best IP (or on `onlyIp`); null when none is left. */
  reserve(tenant: TenantRecord, n: number, onlyIp?: string): Promise<Grant | null>;
}

export interface DispatcherDeps {
  spool: Spool;
  gate: QuotaSource;
  forwarder: Forwarder;
  health: PmtaHealth;
  settler: Settler;
  registry: Registry;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  /** Checked again before each hand-off: an address may have bounced or complained while its mail waited. */
  suppression?: SuppressionCheck;
  jobFallback(tenant: TenantRecord): string;
  /** Recipients of a spool entry that accounting showed PowerMTA took in a hand-off whose answer was lost (the journal). */
  knownAccepted?(spoolId: string): string[];
}

export interface DispatcherOptions {
  intervalMs: number;
  concurrency: number;
  maxAgeMs: number;
  /** How long a message of unknown fate waits for accounting before it is sent again. */
  unknownFateHoldMs: number;
  /** The first wait after PowerMTA answered and deferred a spooled message; it doubles per such deferral in a row. */
  retryBackoffMs: number;
}

/** The longest a message PowerMTA keeps deferring waits between tries. */
export const MAX_DEFERRAL_BACKOFF_MS = 300_000;

/** How long a message waits after its `n`th deferral in a row (n >= 1) that PowerMTA answered. */
export function deferralBackoffMs(baseMs: number, n: number): number {
  return Math.min(baseMs * 2 ** Math.min(n - 1, 30), MAX_DEFERRAL_BACKOFF_MS);
}

/**
 * Releases spooled mail to PowerMTA as quota and PowerMTA allow: oldest first
 * within a tenant, one message per tenant in turn so a big backlog of one brand
 * does not starve another. It uses the same gate, forwarder and settlement as
 * the fast path.
 */
export class Dispatcher {
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<SpoolEntry>();
  private running = false;
  private rerun = false;
  private turn = 0;
  private stopped = false;
  private passes = 0;

  constructor(
    private readonly deps: DispatcherDeps,
    private opts: DispatcherOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.intervalMs);
    this.timer.unref();
    this.kick();
  }

  setOptions(opts: DispatcherOptions): void {
    this.opts = opts;
    if (this.timer) {
      clearInterval(this.timer);
      this.start();
    }
  }

  /** Run a pass now (quota may have freed, a day may have turned). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    this.pass()
      .catch((err) => this.deps.log.error('dispatch.error', { error: err as Error }))
      .finally(() => {
        this.passes++;
        this.running = false;
        if (this.rerun) {
          this.rerun = false;
          this.kick();
        }
      });
  }

  /** Stop taking new work and wait for hand-offs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.running || this.inFlight.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Passes finished since start (tests wait on it instead of on time). */
  passCount(): number {
    return this.passes;
  }

  private async pass(): Promise<void> {
    const { spool, registry, health } = this.deps;
    await this.expireOld();
    const blocked = new Set<number>();
    const workers: Promise<void>[] = [];
    while (!this.stopped && !health.isDown()) {
      const tenants = spool.tenants().filter((t) => !blocked.has(t));
      if (tenants.length === 0) break;
      if (this.inFlight.size >= this.opts.concurrency) {
        await Promise.race(workers);
        continue;
      }
      const tenantId = tenants[this.turn++ % tenants.length]!;
      const entry = await this.nextEntry(tenantId);
      const tenant = registry.tenant(tenantId);
      if (!entry || !tenant) {
        blocked.add(tenantId);
        continue;
      }
      if (!(await this.dropSuppressed(entry, tenant))) continue;
      let grant;
      try {
        grant = await this.deps.gate.reserve(tenant, 1);
      } catch (err) {
        // Quota store down: fail closed, try again next pass.
        this.deps.log.warn('dispatch.store_unavailable', { tenant: tenant.slug, error: err as Error });
        break;
      }
      if (!grant) {
        blocked.add(tenantId); // no quota left today for this tenant: try again next pass
        continue;
      }
      // Reserve the rest of the recipients on the same IP as far as it allows.
      const more = entry.meta.rcptTo.length - 1;
      const extra = more > 0 ? await this.reserveUpTo(tenant, grant.ip.address, more) : [];
      const grants = [grant, ...extra];
      this.inFlight.add(entry);
      const w = this.send(entry, tenant, grants).finally(() => {
        this.inFlight.delete(entry);
        workers.splice(workers.indexOf(w), 1);
      });
      workers.push(w);
    }
    await Promise.all(workers);
  }

  /** The oldest entry of the tenant that may go now (not in flight, not backing off after a deferral, not waiting for accounting). */
  private async nextEntry(tenantId: number): Promise<SpoolEntry | undefined> {
    const now = this.deps.clock.now().getTime();
    for (const e of this.deps.spool.queue(tenantId)) {
      if (this.inFlight.has(e)) continue;
      if (e.meta.nextAttemptAt !== undefined && Date.parse(e.meta.nextAttemptAt) > now) continue;
      if (e.meta.fateUnknownSince === undefined || (await this.settledByAccounting(e))) return e;
    }
    return undefined;
  }

  /**
   * A message a crashed process handed to PowerMTA without hearing the answer.
   * Recipients that accounting shows PowerMTA took are dropped (sending them
   * again would be a duplicate; their units were counted at recovery). The rest
   * waits `unknownFateHoldMs` for accounting, then goes again: a possible
   * duplicate is better than losing mail MailWizz was told was queued.
   * True when what is left may be sent now.
   */
  private async settledByAccounting(entry: SpoolEntry): Promise<boolean> {
    const { spool, log } = this.deps;
    const took = new Set(this.deps.knownAccepted?.(entry.meta.id) ?? []);
    const left = entry.meta.rcptTo.filter((r) => !took.has(r.toLowerCase()));
    if (left.length < entry.meta.rcptTo.length) {
      log.warn('dispatch.already_accepted', { spoolId: entry.meta.id, messageId: entry.meta.messageId, by: 'accounting', rcpts: entry.meta.rcptTo.length - left.length, left: left.length });
      this.deps.metrics?.spoolEvents.inc({ event: 'reconciled' });
      if (left.length === 0) {
        await spool.remove(entry);
        return false;
      }
      entry.meta.rcptTo = left;
      await spool.update(entry);
    }
    const since = Date.parse(entry.meta.fateUnknownSince!);
    if (this.deps.clock.now().getTime() - since < this.opts.unknownFateHoldMs) return false;
    log.warn('dispatch.fate_still_unknown', { spoolId: entry.meta.id, messageId: entry.meta.messageId, rcpts: left.length, note: 'sent again: not in accounting after the hold' });
    delete entry.meta.fateUnknownSince;
    await spool.update(entry);
    return true;
  }

  private async reserveUpTo(tenant: TenantRecord, ip: string, n: number) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const g = await this.deps.gate.reserve(tenant, 1, ip).catch(() => null);
      if (!g) break;
      out.push(g);
    }
    return out;
  }

  /**
   * Recipients suppressed while their mail waited (a hard bounce or a complaint
   * from an earlier send) are dropped before any unit is reserved for them.
   * False when nothing of the message is left.
   */
  private async dropSuppressed(entry: SpoolEntry, tenant: TenantRecord): Promise<boolean> {
    const check = this.deps.suppression;
    if (!check) return true;
    const keep: string[] = [];
    for (const rcpt of entry.meta.rcptTo) {
      const hit = check.check(tenant.id, rcpt);
      if (!hit) {
        keep.push(rcpt);
        continue;
      }
      this.deps.log.info('dispatch.rcpt_suppressed', { tenant: tenant.slug, spoolId: entry.meta.id, messageId: entry.meta.messageId, rcpt, reason: hit.reason });
      this.deps.metrics?.spoolEvents.inc({ event: 'suppressed' });
      this.deps.metrics?.rcptOutcomes.inc({ tenant: tenant.slug, outcome: 'suppressed' });
    }
    if (keep.length === entry.meta.rcptTo.length) return true;
    if (keep.length === 0) {
      await this.deps.spool.remove(entry);
      return false;
    }
    entry.meta.rcptTo = keep;
    await this.deps.spool.update(entry);
    return true;
  }

  private async send(entry: SpoolEntry, tenant: TenantRecord, grants: Grant[]): Promise<void> {
    const { forwarder, spool, settler, log } = this.deps;
    const held: Array<Held<Grant>> = grants.map((grant, i) => ({ rcpt: entry.meta.rcptTo[i]!, grant }));
    const ip = grants[0]!.ip;
    let journalId: number | null = null;
    const outcome = await forwarder.forwardFile(
      {
        mailFrom: entry.meta.mailFrom,
        ...(entry.meta.mailParams ? { mailParams: entry.meta.mailParams } : {}),
        rcptTo: held.map((h) => h.rcpt),
        vmta: ip.vmta,
        jobFallback: this.deps.jobFallback(tenant),
        // The row goes with the turn's group commit; the forwarder holds the body until it is committed.
        beforeBody: async (info, job) => {
          journalId = await settler.beginQueued(
            { tenantId: tenant.id, spoolId: entry.meta.id, messageId: entry.meta.messageId ?? info.messageId, jobId: job || null, ip: ip.address, vmta: ip.vmta, day: grants[0]!.reservation.day },
            held,
          );
        },
      },
      entry.emlPath,
    );
    const s = settle(held, outcome);
    const ctx = { tenant, path: 'dispatch' as const, journalId, spoolId: entry.meta.id, mailFrom: entry.meta.mailFrom, messageId: entry.meta.messageId, vmta: ip.vmta, ip: ip.address };
    const done = await settler.apply(ctx, s, { durableFirst: true, blamePmta: !localFailure(outcome) });
    // MailWizz had its 250 when the message was spooled: a refusal now would be lost without this.
    settler.refusedAfterAck(ctx, s.refused);
    const remaining = [...s.spool, ...entry.meta.rcptTo.slice(held.length)];
    // spooled: recipients PowerMTA did not take on this try (they stay in the spool).
    const counts = { forwarded: s.forwarded.length, spooled: s.spool.length, refused: s.refused.length };
    const base = { tenant: tenant.slug, spoolId: entry.meta.id, messageId: entry.meta.messageId, vmta: ip.vmta, rcpts: held.map((h) => h.rcpt), ...counts };
    this.count(tenant, counts);
    if (s.forwarded.length === 0 && s.refused.length === 0) {
      entry.meta.attempts++;
      entry.meta.lastError = s.spoolReason;
      // PowerMTA may have it (units counted): it waits for accounting again before another try.
      if (s.fateUnknown) entry.meta.fateUnknownSince = this.deps.clock.now().toISOString();
      // PowerMTA answered but will not take it now (a VMTA it does not know yet, a 4xx to every RCPT TO):
      // trying every pass would only hammer it and fill the log. When PowerMTA is unreachable or fails as a
      // whole, its health pauses whole passes instead, and the mail goes as soon as it is back.
      const answered = s.pmta.kind === 'answered';
      if (answered) {
        const n = (entry.meta.deferrals ?? 0) + 1;
        entry.meta.deferrals = n;
        entry.meta.nextAttemptAt = new Date(this.deps.clock.now().getTime() + deferralBackoffMs(this.opts.retryBackoffMs, n)).toISOString();
      }
      await spool.update(entry);
      done();
      log.warn('dispatch.deferred', { ...base, reason: s.spoolReason, attempts: entry.meta.attempts, ...(answered ? { nextAttemptAt: entry.meta.nextAttemptAt } : {}) });
      return;
    }
    delete entry.meta.deferrals;
    delete entry.meta.nextAttemptAt;
    if (s.forwarded.length) {
      log.info('dispatch.forwarded', { ...base, reply: s.response });
      this.deps.metrics?.spoolEvents.inc({ event: 'delivered' });
    } else {
      log.warn('dispatch.refused', { ...base, reply: s.wholeRefusal?.response ?? s.refused[0]?.response });
      this.deps.metrics?.spoolEvents.inc({ event: 'refused' });
    }
    if (remaining.length === 0) {
      await spool.remove(entry);
    } else {
      entry.meta.rcptTo = remaining;
      await spool.update(entry);
    }
    done();
  }

  private count(tenant: TenantRecord, c: { forwarded: number; spooled: number; refused: number }): void {
    const m = this.deps.metrics;
    if (!m) return;
    if (c.forwarded) m.rcptOutcomes.inc({ tenant: tenant.slug, outcome: 'forwarded' }, c.forwarded);
    if (c.refused) m.rcptOutcomes.inc({ tenant: tenant.slug, outcome: 'refused' }, c.refused);
    if (c.spooled) m.rcptOutcomes.inc({ tenant: tenant.slug, outcome: 'spooled' }, c.spooled);
  }

  private async expireOld(): Promise<void> {
    const cutoff = this.deps.clock.now().getTime() - this.opts.maxAgeMs;
    for (const tenantId of this.deps.spool.tenants()) {
      for (const entry of [...this.deps.spool.queue(tenantId)]) {
        if (new Date(entry.meta.arrivedAt).getTime() >= cutoff) break; // queue is oldest first
        if (this.inFlight.has(entry)) continue;
        await this.deps.spool.remove(entry);
        this.deps.metrics?.spoolEvents.inc({ event: 'expired' });
        this.deps.log.error('spool.expired', {
          tenant: this.deps.registry.tenant(tenantId)?.slug ?? tenantId,
          tenantId,
          spoolId: entry.meta.id,
          messageId: entry.meta.messageId,
          rcpts: entry.meta.rcptTo,
          arrivedAt: entry.meta.arrivedAt,
          lastError: entry.meta.lastError,
        });
      }
    }
  }
}

/**
 * At start, before anything is sent: hand-offs a crashed process left
 * unsettled are settled from the journal, and spooled recipients PowerMTA
 * already took (its 250 was journalled before the spool was updated) leave the
 * spool, so they are not sent twice.
 */
export async function recoverHandoffs(settler: Settler, spool: Spool, log: Logger, now: Date = new Date()): Promise<void> {
  const { rows, settle: markSettled } = await settler.recover();
  const byId = new Map<string, SpoolEntry>();
  for (const t of spool.tenants()) for (const e of spool.queue(t)) byId.set(e.meta.id, e);
  for (const row of rows) {
    if (row.spoolId === null || (row.accepted !== null && row.accepted.length === 0 && !row.fateKnownUnknown)) continue;
    const entry = byId.get(row.spoolId);
    if (!entry) continue;
    if (row.accepted === null || row.fateKnownUnknown) {
      // PowerMTA may have it: hold it for accounting to tell (Dispatcher.settledByAccounting drops what accounting showed).
      entry.meta.fateUnknownSince ??= now.toISOString();
      await spool.update(entry);
      continue;
    }
    const took = new Set(row.accepted.map((a) => a.toLowerCase()));
    const left = entry.meta.rcptTo.filter((r) => !took.has(r.toLowerCase()));
    if (left.length === entry.meta.rcptTo.length) continue;
    log.warn('dispatch.already_accepted', { spoolId: entry.meta.id, messageId: entry.meta.messageId, rcpts: row.accepted, left: left.length });
    if (left.length === 0) {
      await spool.remove(entry);
      byId.delete(row.spoolId);
    } else {
      entry.meta.rcptTo = left;
      await spool.update(entry);
    }
  }
  markSettled(rows.map((r) => r.id));
}
