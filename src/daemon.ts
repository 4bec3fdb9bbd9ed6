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
import { GuardedLedger } from './ledger/guarded.js';
import { openLedger } from './ledger/open.js';
import { SharedIpStates } from './tenants/shared-states.js';
import { createLogger, type Logger } from './log/logger.js';
import { openDb, type Db } from './store/db.js';
import { Registry, type TenantRecord } from './tenants/registry.js';
import { syncTenantsFromConfig } from './tenants/sync.js';
import { systemClock, type Clock } from './types.js';
import { createApiApp, type RouteMount } from './api/app.js';
import type { ApiDeps } from './api/context.js';
import { listenApi, type ApiServer } from './api/server.js';
import { Metrics } from './metrics/registry.js';
import { TenantAdmin } from './tenants/admin.js';
import { PmtaConfigService } from './pmta/service.js';
import { powermtaRoutes } from './api/routes/powermta.js';
import { messageRoutes } from './api/routes/messages.js';
import { templateRoutes } from './api/routes/templates.js';
import { createSubmit } from './ingress/submit.js';
import { TemplateStore } from './templates/store.js';
import { promises as fsp } from 'node:fs';
import { AccountingEffects, type BatchSummary } from './accounting/effects.js';
import { HealthGuard } from './accounting/health-guard.js';
import { createAccountingTailer } from './accounting/options.js';
import { registryResolver } from './accounting/resolve.js';
import { recordAccepted } from './accounting/stats.js';
import { SuppressionStore } from './accounting/suppression.js';
import { Notifier } from './alerts/notifier.js';
import { FeedbackSender } from './feedback/sender.js';
import { feedbackTargets } from './feedback/targets.js';
import { recordRefusal } from './feedback/refusals.js';
import { WarmupRunner } from './warmup/runner.js';
import { DailyScheduler } from './warmup/scheduler.js';
import { statsRoutes, suppressionRoutes, webhookRoutes } from './api/routes/accounting.js';
import { dayKey } from './warmup/schedule.js';

export interface DaemonOptions {
  clock?: Clock;
  log?: Logger;
}

export interface Daemon {
  readonly cfg: Config;
  /** Apply a new config (SIGHUP): tenants, users, IPs, schedule and limits, without dropping a connection. */
  reload(next: Config): Promise<void>;
  readonly db: Db;
  readonly registry: Registry;
  readonly ledger: QuotaLedger;
  readonly gate: Gate;
  readonly spool: Spool;
  readonly dispatcher: Dispatcher;
  readonly ingress: Ingress;
  readonly smtpAddress: { host: string; port: number };
  readonly apiAddress: { host: string; port: number };
  readonly admin: TenantAdmin;
  readonly pmtaConfig: PmtaConfigService;
  readonly warmup: WarmupRunner;
  readonly metrics: Metrics;
  readonly log: Logger;
  stop(): Promise<void>;
}

