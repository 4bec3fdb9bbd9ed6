// Follows PowerMTA's accounting directory: watches it (chokidar, plus a slow
// periodic rescan in case an event is lost) and hands each matching file that
// changed to the file reader, which reads it from its checkpoint. PowerMTA
// rotates by renaming the live file (same inode) and starting a new one; the
// checkpoint is keyed by inode so the renamed file continues where it was.
//
// All files go through one serial worker: a file seen under two names during a
// rotation (old name, new name) can then never be read twice at once.
import { watch, type FSWatcher } from 'chokidar';
import { EventEmitter } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { AccountingConfig } from '../config/schema.js';
import type { Clock } from '../types.js';
import { CheckpointStore } from './checkpoints.js';
import type { AccountingEffects, BatchSummary } from './effects.js';
import { AcctFileReader } from './file-reader.js';

export interface AccountingTailerOptions extends Omit<AccountingConfig, 'mode'> {
  dir: string;
  db: Db;
  log: Logger;
  clock: Clock;
  /** The daemon's one AccountingEffects (shared with the webhook). */
  effects: AccountingEffects;
}

export interface FilePosition {
  path: string;
  ino: string;
  offset: number;
  line: number;
  /** When the checkpoint last moved. */
  updatedAt: string;
}

export interface TailerEvents {
  /** After each committed batch. */
  batch: [summary: BatchSummary & { file: string }];
}

/** A checkpoint row of a file that is gone is forgotten once it is this old. */
const PRUNE_AFTER_MS = 24 * 3600_000;

/** chokidar emits at most one change per file in this window and drops the rest. */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;

export class AccountingTailer extends EventEmitter<TailerEvents> {
  private readonly dir: string;
  private readonly matches: (name: string) => boolean;
  private readonly checkpoints: CheckpointStore;
  private readonly reader: AcctFileReader;
  private readonly clock: Clock;
  private watcher: FSWatcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  /** One pending second look per file, after chokidar's change throttle. */
  private readonly trailing = new Map<string, NodeJS.Timeout>();
  private readonly dirty = new Set<string>();
  private loop: Promise<void> | null = null;
  private stopping = false;
  /** inode, size and mtime as last read, so a periodic rescan skips files that did not move. */
  private readonly seen = new Map<string, string>();
  /** Unattributed keys already logged. */
  private readonly unknownLogged = new Set<string>();
  private dirUnreadable = false;

  constructor(private readonly opts: AccountingTailerOptions) {
    super();
    this.dir = opts.dir;
    this.matches = nameMatcher(opts.pattern);
    this.clock = opts.clock;
    this.checkpoints = new CheckpointStore(opts.db, this.clock);
    this.reader = new AcctFileReader({
      db: opts.db,
      checkpoints: this.checkpoints,
      effects: opts.effects,
      log: opts.log,
      batchLines: opts.batchLines,
      readChunkBytes: opts.readChunkBytes,
      maxLineBytes: opts.maxLineBytes,
      maxMalformedLogs: opts.maxMalformedLogs,
      stopping: () => this.stopping,
      now: () => this.clock.now(),
      onBatch: (summary, file) => this.batchDone(summary, file),
    });
  }

  /** Watches the directory and reads what is already there. Resolves once the watch is in place. */
  async start(): Promise<void> {
    if (this.watcher !== null) return;
    this.stopping = false;
    const watcher = watch(this.dir, {
      depth: 0,
      ignoreInitial: true,
      persistent: true,
      // The reader handles half-written lines itself; waiting for the file to
      // settle would only delay a file PowerMTA appends to all the time.
      awaitWriteFinish: false,
      usePolling: this.opts.usePolling,
      interval: this.opts.pollIntervalMs,
    });
    const onFile = (path: string): void => {
      const name = basename(path);
      if (!this.matches(name)) return;
      this.mark(name);
      // chokidar drops a change that follows another on the same file within
      // 50 ms (no trailing event): look once more after that window, or the
      // rest of a burst would wait for the next write or the slow rescan.
      if (this.trailing.has(name)) return;
      const t = setTimeout(() => {
        this.trailing.delete(name);
        this.mark(name);
      }, CHOKIDAR_CHANGE_THROTTLE_MS + 10);
      t.unref();
      this.trailing.set(name, t);
    };
    watcher.on('add', onFile);
    watcher.on('change', onFile);
    // An unlink may be the first half of a rotation; the new name arrives as an add.
    watcher.on('error', (err) => this.opts.log.error('acct.watch_error', { dir: this.dir, err }));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.watcher = watcher;
    const present = await this.scan(false);
    const every = this.opts.rescanIntervalMs;
    if (every > 0) {
      this.rescanTimer = setInterval(() => void this.scan(true), every);
      this.rescanTimer.unref();
    }
    this.opts.log.info('acct.tailer_started', { dir: this.dir, files: present?.size ?? 0 });
  }

