// Appends accounting lines to `acct.csv` in whole-line batches. Everything
// (writes, rotation, close) runs on one promise chain so a rotation can never
// interleave with a half-written batch, and lines queued while a write is in
// flight go out together in the next single write.
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

interface Pending {
  text: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export const LIVE_FILE = 'acct.csv';

export class AcctWriter {
  private fh: FileHandle | null = null;
  private pending: Pending[] = [];
  private scheduled = false;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly headerLine: string,
  ) {}

  static async open(dir: string, headerLine: string): Promise<AcctWriter> {
    await mkdir(dir, { recursive: true });
    const w = new AcctWriter(dir, headerLine);
    await w.openLive();
    return w;
  }

  get livePath(): string {
    return join(this.dir, LIVE_FILE);
  }

  /** Resolves once the lines are in the file (handed to the OS, not fsynced). */
  append(lines: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ text: lines.map((l) => l + '\n').join(''), resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.enqueue(() => this.drain());
      }
    });
  }

  /** Renames the live file to `acct-YYYY-MM-DD-HHMMSS.csv` (UTC) and starts a new one. */
  rotate(now: Date): Promise<string> {
    return this.enqueue(async () => {
      await this.closeLive();
      const target = await freeName(this.dir, stamp(now));
      await rename(this.livePath, target);
      await this.openLive();
      return target;
    });
  }

  close(): Promise<void> {
    return this.enqueue(() => this.closeLive());
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op);
    // The chain itself must survive a failed step; callers see the failure.
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      if (!this.fh) throw new Error('accounting file is closed');
      await writeAll(this.fh, batch.map((p) => p.text).join(''));
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  private async openLive(): Promise<void> {
    const fh = await open(this.livePath, 'a');
    if ((await fh.stat()).size === 0) await writeAll(fh, this.headerLine + '\n');
    this.fh = fh;
  }

  private async closeLive(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}

async function writeAll(fh: FileHandle, text: string): Promise<void> {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  // Regular files take the whole buffer at once; the loop only guards odd filesystems.
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

function stamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  );
}

/** Two rotations within one second must not overwrite each other. */
async function freeName(dir: string, base: string): Promise<string> {
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? `acct-${base}.csv` : `acct-${base}-${n}.csv`);
    try {
      await stat(candidate);
    } catch {
      return candidate;
    }
  }
}
