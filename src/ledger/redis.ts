// The quota ledger on Redis, shared by several agent processes (or hosts).
//
// Same contract and semantics as SqliteLedger (sqlite.ts): reserve is all or
// none against the cap, commit counts what was used and gives the rest back,
// release gives everything back, both are idempotent (also after a sweep: a late
// commit still counts what PowerMTA took, a second commit never counts twice),
// sweep gives back the reservations past their expiry.
//
// Keys (P = prefix, default 'pmta-agent:'). Everything about one IP on one day
// carries the hash tag {ip:day}, so a Cluster keeps it in one slot and every
// script touches a single slot:
//
//   P{ip:day}:usage       hash committed, reserved        EXPIRE historyDays (refreshed on each write)
//                          + b:<agent> what that agent had recorded as sent (its own SQLite) when the hash was
//                            (re)created, rebuild_until (ms) while the counters are rebuilt after Redis lost them
//   P{ip:day}:res:<id>    hash n, state held|expired      PEXPIRE ttl + 1 day while held, 1 day once swept
//   P{ip:day}:exp         zset "<id>|<n>" -> expiresAt    the held reservations of that IP and day
//   P sweep:tags          set of "ip:day"                 which {ip:day} have (or recently had) held reservations
//
// Why per-{ip:day} expiry zsets plus a small index set, not one global zset: a
// script may only touch keys of one slot in a Cluster, so the zset that the
// reserve script writes atomically must live in the IP/day slot. The index set
// is written by the client before the first reserve of an IP/day (so a held
// reservation is always findable), is cached per process for a minute, and a
// tag is dropped only once its zset is empty and its day is three days past (no
// reservation is ever made for such a day). The sweep runs one script per tag.
//
// The zset member carries n, so a reservation whose key vanished (its Redis TTL
// ran out because no sweep ran for a whole day) still gets its units back.
//
// Failure: the client is expected to fail fast (createRedisClient: no offline
// queue, no retries of a command, connect and command timeouts), so every method
// rejects promptly while Redis is unreachable and the gate fails closed.
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { DayKey, IpAddress } from '../types.js';
import { reservationIds } from './ids.js';
import type { IpUsage, QuotaLedger, Reservation } from './ledger.js';

/** How long a swept reservation is remembered for a late commit (as in sqlite.ts). */
const EXPIRED_KEPT_MS = 24 * 3600 * 1000;
/** Re-add an IP/day to the sweep index at least this often (it survives a flush or failover). */
const INDEX_REFRESH_MS = 60_000;
/** A tag whose zset is empty is dropped from the index this long after its day began (UTC). */
const INDEX_DROP_AFTER_MS = 3 * 24 * 3600 * 1000;
/** Reservations one sweep script handles at most, so it never blocks Redis for long. */
const SWEEP_BATCH = 500;

// Counters that vanish (Redis restarted empty, a flush, a failover to an empty
// replica) are rebuilt from what each agent recorded as sent. Each agent reports
// its own count of the IP's day (at each reserve and every few seconds); the first
// report into a day's hash is kept as that agent's base (b:<agent>), and the day
// counts committed + reserved + the bases. On a normal day every base is 0 (the
// hash is made by the day's first reserve); after a loss, a base is what the agent
// had sent before, and commits made since count in committed, so nothing counts
// twice. An agent that sent today and has no base in the hash knows Redis lost it:
// nothing is granted for the grace time, so every agent reports its base first.
// Units whose fate is unknown count as sent (the agents record them as sent).
const REPORT_LUA_BODY = `
local function nowMs() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local function report(usage, agent, own, graceMs)
  if agent == '' or own < 0 then return end
  local k = 'b:' .. agent
  if redis.call('HEXISTS', usage, k) == 1 then return end
  if own > 0 then redis.call('HSET', usage, 'rebuild_until', nowMs() + graceMs) end
  redis.call('HSET', usage, k, own)
end
-- committed + reserved + every agent's base; -1 while rebuilding
local function used(usage)
  local all = redis.call('HGETALL', usage)
  local f = {}
  for i = 1, #all, 2 do f[all[i]] = all[i + 1] end
  local rb = tonumber(f['rebuild_until'])
  if rb and nowMs() < rb then return -1 end
  local u = (tonumber(f['committed']) or 0) + (tonumber(f['reserved']) or 0)
  for k, v in pairs(f) do
    if string.sub(k, 1, 2) == 'b:' then u = u + tonumber(v) end
  end
  return u
end
`;

// KEYS: usage. ARGV: agent, own count, graceMs, usageTtlS.
const REPORT_LUA = `${REPORT_LUA_BODY}
report(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
`;

