// Accounting: what PowerMTA accepted (counted by the SMTP side), what its
// accounting records say happened next (tailed from its files, or pushed to the
// webhook), one set of effects for both, and the IP health guard after each batch.
import { promises as fsp } from 'node:fs';
import type { AccountingEffects, BatchSummary, FeedbackSink } from '../accounting/effects.js';
import { HealthGuard } from '../accounting/health-guard.js';
import { accountingMetrics } from '../accounting/metrics.js';
import { createAccountingEffects, createAccountingTailer, type AccountingDeps } from '../accounting/options.js';
import { AcceptedCounter } from '../accounting/stats.js';
import type { Notifier } from '../alerts/notifier.js';
import { registerIpHealthGauges } from '../metrics/gauges.js';
import type { TenantRecord } from '../tenants/registry.js';
import { dayKey } from '../days.js';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface AccountingPart {
  /** PowerMTA took n recipients from this IP (daily stats: "accepted"). */
  accepted(tenant: TenantRecord, ip: string, n: number): void;
  effects: AccountingEffects;
  /** Runs the health guard over a committed batch. */
  afterBatch(summary: BatchSummary): void;
  status(): Record<string, unknown>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function accountingPart(
  ctx: PartContext,
  store: StorePart,
  deps: { notifier: Notifier; feedback: FeedbackSink; sent: NonNullable<AccountingDeps['sent']> },
): AccountingPart {
  const { clock, log } = ctx;
  const { db, registry } = store;
  const cfg = ctx.cfg();
  const healthGuard = new HealthGuard(db, registry, store.admin, deps.notifier, clock, ctx.cfg);
  const series = accountingMetrics(ctx.metrics, {
    db,
    tenantSlug: (id) => registry.tenant(id)?.slug ?? String(id),
    files: () => tailer?.position() ?? [],
    now: () => clock.now(),
  });
  const afterBatch = (summary: BatchSummary & { file?: string }) => {
    series.batch(summary);
    // One info line per batch, so an operator sees accounting being read without debug logs.
    const sum = (k: 'delivered' | 'bouncedHard' | 'bouncedSoft' | 'bouncedOther' | 'deferred' | 'complaints') => summary.ips.reduce((n, o) => n + o[k], 0);
    log.info('acct.batch', {
      ...(summary.file ? { file: summary.file } : {}),
      delivered: sum('delivered'),
      bounced: sum('bouncedHard') + sum('bouncedSoft') + sum('bouncedOther'),
      deferred: sum('deferred'),
      complaints: sum('complaints'),
      suppressed: summary.suppressed,
      unknown: summary.unknown,
      malformed: summary.malformed,
      ignored: summary.ignored,
    });
    try {
      healthGuard.check(summary);
    } catch (err) {
      log.error('health.check_failed', { error: err as Error });
    }
  };
  const effects = createAccountingEffects({
    db,
    registry,
    timeZone: cfg.warmup.timezone,
    feedback: deps.feedback,
    sent: deps.sent,
    suppression: store.suppression,
  });
  const tailer = createAccountingTailer(cfg.accounting, cfg.pmta.accountingDir, { db, effects, log, clock });
  tailer?.on('batch', afterBatch);
  registerIpHealthGauges(ctx.metrics, { cfg: ctx.cfg, clock, db, registry });
  // The accepted counts of a turn are summed and written with the turn's group
  // commit (the ledger's and the journal's writes): statistics, not quota, so a
  // failed write is logged, never retried into a double count.
  const acceptedCounter = new AcceptedCounter(db, (r, err) => log.error('stats.accepted_failed', { tenantId: r.tenantId, ip: r.ip, n: r.n, error: err }));
  return {
    accepted(t, ip, n) {
      acceptedCounter.add(t.id, ip, dayKey(clock.now(), ctx.cfg().warmup.timezone), n);
    },
    effects,
    afterBatch,
    status: () => ({ accounting: { mode: ctx.cfg().accounting.mode, dir: ctx.cfg().pmta.accountingDir, files: tailer?.position() ?? [] } }),
    async start() {
      if (!tailer) return;
      await fsp.mkdir(ctx.cfg().pmta.accountingDir, { recursive: true }).catch(() => undefined);
      await tailer.start();
    },
    async stop() {
      await tailer?.stop();
    },
  };
}
