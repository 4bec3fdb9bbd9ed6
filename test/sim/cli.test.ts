import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { message, send, tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../src/sim/cli.js', import.meta.url));

function run(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exit, stderr: () => stderr };
}

test('sim command: listens, logs each message, exits 0 on SIGTERM', async () => {
  const { dir, cleanup } = await tempDir();
  const p = run(['--smtp', '127.0.0.1:0', '--acct-dir', dir, '--bounce-domain', 'example.org']);
  try {
    const lines = createInterface({ input: p.child.stdout })[Symbol.asyncIterator]();
    const listening = JSON.parse((await lines.next()).value as string);
    assert.equal(listening.event, 'sim.listening');
    assert.equal(listening.host, '127.0.0.1');
    assert.equal(listening.acctDir, dir);
    assert.ok(listening.port > 0);

    await send(listening.port, 'a@sos-mail.com', ['x@example.org'], message(['X-Virtual-MTA: t-1-2-3-4', 'X-Job: j9']));
    const received = JSON.parse((await lines.next()).value as string);
    assert.equal(received.event, 'sim.received');
    assert.equal(received.vmta, 't-1-2-3-4');
    assert.equal(received.job, 'j9');
    assert.deepEqual(received.rcpts, ['x@example.org']);
    assert.match(await readFile(join(dir, 'acct.csv'), 'utf8'), /\nb,.*bad-mailbox/);

    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  } finally {
    p.child.kill('SIGKILL');
    await cleanup();
  }
});

test('sim command: usage errors exit 2, --help exits 0', async () => {
  const missing = run(['--smtp', '127.0.0.1:0']);
  assert.equal(await missing.exit, 2);
  assert.match(missing.stderr(), /--acct-dir is required/);

  const bad = run(['--smtp', 'nope', '--acct-dir', '/tmp/x']);
  assert.equal(await bad.exit, 2);

  const unknown = run(['--frobnicate']);
  assert.equal(await unknown.exit, 2);

  const help = run(['--help']);
  assert.equal(await help.exit, 0);
});
