// Puts a rendered config in place and makes PowerMTA load it, or puts the
// previous file back when PowerMTA will not. The file on disk is always whole
// (temp file, fsync, rename, fsync of the directory), so a crash or a PowerMTA
// restart at any moment reads either the old or the new file, never half.
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { describeReload, runReload, type ReloadOutcome } from './reload.js';

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
  /** Nothing reached PowerMTA, or the rollback itself failed; `reason` says which. */
  | { kind: 'failed'; reason: string };

export interface ApplyOptions {
  /** The file the agent owns (pmta.configPath). */
  path: string;
  content: string;
  /** pmta.reloadCommand, run with /bin/sh -c. */
  reloadCommand: string;
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

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `file` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
async function writeAtomic(file: string, data: Buffer | string, mode: number): Promise<void> {
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

  try {
    if (current !== null) await writeAtomic(bak, current, mode);
    await writeAtomic(file, content, mode);
  } catch (err) {
    // The live file is untouched: the rename into place is the last step.
    return { kind: 'failed', reason: `cannot write ${file}: ${(err as Error).message}` };
  }
  log?.info('pmta.config.written', { path: file, bytes: content.length, backup: current !== null ? bak : null });

  const reload = await runReload({ command: opts.reloadCommand, timeoutMs: opts.timeoutMs });
  if (reload.kind === 'ok') {
    log?.info('pmta.reload.ok', { path: file, ms: reload.ms });
    return { kind: 'applied', backup: current !== null ? bak : null, reload };
  }

  const reason = describeReload(reload);
  log?.error('pmta.reload.failed', { path: file, reason, output: reload.output });
  try {
    if (current !== null) await writeAtomic(file, current, mode);
    else await removeDurably(file);
  } catch (err) {
    const why = `${reason}; and putting the previous ${file} back failed: ${(err as Error).message}`;
    log?.error('pmta.rollback.failed', { path: file, reason: why });
    return { kind: 'failed', reason: why };
  }
  const secondReload = await runReload({ command: opts.reloadCommand, timeoutMs: opts.timeoutMs });
  if (secondReload.kind === 'ok') log?.warn('pmta.rolled-back', { path: file, reason });
  else log?.error('pmta.rolled-back.reload-failed', { path: file, reason, second: describeReload(secondReload) });
  return { kind: 'rolled-back', reason, reloadOutput: reload.output, reload, secondReload };
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
    const k = this.lastEntry?.result.kind;
    return k === 'rolled-back' || k === 'failed';
  }
}

export interface PmtaApplierOptions {
  path: string;
  reloadCommand: string;
  timeoutMs: number;
  log?: Logger;
  status?: ApplyStatus;
  /** The alert hook: called for rolled-back and failed results, after the log line. */
  onFailure?: (result: Extract<ApplyResult, { kind: 'rolled-back' | 'failed' }>) => void | Promise<void>;
  now?: () => Date;
}

/** applyPmtaConfig with the three reports wired in: log, alert hook, status. */
export class PmtaApplier {
  readonly status: ApplyStatus;
  constructor(private readonly opts: PmtaApplierOptions) {
    this.status = opts.status ?? new ApplyStatus();
  }

  async apply(content: string): Promise<ApplyResult> {
    const { path: file, reloadCommand, timeoutMs, log } = this.opts;
    const result = await applyPmtaConfig({ path: file, content, reloadCommand, timeoutMs, ...(log ? { log } : {}) });
    this.status.record(result, (this.opts.now ?? (() => new Date()))());
    if (result.kind === 'failed') log?.error('pmta.apply.failed', { path: file, reason: result.reason });
    if ((result.kind === 'rolled-back' || result.kind === 'failed') && this.opts.onFailure) {
      try {
        await this.opts.onFailure(result);
      } catch (err) {
        log?.error('pmta.apply.alert-failed', { err });
      }
    }
    return result;
  }
}
