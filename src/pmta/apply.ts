// Puts a rendered config in place and makes PowerMTA load it, or puts the
// previous file back when PowerMTA will not. In order: lint (nothing is
// written for a file the guide says PowerMTA refuses), write, `pmta test
// config` (§6.3.38: checks the syntax without touching the running config),
// reload. The file on disk is always whole (temp file, fsync, rename, fsync of
// the directory), so a crash or a PowerMTA restart at any moment reads either
// the old or the new file, never half.
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../store/fsync.js';
import type { Logger } from '../log/logger.js';
import { formatIssue, lintPmtaConfig, type LintIssue } from './lint/index.js';
import { describeCommand, describeReload, runReload, type ReloadOutcome } from './reload.js';

export type ApplyResult =
  | { kind: 'unchanged' }
  /** `backup` is the `.bak` copy of the previous file, null when there was none. */
  | { kind: 'applied'; backup: string | null; reload: ReloadOutcome }
  /**
   * PowerMTA refused the new file (or the reload hung): the previous file is
   * back (or, with no previous file, the new one is removed) and a second
   * reload ran, whose outcome is `secondReload`.
   */
  | { kind: 'rolled-back'; reason: string; reloadOutput: string; reload: ReloadOutcome; secondReload: ReloadOutcome }
  /** The linter found errors: nothing was written. `issues` holds them all, `reason` the first in PowerMTA's wording. */
  | { kind: 'refused'; reason: string; issues: LintIssue[] }
  /**
   * The test command refused the new file (non-zero exit, or an `Error in
   * line N of FILE: ...` line): the previous file is back and PowerMTA was not
   * reloaded. `errorLine` is PowerMTA's own line when it printed one.
   */
  | { kind: 'test-failed'; reason: string; errorLine: string | null; output: string }
  /** Nothing reached PowerMTA, or the rollback itself failed; `reason` says which. */
  | { kind: 'failed'; reason: string };

export type ApplyFailure = Extract<ApplyResult, { kind: 'rolled-back' | 'failed' | 'refused' | 'test-failed' }>;

export function isApplyFailure(r: ApplyResult): r is ApplyFailure {
  return r.kind !== 'applied' && r.kind !== 'unchanged';
}

export interface ApplyOptions {
  /** The file the agent owns (pmta.configPath). */
  path: string;
  content: string;
  /** pmta.reloadCommand, run with /bin/sh -c. */
  reloadCommand: string;
  /** pmta.testCommand (`pmta test config`), run after writing and before reloading; null skips the test. */
  testCommand?: string | null;
  /** Lint before writing (default true); off only for tests of the file mechanics. */
  lint?: boolean;
  /** pmta.reloadTimeoutMs */
  timeoutMs: number;
  log?: Logger;
}

export function backupPathOf(file: string): string {
  return `${file}.bak`;
}

async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Writes `data` to `file` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeAtomic(file: string, data: Buffer | string, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}

async function removeDurably(file: string): Promise<void> {
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await fsyncDir(path.dirname(file));
}

// One chain per file: two applies to the same file never interleave, whoever
// calls them (the API, the daily warmup step, the CLI in the same process).
const chains = new Map<string, Promise<unknown>>();

/**
 * Render output to disk and PowerMTA: skip when the file already holds
 * `content`; otherwise keep the previous file as `<path>.bak`, write the new
 * one atomically, run the reload command; if it fails or times out, put the
 * previous file back and reload again.
 */
export function applyPmtaConfig(opts: ApplyOptions): Promise<ApplyResult> {
  const key = path.resolve(opts.path);
  const previous = chains.get(key) ?? Promise.resolve();
  const run = previous.then(
    () => applyNow(opts),
    () => applyNow(opts),
  );
  const tail = run.catch(() => {});
  chains.set(key, tail);
  void tail.then(() => {
    if (chains.get(key) === tail) chains.delete(key);
  });
  return run;
}

