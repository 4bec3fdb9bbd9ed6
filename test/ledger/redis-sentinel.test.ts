// The Redis ledger through Sentinel: the client asks a real Sentinel for the
// master of the group named in the URL (redis://mymaster) and uses it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createRedisClient, redisHealthy, RedisLedger, waitForRedis, type RedisClient } from '../../src/ledger/redis.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { startRedisSentinel, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const ip = '45.123.10.1' as IpAddress;
const day = '2026-11-25' as DayKey;
const now = new Date('2026-11-25T10:00:00Z');

describe('Redis quota ledger through Sentinel', () => {
  let master: RedisServer;
  let sentinel: RedisServer;
  let redis: RedisClient;

  before(async () => {
    master = await startRedisServer();
    sentinel = await startRedisSentinel(master, 'mymaster');
    redis = createRedisClient('redis://mymaster/0', { sentinels: { nodes: [{ host: '127.0.0.1', port: sentinel.port }] } });
    redis.on('error', () => undefined);
    await waitForRedis(redis, 10_000);
  });
  after(async () => {
    redis?.disconnect();
    await sentinel?.stop();
    await master?.stop();
  });

  it('finds the master through the Sentinel and keeps the ledger there', async () => {
    assert.equal(await redisHealthy(redis), true);
    const ledger = new RedisLedger(redis);
    const r = await ledger.reserve(ip, day, 3, 3, now, 60_000);
    assert.ok(r);
    assert.equal(await ledger.reserve(ip, day, 1, 3, now, 60_000), null);
    await ledger.commit(r, 2);
    assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 2, reserved: 0 });
    // the keys are on the master the Sentinel named
    const direct = createRedisClient(master.url);
    direct.on('error', () => undefined);
    try {
      await waitForRedis(direct);
      assert.deepEqual(await (direct as Redis).hgetall(`pmta-agent:{${ip}:${day}}:usage`), { committed: '2', reserved: '0' });
    } finally {
      direct.disconnect();
    }
  });
});
