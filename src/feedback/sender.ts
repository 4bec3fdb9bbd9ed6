// Posts the feedback outbox to MailWizz's PowerMTA webhook (`{mailwizz}/dswh/pmta`,
// mailwizz.md §4.2): per tenant, the oldest queued records as NDJSON, deleted
// in one transaction once MailWizz answered 2xx.
//
// Rows are queued by AccountingEffects in the same transaction as the stats and
// the file checkpoint, so a record is never lost nor queued twice. Delivery is
// at least once: a crash (or a lost answer) after MailWizz took a batch and
// before its rows are deleted sends that batch again. MailWizz stores one
// bounce per campaign and subscriber and an FBL action is idempotent, so a
// repeated record changes nothing there.
//
// Order and backoff are per tenant: one batch of a tenant in flight at a time,
// always its oldest rows, and the oldest row's next_at holds the tenant's
// retry time, so nothing newer overtakes a record that failed.
//
// What an answer means:
// - 2xx: taken; the rows are deleted.
// - network error, timeout, 408, 429, 5xx: MailWizz unavailable; retried with
//   exponential backoff (minBackoffMs doubling up to maxBackoffMs; a longer
//   Retry-After is honoured up to maxBackoffMs), for as long as it takes.
// - 400, 413, 422: MailWizz refuses the data. The batch is halved until the
//   refused record is alone; a record refused on its own deadAfterRefusals
//   times moves to feedback_dead (logged as an error; requeueDead puts it
//   back), and the records after it go on.
// - a redirect (never followed: the POST would become a GET and drop the
//   records) or any other 4xx (401, 403, 404, 405, ...): the URL or something
//   in front of MailWizz is wrong, not the record; retried with backoff like an
//   outage but logged as an error. Dead-lettering here would empty the queue whenever a
//   proxy answers 404 during a deploy.
// An outage is logged once when it starts (and again if its kind changes), and
// once when it is over.
import type { Statement } from 'better-sqlite3';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import { systemClock, type Clock } from '../types.js';
import { webhookUrl } from './targets.js';
import { redactUrl } from '../http/redact.js';

export interface FeedbackSenderOptions {
  db: Db;
  /** A tenant's MailWizz URL (`/dswh/pmta` is appended unless it is there), or null when it sends no feedback. */
  urlFor: (tenantId: number) => string | null;
  log: Logger;
  /** Records per POST at most. Default 100. */
  batchSize?: number;
  /** Pause between passes over the outbox. Default 1000 ms. */
  intervalMs?: number;
  /** Per POST, answer included. Default 10 s. */
  timeoutMs?: number;
  /** The first retry delay; it doubles per failed attempt. Default 1000 ms. */
  minBackoffMs?: number;
  /** Default 5 min. */
  maxBackoffMs?: number;
  /** A record refused (400/413/422) on its own this many times goes to feedback_dead. Default 5. */
  deadAfterRefusals?: number;
  fetchFn?: typeof fetch;
  clock?: Clock;
  /** Told how many records MailWizz took (sent), how many wait after a failed POST (retried), and how many were given up (dead). */
  onRecords?: (result: 'sent' | 'retried' | 'dead', n: number) => void;
}

export interface FeedbackTenantStatus {
  tenantId: number;
  queued: number;
  /** Set while the tenant's last POST failed. */
  failing: { since: string; failures: number; lastError: string } | null;
}

export interface FeedbackStatus {
  queued: number;
  dead: number;
  tenants: FeedbackTenantStatus[];
}

interface Row {
  id: number;
  body: string;
  created_at: string;
  attempts: number;
  refusals: number;
  next_at: number;
}

type Outcome =
  | { kind: 'sent' }
  | { kind: 'stopped' }
  /** unavailable: try again later; refused: the data (400/413/422); misrouted: the endpoint (other 4xx). */
  | { kind: 'unavailable' | 'refused' | 'misrouted'; error: string; status: number | null; retryAfterMs: number | null };

interface TenantState {
  /** Records per POST now: halved on a refusal, doubled back on success. */
  limit: number;
  failingSince: number | null;
  failures: number;
  lastError: string;
  /** The kind of failure last logged in this outage. */
  loggedKind: string | null;
  noUrlLogged: boolean;
  badUrlLogged: string | null;
}

const STOPPED = Symbol('feedback sender stopped');
const EXCERPT = 200;
const REFUSED_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

