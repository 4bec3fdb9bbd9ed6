// The Redis ledger on a real three-master Redis Cluster: every script must touch
// one slot only (the {ip:day} hash tag), so nothing here may fail with CROSSSLOT.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Cluster } from 'ioredis';
import { createRedisClient, redisHealthy, RedisLedger, waitForRedis, type RedisClient } from '../../src/ledger/redis.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { startRedisCluster, type RedisClusterServers } from '../helpers/redis-server.js';

const day = '2026-11-25' as DayKey;
const now = new Date('2026-11-25T10:00:00Z');
// Addresses whose {ip:day} tags land on all three masters (CRC16 puts the
// addresses of one /24 close together, so these vary more than the last byte).
const ips = Array.from({ length: 12 }, (_, i) => `${53 + i * 13}.${(i + 1) * 7}.10.${i + 1}` as IpAddress);

describe('Redis quota ledger on a Cluster', () => {
  let cluster: RedisClusterServers;
  let clients: RedisClient[] = [];
  let ledger: RedisLedger;

  async function client(): Promise<RedisClient> {
    const c = createRedisClient(`redis://127.0.0.1:${cluster.nodes[0]!.port}`, { cluster: { nodes: cluster.seeds.slice(1) } });
    c.on('error', () => undefined);
    clients.push(c);
    await waitForRedis(c, 10_000);
    return c;
  }

  before(async () => {
    cluster = await startRedisCluster(3);
    ledger = new RedisLedger(await client());
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    clients = [];
    await cluster?.stop();
  });

  it('is a Cluster client and healthy when every master answers', async () => {
    const c = clients[0]! as Cluster;
    assert.equal(c.isCluster, true);
    assert.equal(c.nodes('master').length, 3);
    assert.equal(await redisHealthy(c), true);
  });

  it('reserves, commits, releases, sweeps and lists across IPs on every master', async () => {
    const rs = await Promise.all(ips.map((ip) => ledger.reserve(ip, day, 5, 10, now, 1_000)));
    assert.ok(rs.every(Boolean));
    assert.equal(await ledger.reserve(ips[0]!, day, 6, 10, now, 1_000), null);
    assert.equal((await ledger.inFlight()).length, ips.length);
    await ledger.commit(rs[0]!, 2);
    await ledger.commit(rs[0]!, 2);
    await ledger.release(rs[1]!);
    assert.equal(await ledger.sweep(new Date(now.getTime() + 1_000)), ips.length - 2);
    await ledger.commit(rs[2]!, 5); // late commit after the sweep
    await ledger.commit(rs[2]!, 5);
    const usage = await ledger.usage(day, ips);
    assert.deepEqual(usage.get(ips[0]!), { committed: 2, reserved: 0 });
    assert.deepEqual(usage.get(ips[1]!), { committed: 0, reserved: 0 });
    assert.deepEqual(usage.get(ips[2]!), { committed: 5, reserved: 0 });
    assert.deepEqual(usage.get(ips[3]!), { committed: 0, reserved: 0 });
    assert.deepEqual(await ledger.inFlight(), []);
    const sizes = await Promise.all((clients[0]! as Cluster).nodes('master').map((n) => n.dbsize()));
    assert.ok(sizes.every((n) => n > 0), `the IPs' keys are spread over every master (${sizes.join(', ')})`);
  });

  it('holds the cap when two ledgers on two connections race 200 reserves against a cap of 50', async () => {
    const other = new RedisLedger(await client());
    const d = '2026-11-27' as DayKey;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? ledger : other).reserve(ips[5]!, d, 1, 50, now, 60_000)));
    assert.equal(results.filter(Boolean).length, 50);
    assert.deepEqual((await other.usage(d, [ips[5]!])).get(ips[5]!), { committed: 0, reserved: 50 });
    // Nothing left held for the other tests, which list and sweep the whole ledger.
    for (const r of results) if (r) await ledger.release(r);
  });
});
