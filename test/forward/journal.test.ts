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

describe('normaliseMessageId', () => {
  const rows: Array<[string, string]> = [
    ['<AbC.123@Sos-Mail.com>', 'abc.123@sos-mail.com'],
    ['  <abc@x>  ', 'abc@x'],
    ['abc@x', 'abc@x'],
    ['< abc@x >', 'abc@x'],
    ['ABC@X', 'abc@x'],
  ];
  for (const [raw, want] of rows) it(`${JSON.stringify(raw)} -> ${want}`, () => assert.equal(normaliseMessageId(raw), want));
});

describe('the hand-off journal', () => {
  let db: Db;
  let clock: ManualClock;
  let cleanup: () => void;
  beforeEach(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'j.db'));
    clock = new ManualClock('2026-11-25T10:00:00Z');
  });
  afterEach(() => {
    db.close();
    cleanup();
  });

  it('indexes a sent message by its normalised Message-ID with what PowerMTA took', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    const id = j.begin(start(3, '<Msg.1@Sos-Mail.com>', ['a@x.net', 'b@x.net']));
    await j.answered(id, ['a@x.net'], true);
    assert.deepEqual(j.lookup(normaliseMessageId('msg.1@sos-mail.com')), {
      tenantId: 3,
      ip: '45.123.10.1',
      vmta: 'sos-expat-45-123-10-1',
      jobId: 'cmp1',
      recipients: ['a@x.net'],
      day: '2026-11-25',
    });
    assert.equal(j.lookup('unknown@x'), undefined);
  });

  it('while the answer is unknown, the index lists every recipient handed over', () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    j.begin(start(3, '<m2@x>', ['a@x.net', 'b@x.net']));
    assert.deepEqual(j.lookup('m2@x')?.recipients, ['a@x.net', 'b@x.net']);
  });

  it('a message sent in two hand-offs (fast path, then the spool) lists the recipients of both', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    await j.answered(j.begin(start(3, '<m3@x>', ['a@x.net', 'b@x.net'])), ['a@x.net'], true);
    await j.answered(j.begin(start(3, '<m3@x>', ['b@x.net'], 'spool-1')), ['b@x.net'], true);
    assert.deepEqual(j.lookup('m3@x')?.recipients.sort(), ['a@x.net', 'b@x.net']);
  });

  it('a hand-off PowerMTA took nothing of is not in the index', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    await j.answered(j.begin(start(3, '<m4@x>', ['a@x.net'])), [], true);
    assert.equal(j.lookup('m4@x'), undefined);
  });

  it('a second tenant reusing a Message-ID cannot take over the first one\'s attribution', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    await j.answered(j.begin(start(1, '<same@x>', ['a@x.net'])), ['a@x.net'], true);
    await j.answered(j.begin(start(2, '<same@x>', ['evil@y.net'])), ['evil@y.net'], true);
    assert.deepEqual(j.lookup('same@x'), { ...j.lookup('same@x')!, tenantId: 1, recipients: ['a@x.net'] });
  });

  it('rows left unsettled by another (crashed) process are handed back with their reservations; its own are not', async () => {
    const dead = new HandoffJournal(db, () => clock.now(), 'dead');
    const unknown = dead.begin(start(3, '<u@x>', ['a@x.net']));
    const known = dead.begin(start(3, '<k@x>', ['b@x.net', 'c@x.net'], 'spool-9'));
    await dead.answered(known, ['b@x.net'], false);
    await dead.answered(dead.begin(start(3, '<done@x>', ['d@x.net'])), ['d@x.net'], true);
    const me = new HandoffJournal(db, () => clock.now(), 'me');
    me.begin(start(3, '<mine@x>', ['e@x.net']));
    const rows = me.unsettled();
    assert.deepEqual(rows.map((r) => [r.id, r.accepted, r.spoolId]), [
      [unknown, null, null],
      [known, ['b@x.net'], 'spool-9'],
    ]);
    assert.deepEqual(rows[1]!.grants.map((g) => [g.rcpt, g.reservations[0]!.id]), [
      ['b@x.net', 'b@x.net-0'],
      ['c@x.net', 'c@x.net-1'],
    ]);
    me.settleNow(rows.map((r) => r.id));
    assert.deepEqual(me.unsettled(), []);
  });

  it('a row begun in the group commit is committed, and seen by another connection, when its promise resolves; a sync begin commits what was queued with it', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    const other = openDb(db.name);
    try {
      const seen = (id: number) => other.prepare('SELECT COUNT(*) AS n FROM handoffs WHERE id = ?').get(id) as { n: number };
      const queued = j.beginQueued(start(3, '<q1@x>', ['a@x.net']));
      const answer = j.beginQueued(start(3, '<q2@x>', ['b@x.net']));
      assert.equal((other.prepare('SELECT COUNT(*) AS n FROM handoffs').get() as { n: number }).n, 0, 'nothing before the group commits');
      const id = await queued;
      assert.equal(seen(id).n, 1);
      const id2 = await answer;
      const answered = j.answered(id2, ['b@x.net'], true);
      const sync = j.begin(start(3, '<s1@x>', ['c@x.net']));
      assert.equal(seen(sync).n, 1, 'committed when begin returns');
      assert.deepEqual(other.prepare('SELECT accepted, settled FROM handoffs WHERE id = ?').get(id2), { accepted: '["b@x.net"]', settled: 1 }, 'the answer queued before it is committed with it');
      await answered;
    } finally {
      other.close();
    }
  });

  it('settled marks are written in batches, and a flush writes them at once', async () => {
    const dead = new HandoffJournal(db, () => clock.now(), 'dead');
    const id = dead.begin(start(3, '<b@x>', ['a@x.net'], 'spool-1'));
    await dead.answered(id, ['a@x.net'], false);
    dead.settled(id);
    dead.flush();
    assert.deepEqual(new HandoffJournal(db, () => clock.now(), 'me').unsettled(), []);
  });

  it('keeps the index for indexDays: older settled rows are pruned, unsettled ones stay', async () => {
    const j = new HandoffJournal(db, () => clock.now(), 'p1');
    await j.answered(j.begin(start(3, '<old@x>', ['a@x.net'])), ['a@x.net'], true);
    j.begin(start(3, '<old-unsettled@x>', ['a@x.net']));
    clock.advance(31 * 86_400_000);
    await j.answered(j.begin(start(3, '<new@x>', ['a@x.net'])), ['a@x.net'], true);
    assert.equal(j.prune(30), 1);
    assert.equal(j.lookup('old@x'), undefined);
    assert.ok(j.lookup('old-unsettled@x'));
    assert.ok(j.lookup('new@x'));
  });
});