// KEYS: usage, res, exp. ARGV: n, cap, member, expiresAt, resTtlMs, usageTtlS, agent, own count, graceMs.
// Returns 1: granted, 0: over the cap, -1: counters being rebuilt.
const RESERVE_LUA = `${REPORT_LUA_BODY}
report(KEYS[1], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]))
local u = used(KEYS[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
if u < 0 then return -1 end
if u + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('HSET', KEYS[2], 'n', ARGV[1], 'state', 'held')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return 1
`;

// Commit (used >= 0) or release (used = -1). KEYS: usage, res, exp. ARGV: used, id, usageTtlS.
// Returns 0: settled before (no-op), 1: settled a held reservation, 2: late commit after a sweep.
const SETTLE_LUA = `
local v = redis.call('HMGET', KEYS[2], 'n', 'state')
if not v[1] then return 0 end
local n = tonumber(v[1])
local used = tonumber(ARGV[1])
if used > n then used = n end
if used < 0 then used = 0 end
redis.call('DEL', KEYS[2])
if v[2] == 'held' then
  redis.call('ZREM', KEYS[3], ARGV[2] .. '|' .. v[1])
  if redis.call('HINCRBY', KEYS[1], 'reserved', -n) < 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
  if used > 0 then redis.call('HINCRBY', KEYS[1], 'committed', used) end
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
if used > 0 then
  redis.call('HINCRBY', KEYS[1], 'committed', used)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 2
`;

// KEYS: exp. ARGV: expiresAt, resTtlMs, resKeyPrefix, then id, n pairs.
// Returns the ids no longer held (swept, settled or gone).
const RENEW_LUA = `
local lost = {}
for i = 4, #ARGV, 2 do
  local rk = ARGV[3] .. ARGV[i]
  if redis.call('HGET', rk, 'state') == 'held' then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i] .. '|' .. ARGV[i + 1])
    redis.call('PEXPIRE', rk, ARGV[2])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
`;

// KEYS: usage, exp. ARGV: now, expiredKeptMs, usageTtlS, resKeyPrefix, batch.
// Returns {released, handled, left}: left = reservations still in the zset.
const SWEEP_LUA = `
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))
local released = 0
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[2], m)
  local bar = string.find(m, '|', 1, true)
  local rk = ARGV[4] .. string.sub(m, 1, bar - 1)
  local n = tonumber(string.sub(m, bar + 1))
  local st = redis.call('HGET', rk, 'state')
  if st ~= 'expired' then
    if redis.call('HINCRBY', KEYS[1], 'reserved', -n) < 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
    released = released + 1
    if st then
      redis.call('HSET', rk, 'state', 'expired')
      redis.call('PEXPIRE', rk, ARGV[2])
    end
  end
end
if released > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {released, #due, redis.call('ZCARD', KEYS[2])}
`;

export type RedisClient = Redis | Cluster;

interface Scripted {
  pmtaLedgerReserve(usage: string, res: string, exp: string, ...argv: Array<string | number>): Promise<number>;
  pmtaLedgerSettle(usage: string, res: string, exp: string, ...argv: Array<string | number>): Promise<number>;
  pmtaLedgerSweep(usage: string, exp: string, ...argv: Array<string | number>): Promise<[number, number, number]>;
  pmtaLedgerRenew(exp: string, ...argv: Array<string | number>): Promise<string[]>;
  pmtaLedgerReport(usage: string, ...argv: Array<string | number>): Promise<number>;
}

export interface RedisLedgerOptions {
  /** Prepended to every key; default 'pmta-agent:'. */
  prefix?: string;
  /** A day's usage keys expire this many days after their last write; default 400. */
  historyDays?: number;
  /**
   * This agent, for rebuilding counters Redis lost: its name and what it recorded
   * as sent on an IP's day (-1 for keys it does not count, such as hour buckets).
   */
  agent?: { id: string; count(ip: IpAddress, day: DayKey): number };
  /** After Redis lost a day's counters, nothing is granted this long, so every agent reports its count; default 3000. */
  rebuildGraceMs?: number;
}

/** Thrown by reserve while a day's counters are rebuilt: the gate fails closed (mail is spooled). */
export class CountersRebuildingError extends Error {
  constructor(ip: string, day: string) {
    super(`the quota counters of ${ip} on ${day} are being rebuilt from each agent's records after Redis lost them`);
  }
}

/** What an IP/day hash says was used: committed, plus the base each agent brought when the day's counters were rebuilt. */
export function usageOf(fields: Record<string, string>): IpUsage {
  let committed = Number(fields.committed ?? 0);
  for (const [k, v] of Object.entries(fields)) if (k.startsWith('b:')) committed += Number(v);
  return { committed, reserved: Number(fields.reserved ?? 0) };
}