export class FeedbackSender {
  private readonly db: Db;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly fetchFn: typeof fetch;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly deadAfterRefusals: number;
  private readonly q: {
    tenants: Statement<[]>;
    batch: Statement<[number, number]>;
    remove: Statement<[number]>;
    failed: Statement<[number, number]>;
    retryAt: Statement<[number, number]>;
    toDead: Statement<[string, string, number]>;
  };
  private readonly tenants = new Map<number, TenantState>();
  private readonly inFlight = new Set<AbortController>();
  private pass: Promise<number> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopping = false;

  constructor(private readonly opts: FeedbackSenderOptions) {
    this.db = opts.db;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.fetchFn = opts.fetchFn ?? fetch;
    this.batchSize = Math.max(1, opts.batchSize ?? 100);
    this.intervalMs = Math.max(1, opts.intervalMs ?? 1000);
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? 10_000);
    this.minBackoffMs = Math.max(1, opts.minBackoffMs ?? 1000);
    this.maxBackoffMs = Math.max(this.minBackoffMs, opts.maxBackoffMs ?? 300_000);
    this.deadAfterRefusals = Math.max(1, opts.deadAfterRefusals ?? 5);
    const db = this.db;
    this.q = {
      tenants: db.prepare('SELECT DISTINCT tenant_id AS tenantId FROM feedback_outbox ORDER BY tenant_id'),
      batch: db.prepare('SELECT id, body, created_at, attempts, refusals, next_at FROM feedback_outbox WHERE tenant_id = ? ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM feedback_outbox WHERE id = ?'),
      failed: db.prepare('UPDATE feedback_outbox SET attempts = attempts + 1, refusals = refusals + ? WHERE id = ?'),
      retryAt: db.prepare('UPDATE feedback_outbox SET next_at = ? WHERE id = ?'),
      toDead: db.prepare(
        `INSERT INTO feedback_dead (outbox_id, tenant_id, body, created_at, attempts, failed_at, error)
         SELECT id, tenant_id, body, created_at, attempts, ?, ? FROM feedback_outbox WHERE id = ?`,
      ),
    };
  }

  /** Sends on a timer, a pass every intervalMs (the first at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.schedule(0);
  }

  /**
   * Stops the timer and starts no new POST. One in flight gets up to `graceMs`
   * to be answered, so a clean stop does not send its records again on the
   * next start; past that it is aborted and its rows stay queued.
   */
  async stop(graceMs = 0): Promise<void> {
    this.running = false;
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const pass = this.pass?.catch(() => 0);
    if (pass === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const over = await Promise.race([
      pass.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!over) return;
    this.log.warn('feedback.stop_aborted', { graceMs, note: 'the records of the POST in flight stay queued and go again on the next start' });
    for (const ac of this.inFlight) ac.abort(STOPPED);
    await pass;
  }

  /**
   * One pass: every tenant sends its due records, batch after batch, until it
   * has none left or a POST fails. Returns the records MailWizz took. Waits
   * for a pass already running rather than running beside it.
   */
  async flush(): Promise<number> {
    while (this.pass !== null) await this.pass.catch(() => 0);
    const p = this.runPass();
    this.pass = p;
    try {
      return await p;
    } finally {
      if (this.pass === p) this.pass = null;
    }
  }

  /** What is queued, dead-lettered and failing. */
  status(): FeedbackStatus {
    const rows = this.db.prepare('SELECT tenant_id AS tenantId, COUNT(*) AS n FROM feedback_outbox GROUP BY tenant_id ORDER BY tenant_id').all() as Array<{
      tenantId: number;
      n: number;
    }>;
    const dead = (this.db.prepare('SELECT COUNT(*) AS n FROM feedback_dead').get() as { n: number }).n;
    const ids = new Set([...rows.map((r) => r.tenantId), ...[...this.tenants].filter(([, s]) => s.failingSince !== null).map(([id]) => id)]);
    const tenants = [...ids].sort((a, b) => a - b).map((tenantId): FeedbackTenantStatus => {
      const s = this.tenants.get(tenantId);
      return {
        tenantId,
        queued: rows.find((r) => r.tenantId === tenantId)?.n ?? 0,
        failing:
          s !== undefined && s.failingSince !== null
            ? { since: new Date(s.failingSince).toISOString(), failures: s.failures, lastError: s.lastError }
            : null,
      };
    });
    return { queued: rows.reduce((n, r) => n + r.n, 0), dead, tenants };
  }

  /** Puts dead-lettered records (of one tenant, or all) back at the end of the queue; returns how many. */
  requeueDead(tenantId?: number): number {
    const where = tenantId === undefined ? '' : ' WHERE tenant_id = ?';
    const args = tenantId === undefined ? [] : [tenantId];
    return this.db.transaction(() => {
      const n = this.db
        .prepare(`INSERT INTO feedback_outbox (tenant_id, body, created_at) SELECT tenant_id, body, created_at FROM feedback_dead${where} ORDER BY id`)
        .run(...args).changes;
      this.db.prepare(`DELETE FROM feedback_dead${where}`).run(...args);
      return n;
    })();
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush()
        .catch((err: unknown) => this.log.error('feedback.pass_failed', { err }))
        .finally(() => this.schedule(this.intervalMs));
    }, ms);
    this.timer.unref();
  }

  private async runPass(): Promise<number> {
    const ids = (this.q.tenants.all() as Array<{ tenantId: number }>).map((r) => r.tenantId);
    // Tenants side by side, each one batch at a time.
    const sent = await Promise.all(ids.map((id) => this.drainTenant(id)));
    return sent.reduce((a, b) => a + b, 0);
  }

  private state(tenantId: number): TenantState {
    let s = this.tenants.get(tenantId);
    if (s === undefined) {
      s = { limit: this.batchSize, failingSince: null, failures: 0, lastError: '', loggedKind: null, noUrlLogged: false, badUrlLogged: null };
      this.tenants.set(tenantId, s);
    }
    return s;
  }

  private async drainTenant(tenantId: number): Promise<number> {
    const st = this.state(tenantId);
    const url = this.endpoint(tenantId, st);
    if (url === null) return 0;
    const shown = redact(url);
    let sent = 0;
    while (!this.stopping) {
      const rows = this.q.batch.all(tenantId, Math.min(st.limit, this.batchSize)) as Row[];
      const head = rows[0];
      if (head === undefined || head.next_at > this.clock.now().getTime()) break;
      const outcome = await this.post(url, rows);
      if (outcome.kind === 'stopped') break;
      if (outcome.kind === 'sent') {
        this.db.transaction(() => {
          for (const r of rows) this.q.remove.run(r.id);
        })();
        this.opts.onRecords?.('sent', rows.length);
        sent += rows.length;
        st.limit = Math.min(this.batchSize, st.limit * 2);
        this.recovered(tenantId, st, shown);
        this.log.debug('feedback.sent', { tenantId, records: rows.length });
        continue;
      }
      if (!this.failed(tenantId, st, shown, rows, outcome)) break;
    }
    return sent;
  }

  /** The webhook URL, or null (logged once) when the tenant has none or it is not a URL: its records wait. */
  private endpoint(tenantId: number, st: TenantState): string | null {
    const base = this.opts.urlFor(tenantId);
    if (base === null) {
      if (!st.noUrlLogged) {
        const queued = (this.db.prepare('SELECT COUNT(*) AS n FROM feedback_outbox WHERE tenant_id = ?').get(tenantId) as { n: number }).n;
        this.log.warn('feedback.no_url', { tenantId, queued, note: 'kept until the tenant has a MailWizz URL again' });
      }
      st.noUrlLogged = true;
      return null;
    }
    st.noUrlLogged = false;
    try {
      const url = webhookUrl(base);
      st.badUrlLogged = null;
      return url;
    } catch (err) {
      if (st.badUrlLogged !== base) this.log.error('feedback.bad_url', { tenantId, url: redact(base), err });
      st.badUrlLogged = base;
      return null;
    }
  }

  private async post(url: string, rows: readonly Row[]): Promise<Outcome> {
    const ac = new AbortController();
    this.inFlight.add(ac);
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const { href, authorization } = splitCredentials(url);
      const res = await this.fetchFn(href, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-ndjson',
          'user-agent': 'pmta-agent',
          ...(authorization !== null ? { authorization } : {}),
        },
        body: rows.map((r) => r.body).join('\n') + '\n',
        signal: ac.signal,
        // Never follow: a redirected POST becomes a GET and the records would be dropped unseen.
        redirect: 'manual',
      });
      // Read to the end (it frees the connection), and for the log.
      const text = await res.text();
      if (res.ok) return { kind: 'sent' };
      const status = res.status;
      const kind = REFUSED_STATUSES.has(status)
        ? 'refused'
        : (status >= 300 && status < 400) || (status >= 400 && status < 500 && status !== 408 && status !== 429)
          ? 'misrouted'
          : 'unavailable';
      const location = res.headers.get('location');
      const detail = location !== null ? ` to ${redact(location)}` : text.trim() !== '' ? `: ${excerpt(text)}` : '';
      return { kind, status, error: `HTTP ${status}${detail}`, retryAfterMs: retryAfter(res.headers.get('retry-after'), this.clock) };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason === STOPPED) return { kind: 'stopped' };
      return { kind: 'unavailable', status: null, error: errorText(ac.signal.aborted ? ac.signal.reason : err), retryAfterMs: null };
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ac);
    }
  }

  /** Records the failure; true when the tenant may go on at once (a smaller batch, or the next record after a dead-lettered one). */
  private failed(tenantId: number, st: TenantState, url: string, rows: readonly Row[], o: Extract<Outcome, { error: string }>): boolean {
    const head = rows[0]!;
    const now = this.clock.now().getTime();
    const alone = rows.length === 1;
    if (o.kind === 'refused' && alone && head.refusals + 1 >= this.deadAfterRefusals) {
      this.db.transaction(() => {
        this.q.failed.run(1, head.id);
        this.q.toDead.run(new Date(now).toISOString(), o.error, head.id);
        this.q.remove.run(head.id);
      })();
      this.opts.onRecords?.('dead', 1);
      this.log.error('feedback.dead_lettered', { tenantId, url, id: head.id, refusals: head.refusals + 1, error: o.error, record: excerpt(head.body) });
      st.limit = this.batchSize;
      return true;
    }
    const delay = Math.min(this.maxBackoffMs, Math.max(this.minBackoffMs * 2 ** Math.min(head.attempts, 30), o.retryAfterMs ?? 0));
    // A refused batch is split at once; its single records wait like any failure.
    const split = o.kind === 'refused' && !alone;
    this.db.transaction(() => {
      for (const r of rows) this.q.failed.run(o.kind === 'refused' && alone ? 1 : 0, r.id);
      if (!split) this.q.retryAt.run(now + delay, head.id);
    })();
    this.opts.onRecords?.('retried', rows.length);
    if (split) st.limit = Math.max(1, Math.floor(rows.length / 2));
    if (st.failingSince === null) st.failingSince = now;
    st.failures++;
    st.lastError = o.error;
    const fields = { tenantId, url, error: o.error, status: o.status, records: rows.length, attempts: head.attempts + 1, retryInMs: split ? 0 : delay };
    if (st.loggedKind !== o.kind) {
      st.loggedKind = o.kind;
      if (o.kind === 'unavailable') this.log.warn('feedback.unavailable', fields);
      else if (o.kind === 'refused') this.log.error('feedback.refused', { ...fields, note: 'MailWizz refuses the records; a record refused alone repeatedly goes to feedback_dead' });
      else this.log.error('feedback.misrouted', { ...fields, note: 'check the tenant\'s MailWizz URL; records are kept and retried' });
    } else {
      this.log.debug('feedback.retry', fields);
    }
    return split;
  }

  private recovered(tenantId: number, st: TenantState, url: string): void {
    if (st.failingSince === null) return;
    this.log.info('feedback.recovered', { tenantId, url, failures: st.failures, downMs: this.clock.now().getTime() - st.failingSince });
    st.failingSince = null;
    st.failures = 0;
    st.lastError = '';
    st.loggedKind = null;
  }
}

/** fetch refuses a URL with credentials: `https://user:pass@host/` becomes basic auth. */
function splitCredentials(url: string): { href: string; authorization: string | null } {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return { href: url, authorization: null };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { href: u.toString(), authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

/** A URL for the logs: without credentials, query or fragment. */
const redact = redactUrl;

function excerpt(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > EXCERPT ? t.slice(0, EXCERPT) + '…' : t;
}

/** undici's `fetch failed` hides the reason in `cause`. */
function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) return `${err.message}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`;
    return err.message;
  }
  return String(err);
}

/** Retry-After in seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
function retryAfter(v: string | null, clock: Clock): number | null {
  if (v === null || v.trim() === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - clock.now().getTime());
}
