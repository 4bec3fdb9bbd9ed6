import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { createRedisClient, redisHealthy, RedisLedger, waitForRedis, type RedisClient } from '../../src/ledger/redis.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { ledgerContract } from './contract.js';

const ip = '45.123.10.1' as IpAddress;
const day = '2026-11-25' as DayKey;
const now = new Date('2026-11-25T10:00:00Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis quota ledger', () => {
  let server: RedisServer;
  let redis: RedisClient;
  let ledger: RedisLedger;
  const clients: RedisClient[] = [];

  async function client(): Promise<RedisClient> {
    const c = createRedisClient(server.url);
    c.on('error', () => undefined); // each failed reconnect is reported here; the tests look at the calls
    clients.push(c);
    await waitForRedis(c);
    return c;
  }

  before(async () => {
    server = await startRedisServer();
    redis = await client();
    ledger = new RedisLedger(redis);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  // The same cases as the SQLite ledger, from one contract.
  ledgerContract(() => ledger);

  it('a late commit after a sweep counts once, and a release after it changes nothing', async () => {
    const d = '2026-11-28' as DayKey;
    const r = await ledger.reserve(ip, d, 4, 10, now, 1_000);
    assert.ok(r);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 1_000)), 1);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 2_000)), 0, 'swept once');
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 0, reserved: 0 });
    await ledger.commit(r, 3);
    await ledger.commit(r, 3);
    await ledger.release(r);
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 3, reserved: 0 });
  });

  it('holds the cap when two ledgers on two connections race 200 reserves against a cap of 50', async () => {
    const other = new RedisLedger(await client());
    const d = '2026-11-27' as DayKey;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? ledger : other).reserve(ip, d, 1, 50, now, 60_000)));
    assert.equal(results.filter(Boolean).length, 50);
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 0, reserved: 50 });
    assert.equal((await other.inFlight()).filter((r) => r.day === d).length, 50);
    // settle them from the other instance than the one that reserved: the ledger is shared
    await Promise.all(results.map((r, i) => r && (i % 2 ? other : ledger).commit(r)));
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 50, reserved: 0 });
    assert.equal(await other.reserve(ip, d, 1, 50, now, 60_000), null);
  });

  it('gives back a reservation never settled once its expiry is past (real time), and lists it until then', async () => {
    const d = '2026-11-29' as DayKey;
    const v6 = '2001:db8::25' as IpAddress;
    const start = new Date();
    const r = await ledger.reserve(v6, d, 4, 4, start, 300);
    assert.ok(r);
    const held = (await ledger.inFlight()).filter((x) => x.day === d);
    assert.deepEqual(held, [{ id: r.id, ip: v6, day: d, n: 4, expiresAt: new Date(start.getTime() + 300) }]);
    assert.equal(await ledger.reserve(v6, d, 1, 4, new Date(), 300), null, 'full while held');
    assert.equal(await ledger.sweep(new Date()), 0, 'not yet expired');
    await sleep(350);
    assert.equal(await ledger.sweep(new Date()), 1);
    assert.deepEqual((await ledger.usage(d, [v6])).get(v6), { committed: 0, reserved: 0 });
    assert.deepEqual((await ledger.inFlight()).filter((x) => x.day === d), []);
    const again = await ledger.reserve(v6, d, 4, 4, new Date(), 60_000);
    assert.ok(again, 'the units are back');
    await ledger.release(again);
  });

  it('gives the units back even if the reservation key itself has vanished (its Redis TTL ran out)', async () => {
    const d = '2026-11-30' as DayKey;
    const r = await ledger.reserve(ip, d, 3, 10, now, 1_000);
    assert.ok(r);
    const raw = redis as Redis;
    assert.equal(await raw.del(`pmta-agent:{${ip}:${d}}:res:${r.id}`), 1);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 1_000)), 1);
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 0, reserved: 0 });
    await ledger.commit(r);
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 0, reserved: 0 }, 'nothing left to commit against');
  });

  it('keeps an IP and day under one hash tag, and lets day keys expire after the history window', async () => {
    const short = new RedisLedger(redis, { prefix: 'hist:', historyDays: 3 });
    const d = '2026-12-01' as DayKey;
    const r = await short.reserve(ip, d, 2, 10, now, 60_000);
    assert.ok(r);
    const raw = redis as Redis;
    const keys = (await raw.keys('hist:*')).sort();
    assert.deepEqual(keys, [`hist:sweep:tags`, `hist:{${ip}:${d}}:exp`, `hist:{${ip}:${d}}:res:${r.id}`, `hist:{${ip}:${d}}:usage`].sort());
    const usageTtl = await raw.ttl(`hist:{${ip}:${d}}:usage`);
    assert.ok(usageTtl > 3 * 86_400 - 10 && usageTtl <= 3 * 86_400, `usage TTL ${usageTtl}`);
    const resTtl = await raw.pttl(`hist:{${ip}:${d}}:res:${r.id}`);
    assert.ok(resTtl > 60_000 && resTtl <= 60_000 + 86_400_000, `a held reservation expires on its own too (${resTtl} ms)`);
    assert.equal(await short.sweep(new Date(now.getTime() + 60_000)), 1);
    const keptTtl = await raw.pttl(`hist:{${ip}:${d}}:res:${r.id}`);
    assert.ok(keptTtl > 0 && keptTtl <= 86_400_000, `a swept reservation is kept a day for a late commit (${keptTtl} ms)`);
    await short.commit(r);
    assert.equal(await raw.exists(`hist:{${ip}:${d}}:res:${r.id}`), 0);
    assert.equal(await raw.exists(`hist:{${ip}:${d}}:exp`), 0);
    // the default prefix does not see it
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 0, reserved: 0 });
    assert.deepEqual((await short.usage(d, [ip])).get(ip), { committed: 2, reserved: 0 });
    // three days on, the day is dropped from the sweep index
    await short.sweep(new Date('2026-12-04T00:00:00Z'));
    assert.deepEqual(await raw.smembers('hist:sweep:tags'), []);
  });

  it('usage reports zero for an IP never seen and rejects bad arguments', async () => {
    const other = '45.123.10.99' as IpAddress;
    const m = await ledger.usage(day, [ip, other]);
    assert.deepEqual([...m.keys()], [ip, other]);
    assert.deepEqual(m.get(other), { committed: 0, reserved: 0 });
    await assert.rejects(ledger.reserve(ip, day, 0, 10, now, 1000), RangeError);
    await assert.rejects(ledger.reserve(ip, day, 1.5, 10, now, 1000), RangeError);
    await assert.rejects(ledger.reserve(ip, '25/11/2026' as DayKey, 1, 10, now, 1000), RangeError);
  });

  it('fails closed on a hung Redis: reserve rejects within about a second', async () => {
    const d = '2026-12-02' as DayKey;
    server.pause();
    try {
      const t0 = Date.now();
      await assert.rejects(ledger.reserve(ip, d, 1, 10, now, 60_000));
      const took = Date.now() - t0;
      assert.ok(took < 1_500, `rejected after ${took} ms`);
      assert.equal(await redisHealthy(redis, 300), false);
    } finally {
      server.resume();
    }
    assert.equal(await redisHealthy(redis), true);
  });

  it('fails closed while Redis is down, and works again on the same client once it is back', async () => {
    const d = '2026-12-03' as DayKey;
    await server.stop();
    for (const call of [
      () => ledger.reserve(ip, d, 1, 10, now, 60_000),
      () => ledger.usage(d, [ip]),
      () => ledger.sweep(now),
      () => ledger.inFlight(),
    ]) {
      const t0 = Date.now();
      await assert.rejects(call());
      const took = Date.now() - t0;
      assert.ok(took < 1_000, `rejected after ${took} ms`);
    }
    assert.equal(await redisHealthy(redis, 300), false);

    await server.start(); // same port; no persistence, so it comes back empty
    const deadline = Date.now() + 10_000;
    let r = null;
    while (!r) {
      r = await ledger.reserve(ip, d, 1, 10, now, 60_000).catch(() => null);
      if (!r) {
        assert.ok(Date.now() < deadline, 'the client did not reconnect');
        await sleep(50);
      }
    }
    assert.equal(await redisHealthy(redis), true);
    await ledger.commit(r); // the scripts are loaded again (NOSCRIPT is handled by ioredis)
    assert.deepEqual((await ledger.usage(d, [ip])).get(ip), { committed: 1, reserved: 0 });
    assert.equal(await ledger.sweep(new Date(now.getTime() + 120_000)), 0);
  });
});

