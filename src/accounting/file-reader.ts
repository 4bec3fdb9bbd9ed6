// Reads one accounting file from its checkpoint to its last whole line, in
// large chunks, and applies the records batch by batch, each batch in one
// transaction with the checkpoint just after its last line. A half-written
// last line stays on disk until its newline arrives.
import { isAscii } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import { CheckpointStore, FINGERPRINT_MAX, fingerprint, type Checkpoint } from './checkpoints.js';
import type { AccountingEffects, BatchSummary, PendingBatch } from './effects.js';
import { lineState, parseLines, type LineState, type ParsedLines } from './lines.js';

export interface FileReaderOptions {
  db: Db;
  checkpoints: CheckpointStore;
  effects: AccountingEffects;
  log: Logger;
  /** Lines per transaction (at most; the end of the file commits what it has). */
  batchLines: number;
  readChunkBytes: number;
  /** A longer line is counted as malformed and skipped rather than buffered. */
  maxLineBytes: number;
  /** Malformed lines logged one by one per file and pass; the rest are only counted. */
  maxMalformedLogs: number;
  /** Checked between pieces: a reader asked to stop commits what it has and returns. */
  stopping: () => boolean;
  /** Dates records whose header has no time column. */
  now: () => Date;
  /** After each committed batch that held records or malformed lines. */
  onBatch: (summary: BatchSummary, file: string) => void;
}

/** Bytes decoded to a string at a time. */
const DECODE_PIECE = 64 * 1024;

export class AcctFileReader {
  private buf: Buffer;