  /** Stops watching and waits for the batch in progress; nothing half-applied is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    this.rescanTimer = null;
    for (const t of this.trailing.values()) clearTimeout(t);
    this.trailing.clear();
    const w = this.watcher;
    this.watcher = null;
    await w?.close();
    await this.loop;
    this.dirty.clear();
  }

  /** Reads everything currently on disk, up to the last whole line of each file (works without start; a no-op after stop). */
  async drain(): Promise<void> {
    if (this.stopping) return;
    await this.scan(false);
    while (!this.stopping && (this.loop !== null || this.dirty.size > 0)) await this.kick();
  }

  /** The stored checkpoints, one per file read so far. */
  position(): FilePosition[] {
    return this.checkpoints.all().map((c) => ({ path: c.path, ino: c.ino, offset: c.offset, line: c.line, updatedAt: c.updatedAt }));
  }

  /** Lists the directory, marks matching files, and returns their inodes (null when the directory cannot be read). */
  private async scan(skipUnchanged: boolean): Promise<Set<string> | null> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter(this.matches);
    } catch (err) {
      // Once per outage, not every rescan.
      if (!this.dirUnreadable) this.opts.log.warn('acct.dir_unreadable', { dir: this.dir, err });
      this.dirUnreadable = true;
      return null;
    }
    this.dirUnreadable = false;
    const files: Array<{ name: string; mtime: number; ino: string; sig: string }> = [];
    for (const name of names) {
      try {
        const st = await stat(join(this.dir, name), { bigint: true });
        if (!st.isFile()) continue;
        files.push({ name, mtime: Number(st.mtimeMs), ino: st.ino.toString(), sig: `${st.ino}:${st.size}:${st.mtimeNs}` });
      } catch {
        // Renamed or deleted since the listing: its new name is in a later event or scan.
      }
    }
    // Oldest first: rotated files before the live one, so counts arrive roughly in order.
    files.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name));
    for (const f of files) {
      if (skipUnchanged && this.seen.get(f.name) === f.sig) continue;
      this.dirty.add(f.name);
    }
    void this.kick();
    const listed = new Set(files.map((f) => f.name));
    for (const name of this.seen.keys()) if (!listed.has(name)) this.seen.delete(name);
    const present = new Set(files.map((f) => f.ino));
    const pruned = this.checkpoints.prune(present, new Date(this.clock.now().getTime() - PRUNE_AFTER_MS));
    if (pruned > 0) this.opts.log.info('acct.checkpoints_pruned', { dir: this.dir, count: pruned });
    return present;
  }

  private mark(name: string): void {
    if (this.stopping) return;
    this.dirty.add(name);
    void this.kick();
  }

  private kick(): Promise<void> {
    if (this.loop === null && this.dirty.size > 0 && !this.stopping) this.loop = this.runLoop();
    return this.loop ?? Promise.resolve();
  }

  private async runLoop(): Promise<void> {
    // Yield first so `this.loop` is set before the finally below can clear it.
    await null;
    try {
      while (!this.stopping) {
        const next = this.dirty.values().next();
        if (next.done) break;
        this.dirty.delete(next.value);
        try {
          const sig = await this.reader.read(join(this.dir, next.value));
          if (sig === null) this.seen.delete(next.value);
          else this.seen.set(next.value, sig);
        } catch (err) {
          // The file stays where its checkpoint says; the next event or rescan tries again.
          this.opts.log.error('acct.read_failed', { file: join(this.dir, next.value), err });
        }
      }
    } finally {
      this.loop = null;
    }
  }

  private batchDone(summary: BatchSummary, file: string): void {
    for (const u of summary.unattributedSamples) {
      // Each key once per run, so a flood of one unknown VMTA is one line; the counters have the rest.
      const seen = `${u.reason}:${u.key}`;
      if (this.unknownLogged.has(seen) || this.unknownLogged.size > 1000) continue;
      this.unknownLogged.add(seen);
      // 'value', not 'key': the logger redacts fields named key.
      this.opts.log.warn('acct.unattributed', { file, line: u.line, type: u.type, reason: u.reason, value: u.key });
    }
    if (this.listenerCount('batch') > 0) this.emit('batch', { ...summary, file });
  }
}

/** A RegExp as is; a glob (`*`, `?`) matched against the whole file name. */
export function nameMatcher(pattern: RegExp | string): (name: string) => boolean {
  if (pattern instanceof RegExp) {
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    return (name) => re.test(name);
  }
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((ch) => (ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
  );
  return (name) => re.test(name);
}
