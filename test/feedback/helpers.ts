// A local HTTP server standing in for MailWizz's /dswh/pmta, and the agent's
// real accounting pieces (file reader, effects, checkpoints) over a real
// SQLite file, wired with feedback the way the daemon does it.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { SentLookup, SentMessage } from '../../src/accounting/attribute.js';
import { CheckpointStore } from '../../src/accounting/checkpoints.js';
import { AccountingEffects, type BatchSummary } from '../../src/accounting/effects.js';
import { AcctFileReader } from '../../src/accounting/file-reader.js';
import { feedbackSink } from '../../src/feedback/outbox.js';
import type { FeedbackRecord } from '../../src/feedback/record.js';
import { systemClock } from '../../src/types.js';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { ACCT_COLUMNS, formatRecord } from '../../src/sim/acct-csv.js';
import { HEADER, KNOWN_VMTAS, storeIn } from '../accounting/fixtures.js';

export const [SOS1, SOS2, ULI] = KNOWN_VMTAS as [(typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number]];

export interface Received {
  method: string;
  path: string;
  contentType: string;
  authorization: string | null;
  status: number;
  lines: FeedbackRecord[];
}

/** What the stand-in answers a request with: a status, or 'hang' (never answer). */
export type Answer = number | 'hang';

export class MailWizzStandIn {
  private server: http.Server | null = null;
  port = 0;
  /** Every request, answered or not, in arrival order. */
  readonly requests: Received[] = [];
  answer: (req: Received, body: string) => Answer = () => 200;
  private readonly hung = new Set<http.ServerResponse>();

  /** Listens on 127.0.0.1 (a fresh port, or `port` again after a close). */
  async listen(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const rec: Received = {
          method: req.method ?? '',
          path: req.url ?? '',
          contentType: String(req.headers['content-type'] ?? ''),
          authorization: req.headers.authorization ?? null,
          status: 0,
          lines: body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as FeedbackRecord),
        };
        this.requests.push(rec);
        const a = this.answer(rec, body);
        if (a === 'hang') {
          this.hung.add(res);
          return;
        }
        rec.status = a;
        res.writeHead(a, { 'content-type': 'text/plain' }).end(a < 300 ? 'OK' : `status ${a}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Answers every request left hanging with `status`, as a MailWizz that was only slow. */
  release(status: number): void {
    for (const res of this.hung) {
      const rec = this.requests.find((r) => r.status === 0);
      if (rec) rec.status = status;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'OK' : `status ${status}`);
    }
    this.hung.clear();
  }

  /** Stops listening and drops every connection: the agent sees connection refused until listen again. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  base(prefix = ''): string {
    return `http://127.0.0.1:${this.port}${prefix}`;
  }

  /** The records MailWizz took (answered 2xx), in order. */
  get stored(): FeedbackRecord[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.lines);
  }

  /** The Message-IDs MailWizz took, in order. */
  get storedIds(): string[] {
    return this.stored.map((r) => r['header_Message-Id']);
  }
}

/** An agent's accounting side over `root` (SQLite at root/state/agent.db, accounting files in root/acct). */
export class Agent {
  readonly store: ReturnType<typeof storeIn>;
  readonly effects: AccountingEffects;
  readonly reader: AcctFileReader;
  readonly summaries: BatchSummary[] = [];
  readonly acctDir: string;

  constructor(
    root: string,
    opts: { feedbackTenants?: (tenantId: number) => boolean; log?: Logger; batchLines?: number; sent?: SentLookup } = {},
  ) {
    this.store = storeIn(root, opts.sent ?? helperSentIndex);
    this.acctDir = path.join(root, 'acct');
    mkdirSync(this.acctDir, { recursive: true });
    const fx = opts.feedbackTenants ? { feedback: feedbackSink(this.store.db, { enabled: opts.feedbackTenants }, systemClock) } : {};
    this.effects = new AccountingEffects(this.store.db, { sources: this.store.sources, timeZone: 'UTC', ...fx });
    this.reader = new AcctFileReader({
      db: this.store.db,
      checkpoints: new CheckpointStore(this.store.db),
      effects: this.effects,
      log: opts.log ?? silentLogger,
      batchLines: opts.batchLines ?? 3,
      readChunkBytes: 4096,
      maxLineBytes: 1 << 20,
      maxMalformedLogs: 10,
      stopping: () => false,
      now: () => new Date(),
      onBatch: (s) => this.summaries.push(s),
    });
  }

