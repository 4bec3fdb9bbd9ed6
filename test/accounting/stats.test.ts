import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import path from 'node:path';
import { AcceptedCounter, overview, performance as perf, rates, recordAccepted } from '../../src/accounting/stats.js';
import { openDb, type Db } from '../../src/store/db.js';
import { groupCommit } from '../../src/store/group-commit.js';
import { AccountingEffects } from '../../src/accounting/effects.js';
import { splitCsvLine } from '../../src/accounting/csv.js';
import { AcctHeader, parseRecord, type AcctRecord } from '../../src/accounting/records.js';
import type { DayKey } from '../../src/types.js';
import { KNOWN_VMTAS, SOS_ID, ULIXAI_ID, storeIn, tmpDir } from './fixtures.js';

const tmp = tmpDir();
after(() => tmp.cleanup());
const store = storeIn(tmp.dir);
const H = new AcctHeader(['type', 'timeLogged', 'rcpt', 'vmta', 'bounceCat']);
const [SOS1, SOS2, ULI] = KNOWN_VMTAS as [(typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number]];

function rec(line: string): AcctRecord {
  const r = parseRecord(splitCsvLine(line)!, H);
  if ('malformed' in r) throw new Error(r.malformed);
  return r;
}

test('rates: bounces over everything that reached a verdict, complaints over delivered, 0 without volume', () => {
  const zero = { accepted: 0, delivered: 0, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 0, deferred: 0, complaints: 0 };
  assert.deepEqual(rates(zero), { bounceRate: 0, hardBounceRate: 0, complaintRate: 0 });
  const r = rates({ ...zero, delivered: 90, bouncedHard: 5, bouncedSoft: 3, bouncedOther: 2, complaints: 9, deferred: 40 });
  assert.equal(r.bounceRate, 0.1);
  assert.equal(r.hardBounceRate, 0.05);
  assert.equal(r.complaintRate, 0.1);
});

test('overview and performance: per IP, per day and tenant totals, days counted in the configured zone', () => {
  // Paris is UTC+1 in November: 23:30 UTC on the 24th is already the 25th there.
  const fx = new AccountingEffects(store.db, { sources: store.sources, timeZone: 'Europe/Paris' });
  const lines = [
    `d,2026-11-24 10:00:00+0000,a@x.org,${SOS1.vmta},`,
    `d,2026-11-24 10:00:01+0000,b@x.org,${SOS1.vmta},`,
    `b,2026-11-24 10:00:02+0000,c@x.org,${SOS1.vmta},bad-mailbox`,
    `b,2026-11-24 10:00:03+0000,d@x.org,${SOS2.vmta},quota-issues`,
    `t,2026-11-24 10:00:04+0000,e@x.org,${SOS2.vmta},`,
    `d,2026-11-24 23:30:00+0000,f@x.org,${SOS2.vmta},`,
    `f,2026-11-24 23:40:00+0000,f@x.org,${SOS2.vmta},`,
    `d,2026-11-24 10:00:00+0000,g@x.org,${ULI.vmta},`,
  ];
  fx.apply({ records: lines.map(rec), malformed: 0 });
  recordAccepted(store.db, SOS1.ip, SOS_ID, '2026-11-24', 4);
  recordAccepted(store.db, SOS1.ip, SOS_ID, '2026-11-24', 1);

  const day24 = overview(store.db, SOS_ID, '2026-11-24' as DayKey);
  assert.deepEqual(
    day24.ips.map((i) => [i.ip, i.accepted, i.delivered, i.bouncedHard, i.bouncedSoft, i.deferred, i.complaints]),
    [
      [SOS1.ip, 5, 2, 1, 0, 0, 0],
      [SOS2.ip, 0, 0, 0, 1, 1, 0],
    ],
  );
  assert.equal(day24.totals.delivered, 2);
  assert.equal(day24.totals.bounceRate, 2 / 4);
  assert.equal(day24.ips[0]?.bounceRate, 1 / 3);

  const day25 = overview(store.db, SOS_ID, '2026-11-25' as DayKey);
  assert.deepEqual(day25.ips.map((i) => [i.ip, i.delivered, i.complaints, i.complaintRate]), [[SOS2.ip, 1, 1, 1]]);

  const range = perf(store.db, SOS_ID, '2026-11-01' as DayKey, '2026-11-30' as DayKey);
  assert.deepEqual(range.days.map((d) => [d.day, d.delivered]), [['2026-11-24', 2], ['2026-11-25', 1]]);
  assert.deepEqual(range.ips.map((i) => [i.ip, i.delivered]), [[SOS1.ip, 2], [SOS2.ip, 1]]);
  assert.equal(range.totals.delivered, 3);
  assert.equal(range.totals.accepted, 5);
  // The other tenant's IP is not in this tenant's numbers.
  assert.equal(perf(store.db, ULIXAI_ID, '2026-11-01' as DayKey, '2026-11-30' as DayKey).totals.delivered, 1);
  assert.deepEqual(overview(store.db, SOS_ID, '2026-10-01' as DayKey).ips, []);
});

test('accepted counts go with the group commit: summed per IP and day, visible to another connection once that group committed', async () => {
  const t = tmpDir();
  try {
    const db = openDb(path.join(t.dir, 'a.db'));
    const other = openDb(db.name);
    const errors: unknown[][] = [];
    const counter = new AcceptedCounter(db, (row, err) => errors.push([row, err]));
    counter.add(SOS_ID, '45.123.10.1', '2026-11-25', 2);
    counter.add(SOS_ID, '45.123.10.1', '2026-11-25', 1);
    counter.add(SOS_ID, '45.123.10.2', '2026-11-25', 4);
    const read = () => other.prepare('SELECT ip, accepted FROM ip_stats_daily ORDER BY ip').all();
    assert.deepEqual(read(), [], 'nothing before the group commits');
    await groupCommit(db).write(() => undefined);
    assert.deepEqual(read(), [
      { ip: '45.123.10.1', accepted: 3 },
      { ip: '45.123.10.2', accepted: 4 },
    ]);
    counter.add(SOS_ID, '45.123.10.1', '2026-11-25', 5);
    await groupCommit(db).write(() => undefined);
    assert.deepEqual(read(), [
      { ip: '45.123.10.1', accepted: 8 },
      { ip: '45.123.10.2', accepted: 4 },
    ]);
    assert.equal(errors.length, 0);
    other.close();
    db.close();

    const ro = new Database(path.join(t.dir, 'a.db'), { readonly: true }) as Db;
    const failing = new AcceptedCounter(ro, (row, err) => errors.push([row.ip, row.n, (err as Error).message]));
    failing.add(SOS_ID, '45.123.10.1', '2026-11-25', 1);
    await groupCommit(ro).write(() => undefined).catch(() => undefined);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]![2]), /readonly|read-only/i);
    ro.close();
  } finally {
    t.cleanup();
  }
});
