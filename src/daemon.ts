// Assembly only: each part is built from the config and the parts it uses,
// then they start in order and stop in the reverse of the way mail flows in.
import { Notifier } from './alerts/notifier.js';
import { planReload } from './config/restart.js';
import { normaliseMessageId } from './forward/journal.js';
import type { Config } from './config/schema.js';
import type { Dispatcher } from './forward/dispatcher.js';
import type { SentLookup } from './forward/journal.js';
import type { Spool } from './forward/spool.js';
import type { Gate } from './gate/gate.js';
import type { Ingress } from './ingress/smtp.js';
import type { QuotaLedger } from './ledger/ledger.js';
import { createLogger, type Logger } from './log/logger.js';
import { Metrics } from './metrics/registry.js';
import { accountingPart } from './parts/accounting.js';
import { apiPart } from './parts/api.js';
import type { PartContext } from './parts/context.js';
import { feedbackPart } from './parts/feedback.js';
import { forwardingPart } from './parts/forwarding.js';
import { ingressPart } from './parts/ingress.js';
import { pmtaConfigPart } from './parts/pmta-config.js';
import { quotaPart } from './parts/quota.js';
import { storePart } from './parts/store.js';
import { warmupPart } from './parts/warmup.js';
import type { PmtaConfigService } from './pmta/service.js';
import type { Db } from './store/db.js';
import { lockStateDir } from './store/instance-lock.js';
import type { TenantAdmin } from './tenants/admin.js';
import type { Registry } from './tenants/registry.js';
import { systemClock, type Clock } from './types.js';
import type { WarmupRunner } from './warmup/runner.js';
import { disabledStatus, logSyncReport } from './tenants/sync.js';

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
  /** The sent-message index: normalised Message-ID -> tenant, IP, VMTA, job, recipients, day. */
  readonly sentIndex: SentLookup;
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

/** Something a failed start must close again. */
interface Opened {
  part: string;
  close(): unknown;
}

/**
 * All or nothing: when any part fails to start, what was already opened is
 * closed again (last first) and the error is thrown, so the process can exit
 * instead of living on without a listener (with Redis, its client alone kept
 * such a process alive). /healthz answers 200 only once everything is up.
 */
