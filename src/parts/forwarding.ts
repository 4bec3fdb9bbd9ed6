// Forwarding: the SMTP client pool to PowerMTA, its health, the deferred spool
// and the dispatcher that releases it. The fast path in ingress uses the same
// forwarder and spool.
import type { Config } from '../config/schema.js';
import { spoolDirOf } from '../config/load.js';
import { Dispatcher, type DispatcherDeps, type DispatcherOptions } from '../forward/dispatcher.js';
import { Forwarder } from '../forward/forwarder.js';
import type { HandOffDeps } from '../forward/handoff.js';
import { PmtaHealth } from '../forward/pmta-health.js';
import { Spool } from '../forward/spool.js';
import type { TenantRecord } from '../tenants/registry.js';
import { dayKey } from '../warmup/schedule.js';
import type { PartContext } from './context.js';
import type { QuotaPart } from './quota.js';
import type { StorePart } from './store.js';

export interface ForwardingPart {
  spool: Spool;
  forwarder: Forwarder;
  health: PmtaHealth;
  dispatcher: Dispatcher;
  spoolLimits: HandOffDeps['spoolLimits'];
  jobFallback: HandOffDeps['jobFallback'];
  /** Starts releasing the spool. */
  start(): void;
  /** Stops the dispatcher and waits for the messages it has in flight. */
  drain(): Promise<void>;
  /** Hand-offs still open are given up (their messages go to the spool). */
  abortInFlight(): void;
  reload(next: Config): void;
  stop(): void;
}

export async function forwardingPart(
  ctx: PartContext,
  store: StorePart,
  quota: QuotaPart,
  hooks: { accepted: NonNullable<DispatcherDeps['accepted']>; refused: NonNullable<DispatcherDeps['refused']> },
): Promise<ForwardingPart> {
  const { clock, log, metrics } = ctx;
  const { registry } = store;
  const cfg = ctx.cfg();
  const spool = new Spool(spoolDirOf(cfg), log);
  await spool.init();
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
  const dispatcher = new Dispatcher(
    {
      spool,
      gate: quota.gate,
      ledger: quota.ledger,
      forwarder,
      health,
      registry,
      clock,
      log,
      metrics,
      accepted: hooks.accepted,
      jobFallback,
      refused: hooks.refused,
    },
    dispatcherOptions(cfg),
  );
  metrics.gauge('pmta_agent_spool_messages', 'Messages waiting in the deferred spool per tenant', () =>
    registry.tenants().map((t) => ({ labels: { tenant: t.slug }, value: spool.size(t.slug) })),
  );
  return {
    spool,
    forwarder,
    health,
    dispatcher,
    spoolLimits,
    jobFallback,
    start: () => dispatcher.start(),
    drain: () => dispatcher.stop(),
    abortInFlight: () => forwarder.abortInFlight(),
    reload(next) {
      dispatcher.setOptions(dispatcherOptions(next));
      health.setBackoff(next.spool.retryBackoffMs);
    },
    stop: () => forwarder.close(),
  };
}

function dispatcherOptions(cfg: Config): DispatcherOptions {
  return { intervalMs: cfg.spool.dispatchIntervalMs, concurrency: cfg.spool.concurrency, maxAgeMs: cfg.spool.maxAgeHours * 3_600_000 };
}
