// Shared by the accounting tests and the ingest benchmark: a real SQLite store
// with two tenants, accounting lines made by the simulator's record builder,
// and a reference count that reads the CSV with its own (slow, obvious) parser.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { ACCT_COLUMNS, formatRecord, vendorFields } from '../../src/sim/acct-csv.js';
import { recordsFor } from '../../src/sim/records.js';
import { Registry } from '../../src/tenants/registry.js';
import { registryResolver } from '../../src/accounting/resolve.js';
import type { AttributionSources, SentLookup } from '../../src/accounting/attribute.js';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { accountingSchema } from '../../src/config/schema.js';
import { systemClock } from '../../src/types.js';
import { AccountingTailer, type AccountingTailerOptions } from '../../src/accounting/tailer.js';
import { AccountingEffects, type FeedbackSink } from '../../src/accounting/effects.js';
import { createLogger, silentLogger, type Logger } from '../../src/log/logger.js';
import { vmtaName } from '../../src/types.js';
import { splitCsvLine } from '../sim/helpers.js';

export const HEADER = ACCT_COLUMNS.join(',');
export const SOS_ID = 1;
export const ULIXAI_ID = 2;
export const SOS_IPS = ['45.123.10.1', '45.123.10.2'];
export const ULIXAI_IPS = ['45.123.20.1'];
export const KNOWN_VMTAS = [
  ...SOS_IPS.map((ip) => ({ vmta: vmtaName('sos-expat', ip) as string, ip, tenantId: SOS_ID })),
  ...ULIXAI_IPS.map((ip) => ({ vmta: vmtaName('ulixai', ip) as string, ip, tenantId: ULIXAI_ID })),
];
export const GHOST_VMTA = 'ghost-10-0-0-9';

export function tmpDir(prefix = 'pmta-acct-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function seedTenants(db: Db): void {
  const now = new Date().toISOString();
  db.transaction(() => {
    db.prepare("INSERT INTO tenants (id, slug, name) VALUES (?, 'sos-expat', 'SOS-Expat'), (?, 'ulixai', 'Ulixai')").run(SOS_ID, ULIXAI_ID);
    const ins = db.prepare(
      "INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, updated_at) VALUES (?, ?, ?, 'warming', '2026-11-01', ?)",
    );
    for (const v of KNOWN_VMTAS) ins.run(v.ip, v.tenantId, `mail-${v.ip.replace(/\./g, '-')}.example.com`, now);
  })();
}

export interface TestStore {
  db: Db;
  registry: Registry;
  sources: AttributionSources;
}

/** A store in `dir` with the two tenants, and attribution over its Registry (and `sent`, the sent-message index). */
export function storeIn(dir: string, sent: SentLookup = generatedSentIndex): TestStore {
  const db = openDb(path.join(dir, 'state', 'agent.db'));
  if ((db.prepare('SELECT COUNT(*) AS n FROM tenants').get() as { n: number }).n === 0) seedTenants(db);
  const registry = new Registry(db);
  return { db, registry, sources: { ...registryResolver(registry), sent, normalise: normaliseMessageId } };
}

export interface TestLog extends Logger {
  lines: Array<{ event: string; [k: string]: unknown }>;
}

export function captureLog(): TestLog {
  const lines: TestLog['lines'] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as TestLog['lines'][number]) });
  return Object.assign(log, { lines });
}

/** The accounting settings as the schema fills them in, with `extra` on top. */
export function acctConfig(extra: Partial<ReturnType<typeof accountingSchema.parse>> = {}): ReturnType<typeof accountingSchema.parse> {
  return accountingSchema.parse({ rescanIntervalMs: 0, ...extra });
}

