// `node dist/bench/ledger.js`: reserve+commit pairs per second on the SQLite
// ledger and on the Redis ledger, measured in the same run on the same machine.
//
//   SQLite: a temp file (openDb, WAL as the daemon uses it), 50 pairs in flight
//           (concurrent SMTP sessions: their operations are group-committed,
//           one transaction per turn of the event loop); plus one pair at a
//           time, where every operation is a transaction of its own.
//   Redis:  a redis-server started here on a free port (no persistence), one
//           fail-fast client as the daemon builds it (createRedisClient), 50
//           pairs in flight (the way concurrent SMTP sessions use it); plus one
//           pair at a time, for the round-trip-bound figure.
//
// Aims on a two-core machine: SQLite >= 50,000 pairs/s, Redis >= 20,000 pairs/s.
// Machines differ, so this prints rates and the Redis/SQLite ratio and asserts
// nothing about time; it fails (exit 1) only if the ledgers' counts come out
// wrong. The redis-server is always stopped, whatever happens.
//
// Options: --quick  a tenth of the pairs (a smoke run, noisier numbers).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { QuotaLedger } from '../src/ledger/ledger.js';
import { createRedisClient, RedisLedger, waitForRedis } from '../src/ledger/redis.js';
import { SqliteLedger } from '../src/ledger/sqlite.js';
import { openDb } from '../src/store/db.js';
import type { DayKey, IpAddress } from '../src/types.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';

const quick = process.argv.includes('--quick');
const unknown = process.argv.slice(2).filter((a) => a !== '--quick');
if (unknown.length) {
  process.stderr.write(`bench: unknown argument(s) ${unknown.join(' ')}\nUsage: node dist/bench/ledger.js [--quick]\n`);
  process.exit(2);
}
const scale = (n: number): number => (quick ? Math.round(n / 10) : n);

const SQLITE_PAIRS = scale(100_000);
const SQLITE_SERIAL_PAIRS = scale(20_000);
const REDIS_PAIRS = scale(20_000);
const REDIS_SERIAL_PAIRS = scale(5_000);
const IN_FLIGHT = 50;
const AIM = { sqlite: 50_000, redis: 20_000 };

const IPS = Array.from({ length: 8 }, (_, i) => `192.0.2.${i + 1}` as IpAddress);
const DAY = '2026-11-25' as DayKey;
const CAP = 1_000_000_000;
const TTL_MS = 900_000;

interface Result {
  name: string;
  pairs: number;
  inFlight: number;
  seconds: number;
  rate: number;
  /** CPU microseconds per pair: this process, and the redis-server (null: none, or not Linux). */
  cpuUs: { bench: number; redis: number | null };
}

/** user+system CPU seconds of another process, from /proc (Linux); null elsewhere. */
function procCpuSeconds(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

/** `pairs` reserve+commit pairs, `inFlight` at a time, spread over the IPs. */
async function run(name: string, ledger: QuotaLedger, pairs: number, inFlight: number, day: DayKey, redisPid: number | null = null): Promise<Result> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= pairs) return;
      const r = await ledger.reserve(IPS[i % IPS.length]!, day, 1, CAP, new Date(), TTL_MS);
      if (!r) throw new Error(`${name}: reserve refused under a cap of ${CAP}`);
      await ledger.commit(r);
    }
  };
  const cpu0 = process.cpuUsage();
  const redis0 = procCpuSeconds(redisPid);
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const redis1 = procCpuSeconds(redisPid);
  const cpuUs = {
    bench: (cpu.user + cpu.system) / pairs,
    redis: redis0 === null || redis1 === null ? null : ((redis1 - redis0) * 1e6) / pairs,
  };
  // Every pair counted exactly once, nothing left held.
  const usage = await ledger.usage(day, IPS);
  const committed = [...usage.values()].reduce((s, u) => s + u.committed, 0);
  const reserved = [...usage.values()].reduce((s, u) => s + u.reserved, 0);
  if (committed !== pairs || reserved !== 0) throw new Error(`${name}: committed ${committed} (want ${pairs}), reserved ${reserved} (want 0)`);
  return { name, pairs, inFlight, seconds, rate: pairs / seconds, cpuUs };
}

async function sqliteBench(): Promise<Result[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-bench-ledger-'));
  const db = openDb(path.join(dir, 'ledger.db'));
  try {
    const ledger = new SqliteLedger(db);
    await run('sqlite warm-up', ledger, scale(5_000), IN_FLIGHT, '2026-11-24' as DayKey);
    const parallel = await run('sqlite', ledger, SQLITE_PAIRS, IN_FLIGHT, DAY);
    const serial = await run('sqlite, one at a time', ledger, SQLITE_SERIAL_PAIRS, 1, '2026-11-26' as DayKey);
    return [parallel, serial];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redisBench(): Promise<Result[]> {
  let server: RedisServer | undefined;
  const redis = { client: undefined as ReturnType<typeof createRedisClient> | undefined };
  try {
    server = await startRedisServer();
    const client = createRedisClient(server.url);
    redis.client = client;
    client.on('error', (err: Error) => process.stderr.write(`redis: ${err.message}\n`));
    await waitForRedis(client);
    const ledger = new RedisLedger(client, { prefix: 'bench:' });
    await run('redis warm-up', ledger, scale(5_000), IN_FLIGHT, '2026-11-24' as DayKey);
    const parallel = await run('redis', ledger, REDIS_PAIRS, IN_FLIGHT, DAY, server.pid);
    const serial = await run('redis, one at a time', ledger, REDIS_SERIAL_PAIRS, 1, '2026-11-26' as DayKey, server.pid);
    return [parallel, serial];
  } finally {
    redis.client?.disconnect();
    await server?.stop();
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  process.stdout.write(`ledger bench${quick ? ' (--quick)' : ''}: reserve+commit pairs per second, ${os.cpus().length} CPUs\n`);
  const [sqlite, sqliteSerial] = (await sqliteBench()) as [Result, Result];
  const [redis, redisSerial] = await redisBench();
  const rows = [sqlite, sqliteSerial, redis!, redisSerial!];
  const head = ['ledger', 'pairs', 'in flight', 'seconds', 'pairs/s', 'aim', 'cpu µs/pair: bench', 'redis-server'];
  const table = rows.map((r) => [
    r.name,
    fmt(r.pairs),
    String(r.inFlight),
    r.seconds.toFixed(2),
    fmt(r.rate),
    r === sqlite ? `>= ${fmt(AIM.sqlite)}` : r === redis ? `>= ${fmt(AIM.redis)}` : '',
    r.cpuUs.bench.toFixed(1),
    r.cpuUs.redis === null ? '-' : r.cpuUs.redis.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [head, ...table]) process.stdout.write(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + '\n');
  process.stdout.write(`redis/sqlite: ${(redis!.rate / sqlite.rate).toFixed(2)}\n`);
  process.stdout.write(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews the rates; the CPU columns less so)\n`);
  process.stdout.write(
    `aims: sqlite ${sqlite.rate >= AIM.sqlite ? 'met' : 'NOT met'}, redis ${redis!.rate >= AIM.redis ? 'met' : 'NOT met'} (informational: the bench asserts counts, not speed)\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
