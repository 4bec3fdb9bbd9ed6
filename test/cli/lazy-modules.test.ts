import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/child.js';
import { childConfig } from '../helpers/child-config.js';
import { tmpDir } from '../helpers/env.js';

const REGISTER = fileURLToPath(new URL('../fixtures/module-trace/register.js', import.meta.url));

/** Starts `pmta-agent run` with a module trace, waits for daemon.started, stops it; the modules it had loaded by then. */
async function modulesAtStart(config: (dir: string) => unknown): Promise<string[]> {
  const { dir, cleanup } = tmpDir();
  try {
    const configFile = path.join(dir, 'config.json');
    const trace = path.join(dir, 'modules.txt');
    writeFileSync(trace, '');
    writeFileSync(configFile, JSON.stringify(config(dir)));
    const proc = spawn(process.execPath, ['--import', REGISTER, CLI, 'run', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MODULE_TRACE_FILE: trace },
    });
    let output = '';
    proc.stderr!.on('data', (d) => (output += d));
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        proc.stdout!.on('data', (d) => {
          output += d;
          if (output.includes('"daemon.started"')) resolve();
        });
        void exited.then((code) => reject(new Error(`daemon exited (${String(code)}) before it started: ${output}`)));
      });
      return readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
  } finally {
    cleanup();
  }
}

describe('pmta-agent run loads what its config uses', () => {
  it('without store.redisUrl the daemon runs without ioredis, the simulator, the demo and the operator commands', async () => {
    const modules = await modulesAtStart((dir) => childConfig(path.join(dir, 'state'), 1));
      assert.ok(modules.some((m) => m.endsWith('/dist/src/daemon.js')), 'the trace saw the daemon load');
      assert.ok(modules.some((m) => m.includes('/node_modules/smtp-server/')), 'the trace sees packages');
      for (const unused of ['/node_modules/ioredis/', '/dist/src/ledger/redis.js', '/dist/src/sim/', '/dist/src/cli/ops.js', '/dist/src/cli/demo.js'])
      assert.deepEqual(modules.filter((m) => m.includes(unused)), [], `${unused} is not loaded`);
  });
});
