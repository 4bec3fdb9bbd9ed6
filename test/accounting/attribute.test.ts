import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attribute, type AttributionSources, type SentMessage } from '../../src/accounting/attribute.js';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { AcctHeader, parseRecord, type AcctRecord } from '../../src/accounting/records.js';
import type { ResolvedIp } from '../../src/accounting/resolve.js';
import type { IpAddress } from '../../src/types.js';

const A: ResolvedIp = { ipAddress: '203.0.113.10' as IpAddress, tenantId: 1 };
const B: ResolvedIp = { ipAddress: '203.0.113.20' as IpAddress, tenantId: 2 };
const SENT: Record<string, SentMessage> = {
  'one@t1': { tenantId: 2, ip: B.ipAddress, vmta: 't2-ip', jobId: 'c1', recipients: ['Only@Example.org'], day: '2026-11-24' },
  'many@t1': { tenantId: 2, ip: B.ipAddress, vmta: 't2-ip', jobId: null, recipients: ['a@x.org', 'b@x.org'], day: '2026-11-24' },
};
const sources: AttributionSources = {
  vmta: (n) => (n.toLowerCase() === 't1-ip' ? A : null),
  ip: (a) => (a === A.ipAddress ? A : a === B.ipAddress ? B : null),
  sent: (id) => SENT[id],
  normalise: normaliseMessageId,
};

const H = new AcctHeader(['type', 'timeLogged', 'rcpt', 'vmta', 'dlvSourceIp', 'repSourceIp', 'bounceCat', 'header_Message-Id']);
function rec(fields: string): AcctRecord {
  const r = parseRecord(fields.split(','), H, 7);
  if ('malformed' in r) throw new Error(r.malformed);
  return r;
}
const T = '2026-11-24 10:00:00+0000';

test('the vmta wins over every other key', () => {
  const a = attribute(rec(`d,${T},x@y.org,T1-IP,${B.ipAddress},,,<one@t1>`), sources);
  assert.deepEqual(a, { kind: 'attributed', at: A, by: 'vmta', rcpt: 'x@y.org' });
});

test('without a known vmta, the Message-ID in the sent-message index (brackets and case do not matter)', () => {
  const a = attribute(rec(`rb,${T},x@y.org,,,,bad-mailbox,<ONE@t1>`), sources);
  assert.equal(a.kind, 'attributed');
  assert.equal(a.kind === 'attributed' && a.by, 'message-id');
  assert.deepEqual(a.kind === 'attributed' && a.at, { ipAddress: B.ipAddress, tenantId: 2 });
});

test('a complaint without vmta or indexed Message-ID goes by repSourceIp, never by dlvSourceIp (the reporter)', () => {
  const a = attribute(rec(`f,${T},x@y.org,,${B.ipAddress},${A.ipAddress},,<unknown@t1>`), sources);
  assert.deepEqual(a, { kind: 'attributed', at: A, by: 'rep-source-ip', rcpt: 'x@y.org' });
  const reporterOnly = attribute(rec(`f,${T},x@y.org,,${A.ipAddress},,,`), sources);
  assert.deepEqual(reporterOnly, { kind: 'unattributed', reason: 'no-key', key: 'f' });
});

test('delivery records fall back to dlvSourceIp; remote bounces do not', () => {
  assert.deepEqual(attribute(rec(`b,${T},x@y.org,,${A.ipAddress},,bad-mailbox,`), sources), { kind: 'attributed', at: A, by: 'dlv-source-ip', rcpt: 'x@y.org' });
  assert.equal(attribute(rec(`rb,${T},x@y.org,,${A.ipAddress},,bad-mailbox,<z@z>`), sources).kind, 'unattributed');
});

test('a report with the recipient redacted takes the message\'s only recipient from the index', () => {
  const one = attribute(rec(`f,${T},,,,,,<one@t1>`), sources);
  assert.equal(one.kind === 'attributed' && one.rcpt, 'only@example.org');
  const many = attribute(rec(`f,${T},,,,,,<many@t1>`), sources);
  assert.equal(many.kind === 'attributed' && many.rcpt, '', 'several recipients: nobody to single out');
});

test('what stays unattributed says why', () => {
  assert.deepEqual(attribute(rec(`d,${T},x@y.org,ghost,9.9.9.9,,,`), sources), { kind: 'unattributed', reason: 'unknown-vmta', key: 'ghost' });
  assert.deepEqual(attribute(rec(`d,${T},x@y.org,,9.9.9.9,,,`), sources), { kind: 'unattributed', reason: 'unknown-ip', key: '9.9.9.9' });
  assert.deepEqual(attribute(rec(`rb,${T},x@y.org,,,,bad-mailbox,<who@x>`), sources), { kind: 'unattributed', reason: 'unknown-message-id', key: '<who@x>' });
  assert.deepEqual(attribute(rec(`t,${T},x@y.org,,,,,`), sources), { kind: 'unattributed', reason: 'no-key', key: 't' });
});
