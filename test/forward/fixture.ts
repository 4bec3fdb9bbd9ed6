import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SuppressionStore } from '../../src/accounting/suppression.js';
import { recordRefusal } from '../../src/feedback/refusals.js';
import { Forwarder } from '../../src/forward/forwarder.js';
import type { HandOffDeps, ReceivedMessage } from '../../src/forward/handoff.js';
import { HandoffJournal } from '../../src/forward/journal.js';
import { PmtaHealth } from '../../src/forward/pmta-health.js';
import { Settler } from '../../src/forward/settler.js';
import { Spool } from '../../src/forward/spool.js';
import type { Grant } from '../../src/ledger/grant.js';
import { GuardedLedger } from '../../src/ledger/guarded.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { createLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/registry.js';
import { openDb, type Db } from '../../src/store/db.js';
import type { TenantRecord } from '../../src/tenants/registry.js';
import { ManualClock, vmtaName, type DayKey, type IpAddress, type TenantSlug } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

export const DAY = '2026-11-25' as DayKey;
export const IP = '45.123.10.1' as IpAddress;

export const TENANT: TenantRecord = {
  id: 7,
  slug: 'sos-expat' as TenantSlug,
  name: 'SOS-Expat',
  domains: new Set(['sos-mail.com']),
  ips: [{ address: IP, hostname: 'mail1.sos-mail.com', state: 'active', warmupStart: DAY, vmta: vmtaName('sos-expat', IP) }],
  spoolLimits: {},
};

/** The real pieces the fast path and the dispatcher settle with, on a temp SQLite file and spool. */
export async function forwardWorld(opts: { maxMessages?: number } = {}) {
  const { dir, cleanup } = tmpDir();
  const db: Db = openDb(path.join(dir, 'agent.db'));
  const clock = new ManualClock('2026-11-25T10:00:00Z');
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  const ledger = new GuardedLedger(new SqliteLedger(db), log);
  const journal = new HandoffJournal(db, () => clock.now(), 'this-process');
  const health = new PmtaHealth(60_000);
  const suppression = new SuppressionStore(db, clock);
  const metrics = new Metrics();
  const accepted: Array<{ ip: string; n: number }> = [];
  const settler = new Settler({
    ledger,
    journal,
    health,
    log,
    metrics,
    accepted: (_t, ip, n) => accepted.push({ ip, n }),
    refusedAfterAck: (r) =>
      recordRefusal(db, suppression, () => true, { tenantId: r.tenant.id, mailFrom: r.mailFrom, rcpt: r.rcpt, messageId: r.messageId, vmta: r.vmta, code: r.code, response: r.response, at: clock.now() }),
  });
  const spool = new Spool(path.join(dir, 'spool'), log);
  await spool.init();
  const deps: HandOffDeps = {
    // Never reached by handOff, which settles an outcome it is given.
    forwarder: new Forwarder({ host: '127.0.0.1', port: 9, maxConnections: 1, maxMessagesPerConnection: 1, connectTimeoutMs: 100, replyTimeoutMs: 100, clientName: 't' }),
    spool,
    health,
    settler,
    clock,
    log,
    metrics,
    spoolLimits: () => ({ maxMessages: opts.maxMessages ?? 100, maxBytes: 1 << 30 }),
    jobFallback: () => 'sos-expat-20261125',
  };

  async function grant(n = 1): Promise<Grant[]> {
    const out: Grant[] = [];
    for (let i = 0; i < n; i++) {
      const r = await ledger.reserve(IP, DAY, 1, 1000, clock.now(), 900_000);
      out.push({ reservation: r!, hourly: null, ip: TENANT.ips[0]! });
    }
    return out;
  }

  let seq = 0;
  /**
   * A received message whose recipients `held` hold units and `deferred` do not,
   * in a temp file (as a large one is received) or in memory (`opts.inMemory`).
   */
  async function message(held: string[], deferred: string[] = [], opts: { inMemory?: boolean } = {}): Promise<ReceivedMessage & { file: string }> {
    const id = Spool.newId(clock.now());
    const file = spool.tmpPathFor(id);
    const messageId = `<M${++seq}.abc@sos-mail.com>`;
    const bytes = Buffer.from(`Message-ID: ${messageId}\r\nSubject: hi\r\n\r\nbody\r\n`);
    if (!opts.inMemory) writeFileSync(file, bytes);
    const grants = await grant(held.length);
    return {
      id,
      tenant: TENANT,
      file,
      body: opts.inMemory ? { kind: 'memory', bytes, size: bytes.length } : { kind: 'file', path: file, size: bytes.length },
      size: bytes.length,
      mailFrom: 'news@sos-mail.com',
      messageId,
      granted: held.map((rcpt, i) => ({ rcpt, grant: grants[i]! })),
      deferred,
      deferReason: deferred.length ? 'daily quota used' : '',
      arrivedAt: clock.now(),
    };
  }

  async function usage() {
    return (await ledger.usage(DAY, [IP])).get(IP)!;
  }

  function outbox(): Array<{ rcpt: string; 'header_Message-Id': string }> {
    return (db.prepare('SELECT body FROM feedback_outbox ORDER BY id').all() as Array<{ body: string }>).map((r) => JSON.parse(r.body));
  }

  return {
    dir, db, clock, logs, ledger, journal, health, suppression, metrics, accepted, settler, spool, deps, grant, message, usage, outbox,
    close() {
      deps.forwarder.close();
      journal.close();
      db.close();
      cleanup();
    },
  };
}
