// Hand-offs whose fate a crash left unknown, learnt from PowerMTA's accounting
// records by Message-ID: on a real SQLite file, across "process" restarts.
import assert from 'node:assert/strict';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { HandoffJournal, normaliseMessageId } from '../../src/forward/journal.js';
import { openDb, type Db } from '../../src/store/db.js';
import { ManualClock, type DayKey, type IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

const res = (id: string) => ({ id, ip: '45.123.10.1' as IpAddress, day: '2026-11-25' as DayKey, n: 1 });
const start = (tenantId: number, messageId: string | null, rcpts: string[], spoolId: string | null = null) => ({
  tenantId,
  spoolId,
  messageId,
  jobId: 'cmp1',
  ip: '45.123.10.1',
  vmta: 'sos-expat-45-123-10-1',
  day: '2026-11-25',
  grants: rcpts.map((rcpt, i) => ({ rcpt, reservations: [res(`${rcpt}-${i}`)] })),
});

describe('reconciling hand-offs of unknown fate from accounting', () => {
  let file: string;
  let db: Db;
  let clock: ManualClock;
  let cleanup: () => void;
  beforeEach(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    file = path.join(t.dir, 'j.db');
    db = openDb(file);
    clock = new ManualClock('2026-11-25T10:00:00Z');
  });
  afterEach(() => {
    db.close();
    cleanup();
  });

  /** A new process on the same file, recovering what the last one left open (as Settler.recover does). */
  function restart(owner: string): HandoffJournal {
    db.close();
    db = openDb(file);
    const j = new HandoffJournal(db, () => clock.now(), owner);
    const rows = j.unsettled();
    for (const r of rows) if (r.accepted === null) j.fateUnknown(r);
    j.settleNow(rows.map((r) => r.id));
    return j;
  }

  const fate = (id: number) => db.prepare('SELECT fate, accepted, settled FROM handoffs WHERE id = ?').get(id) as { fate: string | null; accepted: string | null; settled: number };

  it('a record for each recipient marks the hand-off accepted by accounting; the spooled copy learns which recipients PowerMTA has', async () => {
    const p1 = new HandoffJournal(db, () => clock.now(), 'p1');
    const lost = p1.begin(start(3, '<Lost.1@Sos-Mail.com>', ['a@x.net', 'B@x.net'], 'spool-1'));
    const answered = p1.begin(start(3, '<Seen.1@sos-mail.com>', ['c@x.net'], 'spool-2'));
    await p1.answered(answered, ['c@x.net'], false);
    // p1 is killed here: the first hand-off's answer was never written.
    const p2 = restart('p2');
    assert.deepEqual(fate(lost), { fate: 'unknown', accepted: null, settled: 1 });
    assert.equal(fate(answered).fate, null, 'an answered hand-off is not of unknown fate');
    assert.equal(p2.unknownCount(), 1);
    assert.deepEqual(p2.knownAccepted('spool-1'), []);

    // A `d` for one recipient, in the sender's case and with brackets as PowerMTA logs it.
    assert.equal(p2.reconcile(normaliseMessageId('<LOST.1@sos-mail.com>'), 3, 'a@x.net'), 1);
    assert.deepEqual(fate(lost), { fate: 'unknown', accepted: '["a@x.net"]', settled: 1 });
    assert.deepEqual(p2.knownAccepted('spool-1'), ['a@x.net']);
    assert.equal(p2.reconcile(normaliseMessageId('lost.1@sos-mail.com'), 3, 'a@x.net'), 0, 'a record read twice changes nothing');
    assert.deepEqual(p2.lookup(normaliseMessageId('lost.1@sos-mail.com'))?.recipients, ['a@x.net']);

    // The state survives another restart, and the second recipient completes it.
    const p3 = restart('p3');
    assert.equal(p3.unknownCount(), 1);
    assert.equal(p3.reconcile(normaliseMessageId('lost.1@sos-mail.com'), 3, 'b@X.net'), 1);
    assert.deepEqual(fate(lost), { fate: 'accounting', accepted: '["a@x.net","b@x.net"]', settled: 1 });
    assert.deepEqual(p3.knownAccepted('spool-1').sort(), ['a@x.net', 'b@x.net']);
    assert.equal(p3.unknownCount(), 0);
    assert.equal(restart('p4').unknownCount(), 0, 'a known outcome is not reloaded as unknown');
  });

  it('proves nothing for another tenant, another recipient, a redacted recipient or another Message-ID', () => {
    const p1 = new HandoffJournal(db, () => clock.now(), 'p1');
    const lost = p1.begin(start(3, '<copied@sos-mail.com>', ['a@x.net'], 'spool-1'));
    const p2 = restart('p2');
    assert.equal(p2.reconcile('copied@sos-mail.com', 4, 'a@x.net'), 0, "another tenant's message under a copied ID");
    assert.equal(p2.reconcile('copied@sos-mail.com', 3, 'z@x.net'), 0, 'a recipient the hand-off did not carry');
    assert.equal(p2.reconcile('copied@sos-mail.com', 3, ''), 0, 'a report that redacted the recipient');
    assert.equal(p2.reconcile('other@sos-mail.com', 3, 'a@x.net'), 0);
    assert.deepEqual(fate(lost), { fate: 'unknown', accepted: null, settled: 1 });
    assert.deepEqual(p2.knownAccepted('spool-1'), []);
  });

  it('a hand-off in flight in this process is not touched: PowerMTA\'s own answer will settle it', () => {
    const p1 = new HandoffJournal(db, () => clock.now(), 'p1');
    const id = p1.begin(start(3, '<live@sos-mail.com>', ['a@x.net'], null));
    assert.equal(p1.reconcile('live@sos-mail.com', 3, 'a@x.net'), 0);
    assert.deepEqual(fate(id), { fate: null, accepted: null, settled: 0 });
  });
});