export async function startDaemon(initial: Config, opts: DaemonOptions = {}): Promise<Daemon> {
  const log = opts.log ?? createLogger({ level: initial.log.level });
  const opened: Opened[] = [];
  try {
    return await assemble(initial, opts.clock ?? systemClock, log, opened);
  } catch (err) {
    for (const { part, close } of opened.reverse()) {
      try {
        await Promise.race([close(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      } catch (closeErr) {
        log.warn('daemon.start_cleanup_failed', { part, error: closeErr as Error });
      }
    }
    throw err;
  }
}

async function assemble(initial: Config, clock: Clock, log: Logger, opened: Opened[]): Promise<Daemon> {
  // Replaced on SIGHUP; every part reads the current one through ctx.cfg.
  let cfg = initial;
  // Before anything touches SQLite or the spool: one agent per state directory.
  const lock = lockStateDir(cfg.store.stateDir);
  opened.push({ part: 'lock', close: () => lock.release() });
  const ctx: PartContext = { cfg: () => cfg, clock, log, metrics: new Metrics() };
  const notifier = new Notifier(() => cfg.alerts, log);

  const store = await storePart(ctx);
  opened.push({ part: 'store', close: () => store.stop() });
  const quota = await quotaPart(ctx, store);
  opened.push({ part: 'quota', close: () => quota.stop() });
  const feedback = feedbackPart(ctx, store);
  opened.push({ part: 'feedback', close: () => feedback.stop() });
  // The sent-message index is the forwarding part's journal, made after accounting (which forwarding reports to).
  const sent = {
    lookup: (id: string) => forwarding.journal.lookup(id),
    normalise: normaliseMessageId,
    reconcile: (id: string, tenantId: number, rcpt: string) => void forwarding.journal.reconcile(id, tenantId, rcpt),
  };
  const accounting = accountingPart(ctx, store, { notifier, feedback: feedback.sink, sent });
  opened.push({ part: 'accounting', close: () => accounting.stop() });
  const forwarding = await forwardingPart(ctx, store, quota, { accepted: accounting.accepted, refused: feedback.refused });
  opened.push({ part: 'forwarding', close: () => forwarding.stop() });
  const spooled = (tenantId: number) => forwarding.spool.size(tenantId);
  logSyncReport(store.initialSync, log, spooled);
  const smtp = ingressPart(ctx, store, quota, forwarding);
  const { ingress } = smtp;
  opened.push({ part: 'ingress', close: () => ingress.close(1) });
  const pmtaConfig = pmtaConfigPart(ctx, store, { notifier });
  opened.push({ part: 'pmta-config', close: () => pmtaConfig.stop() });
  const warmup = warmupPart(ctx, store, { notifier, ledger: quota.ledger, gate: quota.gate, redis: quota.redis, pmtaConfig: pmtaConfig.service });
  opened.push({ part: 'warmup', close: () => warmup.stop() });

  quota.start();
  // The SMTP listener first: nothing answers on the API, /healthz included, before it is up.
  const smtpAddress = await ingress.listen();
  const api = await apiPart(ctx, {
    store,
    quota,
    forwarding,
    ingress,
    submit: smtp.submit,
    pmtaConfig: pmtaConfig.service,
    effects: accounting.effects,
    afterBatch: accounting.afterBatch,
    statusParts: [pmtaConfig.status, feedback.status, accounting.status, () => disabledStatus(store.db, spooled), () => ({ alerts: { recent: notifier.recent() } })],
  });
  opened.push({ part: 'api', close: () => api.stop() });
  forwarding.start();
  opened.push({ part: 'dispatcher', close: () => forwarding.drain() });
  await accounting.start();
  feedback.start();
  pmtaConfig.start();
  warmup.start();
  api.ready();
  log.info('daemon.started', {
    smtp: `${smtpAddress.host}:${smtpAddress.port}`,
    api: `${api.address.host}:${api.address.port}`,
    pmta: `${cfg.pmta.host}:${cfg.pmta.port}`,
    tenants: store.registry.tenants().map((t) => t.slug),
    spooled: forwarding.spool.size(),
  });

  let stopped = false;
  return {
    get cfg() {
      return cfg;
    },
    async reload(file: Config) {
      // A key is applied whole now, or kept at its running value until the restart.
      const { config: next, applied, restartNeeded } = planReload(cfg, file);
      logSyncReport(await store.syncTenants(next), log, spooled);
      cfg = next;
      for (const part of [store, quota, forwarding, smtp, pmtaConfig, warmup]) part.reload(next);
      log.info('config.reloaded', { applied, tenants: store.registry.tenants().map((t) => t.slug) });
      if (restartNeeded.length) log.warn('config.restart_needed', { keys: restartNeeded, note: 'kept at their running values until a restart' });
    },
    db: store.db,
    registry: store.registry,
    ledger: quota.ledger,
    gate: quota.gate,
    spool: forwarding.spool,
    dispatcher: forwarding.dispatcher,
    sentIndex: forwarding.journal.lookup,
    ingress,
    smtpAddress,
    apiAddress: api.address,
    admin: store.admin,
    pmtaConfig: pmtaConfig.service,
    warmup: warmup.runner,
    metrics: ctx.metrics,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      api.refuseWrites();
      const dispatching = () => forwarding.dispatcher.inFlightCount();
      log.info('daemon.stopping', { sessions: ingress.sessions(), inFlight: ingress.inFlight(), dispatching: dispatching() });
      ingress.stopListening();
      // Messages in flight get the grace time to reach PowerMTA. After it, their
      // hand-offs are abandoned and they go to the spool: MailWizz still gets a 250.
      const grace = setTimeout(() => {
        log.warn('daemon.grace_over', { inFlight: ingress.inFlight(), dispatching: dispatching() });
        forwarding.abortInFlight();
      }, cfg.smtp.shutdownGraceMs);
      await Promise.all([ingress.idle(), forwarding.drain()]);
      clearTimeout(grace);
      await ingress.close(1_000);
      await api.stop();
      warmup.stop();
      await pmtaConfig.stop();
      await accounting.stop();
      await feedback.stop();
      await forwarding.stop();
      await quota.stop();
      store.stop();
      lock.release();
      log.info('daemon.stopped');
      await log.flush();
    },
  };
}
