import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startSimulator } from '../../src/sim/simulator.js';
import { CLI, spawnDaemon } from '../helpers/child.js';
import { childConfig } from '../helpers/child-config.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { send, tmpDir } from '../helpers/env.js';

/** `pmta-agent run` on a config that is expected not to start: its exit code and what it said. */
function runToExit(configFile: string, config: unknown, timeoutMs = 30_000): Promise<{ code: number | string; output: string }> {
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const proc = spawn(process.execPath, [CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`still running after ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, output });
    });
  });
}

/** A port something else already listens on. */
async function takenPort(): Promise<{ port: number; close(): Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise((r) => srv.close(() => r())) };
}

describe('start-up is all or nothing', () => {
  it('exits 1 when the SMTP port is taken, with store.redisUrl set (the Redis client must not keep it alive)', async () => {
    const { dir, cleanup } = tmpDir();
    const redis = await startRedisServer();
    const taken = await takenPort();
    try {
      const cfg = childConfig(path.join(dir, 'state'), 1, { patch: { smtp: { port: taken.port }, store: { stateDir: path.join(dir, 'state'), redisUrl: redis.url } } });
      const r = await runToExit(path.join(dir, 'config.json'), cfg);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /daemon\.start_failed/);
      assert.match(r.output, /EADDRINUSE/);
      // What it had opened is closed again: the lock is gone, so a fixed config starts.
      assert.equal(existsSync(path.join(dir, 'state', 'pmta-agent.lock')), false);
    } finally {
      await taken.close();
      await redis.stop();
      cleanup();
    }
  });

  it('exits 1 when the API port is taken, on SQLite', async () => {
    const { dir, cleanup } = tmpDir();
    const taken = await takenPort();
    try {
      const r = await runToExit(path.join(dir, 'config.json'), childConfig(path.join(dir, 'state'), 1, { patch: { api: { port: taken.port } } }));
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /EADDRINUSE/);
    } finally {
      await taken.close();
      cleanup();
    }
  });

  it('a second agent on the same state directory stops at the lock, before it opens SQLite or the spool', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const stateDir = path.join(dir, 'state');
    const first = await spawnDaemon(path.join(dir, 'first.json'), childConfig(stateDir, sim.port));
    try {
      // Its own SQLite file and spool, so that touching them would show.
      const second = childConfig(stateDir, sim.port, { patch: { store: { stateDir, sqlitePath: path.join(stateDir, 'second.sqlite') }, spool: { dir: path.join(stateDir, 'second-spool') } } });
      const r = await runToExit(path.join(dir, 'second.json'), second);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, new RegExp(`another pmta-agent \\(pid ${first.proc.pid}\\)`));
      assert.equal(existsSync(path.join(stateDir, 'second.sqlite')), false);
      assert.equal(existsSync(path.join(stateDir, 'second-spool')), false);
      // The first one did not notice.
      assert.ok((await send(first.port, {})).ok);
      const health = await fetch(`${first.apiUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { ready: boolean }).ready, true);
    } finally {
      first.proc.kill('SIGTERM');
      assert.equal(await first.exited, 0);
      await sim.close();
    }
    try {
      // Stopped cleanly, it gives the lock back.
      assert.equal(existsSync(path.join(stateDir, 'pmta-agent.lock')), false);
    } finally {
      cleanup();
    }
  });
});