describe('createRedisClient', () => {
  // lazyConnect: the options are built, nothing connects.
  const lazy = { redisOptions: { lazyConnect: true } };

  it('builds a fail-fast client from a URL: no offline queue, no retried command, short timeouts', () => {
    const c = createRedisClient('redis://agent:s%40cret@10.0.0.5:6380/2', lazy) as Redis;
    assert.equal(c.isCluster, false);
    const o = c.options;
    assert.equal(o.host, '10.0.0.5');
    assert.equal(o.port, 6380);
    assert.equal(o.db, 2);
    assert.equal(o.username, 'agent');
    assert.equal(o.password, 's@cret');
    assert.equal(o.tls, undefined);
    assert.equal(o.enableOfflineQueue, false);
    assert.equal(o.maxRetriesPerRequest, 0);
    assert.equal(o.autoResendUnfulfilledCommands, false);
    assert.equal(o.connectTimeout, 1000);
    assert.equal(o.commandTimeout, 1000);
    assert.equal(typeof o.retryStrategy, 'function');
    assert.equal(o.retryStrategy!(50), 1000, 'keeps reconnecting, at most a second apart');
  });

  it('turns TLS on for rediss:// or when asked, with Node TLS options passed through', () => {
    assert.deepEqual((createRedisClient('rediss://cache.example:6380', lazy) as Redis).options.tls, {});
    assert.deepEqual((createRedisClient('redis://cache.example', { ...lazy, tls: { servername: 'cache.example' } }) as Redis).options.tls, {
      servername: 'cache.example',
    });
    assert.equal((createRedisClient('rediss://cache.example', { ...lazy, tls: false }) as Redis).options.tls, undefined);
  });

  it('asks Sentinels for the master group named by the URL host, or by name', () => {
    const c = createRedisClient('redis://:pw@mymaster/1', {
      ...lazy,
      sentinels: { nodes: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }], password: 'spw' },
    }) as Redis;
    assert.equal(c.options.name, 'mymaster');
    assert.deepEqual(c.options.sentinels, [
      { host: '10.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26379 },
    ]);
    assert.equal(c.options.sentinelPassword, 'spw');
    assert.equal(c.options.password, 'pw');
    assert.equal(c.options.db, 1);
    assert.equal(c.options.enableOfflineQueue, false);
    const named = createRedisClient('redis://ignored', { ...lazy, sentinels: { nodes: [{ host: 'h', port: 1 }], name: 'other' } }) as Redis;
    assert.equal(named.options.name, 'other');
  });

  it('builds a Cluster client from seed nodes, with the fail-fast settings on every node', () => {
    const c = createRedisClient('rediss://u:p@10.0.0.1:7000', {
      cluster: { nodes: [{ host: '10.0.0.2', port: 7000 }], options: { lazyConnect: true } },
    }) as Cluster;
    assert.equal(c.isCluster, true);
    assert.equal(c.options.enableOfflineQueue, false);
    const node = c.options.redisOptions!;
    assert.equal(node.maxRetriesPerRequest, 0);
    assert.equal(node.commandTimeout, 1000);
    assert.equal(node.username, 'u');
    assert.equal(node.password, 'p');
    assert.deepEqual(node.tls, {});
  });

  it('refuses a URL that is not redis:// or rediss://', () => {
    assert.throws(() => createRedisClient('http://localhost:6379'), /redis:\/\//);
  });
});