  constructor(private readonly opts: FileReaderOptions) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, Math.min(opts.readChunkBytes, opts.maxLineBytes)));
  }

  /**
   * Reads what is new in the file at `path`. Returns the file's identity and
   * size as read (for skipping unchanged files), or null when it is gone.
   */
  async read(path: string): Promise<string | null> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return null;
      const ino = st.ino.toString();
      const size = Number(st.size);
      const stored = this.opts.checkpoints.get(ino);
      let cp: Checkpoint;
      if (stored !== undefined && (await this.sameFile(fh, stored, size, path))) {
        cp = { ...stored, path };
        if (stored.path !== path) {
          // PowerMTA's rotation: the live file renamed, same inode. Carry on from its checkpoint.
          this.opts.log.info('acct.file_renamed', { from: stored.path, to: path, offset: stored.offset });
          if (cp.offset >= size) this.opts.db.transaction(() => this.opts.checkpoints.save(cp))();
        }
      } else {
        cp = { ino, dev: st.dev.toString(), path, fpLen: 0, fpHash: '', offset: 0, line: 0, header: null };
      }
      if (cp.offset < size) await this.readFrom(fh, cp);
      return `${st.ino}:${st.size}:${st.mtimeNs}`;
    } finally {
      await fh.close();
    }
  }

  /** False when the row belongs to another file that now has this inode, or the file was cut short or rewritten. */
  private async sameFile(fh: FileHandle, cp: Checkpoint, size: number, path: string): Promise<boolean> {
    let reason: string | null = null;
    if (size < cp.offset) reason = 'truncated';
    else if (cp.fpLen > 0 && fingerprint(await readAt(fh, 0, cp.fpLen)) !== cp.fpHash) reason = 'replaced';
    if (reason === null) return true;
    this.opts.log.warn('acct.file_restarted', { file: path, reason, previousOffset: cp.offset, size });
    return false;
  }

  /**
   * Reads from the checkpoint to the end of the file. Records are folded into
   * a pending batch piece by piece; every `batchLines` lines (and at the end)
   * the batch is committed with the checkpoint just after its last line.
   */
  private async readFrom(fh: FileHandle, cp: Checkpoint): Promise<void> {
    const state = lineState(cp.header, cp.line);
    const logs = { left: this.opts.maxMalformedLogs };
    const parsed: ParsedLines = { records: [], malformed: [] };
    let pending = this.opts.effects.begin();
    let done = cp.offset; // file offset up to which lines are in `pending`
    const flush = async (): Promise<void> => {
      if (done === cp.offset) return;
      cp.offset = done;
      cp.line = state.line;
      await this.commit(fh, cp, state, pending);
      pending = this.opts.effects.begin();
    };
    let pos = cp.offset; // file offset of this.buf[0]
    let filled = 0;
    let skipping = false; // inside a line too long to keep
    while (!this.opts.stopping()) {
      if (filled === this.buf.length) {
        if (this.buf.length < this.opts.maxLineBytes) {
          const bigger = Buffer.allocUnsafe(Math.min(this.opts.maxLineBytes, this.buf.length * 2));
          this.buf.copy(bigger, 0, 0, filled);
          this.buf = bigger;
        } else {
          skipping = true;
          pos += filled;
          filled = 0;
        }
      }
      const { bytesRead } = await fh.read(this.buf, filled, this.buf.length - filled, pos + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (skipping) {
        const nl = this.buf.indexOf(10);
        if (nl < 0 || nl >= filled) continue;
        state.line++;
        this.malformed(cp.path, state.line, `line longer than ${this.opts.maxLineBytes} bytes`, '', logs);
        pending.addMalformed(1);
        skipping = false;
        this.buf.copy(this.buf, 0, nl + 1, filled);
        filled -= nl + 1;
        pos += nl + 1;
        done = pos;
      }
      const last = this.buf.lastIndexOf(10, filled - 1);
      if (last < 0) continue; // no whole line yet: read on, or wait for its end
      const end = last + 1;
      let p = 0;
      let grow = 0;
      while (p < end && !this.opts.stopping()) {
        // Decoded in pieces of whole lines: strings this size stay in V8's young
        // generation, where a multi-megabyte one is ten times slower to make.
        const want = p + DECODE_PIECE + grow;
        let q = want >= end ? end : this.buf.lastIndexOf(10, want - 1) + 1;
        if (q <= p) q = this.buf.indexOf(10, p) + 1; // one line longer than a piece
        const text = decode(this.buf, p, q);
        state.readAt = this.opts.now();
        parseLines(text, state, parsed);
        for (const rec of parsed.records) pending.add(rec);
        parsed.records.length = 0;
        if (parsed.malformed.length > 0) {
          for (const m of parsed.malformed) this.malformed(cp.path, m.line, m.reason, m.text, logs);
          pending.addMalformed(parsed.malformed.length);
          parsed.malformed.length = 0;
        }
        if (parsed.notes !== undefined && parsed.notes.length > 0) {
          for (const n of parsed.notes) this.opts.log.warn('acct.header_note', { file: cp.path, line: n.line, note: n.note });
          parsed.notes.length = 0;
        }
        // A quoted field running past the piece: its lines are read again with what follows.
        const to = parsed.rest ? q - Buffer.byteLength(text.slice(text.length - parsed.rest)) : q;
        if (to === p) {
          if (q >= end) break; // the record goes on past what is on disk: wait for it
          grow += DECODE_PIECE;
          continue;
        }
        grow = 0;
        p = to;
        done = pos + to;
        if (state.line - cp.line >= this.opts.batchLines) await flush();
      }
      if (this.opts.stopping()) break; // the rest is read again next time
      this.buf.copy(this.buf, 0, p, filled);
      filled -= p;
      pos += p;
    }
    await flush();
    if (logs.left < 0) {
      this.opts.log.warn('acct.malformed_not_logged', { file: cp.path, count: -logs.left });
    }
  }

  private async commit(fh: FileHandle, cp: Checkpoint, state: LineState, pending: PendingBatch): Promise<void> {
    cp.header = state.headerText;
    // Grow the fingerprint over the first bytes while the file is young.
    if (cp.fpLen < FINGERPRINT_MAX && cp.offset > cp.fpLen) {
      cp.fpLen = Math.min(cp.offset, FINGERPRINT_MAX);
      cp.fpHash = fingerprint(await readAt(fh, 0, cp.fpLen));
    }
    const summary = this.opts.effects.commit(pending, () => this.opts.checkpoints.save(cp));
    if (!pending.empty) this.opts.onBatch(summary, cp.path);
  }

  private malformed(file: string, line: number, reason: string, text: string, logs: { left: number }): void {
    logs.left--;
    if (logs.left >= 0) this.opts.log.warn('acct.malformed_line', { file, line, reason, text });
  }
}

/** UTF-8, with a fast path: ASCII text (nearly every accounting line) decodes as latin1, which is a plain copy. */
function decode(buf: Buffer, start: number, end: number): string {
  return isAscii(buf.subarray(start, end)) ? buf.toString('latin1', start, end) : buf.toString('utf8', start, end);
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(out, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? out : out.subarray(0, got);
}