/** A tailer over `store` (stats days in UTC); with `feedback`, bounces and complaints are queued for MailWizz. */
export function tailer(
  acctDir: string,
  store: { db: Db; sources: AttributionSources },
  extra: Partial<AccountingTailerOptions> & { feedback?: FeedbackSink } = {},
): AccountingTailer {
  const { feedback, ...rest } = extra;
  const effects = new AccountingEffects(store.db, { sources: store.sources, timeZone: 'UTC', ...(feedback ? { feedback } : {}) });
  return new AccountingTailer({
    ...acctConfig(),
    dir: acctDir,
    db: store.db,
    effects,
    log: silentLogger,
    clock: systemClock,
    ...rest,
  });
}

const BASE_TIME = Date.parse('2026-11-24T08:00:00Z');

/** Message `i` of generateLines: where it left from and to whom. */
function generated(i: number): { pick: { vmta: string; ip?: string; tenantId?: number }; rcpt: string; kind: number; complains: boolean } {
  const pick = i % 50 === 49 ? { vmta: GHOST_VMTA } : KNOWN_VMTAS[i % KNOWN_VMTAS.length]!;
  const kind = i % 100;
  const complains = i % 250 === 10;
  const domain = kind <= 3 ? 'bounce.example' : kind <= 8 ? 'defer.example' : 'gmail.com';
  return { pick, kind, complains, rcpt: complains ? `Complainer${i}@Gmail.com` : `user${i}@${domain}` };
}

/** The sent-message index the agent would hold for generateLines' messages (`<m{i}@sos-mail.com>`). */
export const generatedSentIndex: SentLookup = (id) => {
  const m = /^m(\d+)@sos-mail\.com$/.exec(id);
  if (!m) return undefined;
  const g = generated(Number(m[1]));
  if (g.pick.tenantId === undefined) return undefined;
  return { tenantId: g.pick.tenantId, ip: g.pick.ip!, vmta: g.pick.vmta, jobId: null, recipients: [g.rcpt], day: '2026-11-24' };
};

/**
 * `count` accounting lines (no header), deterministic from `seed`: mostly
 * deliveries, with hard (2%), soft (1%) and policy (1%, some `rb`) bounces,
 * deferrals (`t`, some `tq`), complaints (an `f` after its `d`), `r` receipts
 * and records of a VMTA the agent does not know. Times advance a second every
 * 100 messages.
 */
export function generateLines(count: number, seed = 0): string[] {
  const out: string[] = [];
  const none = new Set<string>();
  const bounce = new Set(['bounce.example']);
  const defer = new Set(['defer.example']);
  for (let i = seed; out.length < count; i++) {
    const { pick, kind, complains, rcpt } = generated(i);
    const now = new Date(BASE_TIME + Math.floor(i / 100) * 1000);
    const recs = recordsFor(
      {
        mailFrom: 'bounces@sos-mail.com',
        rcptTo: [rcpt],
        vmta: pick.vmta,
        job: `job${i % 7}`,
        messageId: `<m${i}@sos-mail.com>`,
        size: 2000 + (i % 1000),
        receivedAt: now,
      },
      { bounceDomains: bounce, deferDomains: defer, complainAddresses: complains ? new Set([rcpt.toLowerCase()]) : none },
      now,
    );
    for (let r of recs) {
      if (kind === 2 && r.type === 'b') {
        r.bounceCat = 'quota-issues';
        r.dsnStatus = '4.2.2';
        r.dsnDiag = 'smtp;452 4.2.2 mailbox full, "quota" exceeded';
      }
      if (kind === 3 && r.type === 'b') {
        r.bounceCat = 'policy-related';
        r.dsnDiag = 'smtp;550 5.7.1 blocked, see "https://example.org/policy"';
        // Some come back later as a DSN instead: an rb, with the fields PowerMTA logs for one (no vmta, no dlvSourceIp).
        if (i % 200 === 3) r = vendorFields({ ...r, type: 'rb' });
      }
      if (kind === 8 && r.type === 't') r.type = 'tq';
      out.push(formatRecord(ACCT_COLUMNS, r));
    }
    if (i % 97 === 0) out.push(formatRecord(ACCT_COLUMNS, { type: 'r', timeLogged: recs[0]!.timeLogged!, rcpt, vmta: pick.vmta }));
  }
  out.length = count;
  return out;
}

