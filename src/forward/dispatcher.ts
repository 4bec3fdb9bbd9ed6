import { commitGrant, releaseGrant, type Gate } from '../gate/gate.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import type { Forwarder } from './forwarder.js';
import type { PmtaHealth } from './pmta-health.js';
import type { Spool, SpoolEntry } from './spool.js';

export interface DispatcherDeps {
  spool: Spool;
  gate: Gate;
  ledger: QuotaLedger;
  forwarder: Forwarder;
  health: PmtaHealth;
  registry: Registry;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  accepted?: (tenant: TenantRecord, ip: string, n: number) => void;
  /** PowerMTA refused for good a recipient MailWizz already had a 250 for. */
  refused?: (tenant: TenantRecord, meta: SpoolEntry['meta'], rcpt: string, code: number, response: string, vmta: string) => void;
  jobFallback(tenant: TenantRecord): string;
}

export interface DispatcherOptions {
  intervalMs: number;
  concurrency: number;
  maxAgeMs: number;
}

/**
 * Releases spooled mail to PowerMTA as quota and PowerMTA allow: oldest first
 * within a tenant, one message per tenant in turn so a big backlog of one brand
 * does not starve another. It uses the same gate and forwarder as the fast path.
 */
export class Dispatcher {
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<SpoolEntry>();
  private running = false;
  private rerun = false;
  private turn = 0;
  private stopped = false;

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

  private async pass(): Promise<void> {
    const { spool, registry, health } = this.deps;
    await this.expireOld();
    const blocked = new Set<string>();
    const workers: Promise<void>[] = [];
    while (!this.stopped && !health.isDown()) {
      const tenants = spool.tenants().filter((t) => !blocked.has(t));
      if (tenants.length === 0) break;
      if (this.inFlight.size >= this.opts.concurrency) {
        await Promise.race(workers);
        continue;
      }
      const slug = tenants[this.turn++ % tenants.length]!;
      const entry = spool.queue(slug).find((e) => !this.inFlight.has(e));
      const tenant = registry.tenant(slug);
      if (!entry || !tenant) {
        blocked.add(slug);
        continue;
      }
      let grant;
      try {
        grant = await this.deps.gate.reserve(tenant, 1);
      } catch (err) {
        // Quota store down: fail closed, try again next pass.
        this.deps.log.warn('dispatch.store_unavailable', { tenant: slug, error: err as Error });
        break;
      }
      if (!grant) {
        blocked.add(slug); // no quota left today for this tenant: try again next pass
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

  private async reserveUpTo(tenant: TenantRecord, ip: string, n: number) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const g = await this.deps.gate.reserve(tenant, 1, ip).catch(() => null);
      if (!g) break;
      out.push(g);
    }
    return out;
  }

  private async send(entry: SpoolEntry, tenant: TenantRecord, grants: Awaited<ReturnType<Gate['reserve']>>[]): Promise<void> {
    const { forwarder, ledger, spool, health, log } = this.deps;
    const held = grants.filter((g) => g !== null);
    const rcpts = entry.meta.rcptTo.slice(0, held.length);
    const vmta = held[0]!.ip.vmta;
    const outcome = await forwarder.forwardFile(
      { mailFrom: entry.meta.mailFrom, rcptTo: rcpts, vmta, jobFallback: this.deps.jobFallback(tenant) },
      entry.emlPath,
    );
    const base = { tenant: tenant.slug, spoolId: entry.meta.id, messageId: entry.meta.messageId, vmta, rcpts };
    if (outcome.kind === 'unavailable') {
      for (const g of held) await releaseGrant(ledger, g);
      health.failed(outcome.reason);
      this.deps.metrics?.pmtaErrors.inc({ path: 'dispatch' });
      entry.meta.attempts++;
      entry.meta.lastError = outcome.reason;
      await spool.update(entry);
      log.warn('dispatch.deferred', { ...base, reason: outcome.reason, attempts: entry.meta.attempts });
      return;
    }
    health.succeeded();
    const accepted = new Set(outcome.kind === 'accepted' ? outcome.accepted.map((a) => a.toLowerCase()) : []);
    const retry: string[] = [];
    for (let i = 0; i < held.length; i++) {
      const rcpt = rcpts[i]!;
      if (accepted.has(rcpt.toLowerCase())) await commitGrant(ledger, held[i]!);
      else await releaseGrant(ledger, held[i]!);
    }
    if (outcome.kind === 'accepted') {
      for (const r of outcome.rejected) if (r.code < 500) retry.push(r.rcpt);
      for (const r of outcome.rejected)
        if (r.code >= 500) {
          log.warn('dispatch.rcpt_refused', { ...base, rcpt: r.rcpt, reply: r.response });
          this.deps.refused?.(tenant, entry.meta, r.rcpt, r.code, r.response, vmta);
        }
      log.info('dispatch.forwarded', { ...base, reply: outcome.response });
      this.deps.metrics?.spoolEvents.inc({ event: 'delivered' });
      this.deps.metrics?.recipients.inc({ tenant: tenant.slug, ip: held[0]!.ip.address }, accepted.size);
      if (accepted.size) this.deps.accepted?.(tenant, held[0]!.ip.address, accepted.size);
    } else {
      // MailWizz already had its 250; PowerMTA's permanent refusal ends the message here.
      log.warn('dispatch.refused', { ...base, reply: outcome.response });
      for (const rcpt of rcpts) this.deps.refused?.(tenant, entry.meta, rcpt, outcome.code, outcome.response, vmta);
      this.deps.metrics?.spoolEvents.inc({ event: 'refused' });
    }
    const remaining = [...retry, ...entry.meta.rcptTo.slice(held.length)];
    if (remaining.length === 0) {
      await spool.remove(entry);
    } else {
      entry.meta.rcptTo = remaining;
      await spool.update(entry);
    }
  }

  private async expireOld(): Promise<void> {
    const cutoff = this.deps.clock.now().getTime() - this.opts.maxAgeMs;
    for (const slug of this.deps.spool.tenants()) {
      for (const entry of [...this.deps.spool.queue(slug)]) {
        if (new Date(entry.meta.arrivedAt).getTime() >= cutoff) break; // queue is oldest first
        if (this.inFlight.has(entry)) continue;
        await this.deps.spool.remove(entry);
        this.deps.metrics?.spoolEvents.inc({ event: 'expired' });
        this.deps.log.error('spool.expired', {
          tenant: slug,
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