/** Wiring only: every part is built from the config and handed what it needs. */
export async function startDaemon(initial: Config, opts: DaemonOptions = {}): Promise<Daemon> {
  // Replaced on SIGHUP; every closure below reads the current one.
  let cfg = initial;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? createLogger({ level: cfg.log.level });
  const db = openDb(sqlitePathOf(cfg));
  await syncTenantsFromConfig(db, cfg, dayKey(clock.now(), cfg.warmup.timezone));
  const registry = new Registry(db, spoolLimitsByTenant(cfg));
  const opened = await openLedger(cfg, db, log);
  const ledger = new GuardedLedger(opened.ledger, log);
  const released = await ledger.sweep(clock.now()).catch(() => 0);
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
    pacing: cfg.warmup.pacing,
  });
  const jobFallback = (t: TenantRecord) => `${t.slug}-${dayKey(clock.now(), cfg.warmup.timezone).replace(/-/g, '')}`;
  const spoolLimits = (t: TenantRecord) => ({
    maxMessages: t.spoolLimits.maxMessages ?? cfg.spool.maxMessagesPerTenant,
    maxBytes: t.spoolLimits.maxBytes ?? cfg.spool.maxBytesPerTenant,
  });
  const metrics = new Metrics();
  const suppression = new SuppressionStore(db, clock);
  const feedback = feedbackTargets(() => cfg.tenants);
  const accepted = (t: TenantRecord, ip: string, n: number) => {
    try {
      recordAccepted(db, ip, t.id, dayKey(clock.now(), cfg.warmup.timezone), n);
    } catch (err) {
      log.error('stats.accepted_failed', { tenant: t.slug, ip, error: err as Error });
    }
  };
  const admin = new TenantAdmin(db, registry, clock, () => cfg.warmup.timezone);
  const dispatcher = new Dispatcher(
    {
      spool,
      gate,
      ledger,
      forwarder,
      health,
      registry,
      clock,
      log,
      metrics,
      accepted,
      jobFallback,
      refused: (t, meta, rcpt, code, response, vmta) => {
        try {
          recordRefusal(db, suppression, feedback.enabled, {
            tenantId: t.id,
            mailFrom: meta.mailFrom,
            rcpt,
            messageId: meta.messageId,
            vmta,
            code,
            response,
            at: clock.now(),
          });
        } catch (err) {
          log.error('dispatch.refusal_record_failed', { tenant: t.slug, rcpt, error: err as Error });
        }
      },
    },
    { intervalMs: cfg.spool.dispatchIntervalMs, concurrency: cfg.spool.concurrency, maxAgeMs: cfg.spool.maxAgeHours * 3_600_000 },
  );
  const authCache = new AuthCache(cfg.smtp.authCacheTtlMs);
  const ingress = createIngress(cfg.smtp, {
    registry,
    gate,
    ledger,
    forwarder,
    spool,
    health,
    clock,
    log,
    metrics,
    accepted,
    suppression,
    authCache,
    spoolLimits,
    jobFallback,
  });
  let accepting = true;
  const apiDeps: ApiDeps = {
    cfg: () => cfg,
    db,
    registry,
    gate,
    ledger,
    admin,
    spool,
    health,
    metrics,
    clock,
    startedAt: new Date(),
    sessions: () => ingress.sessions(),
    messagesInFlight: () => ingress.inFlight(),
    statusParts: [],
    acceptingWrites: () => accepting,
  };
  registerGauges(metrics, registry, gate, spool);
  const shared = opened.redis ? new SharedIpStates(opened.redis, admin, log) : null;
  shared?.start(cfg.store.redis.stateSyncMs);
  const pmtaConfig = new PmtaConfigService(() => cfg, registry, clock, log, metrics);
  admin.onChange(() => pmtaConfig.scheduleApply());
  apiDeps.statusParts.push(() => ({ pmta_config: { last_apply: pmtaConfig.status.last(), failing: pmtaConfig.status.failing } }));
  const notifier = new Notifier(() => cfg.alerts, log);
  const healthGuard = new HealthGuard(db, registry, admin, notifier, clock, () => cfg);
  const afterBatch = (summary: BatchSummary) => {
    try {
      healthGuard.check(summary);
    } catch (err) {
      log.error('health.check_failed', { error: err as Error });
    }
  };
  const tailer =
    cfg.accounting.mode === 'tail'
      ? createAccountingTailer(
          { ...cfg.accounting, mode: 'tail', dir: cfg.pmta.accountingDir },
          { db, registry, log, timeZone: cfg.warmup.timezone, clock, feedbackTenants: feedback.enabled },
        )
      : null;
  tailer?.on('batch', afterBatch);
  const effects = new AccountingEffects(db, { resolve: registryResolver(registry), timeZone: cfg.warmup.timezone, feedbackTenants: feedback.enabled });
  // Backoff on real time, not the daemon clock: it is plumbing, not business time.
  const feedbackSender = new FeedbackSender({ db, urlFor: feedback.urlFor, log, ...cfg.feedback });
  apiDeps.statusParts.push(() => ({ feedback: feedbackSender.status() }));
  apiDeps.statusParts.push(() => ({ accounting: { mode: cfg.accounting.mode, dir: cfg.pmta.accountingDir, files: tailer?.position() ?? [] } }));
  const warmup = new WarmupRunner(db, admin, notifier, clock, () => cfg, log);
  const daily = new DailyScheduler(async () => {
    const changes = warmup.run();
    await ledger.sweep(clock.now()).catch(() => 0);
    // Caps (and so PowerMTA's warmup throttles) follow the day.
    pmtaConfig.scheduleApply();
    if (changes.length) log.info('daily.rollover', { changes: changes.length });
  }, log);
  const templates = new TemplateStore(db, clock);
  const submit = createSubmit(ingress.reception, registry);
  const mounts: RouteMount[] = [
    (app) => app.route('/api/v2/powermta', powermtaRoutes(apiDeps, pmtaConfig)),
    (app) => app.route('/api/v2/templates', templateRoutes(apiDeps, templates)),
    (app) => app.route('/api/v2/stats', statsRoutes(apiDeps, db)),
    (app) => app.route('/api/v2/suppression', suppressionRoutes(apiDeps, suppression)),
    (app) => app.route('/api/v2/webhooks', webhookRoutes(apiDeps, effects, afterBatch)),
    (app) => app.route('/api/v2/messages', messageRoutes(apiDeps, templates, submit)),
  ];
  const api: ApiServer = await listenApi(createApiApp(apiDeps, log, mounts), cfg.api.host, cfg.api.port);
  const smtpAddress = await ingress.listen();
  dispatcher.start();
  if (tailer) {
    await fsp.mkdir(cfg.pmta.accountingDir, { recursive: true }).catch(() => undefined);
    await tailer.start();
  }
  feedbackSender.start();
  if (cfg.pmta.autoApply) void pmtaConfig.apply();
  daily.start(cfg.warmup.progression.cron, cfg.warmup.timezone);
  const sweeper = setInterval(() => {
    ledger.sweep(clock.now()).then(
      (n) => n && log.warn('ledger.swept', { released: n, at: 'timer' }),
      (err) => log.error('ledger.sweep_failed', { error: err as Error }),
    );
  }, cfg.ledger.sweepIntervalMs);
  sweeper.unref();
  log.info('daemon.started', {
    smtp: `${smtpAddress.host}:${smtpAddress.port}`,
    api: `${api.address.host}:${api.address.port}`,
    pmta: `${cfg.pmta.host}:${cfg.pmta.port}`,
    tenants: registry.tenants().map((t) => t.slug),
    spooled: spool.size(),
  });

  let stopped = false;
  return {
    get cfg() {
      return cfg;
    },
    async reload(next: Config) {
      const restartNeeded = (['host', 'port', 'hostname', 'maxMessageBytes', 'maxClients', 'tls'] as const)
        .filter((k) => JSON.stringify(next.smtp[k]) !== JSON.stringify(cfg.smtp[k]))
        .map((k) => `smtp.${k}`)
        .concat(JSON.stringify(next.api.host) !== JSON.stringify(cfg.api.host) || next.api.port !== cfg.api.port ? ['api.host/port'] : [])
        .concat(JSON.stringify(next.pmta) !== JSON.stringify(cfg.pmta) ? ['pmta'] : [])
        .concat(JSON.stringify(next.store) !== JSON.stringify(cfg.store) ? ['store'] : []);
      await syncTenantsFromConfig(db, next, dayKey(clock.now(), next.warmup.timezone));
      cfg = next;
      registry.setSpoolLimits(spoolLimitsByTenant(next));
      gate.setOptions({
        schedule: { steps: next.warmup.steps, activeDailyCap: next.warmup.activeDailyCap },
        timeZone: next.warmup.timezone,
        reservationTtlMs: next.ledger.reservationTtlMs,
        pacing: next.warmup.pacing,
      });
      dispatcher.setOptions({
        intervalMs: next.spool.dispatchIntervalMs,
        concurrency: next.spool.concurrency,
        maxAgeMs: next.spool.maxAgeHours * 3_600_000,
      });
      health.setBackoff(next.spool.retryBackoffMs);
      // A changed password must stop working now, not when its cache entry ages out.
      authCache.clear();
      pmtaConfig.scheduleApply();
      daily.start(next.warmup.progression.cron, next.warmup.timezone);
      log.info('config.reloaded', { tenants: registry.tenants().map((t) => t.slug) });
      if (restartNeeded.length) log.warn('config.restart_needed', { keys: restartNeeded, note: 'these take effect after a restart' });
    },
    db,
    registry,
    ledger,
    gate,
    spool,
    dispatcher,
    ingress,
    smtpAddress,
    apiAddress: api.address,
    admin,
    pmtaConfig,
    warmup,
    metrics,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      accepting = false;
      log.info('daemon.stopping', { sessions: ingress.sessions(), inFlight: ingress.inFlight(), dispatching: dispatcher.inFlightCount() });
      ingress.stopListening();
      // Messages in flight get the grace time to reach PowerMTA. After it, their
      // hand-offs are abandoned and they go to the spool: MailWizz still gets a 250.
      const grace = setTimeout(() => {
        log.warn('daemon.grace_over', { inFlight: ingress.inFlight(), dispatching: dispatcher.inFlightCount() });
        forwarder.abortInFlight();
      }, cfg.smtp.shutdownGraceMs);
      await Promise.all([ingress.idle(), dispatcher.stop()]);
      clearTimeout(grace);
      await ingress.close(1_000);
      await api.close();
      daily.stop();
      await pmtaConfig.close();
      await tailer?.stop();
      await feedbackSender.stop();
      clearInterval(sweeper);
      forwarder.close();
      const left = await ledger.inFlight().catch(() => []);
      if (left.length) log.warn('daemon.reservations_left', { count: left.length });
      shared?.stop();
      await opened.close();
      db.close();
      log.info('daemon.stopped');
    },
  };
}