  get db(): AcctDb {
    return this.store.db;
  }

  /** Appends accounting records to `name` (with PowerMTA's header line first in a new file) and reads the file. */
  async log(records: Array<Record<string, string>>, name = 'acct.csv'): Promise<void> {
    const file = path.join(this.acctDir, name);
    const text = records.map((r) => formatRecord(ACCT_COLUMNS, r) + '\n').join('');
    if (!existsSync(file)) writeFileSync(file, HEADER + '\n' + text);
    else appendFileSync(file, text);
    await this.reader.read(file);
  }

  outbox(): Array<{ id: number; tenant_id: number; body: string; attempts: number; refusals: number; next_at: number }> {
    return this.db.prepare('SELECT id, tenant_id, body, attempts, refusals, next_at FROM feedback_outbox ORDER BY id').all() as ReturnType<Agent['outbox']>;
  }

  close(): void {
    this.db.close();
  }
}

type AcctDb = ReturnType<typeof storeIn>['db'];

let seq = 0;
/** A fresh Message-ID number, so every test's records are told apart. */
export function nextN(): number {
  return ++seq;
}

/** The messages acct() made records for, as the agent's sent-message index would hold them. */
const handedOff = new Map<string, SentMessage>();
export const helperSentIndex: SentLookup = (id) => handedOff.get(id);

/**
 * One accounting record (CSV fields by name) of `vmta`'s tenant, message
 * number `n`, with the fields PowerMTA logs for its type: an `f` names the IP
 * as repSourceIp and has no vmta, an `rb` has neither vmta nor dlvSourceIp.
 */
export function acct(
  type: string,
  n: number,
  extra: Record<string, string> = {},
  vmta: { vmta: string; ip: string; tenantId?: number } = SOS1,
): Record<string, string> {
  const s = String(n % 60).padStart(2, '0');
  // Only the agent's own IPs hand messages off.
  if (vmta.tenantId !== undefined) handedOff.set(`m${n}.x@sos-mail.com`, { tenantId: vmta.tenantId, ip: vmta.ip, vmta: vmta.vmta, jobId: null, recipients: [`user${n}@example.org`], day: '2026-11-24' });
  const record: Record<string, string> = {
    type,
    timeLogged: `2026-11-24 10:00:${s}+0000`,
    timeQueued: '2026-11-24 09:59:00+0000',
    orig: 'bounces@sos-mail.com',
    rcpt: `user${n}@example.org`,
    vmta: vmta.vmta,
    dlvSourceIp: vmta.ip,
    jobId: `job-${n % 3}`,
    'header_Message-Id': `<m${n}.x@sos-mail.com>`,
    ...(type === 'b' || type === 'rb' ? { dsnAction: 'failed', dsnStatus: '5.1.1', dsnDiag: 'smtp;550 5.1.1 user unknown', bounceCat: 'bad-mailbox' } : {}),
    ...(type === 'f' ? { feedbackType: 'abuse', format: 'arf' } : {}),
    ...(type === 'd' ? { dsnAction: 'relayed', dsnStatus: '2.0.0', dsnDiag: 'smtp;250 2.0.0 OK' } : {}),
    ...(type === 't' ? { dsnAction: 'delayed', dsnStatus: '4.2.1', dsnDiag: 'smtp;421 try later' } : {}),
    ...(type === 'f' ? { vmta: '', jobId: '', repSourceIp: vmta.ip, dlvSourceIp: '198.51.100.20' } : {}),
    ...(type === 'rb' ? { vmta: '', jobId: '', dlvSourceIp: '' } : {}),
    ...extra,
  };
  return record;
}

export const idOf = (n: number): string => `<m${n}.x@sos-mail.com>`;

/** Polls until `check` holds or the time is up. */
export async function until(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
