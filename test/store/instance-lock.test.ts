import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InstanceLockedError, LOCK_FILE, lockStateDir } from '../../src/store/instance-lock.js';
import { tmpDir } from '../helpers/env.js';

/** Another live process, to stand for another agent. */
function otherProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('spawn', () => resolve(child)));
}

const startTimeOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

describe('the state directory lock', () => {
  it('refuses while another live process holds it, naming its pid, and is taken once that process is gone', async () => {
    const { dir, cleanup } = tmpDir();
    const other = await otherProcess();
    try {
      const lockPath = path.join(dir, LOCK_FILE);
      writeFileSync(lockPath, JSON.stringify({ pid: other.pid, bootId: bootId(), startTime: startTimeOf(other.pid!) }));
      assert.throws(() => lockStateDir(dir), (err: unknown) => err instanceof InstanceLockedError && err.ownerPid === other.pid);
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
      const lock = lockStateDir(dir);
      assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, process.pid);
      lock.release();
      assert.equal(existsSync(lockPath), false);
    } finally {
      other.kill('SIGKILL');
      cleanup();
    }
  });

  it('does not count a live pid as the owner when it is another process than the one that wrote the lock (pid reuse, reboot)', async () => {
    const { dir, cleanup } = tmpDir();
    const other = await otherProcess();
    try {
      const lockPath = path.join(dir, LOCK_FILE);
      writeFileSync(lockPath, JSON.stringify({ pid: other.pid, bootId: bootId(), startTime: '1' }));
      lockStateDir(dir).release();
      writeFileSync(lockPath, JSON.stringify({ pid: other.pid, bootId: 'another-boot', startTime: startTimeOf(other.pid!) }));
      lockStateDir(dir).release();
      writeFileSync(lockPath, 'not json');
      lockStateDir(dir).release();
    } finally {
      other.kill('SIGKILL');
      cleanup();
    }
  });

  it('release leaves alone a lock that is no longer its own', () => {
    const { dir, cleanup } = tmpDir();
    try {
      const lock = lockStateDir(dir);
      const lockPath = path.join(dir, LOCK_FILE);
      writeFileSync(lockPath, JSON.stringify({ pid: 1, bootId: bootId(), startTime: startTimeOf(1) }));
      lock.release();
      assert.equal(existsSync(lockPath), true);
    } finally {
      cleanup();
    }
  });
});