export class RedisLedger implements QuotaLedger {
  private readonly prefix: string;
  private readonly usageTtlS: number;
  private readonly indexKey: string;
  private readonly scripts: Scripted;
  /** IP/day tags this process put in the sweep index, and when (Date.now()). */
  private readonly indexed = new Map<string, number>();
  private readonly agent: RedisLedgerOptions['agent'] | null;
  private readonly rebuildGraceMs: number;
  private readonly newId = reservationIds();

  constructor(
    private readonly redis: RedisClient,
    opts: RedisLedgerOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'pmta-agent:';
    const historyDays = opts.historyDays ?? 400;
    if (!(historyDays > 0)) throw new RangeError('historyDays must be > 0');
    this.usageTtlS = Math.ceil(historyDays * 86_400);
    this.indexKey = `${this.prefix}sweep:tags`;
    redis.defineCommand('pmtaLedgerReserve', { numberOfKeys: 3, lua: RESERVE_LUA });
    redis.defineCommand('pmtaLedgerSettle', { numberOfKeys: 3, lua: SETTLE_LUA });
    redis.defineCommand('pmtaLedgerSweep', { numberOfKeys: 2, lua: SWEEP_LUA });
    redis.defineCommand('pmtaLedgerRenew', { numberOfKeys: 1, lua: RENEW_LUA });
    redis.defineCommand('pmtaLedgerReport', { numberOfKeys: 1, lua: REPORT_LUA });
    this.agent = opts.agent ?? null;
    this.rebuildGraceMs = opts.rebuildGraceMs ?? 3000;
    this.scripts = redis as unknown as Scripted;
    // After a reconnect (restart, failover) the index may have lost entries: write them again.
    redis.on('ready', () => this.indexed.clear());
  }

  async reserve(ip: IpAddress, day: DayKey, n: number, cap: number, now: Date, ttlMs: number): Promise<Reservation | null> {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError('reserve needs an integer n > 0');
    if (Number.isNaN(cap)) throw new RangeError('reserve needs a cap');
    if (!DAY_RE.test(day)) throw new RangeError(`reserve needs a YYYY-MM-DD day, not "${day}"`);
    const tag = tagOf(ip, day);
    await this.index(tag);
    const id = this.newId();
    const expiresAt = now.getTime() + ttlMs;
    const granted = await this.scripts.pmtaLedgerReserve(
      this.usageKey(tag),
      this.resKey(tag, id),
      this.expKey(tag),
      n,
      Number.isFinite(cap) ? Math.floor(cap) : cap > 0 ? Number.MAX_SAFE_INTEGER : -1,
      `${id}|${n}`,
      expiresAt,
      Math.max(1, Math.ceil(ttlMs)) + EXPIRED_KEPT_MS,
      this.usageTtlS,
      this.agent?.id ?? '',
      this.agent ? this.agent.count(ip, day) : -1,
      this.rebuildGraceMs,
    );
    if (granted === -1) throw new CountersRebuildingError(ip, day);
    return granted === 1 ? { id, ip, day, n } : null;
  }

