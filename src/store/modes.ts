// The agent's files hold password hashes, mail and signing keys. Their modes are
// set here, not left to the umask: run outside systemd (whose unit sets
// UMask=0077), a umask of 022 made the SQLite file and the spool world-readable.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` and missing parents 0700 (a mode the umask can only narrow), and makes `dir` itself exactly 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

/** Creates an empty `file` 0600 if it does not exist, so whatever opens it next (SQLite) keeps that mode. */
export function privateFile(file: string): void {
  closeSync(openSync(file, 'a', FILE_MODE));
  chmodSync(file, FILE_MODE);
}

export interface StatePaths {
  stateDir: string;
  sqlitePath: string;
  spoolDir: string;
  dkimDir: string;
}

export interface ModeFailure {
  path: string;
  error: string;
}

/**
 * At start, before anything is opened: the state, spool and DKIM directories
 * 0700; the SQLite file with its -wal, -shm and -journal, and the DKIM keys
 * (`*.pem`), 0600. Spooled messages are not visited one by one (a large spool
 * would slow the start): inside a 0700 directory nobody else reaches them, and
 * new ones are written 0600. What cannot be changed (another owner) is returned
 * for the caller to report; nothing here stops the start.
 */
export function tightenStateModes(p: StatePaths): ModeFailure[] {
  const failures: ModeFailure[] = [];
  const attempt = (target: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failures.push({ path: target, error: (err as Error).message });
    }
  };
  attempt(p.stateDir, () => privateDir(p.stateDir));
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const f = p.sqlitePath + suffix;
    if (existsSync(f)) attempt(f, () => chmodSync(f, FILE_MODE));
  }
  if (existsSync(p.spoolDir)) {
    attempt(p.spoolDir, () => chmodSync(p.spoolDir, DIR_MODE));
    attempt(p.spoolDir, () => {
      for (const d of readdirSync(p.spoolDir, { withFileTypes: true }))
        if (d.isDirectory()) attempt(path.join(p.spoolDir, d.name), () => chmodSync(path.join(p.spoolDir, d.name), DIR_MODE));
    });
  }
  if (existsSync(p.dkimDir)) {
    attempt(p.dkimDir, () => chmodSync(p.dkimDir, DIR_MODE));
    attempt(p.dkimDir, () => {
      for (const d of readdirSync(p.dkimDir, { withFileTypes: true }))
        if (d.isFile() && d.name.endsWith('.pem')) attempt(path.join(p.dkimDir, d.name), () => chmodSync(path.join(p.dkimDir, d.name), FILE_MODE));
    });
  }
  return failures;
}
