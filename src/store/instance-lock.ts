import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

// One agent per state directory. A second one started by mistake (a manual
// `pmta-agent run` beside the service) used to open the live SQLite file and the
// spool before failing on its ports, and two dispatchers on one spool send
// duplicates. The lock is taken before anything else is opened.
//
// The file holds the owner's pid, the kernel's boot id and the process's start
// time: a lock left by a crash is stale once that process is gone, and a pid
// reused after a reboot or by another program does not count as the owner.

export const LOCK_FILE = 'pmta-agent.lock';

export class InstanceLockedError extends Error {
  override readonly name = 'InstanceLockedError';
  constructor(
    readonly lockPath: string,
    readonly ownerPid: number,
  ) {
    super(`another pmta-agent (pid ${ownerPid}) is running on this state directory (lock ${lockPath}); stop it first`);
  }
}

interface Owner {
  pid: number;
  bootId: string | null;
  startTime: string | null;
}

function readOr<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

const bootId = () => readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), null);

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startTimeOf(pid: number): string | null {
  return readOr(() => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  }, null);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    return typeof o.pid === 'number' ? { pid: o.pid, bootId: o.bootId ?? null, startTime: o.startTime ?? null } : null;
  } catch {
    return null;
  }
}

/** The owner still runs: same boot, the pid alive, and (where /proc tells) the same process. */
function holds(owner: Owner): boolean {
  if (owner.pid === process.pid) return false;
  const boot = bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return false;
  if (!isAlive(owner.pid)) return false;
  const start = startTimeOf(owner.pid);
  return !(owner.startTime && start && owner.startTime !== start);
}

export interface InstanceLock {
  readonly path: string;
  release(): void;
}

/** Takes `<stateDir>/pmta-agent.lock` or throws InstanceLockedError naming the running owner. */
export function lockStateDir(stateDir: string): InstanceLock {
  mkdirSync(stateDir, { recursive: true });
  const lockPath = path.join(stateDir, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, bootId: bootId(), startTime: startTimeOf(process.pid) });
  // Written whole beside the lock, then linked into place: link() fails if the
  // lock exists, so no other process ever sees a half-written file or a second owner.
  const tmp = `${lockPath}.${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, mine);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, lockPath);
        return {
          path: lockPath,
          release() {
            // Only our own: never a lock another instance took after a stale takeover.
            if (readOr(() => readFileSync(lockPath, 'utf8'), '') === mine) readOr(() => unlinkSync(lockPath), undefined);
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = readOr(() => readFileSync(lockPath, 'utf8'), null);
      if (text === null) continue; // released meanwhile
      const owner = parseOwner(text);
      if (owner && holds(owner)) throw new InstanceLockedError(lockPath, owner.pid);
      // Stale. Moved aside atomically, so of two instances taking over only one
      // succeeds; if what was moved is not what was judged stale, it goes back.
      const aside = `${lockPath}.stale.${process.pid}`;
      try {
        renameSync(lockPath, aside);
      } catch {
        continue;
      }
      if (readOr(() => readFileSync(aside, 'utf8'), null) !== text) {
        readOr(() => linkSync(aside, lockPath), undefined);
      }
      readOr(() => unlinkSync(aside), undefined);
    }
    throw new Error(`could not take the lock ${lockPath}: it kept changing hands`);
  } finally {
    readOr(() => unlinkSync(tmp), undefined);
  }
}
