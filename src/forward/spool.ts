import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { fsyncDir, fsyncPath } from '../store/fsync.js';
import { DIR_MODE, FILE_MODE } from '../store/modes.js';
import type { MailParams } from './forwarder.js';
import { HoldingSink, type Held } from './held.js';

/** What the spool knows of a message besides its bytes. */
export interface SpoolMeta {
  id: string;
  /** The tenant's id: a slug may be renamed, the id never changes. */
  tenantId: number;
  mailFrom: string;
  /** MAIL FROM's BODY= and SMTPUTF8, passed on to PowerMTA; absent in files from before they were kept. */
  mailParams?: MailParams;
  rcptTo: string[];
  arrivedAt: string; // ISO time
  reason: string;
  messageId: string | null;
  size: number;
  attempts: number;
  lastError: string | null;
  /**
   * Set when a crashed process handed this message to PowerMTA and never heard
   * the answer (ISO time of the recovery): the dispatcher waits for accounting
   * to show whether PowerMTA has it before it sends it again.
   */
  fateUnknownSince?: string;
  /**
   * PowerMTA answered and deferred every recipient (a 4xx, or a VMTA it does
   * not know yet) this many times in a row; absent in files from before it was
   * kept, and once PowerMTA takes or refuses the message.
   */
  deferrals?: number;
  /** ISO time before which the dispatcher leaves the message alone after such a deferral. */
  nextAttemptAt?: string;
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
 * `<id>.json` (envelope and tenant) per message under `<dir>/<tenant id>/`. The
 * `.json` is written last and renamed into place: a message exists in the spool
 * exactly when its `.json` does, so after a crash an `.eml` without `.json`
 * (never acknowledged with 250) is removed and nothing acknowledged is lost.
 * Both files and the directory are fsynced before the 250 goes out.
 */
export class Spool {
  private readonly queues = new Map<number, SpoolEntry[]>(); // oldest first
  private readonly bytes = new Map<number, number>();
  readonly tmpDir: string;

  /** `memoryBytes`: a message up to this size is received in memory, a larger one into a temp file (`spool.memoryBytes`). */
  constructor(
    readonly dir: string,
    private readonly log: Logger,
    private memoryBytes = 0,
  ) {
    this.tmpDir = path.join(dir, 'tmp');
  }

  setMemoryBytes(n: number): void {
    this.memoryBytes = n;
  }

  static newId(now: Date): string {
    // Time first so listings sort by arrival; a per-process random prefix and a
    // counter keep ids unique across processes without a random draw per message.
    return `${now.getTime().toString(36).padStart(9, '0')}-${ID_PREFIX}${(idCounter++).toString(36)}`;
  }

  /**
   * Loads the spool. Spools written before it was keyed by tenant id have
   * directories named by slug: `tenantIdOf` resolves those once, and their
   * messages move to the id's directory first.
   */
  async init(tenantIdOf: (slug: string) => number | undefined = () => undefined): Promise<void> {
    await fsp.mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
    // Partial uploads from before a restart were never acknowledged.
    for (const f of await fsp.readdir(this.tmpDir)) await fsp.rm(path.join(this.tmpDir, f), { force: true });
    const dirs = (await fsp.readdir(this.dir, { withFileTypes: true })).filter((d) => d.isDirectory() && d.name !== 'tmp');
    for (const d of dirs) if (!/^\d+$/.test(d.name)) await this.migrateSlugDir(path.join(this.dir, d.name), tenantIdOf);
    for (const d of await fsp.readdir(this.dir, { withFileTypes: true })) {
      if (!d.isDirectory() || !/^\d+$/.test(d.name)) continue;
      const tdir = path.join(this.dir, d.name);
      for (const { id, metaPath, emlPath } of await this.complete(tdir)) {
        try {
          const meta = JSON.parse(await fsp.readFile(metaPath, 'utf8')) as SpoolMeta;
          this.index({ meta, metaPath, emlPath });
        } catch (err) {
          this.log.error('spool.corrupt', { file: metaPath, spoolId: id, error: err as Error });
        }
      }
    }
    for (const q of this.queues.values()) q.sort((a, b) => (a.meta.arrivedAt < b.meta.arrivedAt ? -1 : a.meta.arrivedAt > b.meta.arrivedAt ? 1 : 0));
    this.log.info('spool.loaded', { dir: this.dir, messages: this.size() });
  }

  /** The messages of a directory that have both files; leftovers of an unfinished admit are removed. */
  private async complete(tdir: string): Promise<Array<{ id: string; metaPath: string; emlPath: string }>> {
    const files = await fsp.readdir(tdir);
    const metas = new Set(files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));
    const emls = new Set(files.filter((f) => f.endsWith('.eml')).map((f) => f.slice(0, -4)));
    for (const f of files) {
      const id = f.replace(/\.(eml|json|json\.tmp)$/, '');
      if (f.endsWith('.json.tmp') || (f.endsWith('.eml') && !metas.has(id))) await fsp.rm(path.join(tdir, f), { force: true });
    }
    const out = [];
    for (const id of [...metas].sort()) {
      const metaPath = path.join(tdir, `${id}.json`);
      if (!emls.has(id)) {
        this.log.error('spool.corrupt', { file: metaPath, spoolId: id, error: 'no .eml beside it' });
        continue;
      }
      out.push({ id, metaPath, emlPath: path.join(tdir, `${id}.eml`) });
    }
    return out;
  }

