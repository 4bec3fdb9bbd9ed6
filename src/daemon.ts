import { AuthCache } from './auth/password.js';
import { sqlitePathOf, spoolDirOf } from './config/load.js';
import type { Config } from './config/schema.js';
import { Dispatcher } from './forward/dispatcher.js';
import { Forwarder } from './forward/forwarder.js';
import { PmtaHealth } from './forward/pmta-health.js';
import { Spool } from './forward/spool.js';
import { Gate } from './gate/gate.js';
import { createIngress, type Ingress } from './ingress/smtp.js';
import type { QuotaLedger } from './ledger/ledger.js';
import { SqliteLedger } from './ledger/sqlite.js';
import { createLogger, type Logger } from './log/logger.js';
import { openDb, type Db } from './store/db.js';
import { Registry, type TenantRecord } from './tenants/registry.js';
import { syncTenantsFromConfig } from './tenants/sync.js';
import { systemClock, type Clock } from './types.js';
import { dayKey } from './warmup/schedule.js';

export interface DaemonOptions {
  clock?: Clock;
  log?: Logger;
}

export interface Daemon {
  readonly cfg: Config;
  readonly db: Db;
  readonly registry: Registry;
  readonly ledger: QuotaLedger;
  readonly gate: Gate;
  readonly spool: Spool;
  readonly dispatcher: Dispatcher;
  readonly ingress: Ingress;
  readonly smtpAddress: { host: string; port: number };
  readonly log: Logger;
  stop(): Promise<void>;
}

/** Wiring only: every part is built from the config and handed what it needs. */
export async function startDaemon(cfg: Config, opts: DaemonOptions = {}): Promise<Daemon> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger({ level: cfg.log.level });
  const db = openDb(sqlitePathOf(cfg));
  await syncTenantsFromConfig(db, cfg, dayKey(clock.now(), cfg.warmup.timezone));
  const registry = new Registry(db, spoolLimitsByTenant(cfg));
  const ledger = new SqliteLedger(db);
  const released = await ledger.sweep(clock.now());
  if (released) log.info('ledger.swept', { released, at: 'start' });

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
  const gate = new Gate(registry, ledger, clock, {
    schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
    timeZone: cfg.warmup.timezone,
    reservationTtlMs: cfg.ledger.reservationTtlMs,
  });
  const jobFallback = (t: TenantRecord) => `${t.slug}-${dayKey(clock.now(), cfg.warmup.timezone).replace(/-/g, '')}`;
  const spoolLimits = (t: TenantRecord) => ({
    maxMessages: t.spoolLimits.maxMessages ?? cfg.spool.maxMessagesPerTenant,
    maxBytes: t.spoolLimits.maxBytes ?? cfg.spool.maxBytesPerTenant,
  });
  const dispatcher = new Dispatcher(
    { spool, gate, ledger, forwarder, health, registry, clock, log, jobFallback },
    { intervalMs: cfg.spool.dispatchIntervalMs, concurrency: cfg.spool.concurrency, maxAgeMs: cfg.spool.maxAgeHours * 3_600_000 },
  );
  const ingress = createIngress(cfg.smtp, {
    registry,
    gate,
    ledger,
    forwarder,
    spool,
    health,
    clock,
    log,
    authCache: new AuthCache(cfg.smtp.authCacheTtlMs),
    spoolLimits,
    jobFallback,
  });
  const smtpAddress = await ingress.listen();
  dispatcher.start();
  const sweeper = setInterval(() => {
    ledger.sweep(clock.now()).then(
      (n) => n && log.warn('ledger.swept', { released: n, at: 'timer' }),
      (err) => log.error('ledger.sweep_failed', { error: err as Error }),
    );
  }, cfg.ledger.sweepIntervalMs);
  sweeper.unref();
  log.info('daemon.started', {
    smtp: `${smtpAddress.host}:${smtpAddress.port}`,
    pmta: `${cfg.pmta.host}:${cfg.pmta.port}`,
    tenants: registry.tenants().map((t) => t.slug),
    spooled: spool.size(),
  });

  let stopped = false;
  return {
    cfg,
    db,
    registry,
    ledger,
    gate,
    spool,
    dispatcher,
    ingress,
    smtpAddress,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await ingress.close();
      await dispatcher.stop();
      clearInterval(sweeper);
      forwarder.close();
      db.close();
      log.info('daemon.stopped');
    },
  };
}

function spoolLimitsByTenant(cfg: Config) {
  return new Map(cfg.tenants.map((t) => [t.slug, t.spool]));
}