export interface IpTotals {
  delivered: number;
  bouncedHard: number;
  bouncedSoft: number;
  bouncedOther: number;
  deferred: number;
  complaints: number;
}

export interface Totals {
  ips: Record<string, IpTotals>;
  unknown: number;
  suppressed: number;
}

const HARD = new Set(['bad-mailbox', 'inactive-mailbox', 'bad-domain']);
const SOFT = new Set(['quota-issues', 'no-answer-from-host', 'relaying-issues', 'routing-errors']);

/** Counts the files' lines the obvious way, by header name, to compare the tailer against. */
export function referenceCount(texts: string[]): Totals {
  const ips: Record<string, IpTotals> = {};
  const suppressed = new Set<string>();
  let unknown = 0;
  for (const text of texts) {
    let header: string[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const cells = splitCsvLine(line);
      if (cells[0] === 'type') {
        header = cells;
        continue;
      }
      if (cells.length > header.length) continue; // malformed
      const row = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
      const type = row.type ?? '';
      if (!['d', 'b', 'rb', 't', 'tq', 'f'].includes(type)) continue;
      // vmta, else the Message-ID the agent handed off, else the IP PowerMTA names for the type.
      const id = (row['header_Message-Id'] ?? '').replace(/^<|>$/g, '').toLowerCase();
      const sent = id === '' ? undefined : generatedSentIndex(id);
      const ip = type === 'f' ? row.repSourceIp : type === 'rb' ? '' : row.dlvSourceIp;
      const known =
        KNOWN_VMTAS.find((v) => v.vmta === row.vmta) ??
        (sent ? KNOWN_VMTAS.find((v) => v.ip === sent.ip) : undefined) ??
        KNOWN_VMTAS.find((v) => ip !== '' && v.ip === ip);
      if (!known) {
        unknown++;
        continue;
      }
      const t = (ips[known.ip] ??= { delivered: 0, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 0, deferred: 0, complaints: 0 });
      const cat = row.bounceCat ?? '';
      if (type === 'd') t.delivered++;
      else if (type === 't' || type === 'tq') t.deferred++;
      else if (type === 'f') {
        t.complaints++;
        suppressed.add(`${known.tenantId}:${row.rcpt!.toLowerCase()}`);
      } else if (HARD.has(cat)) {
        t.bouncedHard++;
        suppressed.add(`${known.tenantId}:${row.rcpt!.toLowerCase()}`);
      } else if (SOFT.has(cat)) t.bouncedSoft++;
      else t.bouncedOther++;
    }
  }
  return { ips, unknown, suppressed: suppressed.size };
}

/** What the store holds, in the reference's shape. */
export function storedTotals(db: Db): Totals {
  const rows = db
    .prepare(
      `SELECT ip, SUM(delivered) AS delivered, SUM(bounced_hard) AS bouncedHard, SUM(bounced_soft) AS bouncedSoft,
         SUM(bounced_other) AS bouncedOther, SUM(deferred) AS deferred, SUM(complaints) AS complaints
       FROM ip_stats_daily GROUP BY ip ORDER BY ip`,
    )
    .all() as Array<IpTotals & { ip: string }>;
  const ips: Record<string, IpTotals> = {};
  for (const { ip, ...t } of rows) ips[ip] = t;
  const counter = (name: string): number =>
    (db.prepare('SELECT value FROM acct_counters WHERE name = ?').get(name) as { value: number } | undefined)?.value ?? 0;
  const suppressed = (db.prepare('SELECT COUNT(*) AS n FROM suppression').get() as { n: number }).n;
  return { ips, unknown: counter('unattributed'), suppressed };
}

export function counter(db: Db, name: string): number {
  return (db.prepare('SELECT value FROM acct_counters WHERE name = ?').get(name) as { value: number } | undefined)?.value ?? 0;
}

/** Polls until `check` holds or the time is up; returns whether it held. */
export async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
