import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { QuotaLedger } from './ledger.js';
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, RedisLedger, waitForRedis, type RedisClient } from './redis.js';
import { SqliteLedger } from './sqlite.js';
import { hostname } from 'node:os';
import { sqlitePathOf } from '../config/load.js';
import type { DayKey, IpAddress } from '../types.js';
import { sharedAgentId } from '../warmup/shared.js';

export interface OpenedLedger {
  ledger: QuotaLedger;
  redis: RedisClient | null;
  /** With Redis: report this agent's own counts of the day's IPs, so counters Redis lost are rebuilt. */
  report?(day: DayKey, ips: readonly IpAddress[]): Promise<void>;
  close(): Promise<void>;
}

/** SQLite by default; Redis when store.redisUrl is set, so several agents share one quota. */
export async function openLedger(cfg: Config, db: Db, log: Logger): Promise<OpenedLedger> {
  const url = cfg.store.redisUrl;
  if (!url) return { ledger: new SqliteLedger(db), redis: null, close: async () => {} };
  const r = cfg.store.redis;
  const redis = createRedisClient(url, {
    ...(r.tls !== null ? { tls: r.tls } : {}),
    ...(r.sentinels.length ? { sentinels: { nodes: r.sentinels } } : {}),
    ...(r.cluster ? { cluster: true } : {}),
  });
  // ioredis reports every failed reconnect; one line per outage is enough.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.error('redis.unreachable', { url: redactUrl(url), error: err });
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis.back', { url: redactUrl(url) });
    down = false;
  });
  try {
    await waitForRedis(redis, 3000);
    const persisted = await persistenceOf(redis);
    if (persisted === false) {
      log.error('redis.no_persistence', {
        url: redactUrl(url),
        note: 'Redis keeps neither an AOF nor RDB snapshots: a restart empties the quota counters and the shared warmup. Run it with appendonly yes.',
      });
    }
  } catch (err) {
    // Start anyway: the gate fails closed (everything is spooled) until Redis answers.
    log.error('redis.unreachable_at_start', { url: redactUrl(url), error: err as Error });
  }
  // What this agent recorded as sent (the SMTP side's accepted count per IP and day, in
  // its own SQLite): the floor of the shared counters if Redis loses them.
  const accepted = db.prepare('SELECT accepted FROM ip_stats_daily WHERE ip = ? AND day = ?');
  const ledger = new RedisLedger(redis, {
    historyDays: r.historyDays,
    rebuildGraceMs: 2 * r.stateSyncMs + 1000,
    agent: {
      id: sharedAgentId(hostname(), sqlitePathOf(cfg)),
      // Hour buckets (pacing) are not rebuilt: the daily cap is.
      count: (ip, day) => (ip.includes('#') ? -1 : ((accepted.get(ip, day) as { accepted: number } | undefined)?.accepted ?? 0)),
    },
  });
  return {
    ledger,
    redis,
    report: (day, ips) => ledger.report(day, ips),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(unparseable)';
  }
}

/**
 * Whether Redis writes what it holds to disk (AOF, or RDB save points); null when
 * it will not say (CONFIG disabled, as on some managed services).
 */
export async function persistenceOf(redis: RedisClient): Promise<boolean | null> {
  const node = redis.isCluster ? (redis as Cluster).nodes('master')[0] : (redis as Redis);
  if (!node) return null;
  try {
    const aof = (await node.config('GET', 'appendonly')) as string[];
    const save = (await node.config('GET', 'save')) as string[];
    return aof[1] === 'yes' || (save[1] ?? '').trim() !== '';
  } catch {
    try {
      const info = await node.info('persistence');
      return /aof_enabled:1/.test(info) ? true : null;
    } catch {
      return null;
    }
  }
}
