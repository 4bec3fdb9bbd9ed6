// Forwarding: the SMTP client pool to PowerMTA, its health, the deferred spool
// and the dispatcher that releases it. The fast path in ingress uses the same
// forwarder and spool.
import type { Config } from '../config/schema.js';
import { spoolDirOf } from '../config/load.js';
import { Dispatcher, recoverHandoffs, type DispatcherOptions } from '../forward/dispatcher.js';
import { Forwarder } from '../forward/forwarder.js';
import type { HandOffDeps } from '../forward/handoff.js';
import { HandoffJournal } from '../forward/journal.js';
import { PmtaHealth } from '../forward/pmta-health.js';
import { Settler, type SettlerDeps } from '../forward/settler.js';
import { Spool } from '../forward/spool.js';
import { registerForwardingGauges } from '../metrics/gauges.js';
import type { TenantRecord } from '../tenants/registry.js';
import { dayKey } from '../days.js';
import type { PartContext } from './context.js';
import type { QuotaPart } from './quota.js';
import type { StorePart } from './store.js';

export interface ForwardingPart {
  spool: Spool;
  forwarder: Forwarder;
  health: PmtaHealth;
  dispatcher: Dispatcher;
  /** Every hand-off to PowerMTA, and the sent-message index. */
  journal: HandoffJournal;
  /** Settles PowerMTA's answers for the fast path and the dispatcher. */
  settler: Settler;
  spoolLimits: HandOffDeps['spoolLimits'];
  jobFallback: HandOffDeps['jobFallback'];
  /** Starts releasing the spool. */
  start(): void;
  /** Stops the dispatcher and waits for the messages it has in flight. */
  drain(): Promise<void>;
  /** Hand-offs still open are given up (their messages go to the spool). */
  abortInFlight(): void;
  reload(next: Config): void;
  stop(): Promise<void>;
}

export async function forwardingPart(
  ctx: PartContext,
  store: StorePart,
  quota: QuotaPart,
  hooks: { accepted: NonNullable<SettlerDeps['accepted']>; refused: NonNullable<SettlerDeps['refusedAfterAck']> },
): Promise<ForwardingPart> {
  const { clock, log, metrics } = ctx;
  const { registry } = store;
  const cfg = ctx.cfg();
  const spool = new Spool(spoolDirOf(cfg), log, cfg.spool.memoryBytes);
  await spool.init((slug) => registry.tenant(slug)?.id);
  const forwarder = new Forwarder({
    host: cfg.pmta.host,
    port: cfg.pmta.port,
    maxConnections: cfg.pmta.maxConnections,
    maxMessagesPerConnection: cfg.pmta.maxMessagesPerConnection,
    connectTimeoutMs: cfg.pmta.connectTimeoutMs,
    replyTimeoutMs: cfg.pmta.replyTimeoutMs,
    clientName: cfg.smtp.hostname,
  });
  const health = new PmtaHealth(cfg.spool.retryBackoffMs);
  const jobFallback = (t: TenantRecord) => `${t.slug}-${dayKey(clock.now(), ctx.cfg().warmup.timezone).replace(/-/g, '')}`;
  const spoolLimits = (t: TenantRecord) => ({
    maxMessages: t.spoolLimits.maxMessages ?? ctx.cfg().spool.maxMessagesPerTenant,
    maxBytes: t.spoolLimits.maxBytes ?? ctx.cfg().spool.maxBytesPerTenant,
  });
  const journal = new HandoffJournal(store.db, () => clock.now());
  const settler = new Settler({ ledger: quota.ledger, journal, health, log, metrics, accepted: hooks.accepted, refusedAfterAck: hooks.refused });
  // Before anything is sent: what a crashed process handed to PowerMTA counts, and is not sent twice.
  await recoverHandoffs(settler, spool, log, clock.now());
  const prune = () => {
    try {
      const n = journal.prune(ctx.cfg().accounting.indexDays);
      if (n) log.info('journal.pruned', { handoffs: n, keptDays: ctx.cfg().accounting.indexDays });
    } catch (err) {
      log.error('journal.prune_failed', { error: err as Error });
    }
  };
  prune();
  const pruner = setInterval(prune, 86_400_000);
  pruner.unref();
  const dispatcher = new Dispatcher(
    { spool, gate: quota.gate, forwarder, health, settler, registry, clock, log, metrics, suppression: store.suppression, jobFallback, knownAccepted: (id) => journal.knownAccepted(id) },
    dispatcherOptions(cfg),
  );
  metrics.gauge('pmta_agent_spool_messages', 'Messages waiting in the deferred spool per tenant', () =>
    registry.tenants().map((t) => ({ labels: { tenant: t.slug }, value: spool.size(t.id) })),
  );
  registerForwardingGauges(metrics, { clock, registry, spool, pmtaHealth: health });
  return {
    spool,
    forwarder,
    health,
    dispatcher,
    journal,
    settler,
    spoolLimits,
    jobFallback,
    start: () => dispatcher.start(),
    drain: () => dispatcher.stop(),
    abortInFlight: () => forwarder.abortInFlight(),
    reload(next) {
      dispatcher.setOptions(dispatcherOptions(next));
      health.setBackoff(next.spool.retryBackoffMs);
      spool.setMemoryBytes(next.spool.memoryBytes);
    },
    async stop() {
      clearInterval(pruner);
      await settler.stop();
      forwarder.close();
    },
  };
}

function dispatcherOptions(cfg: Config): DispatcherOptions {
  return { intervalMs: cfg.spool.dispatchIntervalMs, concurrency: cfg.spool.concurrency, maxAgeMs: cfg.spool.maxAgeHours * 3_600_000, unknownFateHoldMs: cfg.spool.unknownFateHoldMs, retryBackoffMs: cfg.spool.retryBackoffMs };
}