async function applyNow(opts: ApplyOptions): Promise<ApplyResult> {
  const file = path.resolve(opts.path);
  const bak = backupPathOf(file);
  const log = opts.log;
  const content = Buffer.from(opts.content, 'utf8');

  let current: Buffer | null;
  let mode = 0o644;
  try {
    current = await readIfExists(file);
    if (current !== null) mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    return { kind: 'failed', reason: `cannot read ${file}: ${(err as Error).message}` };
  }
  if (current !== null && current.equals(content)) return { kind: 'unchanged' };

  if (opts.lint !== false) {
    const { issues } = lintPmtaConfig(opts.content);
    const errors = issues.filter((i) => i.severity === 'error');
    if (errors.length > 0) {
      const reason = formatIssue(file, errors[0]!);
      log?.error('pmta.config.lint-refused', { path: file, errors: errors.length, first: reason });
      return { kind: 'refused', reason, issues };
    }
  }

  try {
    if (current !== null) await writeAtomic(bak, current, mode);
    await writeAtomic(file, content, mode);
  } catch (err) {
    // The live file is untouched: the rename into place is the last step.
    return { kind: 'failed', reason: `cannot write ${file}: ${(err as Error).message}` };
  }
  log?.info('pmta.config.written', { path: file, bytes: content.length, backup: current !== null ? bak : null });

  const restore = async (): Promise<string | null> => {
    try {
      if (current !== null) await writeAtomic(file, current, mode);
      else await removeDurably(file);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };

  if (opts.testCommand) {
    const test = await runReload({ command: opts.testCommand, timeoutMs: opts.timeoutMs });
    const errorLine = pmtaErrorLine(test.output);
    if (test.kind !== 'ok' || errorLine !== null) {
      const reason = errorLine ?? describeCommand(test, 'test command');
      log?.error('pmta.config.test-failed', { path: file, reason, output: test.output });
      const restoreFailed = await restore();
      if (restoreFailed !== null) {
        const why = `${reason}; and putting the previous ${file} back failed: ${restoreFailed}`;
        log?.error('pmta.rollback.failed', { path: file, reason: why });
        return { kind: 'failed', reason: why };
      }
      return { kind: 'test-failed', reason, errorLine, output: test.output };
    }
  }

  const reload = await runReload({ command: opts.reloadCommand, timeoutMs: opts.timeoutMs });
  const reloadError = pmtaErrorLine(reload.output);
  if (reload.kind === 'ok' && reloadError === null) {
    log?.info('pmta.reload.ok', { path: file, ms: reload.ms });
    return { kind: 'applied', backup: current !== null ? bak : null, reload };
  }

  const reason = reloadError ?? describeReload(reload);
  log?.error('pmta.reload.failed', { path: file, reason, output: reload.output });
  const restoreFailed = await restore();
  if (restoreFailed !== null) {
    const why = `${reason}; and putting the previous ${file} back failed: ${restoreFailed}`;
    log?.error('pmta.rollback.failed', { path: file, reason: why });
    return { kind: 'failed', reason: why };
  }
  const secondReload = await runReload({ command: opts.reloadCommand, timeoutMs: opts.timeoutMs });
  if (secondReload.kind === 'ok') log?.warn('pmta.rolled-back', { path: file, reason });
  else log?.error('pmta.rolled-back.reload-failed', { path: file, reason, second: describeReload(secondReload) });
  return { kind: 'rolled-back', reason, reloadOutput: reload.output, reload, secondReload };
}

/**
 * PowerMTA's error line in a command's output (§6.3.38 sample: `Error in line
 * 11 of /etc/pmta/config: argument missing`). Exit codes are undocumented, so
 * the line counts even after a zero exit.
 */
export function pmtaErrorLine(output: string): string | null {
  return /^\s*(error\b.*)$/im.exec(output)?.[1]?.trim() ?? null;
}

export interface ApplyStatusEntry {
  /** ISO time the apply finished. */
  at: string;
  result: ApplyResult;
}

/** The last apply and the last successful one, for the API's status. */
export class ApplyStatus {
  private lastEntry: ApplyStatusEntry | null = null;
  private lastOk: ApplyStatusEntry | null = null;

  record(result: ApplyResult, at: Date): void {
    const entry = { at: at.toISOString(), result };
    this.lastEntry = entry;
    if (result.kind === 'applied' || result.kind === 'unchanged') this.lastOk = entry;
  }

  last(): ApplyStatusEntry | null {
    return this.lastEntry;
  }

  lastSuccess(): ApplyStatusEntry | null {
    return this.lastOk;
  }

  /** True when the last apply left PowerMTA on an older config than the agent's state. */
  get failing(): boolean {
    return this.lastEntry !== null && isApplyFailure(this.lastEntry.result);
  }
}

export interface PmtaApplierOptions {
  path: string;
  reloadCommand: string;
  testCommand?: string | null;
  timeoutMs: number;
  log?: Logger;
  status?: ApplyStatus;
  /** The alert hook: called for every result that left PowerMTA on an older config, after the log line. */
  onFailure?: (result: ApplyFailure) => void | Promise<void>;
  now?: () => Date;
}

/** applyPmtaConfig with the three reports wired in: log, alert hook, status. */
export class PmtaApplier {
  readonly status: ApplyStatus;
  constructor(private readonly opts: PmtaApplierOptions) {
    this.status = opts.status ?? new ApplyStatus();
  }

  async apply(content: string): Promise<ApplyResult> {
    const { path: file, reloadCommand, testCommand, timeoutMs, log } = this.opts;
    const result = await applyPmtaConfig({ path: file, content, reloadCommand, testCommand: testCommand ?? null, timeoutMs, ...(log ? { log } : {}) });
    this.status.record(result, (this.opts.now ?? (() => new Date()))());
    if (result.kind === 'failed') log?.error('pmta.apply.failed', { path: file, reason: result.reason });
    if (isApplyFailure(result) && this.opts.onFailure) {
      try {
        await this.opts.onFailure(result);
      } catch (err) {
        log?.error('pmta.apply.alert-failed', { err });
      }
    }
    return result;
  }
}
