// The template and message routes on a small Hono app built from the real
// pieces: SQLite store, registry, ledger, gate and tenant admin, with the
// tenants of the test config. Only the gate entry (`submit`) is the test's.
import { Hono } from 'hono';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Env } from '../../src/api/context.js';
import { errorBody } from '../../src/api/errors.js';
import { messageRoutes } from '../../src/api/routes/messages.js';
import { templateRoutes } from '../../src/api/routes/templates.js';
import { Gate } from '../../src/gate/gate.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb, type Db } from '../../src/store/db.js';
import { TemplateStore } from '../../src/templates/store.js';
import type { SubmitFn, SubmitOutcome } from '../../src/templates/submit.js';
import { TenantAdmin } from '../../src/tenants/admin.js';
import { Registry } from '../../src/tenants/registry.js';
import { syncTenantsFromConfig } from '../../src/tenants/sync.js';
import { ManualClock } from '../../src/types.js';
import { START, TODAY, testConfig, tmpDir } from '../helpers/env.js';

export function openTestDb(dir: string): Db {
  return openDb(path.join(dir, 'agent.sqlite'));
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

export interface Submission {
  tenant: string;
  mailFrom: string;
  rcptTo: string;
  raw: string | null;
}

export interface TemplateApp {
  request(p: string, init?: { method?: string; json?: unknown }): Promise<{ status: number; body: any }>;
  db: Db;
  store: TemplateStore;
  gate: Gate;
  ledger: SqliteLedger;
  clock: ManualClock;
  submissions: Submission[];
  /** Outcomes the next submits return instead of forwarding. A refusal leaves the message unread, as a refusal at RCPT would. */
  script: SubmitOutcome[];
  close(): void;
}

export async function startTemplateApp(): Promise<TemplateApp> {
  const { dir, cleanup } = tmpDir('pmta-agent-templates-');
  const clock = new ManualClock(START);
  const cfg = testConfig(dir, 1);
  const db = openTestDb(dir);
  await syncTenantsFromConfig(db, cfg, TODAY);
  const registry = new Registry(db);
  const ledger = new SqliteLedger(db);
  const gate = new Gate(registry, ledger, clock, {
    schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
    timeZone: cfg.warmup.timezone,
    reservationTtlMs: cfg.ledger.reservationTtlMs,
  });
  const admin = new TenantAdmin(db, registry, clock, () => cfg.warmup.timezone);
  const store = new TemplateStore(db, clock);
  const submissions: Submission[] = [];
  const script: SubmitOutcome[] = [];

  // Stands in for the daemon's gate entry: quota through the real gate and ledger, no PowerMTA.
  const submit: SubmitFn = async (req) => {
    const scripted = script.shift();
    if (scripted?.kind === 'refused') {
      submissions.push({ tenant: req.tenant, mailFrom: req.mailFrom, rcptTo: req.rcptTo, raw: null });
      return scripted;
    }
    const raw = (await readAll(req.message)).toString('utf8');
    submissions.push({ tenant: req.tenant, mailFrom: req.mailFrom, rcptTo: req.rcptTo, raw });
    if (scripted) return scripted;
    const granted = await gate.reserve(registry.tenant(req.tenant)!);
    if (!granted) return { kind: 'spooled', id: 'no-quota', reason: 'no quota' };
    await ledger.commit(granted.reservation);
    return { kind: 'forwarded', ip: granted.ip.address, vmta: granted.ip.vmta, response: '250 2.0.0 queued' };
  };

  const deps = { admin, gate, clock, cfg: () => cfg };
  const app = new Hono<Env>();
  app.use('*', async (c, next) => {
    c.set('actor', 'test');
    await next();
  });
  app.route('/api/v2/templates', templateRoutes(deps, store));
  app.route('/api/v2/messages', messageRoutes(deps, store, submit));
  app.notFound((c) => c.json({ error: 'not_found' }, 404));
  app.onError((err, c) => {
    const { status, body } = errorBody(err);
    return c.json(body, status);
  });

  return {
    async request(p, init = {}) {
      const res = await app.request(p, {
        method: init.method ?? (init.json === undefined ? 'GET' : 'POST'),
        ...(init.json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.json) }),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? null : JSON.parse(text) };
    },
    db,
    store,
    gate,
    ledger,
    clock,
    submissions,
    script,
    close() {
      db.close();
      cleanup();
    },
  };
}
