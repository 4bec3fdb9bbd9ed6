import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AccountingEffects, readCounters } from '../../src/accounting/effects.js';
import { registryResolver } from '../../src/accounting/resolve.js';
import { splitCsvLine } from '../../src/accounting/csv.js';
import { AcctHeader, parseRecord, type AcctRecord } from '../../src/accounting/records.js';
import { SuppressionStore } from '../../src/accounting/suppression.js';
import { KNOWN_VMTAS, SOS_ID, ULIXAI_ID, storeIn, tmpDir } from './fixtures.js';

const tmp = tmpDir();
after(() => tmp.cleanup());
const H = new AcctHeader(['type', 'timeLogged', 'rcpt', 'vmta', 'dlvSourceIp', 'bounceCat', 'dsnStatus', 'dsnDiag', 'feedbackType', 'header_Message-Id']);
const [SOS1, , ULI] = KNOWN_VMTAS as [(typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number]];

function rec(line: string): AcctRecord {
  const r = parseRecord(splitCsvLine(line)!, H);
  if ('malformed' in r) throw new Error(r.malformed);
  return r;
}

test('the directory maps a VMTA name (any case) and an address to the IP and its tenant', () => {
  const { sources } = storeIn(tmp.dir);
  assert.deepEqual(sources.vmta(SOS1.vmta), { ipAddress: SOS1.ip, tenantId: SOS_ID });
  assert.deepEqual(sources.vmta(SOS1.vmta.toUpperCase()), { ipAddress: SOS1.ip, tenantId: SOS_ID });
  assert.deepEqual(sources.ip(ULI.ip), { ipAddress: ULI.ip, tenantId: ULIXAI_ID });
  assert.equal(sources.vmta('ghost-1-2-3-4'), null);
  assert.equal(sources.ip('1.2.3.4'), null);
});

test('the resolver sees an IP added after it was made, once the registry reloads', () => {
  const { db, registry } = storeIn(tmp.dir);
  const dir = registryResolver(registry);
  assert.equal(dir.vmta('sos-expat-45-123-10-9'), null);
  db.prepare("INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, updated_at) VALUES ('45.123.10.9', 1, 'h', 'warming', '2026-11-01', 'now')").run();
  registry.reload();
  assert.deepEqual(dir.vmta('sos-expat-45-123-10-9'), { ipAddress: '45.123.10.9', tenantId: SOS_ID });
  db.prepare("DELETE FROM ips WHERE address = '45.123.10.9'").run();
  registry.reload();
});

test('hard bounces and complaints go on the tenant list, soft and policy bounces do not; unknown VMTAs are counted and skipped', () => {
  const t2 = tmpDir();
  try {
    // The sent-message index knows <m3@x>: the rb below has neither vmta nor dlvSourceIp, as PowerMTA writes it.
    const store = storeIn(t2.dir, (id) =>
      id === 'm3@x' ? { tenantId: SOS_ID, ip: SOS1.ip, vmta: SOS1.vmta, jobId: null, recipients: ['late@x.org'], day: '2026-11-24' } : undefined,
    );
    const fx = new AccountingEffects(store.db, { sources: store.sources, timeZone: 'UTC' });
    const summary = fx.apply({
      records: [
        rec(`b,2026-11-24 10:00:00+0000,Hard@X.org,${SOS1.vmta},,bad-mailbox,5.1.1,"smtp;550 5.1.1 user unknown",,<m1@x>`),
        rec(`b,2026-11-24 10:00:01+0000,soft@x.org,${SOS1.vmta},,quota-issues,4.2.2,smtp;452 full,,`),
        rec(`b,2026-11-24 10:00:02+0000,policy@x.org,${SOS1.vmta},,spam-related,5.7.1,smtp;550 spam,,`),
        rec(`f,2026-11-24 10:00:03+0000,angry@x.org,${ULI.vmta},,,,,abuse,<m2@x>`),
        rec(`f,2026-11-24 10:00:04+0000,hard@x.org,${SOS1.vmta},,,,,abuse,`),
        rec('rb,2026-11-24 10:00:05+0000,late@x.org,,,inactive-mailbox,5.2.1,,,<M3@x>'),
        rec('d,2026-11-24 10:00:06+0000,who@x.org,ghost-10-0-0-9,10.0.0.9,,2.0.0,,,'),
        rec(`r,2026-11-24 10:00:07+0000,who@x.org,${SOS1.vmta},,,,,,`),
      ],
      malformed: 2,
    });
    const sup = new SuppressionStore(store.db);
    const hard = sup.check(SOS_ID, 'hard@x.org');
    assert.equal(hard?.reason, 'hard-bounce', 'the bounce came first, the complaint after it does not replace it');
    assert.equal(hard?.source, 'pmta-acct');
    assert.equal(hard?.createdAt, '2026-11-24T10:00:00.000Z');
    assert.match(hard?.detail ?? '', /bad-mailbox 5\.1\.1; smtp;550 5\.1\.1 user unknown; vmta=sos-expat-45-123-10-1; message-id=<m1@x>/);
    assert.equal(sup.check(ULIXAI_ID, 'angry@x.org')?.reason, 'complaint');
    assert.equal(sup.check(SOS_ID, 'angry@x.org'), null, 'a complaint suppresses for its own tenant only');
    assert.equal(sup.check(SOS_ID, 'late@x.org')?.reason, 'hard-bounce', 'rb attributed by its Message-ID');
    assert.equal(sup.check(SOS_ID, 'soft@x.org'), null);
    assert.equal(sup.check(SOS_ID, 'policy@x.org'), null);

    assert.equal(summary.suppressed, 3);
    assert.equal(summary.unknown, 1);
    assert.deepEqual(summary.unattributed, { 'unknown-vmta': 1 });
    assert.deepEqual(summary.unattributedSamples.map((u) => u.key), ['ghost-10-0-0-9']);
    assert.equal(summary.ignored, 1);
    assert.equal(summary.malformed, 2);
    const sos1 = summary.ips.find((i) => i.ip === SOS1.ip);
    assert.deepEqual(sos1 && { ...sos1 }, {
      ip: SOS1.ip, tenantId: SOS_ID, delivered: 0, bouncedHard: 2, bouncedSoft: 1, bouncedOther: 1, deferred: 0, complaints: 1,
    });
    assert.deepEqual(readCounters(store.db), { records: 8, malformed: 2, unattributed: 1, ignored: 1, suppressed: 3 });
  } finally {
    t2.cleanup();
  }
});

test('a failing transaction keeps nothing of the batch, the caller\'s part included', () => {
  const t2 = tmpDir();
  try {
    const store = storeIn(t2.dir);
    const fx = new AccountingEffects(store.db, { sources: store.sources, timeZone: 'UTC' });
    assert.throws(
      () =>
        fx.apply({ records: [rec(`b,2026-11-24 10:00:00+0000,x@x.org,${SOS1.vmta},,bad-mailbox,,,,`)], malformed: 1 }, () => {
          throw new Error('checkpoint write failed');
        }),
      /checkpoint write failed/,
    );
    assert.equal(new SuppressionStore(store.db).check(SOS_ID, 'x@x.org'), null);
    assert.deepEqual(readCounters(store.db).malformed, 0);
    assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM ip_stats_daily').get() as { n: number }).n, 0);
  } finally {
    t2.cleanup();
  }
});
