// Per-tenant suppression list: addresses the gate must refuse. Hard bounces
// and complaints come from the accounting files; operators add manual entries
// and import lists. The first reason recorded for an address stays.
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import { systemClock, type Clock } from '../types.js';
import { csvField, splitCsvLine } from './csv.js';
import { SuppressedSet } from './suppressed-set.js';

export const SUPPRESSION_REASONS = ['hard-bounce', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export interface SuppressionHit {
  reason: SuppressionReason;
  /** Where the entry came from: `pmta-acct`, `manual`, `import`, ... */
  source: string;
  detail: string | null;
  /** ISO 8601: when the bounce or complaint was logged, or the entry made. */
  createdAt: string;
}

export interface SuppressionEntry extends SuppressionHit {
  tenantId: number;
  email: string;
}

export interface NewSuppression {
  reason: SuppressionReason;
  source: string;
  detail?: string | null;
  /** Defaults to the store's clock. */
  at?: Date;
}

export interface ImportResult {
  added: number;
  /** Already on the list (or repeated in the file): left as they were. */
  duplicates: number;
  bad: Array<{ line: number; text: string; error: string }>;
}

/** Normal form of an address on the list: trimmed and lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

// Deliberately loose: one @, no spaces or CSV/header punctuation, a dot in the domain.
const EMAIL_RE = /^[^\s@"(),:;<>[\\\]]+@[^\s@"(),:;<>[\\\]]+\.[^\s@"(),:;<>[\\\].]+$/;
const MAX_EMAIL = 254;

export function isPlausibleEmail(email: string): boolean {
  return email.length <= MAX_EMAIL && EMAIL_RE.test(email);
}

const HEADER_NAMES = new Set(['email', 'e-mail', 'email_address', 'emailaddress', 'address', 'mail']);
const EXPORT_COLUMNS = ['email', 'reason', 'source', 'detail', 'created_at'];

interface Row {
  tenant_id: number;
  email: string;
  reason: SuppressionReason;
  source: string;
  detail: string | null;
  created_at: string;
}

/**
 * Per connection: which pairs may be listed (suppressed-set.ts), kept by every
 * SuppressionStore on it as it adds entries. The agent is the only writer of
 * its SQLite file (one agent per state directory; the CLI goes through the
 * API), so an address suppressed by anything is added here before its next RCPT.
 */
const listed = new WeakMap<Db, SuppressedSet>();

export class SuppressionStore {
  private readonly checkStmt: Statement<[number, string]>;
  private readonly insertStmt: Statement<[number, string, string, string, string | null, string]>;
  private readonly removeStmt: Statement<[number, string]>;
  private readonly listStmt: Statement<[number, number, number]>;
  private readonly countStmt: Statement<[number]>;
  private readonly allStmt: Statement<[number]>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock = systemClock,
  ) {
    this.checkStmt = db.prepare('SELECT reason, source, detail, created_at FROM suppression WHERE tenant_id = ? AND email = ?');
    this.insertStmt = db.prepare(
      'INSERT OR IGNORE INTO suppression (tenant_id, email, reason, source, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.removeStmt = db.prepare('DELETE FROM suppression WHERE tenant_id = ? AND email = ?');
    this.listStmt = db.prepare(
      'SELECT * FROM suppression WHERE tenant_id = ? ORDER BY created_at DESC, email LIMIT ? OFFSET ?',
    );
    this.countStmt = db.prepare('SELECT COUNT(*) AS n FROM suppression WHERE tenant_id = ?');
    this.allStmt = db.prepare('SELECT * FROM suppression WHERE tenant_id = ? ORDER BY email');
  }

  /** The entry that blocks this address for the tenant, or null. An address not listed costs no query. */
  check(tenantId: number, email: string): SuppressionHit | null {
    const normal = normalizeEmail(email);
    if (!this.listed().mayHave(tenantId, normal)) return null;
    const row = this.checkStmt.get(tenantId, normal) as Omit<Row, 'tenant_id' | 'email'> | undefined;
    if (row === undefined) return null;
    return { reason: row.reason, source: row.source, detail: row.detail, createdAt: row.created_at };
  }

  /** True when the address was not on the list yet; an existing entry keeps its first reason. */
  add(tenantId: number, email: string, entry: NewSuppression): boolean {
    const at = (entry.at ?? this.clock.now()).toISOString();
    const normal = normalizeEmail(email);
    const info = this.insertStmt.run(tenantId, normal, entry.reason, entry.source, entry.detail ?? null, at);
    listed.get(this.db)?.add(tenantId, normal);
    return info.changes > 0;
  }

  /** The connection's set of listed pairs, built from the table the first time (and again, larger, once full). */
  private listed(): SuppressedSet {
    let set = listed.get(this.db);
    if (set === undefined || set.full) {
      set = new SuppressedSet((this.db.prepare('SELECT COUNT(*) AS n FROM suppression').get() as { n: number }).n);
      for (const r of this.db.prepare('SELECT tenant_id, email FROM suppression').iterate() as IterableIterator<{ tenant_id: number; email: string }>) set.add(r.tenant_id, r.email);
      listed.set(this.db, set);
    }
    return set;
  }

  remove(tenantId: number, email: string): boolean {
    return this.removeStmt.run(tenantId, normalizeEmail(email)).changes > 0;
  }

  /** Newest first. */
  list(tenantId: number, page: { limit?: number; offset?: number } = {}): { total: number; entries: SuppressionEntry[] } {
    const limit = Math.max(0, Math.floor(page.limit ?? 100));
    const offset = Math.max(0, Math.floor(page.offset ?? 0));
    const total = (this.countStmt.get(tenantId) as { n: number }).n;
    const entries = (this.listStmt.all(tenantId, limit, offset) as Row[]).map(toEntry);
    return { total, entries };
  }

  /** `email,reason,source,detail,created_at`, one line per entry, sorted by address. */
  exportCsv(tenantId: number): string {
    let out = EXPORT_COLUMNS.join(',') + '\n';
    for (const row of this.allStmt.iterate(tenantId) as IterableIterator<Row>) {
      out += [row.email, row.reason, row.source, row.detail ?? '', row.created_at].map(csvField).join(',') + '\n';
    }
    return out;
  }

  /**
   * A CSV of addresses, header optional: a first line without any address is a
   * header, and its `email` (or `address`) column is read; otherwise the first
   * column is. Blank lines are skipped. All in one transaction.
   */
  importCsv(
    tenantId: number,
    text: string,
    opts: { reason?: SuppressionReason; source?: string } = {},
  ): ImportResult {
    const reason = opts.reason ?? 'manual';
    const source = opts.source ?? 'import';
    const at = this.clock.now().toISOString();
    const result: ImportResult = { added: 0, duplicates: 0, bad: [] };
    const lines = text.split(/\r?\n/);
    let column = 0;
    let first = true;
    this.db.transaction(() => {
      lines.forEach((raw, i) => {
        const lineNo = i + 1;
        if (raw.trim() === '') return;
        const fields = splitCsvLine(raw);
        if (fields === null) {
          result.bad.push({ line: lineNo, text: raw, error: 'unbalanced quotes' });
          return;
        }
        if (first) {
          first = false;
          if (!fields.some((f) => f.includes('@'))) {
            const named = fields.findIndex((f) => HEADER_NAMES.has(f.trim().toLowerCase()));
            column = named < 0 ? 0 : named;
            return;
          }
        }
        const email = normalizeEmail(fields[column] ?? '');
        if (!isPlausibleEmail(email)) {
          result.bad.push({ line: lineNo, text: raw, error: email === '' ? 'no address' : 'not an email address' });
          return;
        }
        if (this.insertStmt.run(tenantId, email, reason, source, null, at).changes > 0) result.added++;
        else result.duplicates++;
        listed.get(this.db)?.add(tenantId, email);
      });
    })();
    return result;
  }
}

function toEntry(row: Row): SuppressionEntry {
  return {
    tenantId: row.tenant_id,
    email: row.email,
    reason: row.reason,
    source: row.source,
    detail: row.detail,
    createdAt: row.created_at,
  };
}
