import { Hono } from 'hono';
import { z } from 'zod';
import type { AccountingEffects, BatchSummary } from '../../accounting/effects.js';
import { AcctHeader, parseRecord, type AcctRecord } from '../../accounting/records.js';
import { PushedRecords, recordHash } from '../../accounting/pushed.js';
import { overview, performance } from '../../accounting/stats.js';
import type { SuppressionStore } from '../../accounting/suppression.js';
import type { Db } from '../../store/db.js';
import type { DayKey } from '../../types.js';
import { addDays } from '../../warmup/schedule.js';
import type { ApiDeps, Env } from '../context.js';
import { ApiError, body, query } from '../errors.js';

/** GET /api/v2/stats/{tenant}/overview and /performance?days=N (the seed's stats). */
export function statsRoutes(deps: ApiDeps, db: Db) {
  const app = new Hono<Env>();
  app.get('/:tenant/overview', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const { day } = query(c, z.object({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD').optional() }).strict());
    return c.json({ tenant: t.slug, ...overview(db, t.id, (day ?? deps.gate.today()) as DayKey) });
  });
  app.get('/:tenant/performance', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const { days } = query(c, z.object({ days: z.coerce.number().int().min(1).max(400).default(7) }).strict());
    const today = deps.gate.today();
    return c.json({ tenant: t.slug, ...performance(db, t.id, addDays(today, -(days - 1)), today) });
  });
  return app;
}

/** The tenant's suppression list: list (paged), add, remove, export, import. */
export function suppressionRoutes(deps: ApiDeps, store: SuppressionStore) {
  const app = new Hono<Env>();
  const email = z.string().email().max(320);
  app.get('/:tenant', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const q = query(c, z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) }).strict());
    return c.json({ tenant: t.slug, ...store.list(t.id, q) });
  });
  app.post('/:tenant', async (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const input = await body(c, z.object({ email, reason: z.enum(['manual', 'hard-bounce', 'complaint']).default('manual'), detail: z.string().max(500).optional() }).strict());
    const added = store.add(t.id, input.email, { reason: input.reason, source: `api:${c.get('actor')}`, ...(input.detail ? { detail: input.detail } : {}) });
    return c.json({ tenant: t.slug, email: input.email.toLowerCase(), added }, added ? 201 : 200);
  });
  app.delete('/:tenant/:email', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const e = email.parse(decodeURIComponent(c.req.param('email')));
    if (!store.remove(t.id, e)) throw new ApiError(404, 'not_found', `${e} is not suppressed for ${t.slug}`);
    return c.json({ tenant: t.slug, email: e.toLowerCase(), removed: true });
  });
  app.get('/:tenant/export', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    return c.body(store.exportCsv(t.id), 200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${t.slug}-suppression.csv"` });
  });
  // Bulk import of an existing bounce list: a CSV of addresses (header optional).
  app.post('/:tenant/import', async (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const text = await c.req.text();
    if (!text.trim()) throw new ApiError(400, 'invalid', 'send the CSV as the request body', '(body)');
    return c.json({ tenant: t.slug, ...store.importCsv(t.id, text, { reason: 'manual', source: `import:${c.get('actor')}` }) });
  });
  return app;
}

/**
 * PowerMTA's records as JSON, posted by a log shipper that reads its files
 * (PowerMTA itself has no JSON push): one object, an array, or NDJSON,
 * handled exactly like tailed lines. A record posted again is counted once.
 */
export function webhookRoutes(deps: ApiDeps, effects: AccountingEffects, after: (s: BatchSummary) => void) {
  const app = new Hono<Env>();
  const pushed = new PushedRecords(deps.db, deps.clock);
  app.post('/powermta', async (c) => {
    if (deps.cfg().accounting.mode !== 'push') throw new ApiError(409, 'conflict', 'accounting.mode is not "push" on this agent: records are read from the accounting files, so pushing them would count them twice', 'accounting.mode');
    const text = await c.req.text();
    let objects: unknown[];
    try {
      const trimmed = text.trim();
      objects = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]) : trimmed.split(/\r?\n/).filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
    } catch {
      throw new ApiError(400, 'invalid', 'body is not JSON, a JSON array or NDJSON', '(body)');
    }
    const parsed: Array<{ record: AcctRecord; hash: string }> = [];
    let malformed = 0;
    objects.forEach((o, i) => {
      if (!o || typeof o !== 'object' || Array.isArray(o)) {
        malformed++;
        return;
      }
      const fields = Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
      const r = parseRecord(Object.values(fields), new AcctHeader(Object.keys(fields)), i + 1);
      if ('malformed' in r) malformed++;
      else parsed.push({ record: r, hash: recordHash(fields) });
    });
    let duplicates = 0;
    const summary = deps.db.transaction(() => {
      pushed.prune(deps.cfg().accounting.indexDays);
      const fresh = parsed.filter((p) => pushed.firstTime(p.hash));
      duplicates = parsed.length - fresh.length;
      return effects.apply({ records: fresh.map((p) => p.record), malformed });
    })();
    after(summary);
    return c.json({ received: objects.length, records: parsed.length - duplicates, duplicates, malformed, suppressed: summary.suppressed, unknown: summary.unknown });
  });
  return app;
}
