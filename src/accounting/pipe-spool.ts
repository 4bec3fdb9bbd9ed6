// What `pmta-agent acct-pipe` does with the records PowerMTA pipes to it
// (`<acct-file |program>`, powermta.md §1.9, §3.1): append them to a spool
// file in the accounting directory, fsynced before more is read, so they are
// safe on disk whether or not the daemon runs; the daemon's tailer follows
// these files as it follows PowerMTA's own (checkpoints, rotation, restarts).
//
// - One file per UTC day, `pipe-YYYY-MM-DD.csv`. A file started mid-stream
//   begins with the header line in force, so it reads on its own.
// - Only whole lines are written while input flows. A last line cut short when
//   the input ends is written as it is, without a newline: PowerMTA's header
//   for the next run then follows it, and the reader takes that header as a
//   new section (lines.ts), as it does for PowerMTA's own files.
// - Files older than `keepDays` days are deleted when a new day's file starts,
//   as PowerMTA's own `delete-after` (default 8d) does for its files.
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../types.js';

export const PIPE_FILE_PREFIX = 'pipe-';

/** The spool file for the UTC day of `at`. */
export function pipeFileName(at: Date): string {
  return `${PIPE_FILE_PREFIX}${at.toISOString().slice(0, 10)}.csv`;
}

export class PipeSpool {
  private fh: FileHandle | null = null;
  private fileName = '';
  private size = 0;
  /** Bytes after the last newline seen: the start of a line still coming. */
  private partial: Buffer = Buffer.alloc(0);
  /** The last header line seen (with its newline), to start a new day's file with. */
  private header: Buffer | null = null;

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly keepDays = 8,
  ) {}

  /** Appends the whole lines of `chunk` (with what was left of the last one) and fsyncs them. */
  async write(chunk: Buffer): Promise<void> {
    const data = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    const last = data.lastIndexOf(10);
    if (last < 0) {
      this.partial = Buffer.from(data);
      return;
    }
    this.partial = Buffer.from(data.subarray(last + 1));
    await this.append(data.subarray(0, last + 1));
  }

  /** The input ended: the rest of a cut line is written as it is, then the file is closed. */
  async end(): Promise<void> {
    if (this.partial.length > 0) await this.append(this.partial);
    this.partial = Buffer.alloc(0);
    await this.fh?.close();
    this.fh = null;
  }

  private async append(lines: Buffer): Promise<void> {
    // A new file starts with the header in force before these lines; theirs counts after.
    await this.openFor(this.clock.now(), lines);
    const fh = this.fh!;
    let off = 0;
    while (off < lines.length) {
      const { bytesWritten } = await fh.write(lines, off, lines.length - off);
      off += bytesWritten;
    }
    this.size += lines.length;
    this.noteHeader(lines);
    // Nothing is acknowledged to PowerMTA until it is on disk: reading more is what acknowledges.
    await fh.datasync();
  }

  /** Deletes spool files whose day is more than keepDays before `now`'s. */
  private async deleteOld(now: Date): Promise<void> {
    const oldest = pipeFileName(new Date(now.getTime() - this.keepDays * 86_400_000));
    for (const f of await readdir(this.dir)) {
      // Names sort by day: pipe-2026-11-16.csv < pipe-2026-11-17.csv.
      if (/^pipe-\d{4}-\d{2}-\d{2}\.csv$/.test(f) && f < oldest) await unlink(join(this.dir, f)).catch(() => undefined);
    }
  }

  /** Keeps the last header line among `lines` (a line starting `type,`). */
  private noteHeader(lines: Buffer): void {
    for (let at = lines.lastIndexOf('type,'); at >= 0; at = at === 0 ? -1 : lines.lastIndexOf('type,', at - 1)) {
      if (at === 0 || lines[at - 1] === 10) {
        const nl = lines.indexOf(10, at);
        if (nl >= 0) this.header = Buffer.from(lines.subarray(at, nl + 1));
        return;
      }
    }
  }

  private async openFor(now: Date, first: Buffer): Promise<void> {
    const name = pipeFileName(now);
    if (this.fh !== null && name === this.fileName) return;
    await this.fh?.close();
    await mkdir(this.dir, { recursive: true });
    // World-readable like `<acct-file> world-readable yes`: the daemon runs as its own user.
    const fh = await open(join(this.dir, name), 'a', 0o644);
    this.fh = fh;
    this.fileName = name;
    this.size = (await fh.stat()).size;
    if (this.size === 0) await this.deleteOld(now);
    if (this.size === 0 && this.header !== null && !first.subarray(0, 5).equals(Buffer.from('type,'))) {
      await fh.write(this.header);
      this.size += this.header.length;
    }
  }
}
