// The quota: the ledger (SQLite, or Redis shared by several agents), the gate
// that reserves from it, the sweep of expired reservations, and the IP states
// shared through the same Redis.
import type { Config } from '../config/schema.js';
import { Gate, type GateOptions } from '../gate/gate.js';
import { GuardedLedger } from '../ledger/guarded.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { OpenedLedger } from '../ledger/open.js';
import type { RedisClient } from '../ledger/redis.js';
import { SqliteLedger } from '../ledger/sqlite.js';
import type { Metrics } from '../metrics/registry.js';
import { SharedIpStates } from '../tenants/shared-states.js';
import type { Registry } from '../tenants/registry.js';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface QuotaPart {
  ledger: QuotaLedger;
  gate: Gate;
  /** The Redis the agents share, when store.redisUrl is set. */
  redis: RedisClient | null;
  /** With Redis: whether it answers (for /healthz). */
  sharedStoreHealthy: (() => Promise<boolean>) | null;
  /** Starts the timers: the reservation sweep and, with Redis, the IP state sync. */
  start(): void;
  reload(next: Config): void;
  stop(): Promise<void>;
}

export async function quotaPart(ctx: PartContext, store: StorePart): Promise<QuotaPart> {
  const { clock, log } = ctx;
  const cfg = ctx.cfg();
  // ioredis and the Redis ledger (about 13 MB resident) are loaded only by an
  // agent that shares its quota through Redis.
  let opened: OpenedLedger = { ledger: new SqliteLedger(store.db), redis: null, close: async () => {} };
  let sharedStoreHealthy: QuotaPart['sharedStoreHealthy'] = null;
  if (cfg.store.redisUrl) {
    opened = await (await import('../ledger/open.js')).openLedger(cfg, store.db, log);
    const { redisHealthy } = await import('../ledger/redis.js');
    const redis = opened.redis!;
    sharedStoreHealthy = () => redisHealthy(redis, 500);
  }
  const ledger = new GuardedLedger(opened.ledger, log, { ttlMs: () => ctx.cfg().ledger.reservationTtlMs, now: () => clock.now() });
  const released = await ledger.sweep(clock.now()).catch(() => 0);
  if (released) log.info('ledger.swept', { released, at: 'start' });
  const gate = new Gate(store.registry, ledger, clock, gateOptions(cfg));
  registerQuotaGauges(ctx.metrics, store.registry, gate);
  const shared = opened.redis ? new SharedIpStates(opened.redis, store.admin, log) : null;
  let sweeper: NodeJS.Timeout | null = null;
  let reporter: NodeJS.Timeout | null = null;
  return {
    ledger,
    gate,
    redis: opened.redis,
    sharedStoreHealthy,
    start() {
      shared?.start(ctx.cfg().store.redis.stateSyncMs);
      sweeper = setInterval(() => {
        ledger.sweep(clock.now()).then(
          (n) => n && log.warn('ledger.swept', { released: n, at: 'timer' }),
          (err) => log.error('ledger.sweep_failed', { error: err as Error }),
        );
      }, ctx.cfg().ledger.sweepIntervalMs);
      sweeper.unref();
      if (opened.report) {
        // Every agent's own counts, every few seconds: if Redis comes back empty, the day's counters are rebuilt from them.
        const report = opened.report;
        reporter = setInterval(() => {
          const ips = store.registry.tenants().flatMap((t) => t.ips.map((i) => i.address));
          report(gate.today(), ips).catch(() => undefined); // Redis down: the gate already fails closed
        }, ctx.cfg().store.redis.stateSyncMs);
        reporter.unref();
      }
    },
    reload(next) {
      gate.setOptions(gateOptions(next));
    },
    async stop() {
      if (sweeper) clearInterval(sweeper);
      if (reporter) clearInterval(reporter);
      const left = await ledger.inFlight().catch(() => []);
      if (left.length) log.warn('daemon.reservations_left', { count: left.length });
      shared?.stop();
      await opened.close();
    },
  };
}

function gateOptions(cfg: Config): GateOptions {
  return {
    schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
    timeZone: cfg.warmup.timezone,
    reservationTtlMs: cfg.ledger.reservationTtlMs,
    pacing: cfg.warmup.pacing,
  };
}

function registerQuotaGauges(metrics: Metrics, registry: Registry, gate: Gate): void {
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
}
