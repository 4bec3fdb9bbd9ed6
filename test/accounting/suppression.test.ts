import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SuppressionStore } from '../../src/accounting/suppression.js';
import { ManualClock } from '../../src/types.js';
import { SOS_ID, ULIXAI_ID, storeIn, tmpDir } from './fixtures.js';

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

/** A store of its own for each test, so the tests hold alone and in any order. */
function fresh() {
  const tmp = tmpDir();
  const { db } = storeIn(tmp.dir);
  cleanups.push(() => db.close(), tmp.cleanup);
  const clock = new ManualClock('2026-11-25T10:00:00Z');
  return { store: new SuppressionStore(db, clock), clock };
}

test('check finds an address in any case, per tenant only', () => {
  const { store } = fresh();
  assert.equal(store.add(SOS_ID, ' Jean@Gmail.COM ', { reason: 'manual', source: 'api', detail: 'asked to stop' }), true);
  assert.deepEqual(store.check(SOS_ID, 'jean@gmail.com'), {
    reason: 'manual',
    source: 'api',
    detail: 'asked to stop',
    createdAt: '2026-11-25T10:00:00.000Z',
  });
  assert.equal(store.check(SOS_ID, 'JEAN@gmail.com')?.reason, 'manual');
  assert.equal(store.check(ULIXAI_ID, 'jean@gmail.com'), null);
  assert.equal(store.check(SOS_ID, 'other@gmail.com'), null);
});

test('the first reason stays: a later add of the same address changes nothing', () => {
  const { store } = fresh();
  store.add(SOS_ID, 'bounce@x.org', { reason: 'hard-bounce', source: 'pmta-acct', at: new Date('2026-11-20T00:00:00Z') });
  assert.equal(store.add(SOS_ID, 'BOUNCE@x.org', { reason: 'complaint', source: 'pmta-acct' }), false);
  const hit = store.check(SOS_ID, 'bounce@x.org');
  assert.equal(hit?.reason, 'hard-bounce');
  assert.equal(hit?.createdAt, '2026-11-20T00:00:00.000Z');
});

test('remove takes an address off; removing it again reports false', () => {
  const { store } = fresh();
  store.add(ULIXAI_ID, 'gone@x.org', { reason: 'manual', source: 'api' });
  assert.equal(store.remove(ULIXAI_ID, 'Gone@X.org'), true);
  assert.equal(store.remove(ULIXAI_ID, 'gone@x.org'), false);
  assert.equal(store.check(ULIXAI_ID, 'gone@x.org'), null);
});

test('list pages newest first and gives the total', () => {
  const { store, clock } = fresh();
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    store.add(ULIXAI_ID, `p${i}@x.org`, { reason: 'manual', source: 'api' });
  }
  const first = store.list(ULIXAI_ID, { limit: 2 });
  assert.equal(first.total, 5);
  assert.deepEqual(first.entries.map((e) => e.email), ['p4@x.org', 'p3@x.org']);
  const rest = store.list(ULIXAI_ID, { limit: 10, offset: 2 });
  assert.deepEqual(rest.entries.map((e) => e.email), ['p2@x.org', 'p1@x.org', 'p0@x.org']);
  assert.equal(rest.entries[0]?.tenantId, ULIXAI_ID);
});

test('exportCsv writes a header and quotes what needs quoting', () => {
  const { store } = fresh();
  store.add(SOS_ID, 'b@x.org', { reason: 'hard-bounce', source: 'pmta-acct', detail: 'b bad-mailbox 5.1.1; smtp;550 "no", sorry', at: new Date('2026-11-01T00:00:00Z') });
  store.add(SOS_ID, 'a@x.org', { reason: 'manual', source: 'api', at: new Date('2026-11-02T00:00:00Z') });
  assert.equal(
    store.exportCsv(SOS_ID),
    'email,reason,source,detail,created_at\n' +
      'a@x.org,manual,api,,2026-11-02T00:00:00.000Z\n' +
      'b@x.org,hard-bounce,pmta-acct,"b bad-mailbox 5.1.1; smtp;550 ""no"", sorry",2026-11-01T00:00:00.000Z\n',
  );
});