function registerGauges(metrics: Metrics, registry: Registry, gate: Gate, spool: Spool): void {
  const perIp = async (pick: (s: { committed: number; reserved: number; remaining: number; cap: number }) => number) => {
    const out = [];
    for (const t of registry.tenants())
      for (const s of await gate.snapshot(t)) out.push({ labels: { tenant: t.slug, ip: s.ip, state: s.state }, value: pick(s) });
    return out;
  };
  metrics.gauge('pmta_agent_quota_daily_cap', "Today's cap per IP", () => perIp((s) => s.cap));
  metrics.gauge('pmta_agent_quota_used', 'Units committed today per IP', () => perIp((s) => s.committed));
  metrics.gauge('pmta_agent_quota_reserved', 'Units held by transactions in flight per IP', () => perIp((s) => s.reserved));
  metrics.gauge('pmta_agent_quota_remaining', 'Units left today per IP', () => perIp((s) => s.remaining));
  metrics.gauge('pmta_agent_spool_messages', 'Messages waiting in the deferred spool per tenant', () =>
    registry.tenants().map((t) => ({ labels: { tenant: t.slug }, value: spool.size(t.slug) })),
  );
}

function spoolLimitsByTenant(cfg: Config) {
  return new Map(cfg.tenants.map((t) => [t.slug, t.spool]));
}
