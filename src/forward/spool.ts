import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/logger.js';

/** What the spool knows of a message besides its bytes. */
export interface SpoolMeta {
  id: string;
  tenant: string;
  mailFrom: string;
  rcptTo: string[];
  arrivedAt: string; // ISO time
  reason: string;
  messageId: string | null;
  size: number;
  attempts: number;
  lastError: string | null;
}

export interface SpoolEntry {
  meta: SpoolMeta;
  emlPath: string;
  metaPath: string;
}

export interface SpoolLimits {
  maxMessages: number;
  maxBytes: number;
}

/**
 * The deferred spool: one `<id>.eml` (the message as received) and one
 * `<id>.json` (envelope and tenant) per message under `<dir>/<tenant>/`. The
 * `.json` is written last and renamed into place: a message exists in the spool
 * exactly when its `.json` does, so after a crash an `.eml` without `.json`
 * (never acknowledged with 250) is removed and nothing acknowledged is lost.
 * Both files and the directory are fsynced before the 250 goes out.
 */
export class Spool {
  private readonly queues = new Map<string, SpoolEntry[]>(); // oldest first
  private readonly bytes = new Map<string, number>();
  readonly tmpDir: string;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.tmpDir = path.join(dir, 'tmp');
  }

  static newId(now: Date): string {
    // Time first so listings sort by arrival; a per-process random prefix and a
    // counter keep ids unique across processes without a random draw per message.
    return `${now.getTime().toString(36).padStart(9, '0')}-${ID_PREFIX}${(idCounter++).toString(36)}`;
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.tmpDir, { recursive: true });
    // Partial uploads from before a restart were never acknowledged.
    for (const f of await fsp.readdir(this.tmpDir)) await fsp.rm(path.join(this.tmpDir, f), { force: true });
    for (const tenantDir of await fsp.readdir(this.dir, { withFileTypes: true })) {
      if (!tenantDir.isDirectory() || tenantDir.name === 'tmp') continue;
      const tdir = path.join(this.dir, tenantDir.name);
      const files = await fsp.readdir(tdir);
      const metas = new Set(files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));
      for (const f of files) {
        const id = f.replace(/\.(eml|json|json\.tmp)$/, '');
        if (f.endsWith('.json.tmp') || (f.endsWith('.eml') && !metas.has(id))) {
          await fsp.rm(path.join(tdir, f), { force: true });
        }
      }
      for (const id of [...metas].sort()) {
        const metaPath = path.join(tdir, `${id}.json`);
        try {
          const meta = JSON.parse(await fsp.readFile(metaPath, 'utf8')) as SpoolMeta;
          await fsp.access(path.join(tdir, `${id}.eml`));
          this.index({ meta, metaPath, emlPath: path.join(tdir, `${id}.eml`) });
        } catch (err) {
          this.log.error('spool.corrupt', { file: metaPath, error: err as Error });
        }
      }
    }
    for (const q of this.queues.values()) q.sort((a, b) => (a.meta.arrivedAt < b.meta.arrivedAt ? -1 : a.meta.arrivedAt > b.meta.arrivedAt ? 1 : 0));
    this.log.info('spool.loaded', { dir: this.dir, messages: this.size() });
  }

  tmpPathFor(id: string): string {
    return path.join(this.tmpDir, `${id}.eml`);
  }

  private index(entry: SpoolEntry): void {
    const q = this.queues.get(entry.meta.tenant) ?? [];
    q.push(entry);
    this.queues.set(entry.meta.tenant, q);
    this.bytes.set(entry.meta.tenant, (this.bytes.get(entry.meta.tenant) ?? 0) + entry.meta.size);
  }

  /** The limit a new message of `size` bytes would pass, as text for the reply; null if it fits. */
  overLimit(tenant: string, size: number, limits: SpoolLimits): string | null {
    const count = this.queues.get(tenant)?.length ?? 0;
    if (count + 1 > limits.maxMessages) return `limit of ${limits.maxMessages} messages`;
    if ((this.bytes.get(tenant) ?? 0) + size > limits.maxBytes) return `limit of ${limits.maxBytes} bytes`;
    return null;
  }

  /**
   * Moves a fully received file into the spool durably. `src` must be on the same
   * file system (it is: the temp dir is inside the spool dir), so the move is a rename.
   */
  async admit(src: string, meta: SpoolMeta): Promise<SpoolEntry> {
    const tdir = path.join(this.dir, safeName(meta.tenant));
    await fsp.mkdir(tdir, { recursive: true });
    const emlPath = path.join(tdir, `${meta.id}.eml`);
    const metaPath = path.join(tdir, `${meta.id}.json`);
    await fsyncFile(src);
    await fsp.rename(src, emlPath);
    await writeDurably(metaPath, JSON.stringify(meta));
    await fsyncDir(tdir);
    const entry = { meta, emlPath, metaPath };
    this.index(entry);
    return entry;
  }

  /** Same as admit, but the file stays where it is for the caller (a copy). */
  async admitCopy(src: string, meta: SpoolMeta): Promise<SpoolEntry> {
    const copy = this.tmpPathFor(`${meta.id}.copy`);
    await fsp.copyFile(src, copy);
    return this.admit(copy, meta);
  }

  /** Rewrite the metadata (attempts, remaining recipients) durably. */
  async update(entry: SpoolEntry): Promise<void> {
    await writeDurably(entry.metaPath, JSON.stringify(entry.meta));
  }

  /** Removing the `.json` first is the commit point: from then on the message is gone. */
  async remove(entry: SpoolEntry): Promise<void> {
    const q = this.queues.get(entry.meta.tenant);
    const i = q ? q.indexOf(entry) : -1;
    if (q && i >= 0) {
      q.splice(i, 1);
      this.bytes.set(entry.meta.tenant, (this.bytes.get(entry.meta.tenant) ?? 0) - entry.meta.size);
      if (q.length === 0) this.queues.delete(entry.meta.tenant);
    }
    await fsp.rm(entry.metaPath, { force: true });
    await fsp.rm(entry.emlPath, { force: true });
  }

  tenants(): string[] {
    return [...this.queues.keys()];
  }

  queue(tenant: string): readonly SpoolEntry[] {
    return this.queues.get(tenant) ?? [];
  }

  size(tenant?: string): number {
    if (tenant !== undefined) return this.queues.get(tenant)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  bytesOf(tenant: string): number {
    return this.bytes.get(tenant) ?? 0;
  }
}

const ID_PREFIX = randomBytes(4).toString('hex');
let idCounter = 0;

function safeName(s: string): string {
  return s.replace(/[^a-z0-9-]/gi, '_');
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await fsp.open(file, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}
