// Warmup shared by several agents through Redis: one position per IP, and the
// daily history progression reads, summed over every agent.
//
// Keys (P = prefix, default 'pmta-agent:'):
//   P warmup:positions        hash ip -> JSON SharedPosition
//   P warmup:stats:<day>      hash "<ip>|<agent>" -> "sent,delivered,bouncedHard,bouncedSoft,complaints"
//
// Judged once: every agent judges a day from the same inputs (the shared position
// and everyone's stats), and a compare-and-set keeps the first judgement of a day;
// an agent whose judgement came second adopts the stored one. So each agent applies
// the same cap to the same IP on the same day, without a lease to lose.
import { createHash } from 'node:crypto';
import type { RedisClient } from '../ledger/redis.js';
import type { DayKey, IpState } from '../types.js';
import type { DayStats } from './progression.js';

export interface SharedPosition {
  warmupStart: DayKey;
  state: IpState;
  /** The last day judged. */
  progressDay: DayKey;
  holdUntil: DayKey | null;
  /** When the position changed (ISO time): between two writes for the same day, the later wins. */
  at: string;
  /** The agent that wrote it. */
  by: string;
}

/**
 * judged: written only if no agent judged this day yet (else the stored one comes back).
 * override: an operator's change, written unless the stored one is newer; the judged day never goes back.
 * seed: written only if the IP has no position yet.
 */
export type PublishKind = 'judged' | 'override' | 'seed';

// KEYS: positions. ARGV: ip, json, progressDay, at, kind. Returns nil when written, else the stored JSON.
const PUBLISH_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and type(c.progressDay) == 'string' and type(c.at) == 'string' then
    if ARGV[5] == 'seed' then return cur end
    if ARGV[5] == 'judged' and c.progressDay >= ARGV[3] then return cur end
    if ARGV[5] == 'override' then
      if c.at > ARGV[4] then return cur end
      if c.progressDay > ARGV[3] then
        local n = cjson.decode(ARGV[2])
        n.progressDay = c.progressDay
        redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(n))
        return false
      end
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return false
`;

interface Scripted {
  pmtaWarmupPublish(positions: string, ...argv: string[]): Promise<string | null>;
}

const STATS_FIELDS = ['sent', 'delivered', 'bouncedHard', 'bouncedSoft', 'complaints'] as const;

export class SharedWarmup {
  private readonly positionsKey: string;
  private readonly statsPrefix: string;
  private readonly scripts: Scripted;
  private readonly statsTtlS: number;

  constructor(
    private readonly redis: RedisClient,
    /** Stable across restarts, so a restarted agent replaces its own counts instead of adding them again. */
    readonly agentId: string,
    opts: { prefix?: string; historyDays?: number } = {},
  ) {
    const prefix = opts.prefix ?? 'pmta-agent:';
    this.positionsKey = `${prefix}warmup:positions`;
    this.statsPrefix = `${prefix}warmup:stats:`;
    this.statsTtlS = Math.ceil((opts.historyDays ?? 400) * 86_400);
    redis.defineCommand('pmtaWarmupPublish', { numberOfKeys: 1, lua: PUBLISH_LUA });
    this.scripts = redis as unknown as Scripted;
  }

  async positions(): Promise<Map<string, SharedPosition>> {
    const all = await this.redis.hgetall(this.positionsKey);
    const out = new Map<string, SharedPosition>();
    for (const [ip, raw] of Object.entries(all)) {
      const p = parsePosition(raw);
      if (p) out.set(ip, p);
    }
    return out;
  }

  /** null when written; otherwise the position that stands (another agent's). */
  async publish(ip: string, pos: SharedPosition, kind: PublishKind): Promise<SharedPosition | null> {
    const stored = await this.scripts.pmtaWarmupPublish(this.positionsKey, ip, JSON.stringify(pos), pos.progressDay, pos.at, kind);
    return stored === null ? null : parsePosition(stored);
  }

  /** This agent's counts for a day, replacing what it published before. */
  async publishStats(day: DayKey, rows: ReadonlyArray<{ ip: string; stats: DayStats }>): Promise<void> {
    if (rows.length === 0) return;
    const key = this.statsPrefix + day;
    const fields: string[] = [];
    for (const r of rows) fields.push(`${r.ip}|${this.agentId}`, STATS_FIELDS.map((f) => r.stats[f]).join(','));
    await this.redis.hset(key, ...fields);
    await this.redis.expire(key, this.statsTtlS);
  }

  /** Every agent's counts for the IP and day, summed; null when no agent recorded any. */
  async stats(ip: string, day: DayKey): Promise<DayStats | null> {
    const all = await this.redis.hgetall(this.statsPrefix + day);
    let sum: DayStats | null = null;
    for (const [field, raw] of Object.entries(all)) {
      if (field.slice(0, field.lastIndexOf('|')) !== ip) continue;
      const n = raw.split(',').map(Number);
      if (n.length !== STATS_FIELDS.length || n.some((x) => !Number.isFinite(x))) continue;
      sum ??= { sent: 0, delivered: 0, bouncedHard: 0, bouncedSoft: 0, complaints: 0 };
      STATS_FIELDS.forEach((f, i) => (sum![f] += n[i]!));
    }
    return sum;
  }
}

function parsePosition(raw: string): SharedPosition | null {
  try {
    const p = JSON.parse(raw) as Partial<SharedPosition>;
    const day = (v: unknown) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v);
    if (!day(p.warmupStart) || !day(p.progressDay) || typeof p.at !== 'string' || typeof p.state !== 'string') return null;
    if (p.holdUntil !== null && p.holdUntil !== undefined && !day(p.holdUntil)) return null;
    return { warmupStart: p.warmupStart!, state: p.state, progressDay: p.progressDay!, holdUntil: p.holdUntil ?? null, at: p.at, by: String(p.by ?? '') };
  } catch {
    return null; // a value we did not write
  }
}

/** An agent's name in the shared history: its host and its state file, stable across restarts. */
export function sharedAgentId(hostname: string, statePath: string): string {
  return `${hostname}-${createHash('sha256').update(statePath).digest('hex').slice(0, 8)}`;
}
