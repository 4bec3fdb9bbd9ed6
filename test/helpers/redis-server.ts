// A real redis-server for the tests and the bench: a child process on a free
// loopback port, no persistence, stopped (and if need be killed) on the way out.
// It can be stopped and started again on the same port, paused (SIGSTOP) to
// play a hung server, and three of them can be joined into a Cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
// Last resort if a test dies without its `after`: no redis-server outlives us.
// The scratch directories (kept across stop/start) go at exit too.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The redis-server binary: $REDIS_SERVER, else the first on PATH; a clear error when there is none. */
export function redisServerBinary(): string {
  const fromEnv = process.env.REDIS_SERVER;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`REDIS_SERVER=${fromEnv} does not exist`);
    return fromEnv;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', 'redis-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'redis-server not found on PATH: the Redis ledger tests need a real redis-server (6 or later). ' +
      "Install Debian's package (sudo apt-get install redis-server) or set REDIS_SERVER=/path/to/redis-server.",
  );
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true on +PONG within timeoutMs. */
export function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  /** The child's pid while it runs (for CPU accounting), else null. */
  readonly pid: number | null;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Whether the child is running (not whether it answers: see pause()). */
  readonly running: boolean;
  /** Starts it again on the same port (after stop()); resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after 3 s; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing (a hang, a partition). */
  pause(): void;
  resume(): void;
}

export interface RedisServerOptions {
  port?: number;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
  /** How long start() waits for PING; default 10 s. */
  startTimeoutMs?: number;
  /** Run as a Sentinel with these config lines (Sentinel needs a config file it can rewrite). */
  sentinelConfig?: string;
}

/** Starts a redis-server child on a free port (no RDB, no AOF) and waits until it answers PING. */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = redisServerBinary();
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-redis-'));
  dirs.add(dir);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let paused = false;

  async function start(): Promise<void> {
    if (child) return;
    const conf = path.join(dir, 'sentinel.conf');
    if (opts.sentinelConfig !== undefined && !existsSync(conf)) writeFileSync(conf, opts.sentinelConfig + '\n');
    const args = [
      ...(opts.sentinelConfig !== undefined ? [conf, '--sentinel'] : []),
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', ''],
      ...(opts.args ?? []),
    ];
    const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    const output: string[] = [];
    const keep = (d: Buffer): void => {
      output.push(d.toString());
      if (output.length > 50) output.shift();
    };
    c.stdout!.on('data', keep);
    c.stderr!.on('data', keep);
    let gone = false;
    let spawnError: Error | undefined;
    c.once('error', (err) => {
      spawnError = err;
    });
    exited = new Promise((resolve) => {
      c.once('close', () => {
        gone = true;
        live.delete(c);
        if (child === c) child = null;
        resolve();
      });
    });
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    while (!(await ping(port))) {
      if (gone || spawnError || Date.now() > deadline) {
        const why = spawnError ? spawnError.message : gone ? 'it exited' : 'no PONG in time';
        await stop();
        throw new Error(`redis-server on port ${port} did not start (${why}):\n${output.join('').slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    if (!c) return;
    if (paused) resume();
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  function resume(): void {
    if (child && paused) child.kill('SIGCONT');
    paused = false;
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    get pid() {
      return child?.pid ?? null;
    },
    start,
    stop,
    async restart() {
      await stop();
      await start();
    },
    pause() {
      if (child && !paused) child.kill('SIGSTOP');
      paused = true;
    },
    resume,
  } satisfies RedisServer;
}

/** A Sentinel watching `master` under the group name `name` (quorum 1). */
export function startRedisSentinel(master: RedisServer, name = 'mymaster'): Promise<RedisServer> {
  return startRedisServer({ sentinelConfig: `sentinel monitor ${name} 127.0.0.1 ${master.port} 1` });
}

export interface RedisClusterServers {
  readonly nodes: RedisServer[];
  /** Seed addresses for ioredis's Cluster. */
  readonly seeds: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

/**
 * `count` masters (no replicas) with the 16384 slots split between them, joined
 * with CLUSTER MEET over raw sockets; resolves once every node says cluster_state:ok.
 */
export async function startRedisCluster(count = 3): Promise<RedisClusterServers> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000'] }));
    }
    const per = Math.ceil(16384 / count);
    for (let i = 0; i < count; i++) {
      const from = i * per;
      const to = Math.min(16383, from + per - 1);
      const slots = Array.from({ length: to - from + 1 }, (_, k) => String(from + k));
      await command(nodes[i]!.port, ['CLUSTER', 'ADDSLOTS', ...slots]);
    }
    for (let i = 1; i < count; i++) await command(nodes[0]!.port, ['CLUSTER', 'MEET', '127.0.0.1', String(nodes[i]!.port)]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => command(n.port, ['CLUSTER', 'INFO'])));
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes(`cluster_known_nodes:${count}`))) break;
      if (Date.now() > deadline) throw new Error(`redis cluster did not form:\n${infos.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** One command in RESP over a raw socket; returns the raw reply text, rejects on an error reply. */
function command(port: number, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]} on ${port}: no reply`));
    }, timeoutMs);
    const finish = (err: Error | null, text = ''): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(text);
    };
    sock.once('error', (err) => finish(err));
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.startsWith('-') && buf.includes('\r\n')) return finish(new Error(`redis ${args.slice(0, 2).join(' ')}: ${buf.trim()}`));
      if (buf.startsWith('+') && buf.includes('\r\n')) return finish(null, buf.slice(1, buf.indexOf('\r\n')));
      if (buf.startsWith('$')) {
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const len = Number(buf.slice(1, eol));
        if (buf.length >= eol + 2 + len + 2) return finish(null, buf.slice(eol + 2, eol + 2 + len));
      }
    });
  });
}