  /**
   * Moves a slug-named directory's messages to their tenant id's directory.
   * Each step leaves a loadable spool: the `.eml` is linked in, the new `.json`
   * written, and only then the old files go (a crash in between finds the new
   * `.json` and just removes the old pair).
   */
  private async migrateSlugDir(dir: string, tenantIdOf: (slug: string) => number | undefined): Promise<void> {
    for (const { id, metaPath, emlPath } of await this.complete(dir)) {
      try {
        const { tenant: slug, ...rest } = JSON.parse(await fsp.readFile(metaPath, 'utf8')) as Omit<SpoolMeta, 'tenantId'> & { tenant?: string; tenantId?: number };
        const tenantId = rest.tenantId ?? (slug === undefined ? undefined : tenantIdOf(slug));
        if (tenantId === undefined) {
          this.log.error('spool.unknown_tenant', { file: metaPath, tenant: slug, note: 'left in place until its tenant is known' });
          continue;
        }
        const tdir = path.join(this.dir, String(tenantId));
        await fsp.mkdir(tdir, { recursive: true, mode: DIR_MODE });
        const newMeta = path.join(tdir, `${id}.json`);
        if (!(await exists(newMeta))) {
          await fsp.rm(path.join(tdir, `${id}.eml`), { force: true });
          await fsp.link(emlPath, path.join(tdir, `${id}.eml`));
          await writeDurably(newMeta, JSON.stringify({ ...rest, tenantId }));
          await fsyncDir(tdir);
        }
        await fsp.rm(metaPath, { force: true });
        await fsp.rm(emlPath, { force: true });
        this.log.info('spool.migrated', { spoolId: id, tenantId, from: dir });
      } catch (err) {
        this.log.error('spool.migrate_failed', { file: metaPath, error: err as Error });
      }
    }
    await fsp.rmdir(dir).catch(() => undefined);
  }

  tmpPathFor(id: string): string {
    return path.join(this.tmpDir, `${id}.eml`);
  }

  /** Where a message being received is held until it is forwarded or admitted. */
  sink(id: string): HoldingSink {
    return new HoldingSink(this.tmpPathFor(id), this.memoryBytes);
  }

  private index(entry: SpoolEntry): void {
    const t = entry.meta.tenantId;
    const q = this.queues.get(t) ?? [];
    q.push(entry);
    this.queues.set(t, q);
    this.bytes.set(t, (this.bytes.get(t) ?? 0) + entry.meta.size);
  }

  /** The limit a new message of `size` bytes would pass, as text for the reply; null if it fits. */
  overLimit(tenant: number, size: number, limits: SpoolLimits): string | null {
    const count = this.queues.get(tenant)?.length ?? 0;
    if (count + 1 > limits.maxMessages) return `limit of ${limits.maxMessages} messages`;
    if ((this.bytes.get(tenant) ?? 0) + size > limits.maxBytes) return `limit of ${limits.maxBytes} bytes`;
    return null;
  }

  /**
   * Puts a fully received message into the spool durably: one held in memory is
   * written and fsynced in place, a temp file fsynced and renamed (the temp dir
   * is inside the spool dir, so on the same file system). Until its `.json`
   * exists the `.eml` is a leftover that `init` removes.
   */
  async admit(src: string | Held, meta: SpoolMeta): Promise<SpoolEntry> {
    const tdir = path.join(this.dir, String(meta.tenantId));
    await fsp.mkdir(tdir, { recursive: true, mode: DIR_MODE });
    const emlPath = path.join(tdir, `${meta.id}.eml`);
    const metaPath = path.join(tdir, `${meta.id}.json`);
    const held: Held = typeof src === 'string' ? { kind: 'file', path: src, size: meta.size } : src;
    if (held.kind === 'memory') await writeSynced(emlPath, held.bytes);
    else {
      await fsyncPath(held.path);
      await fsp.rename(held.path, emlPath);
    }
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
    const t = entry.meta.tenantId;
    const q = this.queues.get(t);
    const i = q ? q.indexOf(entry) : -1;
    if (q && i >= 0) {
      q.splice(i, 1);
      this.bytes.set(t, (this.bytes.get(t) ?? 0) - entry.meta.size);
      if (q.length === 0) this.queues.delete(t);
    }
    await fsp.rm(entry.metaPath, { force: true });
    await fsp.rm(entry.emlPath, { force: true });
  }

  /** Tenant ids with spooled mail. */
  tenants(): number[] {
    return [...this.queues.keys()];
  }

  queue(tenant: number): readonly SpoolEntry[] {
    return this.queues.get(tenant) ?? [];
  }

  size(tenant?: number): number {
    if (tenant !== undefined) return this.queues.get(tenant)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  bytesOf(tenant: number): number {
    return this.bytes.get(tenant) ?? 0;
  }
}

const ID_PREFIX = randomBytes(4).toString('hex');
let idCounter = 0;

async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(
    () => true,
    () => false,
  );
}

async function writeSynced(file: string, data: string | Buffer): Promise<void> {
  const fh = await fsp.open(file, 'w', FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeSynced(tmp, text);
  await fsp.rename(tmp, file);
}