  /** This agent's counts of a day, so counters Redis lost come back even from an agent that sends nothing now. */
  async report(day: DayKey, ips: readonly IpAddress[]): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    await Promise.all(
      ips.map((ip) => this.scripts.pmtaLedgerReport(this.usageKey(tagOf(ip, day)), agent.id, agent.count(ip, day), this.rebuildGraceMs, this.usageTtlS)),
    );
  }

  async commit(r: Reservation, used = r.n): Promise<void> {
    if (!Number.isInteger(used) || used < 0) throw new RangeError('commit needs an integer used >= 0');
    await this.settle(r, used);
  }

  async release(r: Reservation): Promise<void> {
    await this.settle(r, -1);
  }

  async usage(day: DayKey, ips: readonly IpAddress[]): Promise<Map<IpAddress, IpUsage>> {
    const rows = await this.batch(ips.map((ip) => ['hgetall', this.usageKey(tagOf(ip, day))]));
    const out = new Map<IpAddress, IpUsage>();
    ips.forEach((ip, i) => out.set(ip, usageOf(hashOf(rows[i]))));
    return out;
  }

  async renew(rs: readonly Reservation[], now: Date, ttlMs: number): Promise<string[]> {
    const byTag = new Map<string, Reservation[]>();
    for (const r of rs) {
      const tag = tagOf(r.ip, r.day);
      byTag.set(tag, [...(byTag.get(tag) ?? []), r]);
    }
    const expiresAt = now.getTime() + ttlMs;
    const resTtlMs = Math.max(1, Math.ceil(ttlMs)) + EXPIRED_KEPT_MS;
    const lost = await Promise.all(
      [...byTag].map(([tag, list]) =>
        this.scripts.pmtaLedgerRenew(this.expKey(tag), expiresAt, resTtlMs, this.resKey(tag, ''), ...list.flatMap((r) => [r.id, r.n])),
      ),
    );
    return lost.flat();
  }

  async sweep(now: Date): Promise<number> {
    const tags = await this.redis.smembers(this.indexKey);
    const counts = await Promise.all(tags.map((tag) => this.sweepTag(tag, now)));
    const drop = tags.filter((tag, i) => counts[i]!.left === 0 && now.getTime() - Date.parse(`${dayOf(tag)}T00:00:00Z`) >= INDEX_DROP_AFTER_MS);
    if (drop.length) {
      await this.redis.srem(this.indexKey, ...drop);
      for (const tag of drop) this.indexed.delete(tag);
    }
    return counts.reduce((sum, c) => sum + c.released, 0);
  }

  async inFlight(): Promise<Array<Reservation & { expiresAt: Date }>> {
    const tags = await this.redis.smembers(this.indexKey);
    const lists = (await this.batch(tags.map((tag) => ['zrange', this.expKey(tag), '0', '-1', 'WITHSCORES']))) as string[][];
    const out: Array<Reservation & { expiresAt: Date }> = [];
    tags.forEach((tag, i) => {
      const list = lists[i]!;
      for (let j = 0; j + 1 < list.length; j += 2) {
        const member = list[j]!;
        const bar = member.lastIndexOf('|');
        out.push({
          id: member.slice(0, bar),
          ip: ipOf(tag) as IpAddress,
          day: dayOf(tag) as DayKey,
          n: Number(member.slice(bar + 1)),
          expiresAt: new Date(Number(list[j + 1])),
        });
      }
    });
    return out.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
  }

  private async settle(r: Reservation, used: number): Promise<void> {
    const tag = tagOf(r.ip, r.day);
    await this.scripts.pmtaLedgerSettle(this.usageKey(tag), this.resKey(tag, r.id), this.expKey(tag), used, r.id, this.usageTtlS);
  }

  private async sweepTag(tag: string, now: Date): Promise<{ released: number; left: number }> {
    let released = 0;
    for (;;) {
      const [rel, handled, left] = await this.scripts.pmtaLedgerSweep(
        this.usageKey(tag),
        this.expKey(tag),
        now.getTime(),
        EXPIRED_KEPT_MS,
        this.usageTtlS,
        this.resKey(tag, ''),
        SWEEP_BATCH,
      );
      released += rel;
      if (handled < SWEEP_BATCH) return { released, left };
    }
  }

  /** Puts the IP/day in the sweep index before its first reservation (then once a minute). */
  private async index(tag: string): Promise<void> {
    const at = this.indexed.get(tag);
    const t = Date.now();
    if (at !== undefined && t - at < INDEX_REFRESH_MS) return;
    await this.redis.sadd(this.indexKey, tag);
    if (this.indexed.size >= 10_000) this.indexed.clear();
    this.indexed.set(tag, t);
  }

  /** Read-only commands in one round trip: a pipeline on one server; in parallel on a Cluster (keys span slots). */
  private async batch(cmds: string[][]): Promise<unknown[]> {
    if (cmds.length === 0) return [];
    if (this.redis.isCluster) return Promise.all(cmds.map(([name, ...args]) => this.redis.call(name!, ...args)));
    const results = await this.redis.pipeline(cmds).exec();
    if (!results) throw new Error('redis pipeline was aborted');
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  private usageKey(tag: string): string {
    return `${this.prefix}{${tag}}:usage`;
  }
  private resKey(tag: string, id: string): string {
    return `${this.prefix}{${tag}}:res:${id}`;
  }
  private expKey(tag: string): string {
    return `${this.prefix}{${tag}}:exp`;
  }
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** HGETALL's reply: an object from ioredis's command, a flat list from a raw call or pipeline. */
function hashOf(reply: unknown): Record<string, string> {
  if (!Array.isArray(reply)) return (reply ?? {}) as Record<string, string>;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** "ip:day" (an IPv6 address has colons too: the day is always the last 10 characters). */
function tagOf(ip: string, day: string): string {
  return `${ip}:${day}`;
}
function dayOf(tag: string): string {
  return tag.slice(-10);
}
function ipOf(tag: string): string {
  return tag.slice(0, -11);
}

// ---------------------------------------------------------------------------
// The client

export interface RedisClientOptions {
  /** TLS to Redis: true (system CAs) or Node TLS options (ca, cert, key, servername...). A rediss:// URL turns it on as well. */
  tls?: boolean | ConnectionOptions;
  /**
   * Sentinel: the sentinels to ask and the master group name. The URL then gives
   * only the master's username, password and db; its host is the group name when
   * `name` is omitted (redis://:secret@mymaster/0).
   */
  sentinels?: {
    nodes: ReadonlyArray<{ host: string; port: number }>;
    name?: string;
    username?: string;
    password?: string;
    /** TLS to the sentinels too (defaults to the TLS setting of the master). */
    tls?: boolean;
  };
  /** Cluster: the URL's host:port is a seed node, `nodes` are more seeds; username, password and TLS apply to every node. */
  cluster?: boolean | { nodes?: ReadonlyArray<{ host: string; port: number }>; options?: Omit<ClusterOptions, 'redisOptions'> };
  /** Default 1000 ms. */
  connectTimeoutMs?: number;
  /** A command without a reply by then rejects (a hung server, a partition); default 1000 ms. */
  commandTimeoutMs?: number;
  /** More ioredis options, applied last (for a Cluster: to each node's connection). */
  redisOptions?: RedisOptions;
}

/**
 * An ioredis client that fails fast: while Redis is unreachable every command
 * rejects at once (no offline queue) or after the command timeout (no reply),
 * nothing is retried, and the client keeps reconnecting in the background
 * (at most a second apart) so it works again once Redis is back.
 *
 * Commands sent before the first connection is ready reject too: await
 * waitForRedis() at start-up. Attach an 'error' listener (ioredis reports each
 * failed reconnect there).
 */
export function createRedisClient(url: string, opts: RedisClientOptions = {}): RedisClient {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis URL must start with redis:// or rediss://, not ${u.protocol}`);
  const tls: ConnectionOptions | undefined =
    opts.tls === true || (opts.tls === undefined && u.protocol === 'rediss:') ? {} : opts.tls === false ? undefined : opts.tls;
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const dbPath = u.pathname.replace(/^\//, '');
  const db = dbPath ? Number(dbPath) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new Error(`redis URL: bad db number "${dbPath}"`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 6379;

  const common: RedisOptions = {
    username,
    password,
    ...(tls ? { tls } : {}),
    connectTimeout: opts.connectTimeoutMs ?? 1000,
    commandTimeout: opts.commandTimeoutMs ?? 1000,
    // A reserve sent before a disconnect may or may not have run: never send it again.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
  };
  const retryStrategy = (times: number): number => Math.min(times * 100, 1000);

  if (opts.cluster) {
    const seeds = [{ host, port }, ...(opts.cluster === true ? [] : (opts.cluster.nodes ?? []))];
    const clusterOpts = opts.cluster === true ? {} : (opts.cluster.options ?? {});
    const { enableOfflineQueue: _q, retryStrategy: _r, host: _h, port: _p, path: _a, sentinels: _s, readOnly: _o, ...nodeOptions } = {
      ...common,
      ...opts.redisOptions,
    };
    return new Cluster(seeds, {
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      slotsRefreshTimeout: opts.connectTimeoutMs ?? 1000,
      ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
      ...clusterOpts,
      redisOptions: nodeOptions,
    });
  }
  if (opts.sentinels) {
    const s = opts.sentinels;
    return new Redis({
      ...common,
      db,
      sentinels: s.nodes.map((n) => ({ host: n.host, port: n.port })),
      name: s.name ?? host,
      sentinelUsername: s.username,
      sentinelPassword: s.password,
      enableTLSForSentinelMode: s.tls ?? tls !== undefined,
      ...(tls && (s.tls ?? true) ? { sentinelTLS: tls } : {}),
      retryStrategy,
      sentinelRetryStrategy: retryStrategy,
      sentinelCommandTimeout: opts.commandTimeoutMs ?? 1000,
      ...opts.redisOptions,
    });
  }
  return new Redis({ ...common, host, port, db, retryStrategy, ...opts.redisOptions });
}

/** Resolves once the client is connected and ready; rejects after timeoutMs. */
export function waitForRedis(redis: RedisClient, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** PING answered within timeoutMs (every master of a Cluster). Never throws. */
export async function redisHealthy(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ping = (async () => {
    const nodes = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
    if (nodes.length === 0) return false;
    const replies = await Promise.all(nodes.map((n) => n.ping()));
    return replies.every((r) => r === 'PONG');
  })().catch(() => false);
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
