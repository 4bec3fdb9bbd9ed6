// Warmup: the daily rollover that moves each warming IP along its schedule.
import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Gate } from '../gate/gate.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { PmtaConfigService } from '../pmta/service.js';
import { WarmupRunner } from '../warmup/runner.js';
import { DailyScheduler } from '../warmup/scheduler.js';
import { SharedWarmup, sharedAgentId } from '../warmup/shared.js';
import { sqlitePathOf } from '../config/load.js';
import type { RedisClient } from '../ledger/redis.js';
import { hostname } from 'node:os';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface WarmupPart {
  runner: WarmupRunner;
  start(): void;
  reload(next: Config): void;
  stop(): void;
}

export function warmupPart(
  ctx: PartContext,
  store: StorePart,
  deps: { notifier: Notifier; ledger: QuotaLedger; gate: Gate; redis: RedisClient | null; pmtaConfig: PmtaConfigService },
): WarmupPart {
  const { clock, log } = ctx;
  const runner = new WarmupRunner(store.db, store.admin, deps.notifier, clock, ctx.cfg, log);
  // The day turns at the first reservation (or read) of a new day, judged before anything of it is granted.
  deps.gate.setDayTurn((day) => runner.turnDay(day));
  const cfg = ctx.cfg();
  // With Redis, every agent judges from everyone's counts and the first judgement of a day stands.
  if (deps.redis) runner.useShared(new SharedWarmup(deps.redis, sharedAgentId(hostname(), sqlitePathOf(cfg)), { historyDays: cfg.store.redis.historyDays }));
  const daily = new DailyScheduler(async () => {
    const changes = await runner.run();
    await deps.ledger.sweep(clock.now()).catch(() => 0);
    // Caps (and so PowerMTA's warmup throttles) follow the day.
    deps.pmtaConfig.scheduleApply();
    if (changes.length) log.info('daily.rollover', { changes: changes.length });
  }, log);
  return {
    runner,
    start() {
      daily.start(ctx.cfg().warmup.progression.cron, ctx.cfg().warmup.timezone);
      if (deps.redis) runner.startSharedSync(ctx.cfg().store.redis.stateSyncMs);
    },
    reload(next) {
      daily.start(next.warmup.progression.cron, next.warmup.timezone);
    },
    stop() {
      daily.stop();
      runner.stopSharedSync();
    },
  };
}