test('importCsv without a header: one address per line, bad lines reported with their number', () => {
  const { store } = fresh();
  const r = store.importCsv(ULIXAI_ID, 'one@x.org\nTWO@x.org\r\n\nnot-an-address\none@x.org\n"broken\nthree@x.org,extra,columns\n');
  assert.deepEqual({ added: r.added, duplicates: r.duplicates }, { added: 3, duplicates: 1 });
  assert.deepEqual(r.bad.map((b) => [b.line, b.error]), [
    [4, 'not an email address'],
    [6, 'unbalanced quotes'],
  ]);
  assert.equal(store.check(ULIXAI_ID, 'two@x.org')?.reason, 'manual');
  assert.equal(store.check(ULIXAI_ID, 'two@x.org')?.source, 'import');
});

test('importCsv with a header reads the email column wherever it is', () => {
  const { store } = fresh();
  const r = store.importCsv(SOS_ID, 'name,Email,date\nJean,jean2@x.org,2026\nAnna,,2026\n', { source: 'mailwizz-export' });
  assert.equal(r.added, 1);
  assert.deepEqual(r.bad.map((b) => [b.line, b.error]), [[3, 'no address']]);
  assert.equal(store.check(SOS_ID, 'jean2@x.org')?.source, 'mailwizz-export');
  // An export of ours imports back (into another tenant) as is.
  const back = store.importCsv(ULIXAI_ID, store.exportCsv(SOS_ID));
  assert.equal(back.bad.length, 0);
  assert.equal(back.added + back.duplicates, store.list(SOS_ID).total);
});

test('check finds each of 50,000 imported addresses whatever its case, and only for its tenant', () => {
  const { store } = fresh();
  const rows = Array.from({ length: 50_000 }, (_, i) => `bulk${i}@x.org`).join('\n');
  assert.equal(store.importCsv(SOS_ID, rows).added, 50_000);
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (store.check(SOS_ID, `BULK${i}@x.org`) !== null) hits++;
  assert.equal(hits, 50_000);
  assert.equal(store.check(ULIXAI_ID, 'bulk0@x.org'), null);
  // How fast: bench/suppression.ts.
});

test('an address added after the list was first checked is found at the next check, through any store on the connection; 5,000 imported on top of a small list too', () => {
  const tmp = tmpDir();
  const { db } = storeIn(tmp.dir);
  cleanups.push(() => db.close(), tmp.cleanup);
  const gate = new SuppressionStore(db);
  const accounting = new SuppressionStore(db); // as the accounting effects hold their own
  assert.equal(gate.check(SOS_ID, 'late@x.org'), null);
  accounting.add(SOS_ID, 'Late@X.org', { reason: 'hard-bounce', source: 'pmta-acct' });
  assert.equal(gate.check(SOS_ID, 'late@x.org')?.reason, 'hard-bounce');
  assert.equal(gate.check(ULIXAI_ID, 'late@x.org'), null);
  // Far more than the set was sized for: it is built again, larger, and keeps every entry.
  const r = accounting.importCsv(SOS_ID, Array.from({ length: 5000 }, (_, i) => `bulk${i}@x.org`).join('\n'));
  assert.equal(r.added, 5000);
  for (let i = 0; i < 5000; i++) assert.ok(gate.check(SOS_ID, `BULK${i}@x.org`), `bulk${i}@x.org found`);
  assert.equal(gate.check(SOS_ID, 'bulk5000@x.org'), null);
  assert.ok(accounting.remove(SOS_ID, 'bulk7@x.org'));
  assert.equal(gate.check(SOS_ID, 'bulk7@x.org'), null, 'a removed address is not refused');
});
