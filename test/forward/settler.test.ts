import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { HandoffJournal } from '../../src/forward/journal.js';
import { PmtaHealth } from '../../src/forward/pmta-health.js';
import { settle } from '../../src/forward/settle.js';
import { Settler } from '../../src/forward/settler.js';
import type { Grant } from '../../src/ledger/grant.js';
import { GuardedLedger } from '../../src/ledger/guarded.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { createLogger } from '../../src/log/logger.js';
import { openDb, type Db } from '../../src/store/db.js';
import { tmpDir } from '../helpers/env.js';
import { DAY, IP, TENANT } from './fixture.js';

const log = createLogger({ level: 'error', write: () => undefined });
const now = () => new Date('2026-11-25T10:00:00Z');

describe('the settler keeps what PowerMTA took counted when the ledger cannot write', () => {
  let db: Db;
  let readonly: Database.Database;
  let cleanup: () => void;
  let ledger: GuardedLedger;
  beforeEach(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'agent.db'));
    // The same file opened read-only: every write fails as on a full disk or a lost store.
    readonly = new Database(path.join(t.dir, 'agent.db'), { readonly: true });
    ledger = new GuardedLedger(new SqliteLedger(db), log);
  });
  afterEach(() => {
    readonly.close();
    db.close();
    cleanup();
  });

  async function held(rcpts: string[]) {
    const out: Array<{ rcpt: string; grant: Grant }> = [];
    for (const rcpt of rcpts) out.push({ rcpt, grant: { reservation: (await ledger.reserve(IP, DAY, 1, 100, now(), 900_000))!, hourly: null, ip: TENANT.ips[0]! } });
    return out;
  }
  const usage = async () => (await ledger.usage(DAY, [IP])).get(IP);
  const ctx = (journalId: number) => ({ tenant: TENANT, path: 'fast' as const, journalId, spoolId: null, mailFrom: 'n@sos-mail.com', messageId: '<m@x>', vmta: TENANT.ips[0]!.vmta, ip: IP });

  it('a failed commit is kept, not dropped: its row stays open, and the next start counts the units from the journal', async () => {
    const failing = new Settler({ ledger: new GuardedLedger(new SqliteLedger(readonly), log), journal: new HandoffJournal(db, now, 'crashed'), health: new PmtaHealth(1000), log, retryMs: 60_000 });
    const h = await held(['a@x.net', 'b@x.net']);
    const id = failing.begin({ tenantId: TENANT.id, spoolId: null, messageId: '<m@x>', jobId: null, ip: IP, vmta: TENANT.ips[0]!.vmta, day: DAY }, h);
    await failing.apply(ctx(id), settle(h, { kind: 'accepted', response: '250 ok', accepted: ['a@x.net', 'b@x.net'], rejected: [] }));
    assert.equal(failing.pendingCount(), 1, 'owed to the ledger');
    assert.deepEqual(await usage(), { committed: 0, reserved: 2 }, 'still held, never given back');

    // The process dies before the store is back; the next one starts.
    const next = new Settler({ ledger, journal: new HandoffJournal(db, now, 'next'), health: new PmtaHealth(1000), log });
    const { rows, settle: done } = await next.recover();
    assert.deepEqual(rows.map((r) => [r.id, r.accepted]), [[id, ['a@x.net', 'b@x.net']]]);
    done(rows.map((r) => r.id));
    assert.deepEqual(await usage(), { committed: 2, reserved: 0 });
    assert.deepEqual(new HandoffJournal(db, now, 'third').unsettled(), []);
    await next.stop();
    await failing.stop();
  });

  it('a hand-off killed before its answer was recorded counts every unit as sent', async () => {
    const dead = new HandoffJournal(db, now, 'dead');
    const h = await held(['a@x.net', 'b@x.net', 'c@x.net']);
    dead.begin({ tenantId: TENANT.id, spoolId: null, messageId: '<k@x>', jobId: null, ip: IP, vmta: TENANT.ips[0]!.vmta, day: DAY, grants: h.map((x) => ({ rcpt: x.rcpt, reservations: [x.grant.reservation] })) });
    const next = new Settler({ ledger, journal: new HandoffJournal(db, now, 'next'), health: new PmtaHealth(1000), log });
    const { rows, settle: done } = await next.recover();
    done(rows.map((r) => r.id));
    assert.deepEqual(await usage(), { committed: 3, reserved: 0 });
  });

  it('a recorded answer is applied as it was: a refused recipient\'s unit goes back', async () => {
    const dead = new HandoffJournal(db, now, 'dead');
    const h = await held(['a@x.net', 'b@x.net']);
    const id = dead.begin({ tenantId: TENANT.id, spoolId: 's1', messageId: '<r@x>', jobId: null, ip: IP, vmta: TENANT.ips[0]!.vmta, day: DAY, grants: h.map((x) => ({ rcpt: x.rcpt, reservations: [x.grant.reservation] })) });
    await dead.answered(id, ['a@x.net'], false);
    const next = new Settler({ ledger, journal: new HandoffJournal(db, now, 'next'), health: new PmtaHealth(1000), log });
    const { rows, settle: done } = await next.recover();
    done(rows.map((r) => r.id));
    assert.deepEqual(await usage(), { committed: 1, reserved: 0 });
  });

  describe("PowerMTA's reply lost after the final dot", () => {
    const lost = { kind: 'unknown' as const, reason: "fate unknown: PowerMTA's reply lost after the final dot (ECONNECTION: closed)" };
    const row = (id: number) =>
      readonly.prepare('SELECT fate, accepted, settled, spool_id AS spoolId FROM handoffs WHERE id = ?').get(id) as { fate: string; accepted: string | null; settled: number; spoolId: string };

    it('every unit is committed, the row ends settled of unknown fate naming the spool entry, and accounting can settle it', async () => {
      const journal = new HandoffJournal(db, now, 'live');
      const health = new PmtaHealth(60_000);
      const settler = new Settler({ ledger, journal, health, log });
      const h = await held(['a@x.net', 'b@x.net']);
      const id = await settler.beginQueued({ tenantId: TENANT.id, spoolId: null, messageId: '<lost@x>', jobId: null, ip: IP, vmta: TENANT.ips[0]!.vmta, day: DAY }, h);
      await settler.apply({ ...ctx(id), messageId: '<lost@x>', spoolId: 'sp-1' }, settle(h, lost), { blamePmta: true });
      journal.flush();
      assert.deepEqual(await usage(), { committed: 2, reserved: 0 });
      assert.deepEqual(row(id), { fate: 'unknown', accepted: null, settled: 1, spoolId: 'sp-1' });
      assert.equal(health.isDown(), true, 'PowerMTA did not answer');
      assert.equal(journal.unknownCount(), 1);
      assert.equal(journal.reconcile('lost@x', TENANT.id, 'b@x.net'), 1);
      assert.deepEqual(journal.knownAccepted('sp-1'), ['b@x.net']);
      await settler.stop();
    });

    it('a restart before the row was marked settled neither commits the units twice nor releases any, even after accounting showed one recipient', async () => {
      const journal = new HandoffJournal(db, now, 'crashed');
      const settler = new Settler({ ledger, journal, health: new PmtaHealth(1000), log });
      const h = await held(['a@x.net', 'b@x.net']);
      const id = await settler.beginQueued({ tenantId: TENANT.id, spoolId: 'sp-2', messageId: '<lost2@x>', jobId: null, ip: IP, vmta: TENANT.ips[0]!.vmta, day: DAY }, h);
      // The dispatcher's way: the spool update (and the `done` after it) never happens, the process dies first.
      await settler.apply({ ...ctx(id), messageId: '<lost2@x>', spoolId: 'sp-2' }, settle(h, lost), { durableFirst: true });
      assert.equal(journal.reconcile('lost2@x', TENANT.id, 'a@x.net'), 1);
      assert.deepEqual(await usage(), { committed: 2, reserved: 0 });
      assert.deepEqual(row(id), { fate: 'unknown', accepted: '["a@x.net"]', settled: 0, spoolId: 'sp-2' });

      const nextJournal = new HandoffJournal(db, now, 'next');
      const next = new Settler({ ledger, journal: nextJournal, health: new PmtaHealth(1000), log });
      const { rows, settle: done } = await next.recover();
      assert.deepEqual(rows.map((r) => [r.id, r.fateKnownUnknown]), [[id, true]]);
      done(rows.map((r) => r.id));
      assert.deepEqual(await usage(), { committed: 2, reserved: 0 }, 'b, not yet shown by accounting, stays counted; nothing counted twice');
      assert.equal(nextJournal.unknownCount(), 1, 'still waiting for accounting about b, once');
      assert.deepEqual(nextJournal.knownAccepted('sp-2'), ['a@x.net']);
      await next.stop();
      await settler.stop();
    });
  });
});
