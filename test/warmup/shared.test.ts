import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Config } from '../../src/config/schema.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ManualClock, type DayKey } from '../../src/types.js';
import { DEFAULT_THRESHOLDS, simulateWarmup, type DayStats } from '../../src/warmup/progression.js';
import { addDays, DEFAULT_SCHEDULE } from '../../src/warmup/schedule.js';
import { API_TOKEN, START, TODAY, testConfig, tmpDir, waitFor } from '../helpers/env.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const DAY = 86_400_000;
const IP = '45.123.10.1';

interface Agent {
  name: string;
  daemon: Daemon;
  clock: ManualClock;
  cfg: Config;
  logs: Array<Record<string, unknown>>;
}

async function startAgent(name: string, root: string, simPort: number, redisUrl: string, clock = new ManualClock(START)): Promise<Agent> {
  const dir = path.join(root, name);
  const cfg = testConfig(dir, simPort, {
    sosIps: [{ address: IP, warmupStart: TODAY }, { address: '45.123.10.2', warmupStart: TODAY }],
    patch: { store: { stateDir: dir, redisUrl, redis: { stateSyncMs: 100 } } },
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  return { name, daemon: await startDaemon(cfg, { clock, log }), clock, cfg, logs };
}

async function api(a: Agent, p: string, init: { method?: string; json?: unknown } = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${a.daemon.apiAddress.port}${p}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  return res.json();
}

async function ipView(a: Agent, ip = IP): Promise<{ daily_quota: number; warmup_day: number; status: string }> {
  let q = await api(a, '/api/v2/quotas/sos-expat');
  // Stale: the day could not be judged yet (a Redis command timed out on a loaded machine); the next read judges it.
  for (let i = 0; q.stale && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    q = await api(a, '/api/v2/quotas/sos-expat');
  }
  const i = q.ips.find((x: { ip_address: string }) => x.ip_address === ip);
  return { daily_quota: i.daily_quota, warmup_day: i.warmup_day, status: i.status };
}

/** What each agent's own accounting recorded for the IP on a day. */
function record(a: Agent, day: string, s: DayStats, ip = IP): void {
  a.daemon.db
    .prepare(
      `INSERT INTO ip_stats_daily (ip, day, tenant_id, accepted, delivered, bounced_hard, bounced_soft, complaints) VALUES (?, ?, 1, ?, ?, ?, ?, ?)
       ON CONFLICT (ip, day) DO UPDATE SET accepted = excluded.accepted, delivered = excluded.delivered, bounced_hard = excluded.bounced_hard,
         bounced_soft = excluded.bounced_soft, complaints = excluded.complaints`,
    )
    .run(ip, day, s.sent, s.delivered, s.bouncedHard, s.bouncedSoft, s.complaints);
}

const healthy = (n: number): DayStats => ({ sent: n, delivered: n, bouncedHard: 0, bouncedSoft: 0, complaints: 0 });
const sum = (x: DayStats, y: DayStats): DayStats => ({
  sent: x.sent + y.sent,
  delivered: x.delivered + y.delivered,
  bouncedHard: x.bouncedHard + y.bouncedHard,
  bouncedSoft: x.bouncedSoft + y.bouncedSoft,
  complaints: x.complaints + y.complaints,
});

describe('warmup shared by two agents through a real redis-server', () => {
  let sim: Simulator;
  let dirs: { dir: string; cleanup(): void };
  // Each test has a redis-server and agents of its own, so none reads what another left behind.
  let tests = 0;
  let running: { redis: RedisServer; agents: Agent[] } | null = null;
  async function fresh(): Promise<{ redis: RedisServer; a: Agent; b: Agent; root: string }> {
    const root = path.join(dirs.dir, `t${++tests}`);
    const redis = await startRedisServer();
    running = { redis, agents: [] };
    const a = await startAgent('a', root, sim.port, redis.url);
    running.agents.push(a);
    const b = await startAgent('b', root, sim.port, redis.url);
    running.agents.push(b);
    return { redis, a, b, root };
  }
  before(async () => {
    dirs = tmpDir();
    sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct'), keepMessages: false });
  });
  afterEach(async () => {
    const r = running;
    running = null;
    if (r === null) return;
    for (const a of r.agents) await a.daemon.stop();
    await r.redis.stop();
  });
  after(async () => {
    await sim.close();
    dirs.cleanup();
  });

  it('two agents report the same cap for the same IP every day of a two-week warmup, judged on both agents’ counts', async () => {
    const { a, b } = await fresh();
    // Each agent sees half of the IP's mail. Day 3: 15 + 15, each under minVolume alone (a hold on
    // its own), 30 together (an advance). Day 8: b alone is over the regress threshold (5 of 40),
    // together it is a hold (5 of 80).
    const split = (i: number, cap: number): [DayStats, DayStats] => {
      if (i === 3) return [healthy(15), healthy(15)];
      if (i === 8) return [healthy(40), { sent: 40, delivered: 35, bouncedHard: 5, bouncedSoft: 0, complaints: 0 }];
      return [healthy(cap / 2), healthy(cap / 2)];
    };
    const expected = simulateWarmup({
      start: TODAY as DayKey,
      days: 14,
      schedule: DEFAULT_SCHEDULE,
      thresholds: DEFAULT_THRESHOLDS,
      statsFor: (day, cap) => sum(...split(Number((Date.parse(day) - Date.parse(TODAY)) / DAY), cap)),
    });
    const seen: Array<{ day: string; a: number; b: number }> = [];
    for (let i = 0; i < 14; i++) {
      const day = addDays(TODAY as DayKey, i);
      // Whoever asks first judges the day; the other applies the same judgement.
      const [first, second] = i % 2 ? [b, a] : [a, b];
      const vf = await ipView(first);
      const vs = await ipView(second);
      seen.push({ day, a: (first === a ? vf : vs).daily_quota, b: (first === b ? vf : vs).daily_quota });
      assert.deepEqual(vs, vf, `day ${i}: both agents apply the same warmup`);
      const [sa, sb] = split(i, vf.daily_quota);
      record(a, day, sa);
      record(b, day, sb);
      // The periodic exchange (every stateSyncMs) publishes each agent's counts.
      await a.daemon.warmup.syncShared();
      await b.daemon.warmup.syncShared();
      a.clock.advance(DAY);
      b.clock.advance(DAY);
    }
    assert.deepEqual(
      seen.map((s) => s.a),
      expected.map((e) => e.cap),
    );
    assert.deepEqual(
      seen.map((s) => s.b),
      expected.map((e) => e.cap),
    );
    assert.equal(expected[4]!.decision, 'advance', 'the quiet day on each agent was judged on the sum');
    assert.equal(expected[9]!.decision, 'hold', "b's bad share alone did not regress the IP");
  });

  it('an operator override on one agent is applied by the other', async () => {
    const { a, b } = await fresh();
    const r = await api(a, `/api/v2/ips/${IP}/warmup`, { method: 'POST', json: { day: 20 } });
    assert.equal(r.warmup_day, 20);
    await waitFor(async () => (await ipView(b)).warmup_day === 20, 10_000, 'override seen by b');
    const adopted = (await api(b, `/api/v2/ips/${IP}/audit`)).entries.find((e: { action: string }) => e.action === 'warmup.adopted');
    assert.equal(adopted.actor, 'shared-store');
  });

  it('an agent started after a pause applies it, and a health-guard pause is not lifted by a resume from another agent', async () => {
    const { redis, a, b, root } = await fresh();
    assert.equal((await api(a, `/api/v2/ips/${IP}/warmup`, { method: 'POST', json: { day: 20 } })).warmup_day, 20);
    await api(a, '/api/v2/ips/45.123.10.2/pause', { method: 'POST', json: { reason: 'checking a blocklist' } });
    const c = await startAgent('c', root, sim.port, redis.url, new ManualClock(a.clock.now()));
    running!.agents.push(c);
    await waitFor(async () => (await ipView(c, '45.123.10.2')).status === 'paused', 10_000, 'pause applied by the agent started after it');
    assert.equal((await ipView(c)).warmup_day, 20, 'and the shared warmup position too');

    b.daemon.admin.setIpState('health-guard', IP, 'paused', 'hard bounces 9% over 2 days');
    await waitFor(async () => (await ipView(a)).status === 'paused', 10_000, 'health-guard pause shared');
    a.clock.advance(1000); // a later change than b's pause
    await api(a, `/api/v2/ips/${IP}/resume`, { method: 'POST', json: { reason: 'looked fine from here' } });
    await waitFor(() => b.logs.some((l) => l.event === 'shared_states.refused' && l.ip === IP), 10_000, 'b refused the shared resume');
    assert.equal((await ipView(b)).status, 'paused', 'only an operator on b lifts its own guard');
  });

  it('Redis without persistence is reported at start; while it is down quota reads are stale-flagged and /healthz says so', async () => {
    const { redis, a, b } = await fresh();
    assert.ok(a.logs.some((l) => l.event === 'redis.no_persistence' && l.level === 'error'), 'warned loudly at start');
    const before = await api(a, '/api/v2/quotas/sos-expat');
    assert.equal(before.stale, false);
    await redis.stop();
    try {
      const q = await api(a, '/api/v2/quotas/sos-expat');
      assert.equal(q.stale, true);
      assert.deepEqual(q.ips, before.ips, 'the counters last read');
      const health = await fetch(`http://127.0.0.1:${a.daemon.apiAddress.port}/healthz`);
      assert.equal(health.status, 503);
      assert.equal(((await health.json()) as { shared_store: string }).shared_store, 'down');
      // An agent that never read today's counters has nothing to show: 503 with a clear error.
      b.clock.advance(DAY);
      const res = await fetch(`http://127.0.0.1:${b.daemon.apiAddress.port}/api/v2/quotas/ulixai`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: string }).error, 'store_unavailable');
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await fetch(`http://127.0.0.1:${a.daemon.apiAddress.port}/healthz`)).status === 200, 5000, 'healthy again');
  });
});
