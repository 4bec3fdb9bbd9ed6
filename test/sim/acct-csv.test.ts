import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACCT_COLUMNS, csvField, formatPmtaTime, formatRecord, vendorFields } from '../../src/sim/acct-csv.js';
import { HeaderBlockReader, parseHeaderBlock } from '../../src/sim/headers.js';
import { ipFromVmta } from '../../src/sim/records.js';
import { splitCsvLine } from './helpers.js';

test('columns: the union of the d/b/t, f and rb field sets as one file holding all of them has, 38 in all', () => {
  assert.equal(ACCT_COLUMNS[0], 'type');
  assert.equal(ACCT_COLUMNS.indexOf('vmtaPool'), 22);
  assert.deepEqual(ACCT_COLUMNS.slice(23), [
    'repSourceIp', 'feedbackType', 'format', 'userAgent', 'reportingMta', 'reportedDomain', 'header_From', 'header_Return-Path', 'header_X-job', 'header_Subject',
    'dsnReportingMta', 'header_Message-Id', 'header_X-Mw-Campaign-Uid', 'header_X-Mw-Subscriber-Uid', 'header_List-Unsubscribe',
  ]);
  assert.equal(ACCT_COLUMNS.length, 38);
});

test('each record type keeps only the fields PowerMTA logs for it', () => {
  const all = Object.fromEntries(ACCT_COLUMNS.map((c) => [c, 'x']));
  const f = vendorFields({ ...all, type: 'f' });
  assert.equal(f.vmta, undefined, 'an f has no vmta');
  assert.equal(f.repSourceIp, 'x');
  assert.equal(f.dlvSourceIp, 'x', 'the reporting MTA');
  const rb = vendorFields({ ...all, type: 'rb' });
  assert.equal(rb.vmta, undefined, 'an rb has no vmta');
  assert.equal(rb.dlvSourceIp, undefined, 'nor dlvSourceIp');
  assert.equal(rb['header_Message-Id'], 'x');
  const d = vendorFields({ ...all, type: 'd' });
  assert.equal(d.repSourceIp, undefined);
  assert.equal(d.vmta, 'x');
});

test('csvField quotes only what needs quoting', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField(''), '');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('a\nb'), '"a\nb"');
  assert.equal(csvField('a\rb'), '"a\rb"');
});

test('formatRecord round-trips through a quote-aware splitter', () => {
  const cols = ['a', 'b', 'c', 'd'];
  const line = formatRecord(cols, { a: 'x', b: 'smtp;550 5.1.1 "no", thanks', d: 'PIPELINING,SIZE' });
  assert.ok(!line.endsWith('\n'));
  assert.deepEqual(splitCsvLine(line), ['x', 'smtp;550 5.1.1 "no", thanks', '', 'PIPELINING,SIZE']);
});

test('formatPmtaTime is UTC with +0000', () => {
  assert.equal(formatPmtaTime(new Date('2026-11-24T12:00:01Z')), '2026-11-24 12:00:01+0000');
  assert.equal(formatPmtaTime(new Date('2026-01-02T03:04:05.999+01:00')), '2026-01-02 02:04:05+0000');
});

test('ipFromVmta reads the last four dash-separated numbers', () => {
  assert.equal(ipFromVmta('sos-expat-45-123-10-1'), '45.123.10.1');
  assert.equal(ipFromVmta('t-1-2-3-4'), '1.2.3.4');
  assert.equal(ipFromVmta('sos-expat-pool'), '');
  assert.equal(ipFromVmta('x-300-1-1-1'), '');
});

test('header block: folded lines unfolded, names case-insensitive, stops at the empty line', () => {
  const r = new HeaderBlockReader();
  const text = 'Subject: a\r\n  folded\r\nx-virtual-MTA:  v1 \r\nX-Job:\r\n\tj1\r\n\r\nX-Virtual-MTA: body\r\n';
  // Byte by byte, so a CRLF CRLF split across chunks is still found.
  for (const b of Buffer.from(text)) r.push(Buffer.from([b]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.headers(), [
    ['subject', 'a  folded'],
    ['x-virtual-mta', 'v1'],
    ['x-job', 'j1'],
  ]);
});

test('header block: bare LF, empty header block, headers-only message', () => {
  assert.deepEqual(parseHeaderBlock('A: 1\nB: 2\n'), [['a', '1'], ['b', '2']]);
  const lf = new HeaderBlockReader();
  lf.push(Buffer.from('A: 1\n\nB: 2\n'));
  assert.deepEqual(lf.headers(), [['a', '1']]);
  const none = new HeaderBlockReader();
  none.push(Buffer.from('\r\nA: 1\r\n'));
  assert.deepEqual(none.headers(), []);
  const only = new HeaderBlockReader();
  only.push(Buffer.from('A: 1\r\n'));
  assert.equal(only.complete, false);
  assert.deepEqual(only.headers(), [['a', '1']]);
});
