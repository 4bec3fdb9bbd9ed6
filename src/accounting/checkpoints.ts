// How far each accounting file has been read. A row is keyed by the file's
// inode: PowerMTA rotates by renaming, which keeps the inode, so a rotated file
// continues where the live one stopped. The fingerprint (a hash of the file's
// first bytes, up to FINGERPRINT_MAX, only over bytes already read) tells a
// reused inode or a rewritten file from the one the row was made for.
//
// The device number is kept for the record but is not part of the key: on some
// volumes (LVM, btrfs, NFS) it changes across reboots, and the accounting
// directory is one directory on one file system.
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import { systemClock, type Clock } from '../types.js';

export const FINGERPRINT_MAX = 1024;

export interface Checkpoint {
  ino: string;
  dev: string;
  /** Where the file was last seen; informational (a rename changes it). */
  path: string;
  fpLen: number;
  fpHash: string;
  /** Bytes read and applied: always just after a newline. */
  offset: number;
  /** Lines read and applied (so the next line is `line + 1`). */
  line: number;
  /** The header line in force at `offset`, to read the rest of the file by. */
  header: string | null;
}

export function fingerprint(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

interface Row {
  ino: string;
  dev: string;
  path: string;
  fp_len: number;
  fp_hash: string;
  offset: number;
  line: number;
  header: string | null;
  updated_at: string;
}

export class CheckpointStore {
  private readonly getStmt: Statement<[string]>;
  private readonly saveStmt: Statement<[string, string, string, number, string, number, number, string | null, string]>;
  private readonly allStmt: Statement<[]>;
  private readonly deleteStmt: Statement<[string]>;

  constructor(
    db: Db,
    private readonly clock: Clock = systemClock,
  ) {
    this.getStmt = db.prepare('SELECT * FROM acct_checkpoints WHERE ino = ?');
    this.saveStmt = db.prepare(
      `INSERT INTO acct_checkpoints (ino, dev, path, fp_len, fp_hash, offset, line, header, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (ino) DO UPDATE SET dev = excluded.dev, path = excluded.path, fp_len = excluded.fp_len,
         fp_hash = excluded.fp_hash, offset = excluded.offset, line = excluded.line, header = excluded.header,
         updated_at = excluded.updated_at`,
    );
    this.allStmt = db.prepare('SELECT * FROM acct_checkpoints ORDER BY path');
    this.deleteStmt = db.prepare('DELETE FROM acct_checkpoints WHERE ino = ?');
  }

  get(ino: string): Checkpoint | undefined {
    const row = this.getStmt.get(ino) as Row | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /** Call inside the transaction that applies the lines up to `cp.offset`. */
  save(cp: Checkpoint): void {
    this.saveStmt.run(cp.ino, cp.dev, cp.path, cp.fpLen, cp.fpHash, cp.offset, cp.line, cp.header, this.clock.now().toISOString());
  }

  all(): Array<Checkpoint & { updatedAt: string }> {
    return (this.allStmt.all() as Row[]).map((r) => ({ ...fromRow(r), updatedAt: r.updated_at }));
  }

  /**
   * Forgets files that are gone: rows whose inode is not among `present` and
   * that have not moved since `before`. The age guard keeps a row whose file
   * was being renamed while the directory was listed.
   */
  prune(present: ReadonlySet<string>, before: Date): number {
    let n = 0;
    const cutoff = before.toISOString();
    for (const row of this.allStmt.all() as Row[]) {
      if (!present.has(row.ino) && row.updated_at < cutoff) n += this.deleteStmt.run(row.ino).changes;
    }
    return n;
  }
}

function fromRow(r: Row): Checkpoint {
  return {
    ino: r.ino,
    dev: r.dev,
    path: r.path,
    fpLen: r.fp_len,
    fpHash: r.fp_hash,
    offset: r.offset,
    line: r.line,
    header: r.header,
  };
}
