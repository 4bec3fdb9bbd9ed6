import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { CHILD_API_TOKEN, childConfig, SOS_TENANT, ULIXAI_TENANT } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir, waitFor } from '../helpers/env.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const TOKEN = CHILD_API_TOKEN;

function agentConfig(stateDir: string, pmtaPort: number, redisUrl: string, extra: { reservationTtlMs?: number } = {}) {
  // A fresh IP for SOS-Expat (week 1, 50 a day) shared by both agents through Redis; Ulixai's is active.
  return childConfig(stateDir, pmtaPort, {
    tenants: [{ ...SOS_TENANT, ips: [{ ...SOS_TENANT.ips[0]!, state: 'warming' }] }, ULIXAI_TENANT],
    patch: {
      smtp: { maxClients: 500 },
      pmta: { connectTimeoutMs: 2000 },
      store: { redisUrl, redis: { stateSyncMs: 200 } },
      ledger: { reservationTtlMs: extra.reservationTtlMs ?? 900_000, sweepIntervalMs: 200 },
      spool: { dispatchIntervalMs: 100 },
      warmup: { timezone: 'UTC' },
    },
  });
}

const api = async (d: ChildDaemon, p: string, init: RequestInit = {}) =>
  (await (await fetch(`${d.apiUrl}${p}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } })).json()) as any;

describe('two agents sharing one quota through a real redis-server', () => {
  let redis: RedisServer;
  let sim: Simulator;
  let dirs: { dir: string; cleanup(): void };
  let a: ChildDaemon;
  let b: ChildDaemon;
  before(async () => {
    dirs = tmpDir();
    // With persistence, as production must run it: a restarted Redis keeps the day's counters.
    redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dirs.dir] });
    sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct'), keepMessages: false });
    a = await spawnDaemon(path.join(dirs.dir, 'a.json'), agentConfig(path.join(dirs.dir, 'a'), sim.port, redis.url));
    b = await spawnDaemon(path.join(dirs.dir, 'b.json'), agentConfig(path.join(dirs.dir, 'b'), sim.port, redis.url));
  });
  after(async () => {
    for (const d of [a, b]) {
      d?.proc.kill('SIGTERM');
      await d?.exited;
    }
    await sim.close();
    await redis.stop();
    dirs.cleanup();
  });

  it('200 concurrent sessions split over both agents against 50 units: exactly 50 forwarded in all, the rest spooled with 250', async () => {
    const before = sim.received.length;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send((i % 2 ? a : b).port, { to: `r${i}@example.net`, raw: campaignMessage({ to: `r${i}@example.net` }).raw })),
    );
    assert.deepEqual(results.filter((r) => !r.ok), []);
    assert.equal(results.filter((r) => r.ok && /Queued as/.test(r.response)).length, 150);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sim.received.length - before, 50);
    const qa = await api(a, '/api/v2/quotas/sos-expat');
    const qb = await api(b, '/api/v2/quotas/sos-expat');
    assert.equal(qa.ips[0].sent_today, 50);
    assert.equal(qb.ips[0].sent_today, 50, 'both agents see the one shared counter');
    assert.equal(qa.spooled + qb.spooled, 150);
  });

  it('a pause made on one agent stops the IP on the other within a second', async () => {
    const r = await api(a, '/api/v2/ips/45.123.10.1/pause', { method: 'POST', body: JSON.stringify({ reason: 'test shared pause' }) });
    assert.equal(r.state, 'paused');
    await waitFor(async () => (await api(b, '/api/v2/quotas/sos-expat')).ips[0].status === 'paused', 1500, 'pause seen by agent b');
    await api(b, '/api/v2/ips/45.123.10.1/resume', { method: 'POST', body: JSON.stringify({ reason: 'done' }) });
    await waitFor(async () => (await api(a, '/api/v2/quotas/sos-expat')).ips[0].status === 'warming', 1500, 'resume seen by agent a');
  });

  it('Redis stopped: nothing is forwarded, new mail is spooled; Redis back: the spool drains by itself, each message once, within quota', async () => {
    const ulixai = { user: 'ulixai', pass: 'secret-ulixai-1', from: 'news@ulixai-mail.com' };
    const before = sim.received.length;
    const sentBefore = { ulixai: (await api(a, '/api/v2/quotas/ulixai')).ips[0].sent_today, sos: (await api(b, '/api/v2/quotas/sos-expat')).ips[0].sent_today };
    await redis.stop();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = campaignMessage({ to: `outage${i}@example.net` });
      const r = await send((i % 2 ? a : b).port, { ...ulixai, to: `outage${i}@example.net`, raw: m.raw });
      assert.ok(r.ok && /Queued as .*quota store unavailable/.test(r.response), JSON.stringify(r));
      ids.push(m.messageId);
    }
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(sim.received.length, before, 'nothing forwarded without a reservation');
    await redis.start();
    await waitFor(() => ids.every((id) => sim.received.some((m) => m.messageId === id)), 15_000, 'spool drained after Redis came back');
    await new Promise((res) => setTimeout(res, 300));
    for (const id of ids) assert.equal(sim.received.filter((m) => m.messageId === id).length, 1, `${id} once`);
    const q = await api(a, '/api/v2/quotas/ulixai');
    assert.equal(q.ips[0].sent_today, sentBefore.ulixai + 6);
    assert.equal((await api(b, '/api/v2/quotas/sos-expat')).ips[0].sent_today, sentBefore.sos, 'the counters survived the restart');
  });

  it('a reservation held by an agent killed with SIGKILL comes back after its expiry', async () => {
    const c = await spawnDaemon(
      path.join(dirs.dir, 'c.json'),
      agentConfig(path.join(dirs.dir, 'c'), sim.port, redis.url, { reservationTtlMs: 1500 }),
    );
    const sock = await import('../helpers/raw-smtp.js').then((m) => m.rawSmtp(c.port));
    await sock.cmd('EHLO test');
    await sock.cmd(`AUTH PLAIN ${Buffer.from('\0ulixai\0secret-ulixai-1').toString('base64')}`);
    await sock.cmd('MAIL FROM:<news@ulixai-mail.com>');
    assert.match(await sock.cmd('RCPT TO:<held@example.net>'), /^250 /);
    const held = async () => (await api(a, '/api/v2/quotas/ulixai')).ips[0].reserved as number;
    assert.equal(await held(), 1);
    c.proc.kill('SIGKILL');
    await c.exited;
    sock.close();
    // Agent a's sweeper returns it once the reservation's expiry has passed.
    await waitFor(async () => (await held()) === 0, 10_000, 'reservation swept');
  });
});
