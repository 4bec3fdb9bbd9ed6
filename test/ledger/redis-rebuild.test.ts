import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { usageOf } from '../../src/ledger/redis.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';
import { API_TOKEN, START, TODAY, campaignMessage, send, testConfig, tmpDir, waitFor } from '../helpers/env.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const IP = '45.123.10.1';

describe('counters rebuilt after Redis lost them', () => {
  it('usageOf: committed plus the base each agent brought when the day was rebuilt', () => {
    assert.deepEqual(usageOf({}), { committed: 0, reserved: 0 });
    assert.deepEqual(usageOf({ committed: '5', reserved: '2', 'b:x': '30', 'b:y': '15' }), { committed: 50, reserved: 2 });
    assert.deepEqual(usageOf({ committed: '40', 'b:x': '0', 'b:y': '0' }), { committed: 40, reserved: 0 }, 'a normal day: every base is 0');
  });

  describe('two agents on a redis-server without persistence', () => {
    let redis: RedisServer;
    let sim: Simulator;
    let dirs: { dir: string; cleanup(): void };
    const daemons: Daemon[] = [];
    before(async () => {
      dirs = tmpDir();
      redis = await startRedisServer();
      sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct'), keepMessages: false });
      for (const name of ['a', 'b']) {
        const dir = path.join(dirs.dir, name);
        const cfg = testConfig(dir, sim.port, {
          sosIps: [{ address: IP, warmupStart: TODAY }],
          patch: { store: { stateDir: dir, redisUrl: redis.url, redis: { stateSyncMs: 100 } }, spool: { dispatchIntervalMs: 100, retryBackoffMs: 200, concurrency: 4 } },
        });
        daemons.push(await startDaemon(cfg, { clock: new ManualClock(START), log: createLogger({ level: 'error', write: () => {} }) }));
      }
    });
    after(async () => {
      for (const d of daemons) await d.stop();
      await sim.close();
      await redis.stop();
      dirs.cleanup();
    });

    it('Redis restarted empty mid-day: the day is rebuilt from each agent’s own counts and the cap of 50 is not passed', async () => {
      const [a, b] = daemons as [Daemon, Daemon];
      const sendVia = (d: Daemon, i: number) => send(d.smtpAddress.port, { to: `r${i}@example.net`, raw: campaignMessage({ to: `r${i}@example.net` }).raw });
      for (let i = 0; i < 30; i++) assert.ok((await sendVia(a, i)).ok);
      for (let i = 30; i < 45; i++) assert.ok((await sendVia(b, i)).ok);
      assert.equal(sim.received.length, 45);

      await redis.restart(); // no AOF, no RDB: it comes back empty

      const replies = [];
      for (let i = 45; i < 65; i++) replies.push(await sendVia(i % 2 ? a : b, i));
      assert.deepEqual(replies.filter((r) => !r.ok), [], 'every message is taken (forwarded or spooled with 250)');
      await waitFor(() => sim.received.length >= 50, 15_000, 'the 5 units left today used');
      await new Promise((r) => setTimeout(r, 1500)); // the spool keeps trying
      assert.equal(sim.received.length, 50, 'exactly the cap, not 45 + 20');
      for (const d of daemons) {
        const res = await fetch(`http://127.0.0.1:${d.apiAddress.port}/api/v2/quotas/sos-expat`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
        const q = (await res.json()) as { ips: Array<{ sent_today: number; remaining: number }>; spooled: number };
        assert.equal(q.ips[0]!.sent_today, 50, 'both agents see the rebuilt counter');
        assert.equal(q.ips[0]!.remaining, 0);
      }
    });
  });
});
