// Accounting: what PowerMTA accepted (counted by the SMTP side), what its
// accounting records say happened next (tailed from its files, or pushed to the
// webhook), one set of effects for both, and the IP health guard after each batch.
import { promises as fsp } from 'node:fs';
import type { AccountingEffects, BatchSummary, FeedbackSink } from '../accounting/effects.js';
import { HealthGuard } from '../accounting/health-guard.js';
import { accountingMetrics } from '../accounting/metrics.js';
import { createAccountingEffects, createAccountingTailer, type AccountingDeps } from '../accounting/options.js';
import { recordAccepted } from '../accounting/stats.js';
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
  // The counts of one turn of the event loop are summed and written in one
  // transaction at its end: one per message was a tenth of the SQLite time.
  // They are statistics, not quota (the ledger holds that): a crash loses at most a turn's.
  const pending = new Map<string, { tenant: TenantRecord; ip: string; day: string; n: number }>();
  const writeAccepted = db.transaction((rows: Array<{ tenant: TenantRecord; ip: string; day: string; n: number }>) => {
    for (const r of rows) recordAccepted(db, r.ip, r.tenant.id, r.day, r.n);
  });
  const flushAccepted = () => {
    if (pending.size === 0) return;
    const rows = [...pending.values()];
    pending.clear();
    try {
      writeAccepted(rows);
    } catch (err) {
      for (const r of rows) log.error('stats.accepted_failed', { tenant: r.tenant.slug, ip: r.ip, n: r.n, error: err as Error });
    }
  };
  return {
    accepted(t, ip, n) {
      if (n === 0) return;
      const day = dayKey(clock.now(), ctx.cfg().warmup.timezone);
      const key = `${t.id} ${ip} ${day}`;
      const row = pending.get(key);
      if (row) row.n += n;
      else {
        if (pending.size === 0) setImmediate(flushAccepted);
        pending.set(key, { tenant: t, ip, day, n });
      }
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
      flushAccepted();
      await tailer?.stop();
    },
  };
}
