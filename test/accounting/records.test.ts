import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCsvLine } from '../../src/accounting/csv.js';
import { lineState, parseLines } from '../../src/accounting/lines.js';
import { AcctHeader, bounceClass, parsePmtaTime, parseRecord, type AcctRecord } from '../../src/accounting/records.js';
import { ACCT_COLUMNS, formatRecord } from '../../src/sim/acct-csv.js';
import { recordsFor } from '../../src/sim/records.js';

const header = new AcctHeader(ACCT_COLUMNS);

function parse(rec: Record<string, string>, h: AcctHeader = header): AcctRecord | { malformed: string } {
  return parseRecord(splitCsvLine(formatRecord(h.names, rec))!, h);
}

const NOW = new Date('2026-11-24T09:00:05Z');
const simRecords = recordsFor(
  {
    mailFrom: 'bounces@sos-mail.com',
    rcptTo: ['Jean@Gmail.com', 'nobody@bounce.example', 'later@defer.example'],
    vmta: 'sos-expat-45-123-10-1',
    job: 'c8a1f',
    messageId: '<3f2a@sos-mail.com>',
    size: 5123,
    receivedAt: NOW,
  },
  { bounceDomains: new Set(['bounce.example']), deferDomains: new Set(['defer.example']), complainAddresses: new Set(['jean@gmail.com']) },
  NOW,
);

test('the simulator records of one message read as delivered, complaint, bounce and deferred', () => {
  const kinds = simRecords.map((r) => parse(r));
  assert.deepEqual(
    kinds.map((k) => ('malformed' in k ? k.malformed : k.kind)),
    ['delivered', 'complaint', 'bounce', 'deferred'],
  );
  const d = kinds[0] as Extract<AcctRecord, { kind: 'delivered' }>;
  assert.equal(d.rcpt, 'jean@gmail.com', 'rcpt is lower-cased');
  assert.equal(d.vmta, 'sos-expat-45-123-10-1');
  assert.equal(d.dlvSourceIp, '45.123.10.1');
  assert.equal(d.orig, 'bounces@sos-mail.com');
  assert.equal(d.jobId, 'c8a1f');
  assert.equal(d.messageId, '<3f2a@sos-mail.com>');
  assert.equal(d.timeLogged.toISOString(), NOW.toISOString());
  const f = kinds[1] as Extract<AcctRecord, { kind: 'complaint' }>;
  assert.equal(f.feedbackType, 'abuse');
  assert.equal(f.vmta, '');
  assert.equal(f.repSourceIp, '45.123.10.1');
  const b = kinds[2] as Extract<AcctRecord, { kind: 'bounce' }>;
  assert.equal(b.bounceCat, 'bad-mailbox');
  assert.equal(b.bounceClass, 'hard');
  assert.equal(b.remote, false);
  assert.equal(b.dsnStatus, '5.1.1 (bad destination mailbox address)');
  assert.match(b.dsnDiag, /^smtp;550 5\.1\.1 <nobody@bounce\.example>/);
});

test('bounce classes follow the PowerMTA categories MailWizz uses', () => {
  for (const c of ['bad-mailbox', 'inactive-mailbox', 'bad-domain']) assert.equal(bounceClass(c), 'hard', c);
  for (const c of ['quota-issues', 'no-answer-from-host', 'relaying-issues', 'routing-errors']) assert.equal(bounceClass(c), 'soft', c);
  for (const c of ['spam-related', 'policy-related', 'content-related', 'message-expired', 'other', '']) assert.equal(bounceClass(c), 'other', c);
});

test('rb is a remote bounce, tq a queue-level deferral without a recipient, r is ignored', () => {
  const base = { timeLogged: '2026-11-24 10:00:00+0000', vmta: 'v', rcpt: 'a@b.c' };
  const rb = parse({ ...base, type: 'rb', bounceCat: 'inactive-mailbox' });
  assert.ok(!('malformed' in rb) && rb.kind === 'bounce' && rb.remote && rb.bounceClass === 'hard');
  const tq = parse({ ...base, type: 'tq', rcpt: '' });
  assert.ok(!('malformed' in tq) && tq.kind === 'deferred' && tq.queueLevel);
  const r = parse({ ...base, type: 'r' });
  assert.ok(!('malformed' in r) && r.kind === 'other');
});

test('columns are found by the header, whatever their order', () => {
  const reordered = new AcctHeader(['vmta', 'rcpt', 'header_Message-Id', 'type', 'bounceCat', 'timeLogged', 'extra']);
  const rec = parse(
    { type: 'b', vmta: 'sos-expat-45-123-10-1', rcpt: 'X@Y.org', bounceCat: 'bad-domain', timeLogged: '2026-11-24 10:00:00+0000', 'header_Message-Id': '<id@x>' },
    reordered,
  );
  assert.ok(!('malformed' in rec) && rec.kind === 'bounce');
  assert.equal(rec.rcpt, 'x@y.org');
  assert.equal(rec.bounceClass, 'hard');
  assert.equal(rec.messageId, '<id@x>');
  assert.equal(rec.dlvSourceIp, '', 'a column the file does not log reads as empty');
});

test('malformed records say why', () => {
  const ok = { type: 'd', timeLogged: '2026-11-24 10:00:00+0000', rcpt: 'a@b.c', vmta: 'v' };
  const reason = (r: Record<string, string>): string => {
    const p = parse(r);
    return 'malformed' in p ? p.malformed : 'ok';
  };
  assert.equal(reason(ok), 'ok');
  assert.match(reason({ ...ok, timeLogged: 'yesterday' }), /bad timeLogged/);
  assert.match(reason({ ...ok, rcpt: '' }), /without rcpt/);
  assert.match(reason({ ...ok, type: 'zz9' }), /unknown record type/);
  assert.match((parseRecord([...header.names, 'x'], header) as { malformed: string }).malformed, /expected at most 38 fields/);
});

test('PowerMTA times with their offset', () => {
  assert.equal(parsePmtaTime('2026-11-24 12:00:01+0100'), Date.parse('2026-11-24T11:00:01Z'));
  assert.equal(parsePmtaTime('2026-11-24 12:00:01-0530'), Date.parse('2026-11-24T17:30:01Z'));
  assert.equal(parsePmtaTime('2026-11-24T12:00:01+01:00'), Date.parse('2026-11-24T11:00:01Z'));
  assert.equal(parsePmtaTime('2026-11-24 12:00:01Z'), Date.parse('2026-11-24T12:00:01Z'));
  assert.equal(parsePmtaTime('2026-11-24 12:00:01'), Date.parse('2026-11-24T12:00:01Z'));
  assert.equal(parsePmtaTime('2026-11-24 12:00:01.250+0000'), Date.parse('2026-11-24T12:00:01Z'));
  for (const bad of ['', '2026-02-30 12:00:01+0000', '2026-11-24 25:00:01+0000', '2026-11-24 12:00:01+01', 'garbage garbage garbage']) {
    assert.ok(Number.isNaN(parsePmtaTime(bad)), bad);
  }
});

test('a second header line in a file switches the columns for what follows', () => {
  const h2 = ['type', 'vmta', 'rcpt', 'timeLogged'];
  const text = [
    ACCT_COLUMNS.join(','),
    formatRecord(ACCT_COLUMNS, { type: 'd', timeLogged: '2026-11-24 10:00:00+0000', rcpt: 'one@x.org', vmta: 'v1' }),
    h2.join(','),
    'd,v2,two@x.org,2026-11-24 10:00:01+0000',
    '',
  ].join('\n');
  const state = lineState(null, 0);
  const out = parseLines(text, state);
  assert.deepEqual(out.malformed, []);
  assert.deepEqual(out.records.map((r) => [r.rcpt, r.vmta]), [['one@x.org', 'v1'], ['two@x.org', 'v2']]);
  assert.equal(state.line, 4);
  assert.equal(state.headerText, h2.join(','));
});

test('lines: CRLF endings, blank lines, a record before any header, broken quotes', () => {
  const state = lineState(null, 10);
  const text = 'd,2026-11-24 10:00:00+0000\r\n\r\ntype,timeLogged,rcpt\r\nd,2026-11-24 10:00:00+0000,"a"b\r\nd,2026-11-24 10:00:00+0000,"a@b\r\n';
  const out = parseLines(text, state);
  assert.deepEqual(out.malformed.map((m) => [m.line, m.reason]), [
    [11, 'record before any header line'],
    [14, 'unbalanced quotes'],
  ]);
  // A quote still open at the end may close on a line not written yet: it waits, unread.
  assert.equal(state.line, 14);
  assert.equal(out.rest, 'd,2026-11-24 10:00:00+0000,"a@b\r\n'.length);
});

test('lineState restores the header kept with a checkpoint', () => {
  const state = lineState(ACCT_COLUMNS.join(','), 41);
  const out = parseLines(formatRecord(ACCT_COLUMNS, { type: 'd', timeLogged: '2026-11-24 10:00:00+0000', rcpt: 'a@b.c', vmta: 'v' }) + '\n', state);
  assert.equal(out.records.length, 1);
  assert.equal(state.line, 42);
});
