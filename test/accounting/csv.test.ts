import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CsvHeader, csvField, splitCsvLine, splitCsvLineInto, splitCsvRange } from '../../src/accounting/csv.js';
import { formatRecord } from '../../src/sim/acct-csv.js';

test('a line without quotes splits on every comma, empty fields kept', () => {
  assert.deepEqual(splitCsvLine('a,b,,d,'), ['a', 'b', '', 'd', '']);
  assert.deepEqual(splitCsvLine(''), ['']);
  assert.deepEqual(splitCsvLine('single'), ['single']);
});

test('quoted fields keep their commas and undouble their quotes (RFC 4180)', () => {
  assert.deepEqual(splitCsvLine('d,"smtp;550 5.1.1 ""no"", thanks","PIPELINING,SIZE",x'), [
    'd',
    'smtp;550 5.1.1 "no", thanks',
    'PIPELINING,SIZE',
    'x',
  ]);
  assert.deepEqual(splitCsvLine('"",""""'), ['', '"']);
  assert.deepEqual(splitCsvLine('a,"b"'), ['a', 'b']);
  assert.deepEqual(splitCsvLine('"a",'), ['a', '']);
});

test('broken quoting is reported, not guessed at', () => {
  assert.equal(splitCsvLine('a,"unterminated'), null);
  assert.equal(splitCsvLine('a,"closed"junk,b'), null);
});

test('round trip with the simulator writer for awkward values', () => {
  const cols = ['a', 'b', 'c', 'd', 'e'];
  const rec = { a: 'x', b: 'say "hi", then go', c: '', d: '"', e: 'é,ü' };
  assert.deepEqual(splitCsvLine(formatRecord(cols, rec)), cols.map((c) => rec[c as keyof typeof rec]));
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('plain'), 'plain');
});

test('a wanted mask copies only the chosen columns but still counts them all', () => {
  const out: string[] = [];
  const wanted = new Uint8Array([1, 0, 1, 0]);
  const n = splitCsvLineInto('a,"b,b",c,"d"', out, wanted);
  assert.equal(n, 4);
  assert.deepEqual(out.slice(0, n), ['a', '', 'c', '']);
});

test('a range inside a longer text splits like the line on its own', () => {
  const text = 'x,y\nd,"q,""r""",z\nnext,line';
  const start = text.indexOf('\n') + 1;
  const end = text.indexOf('\n', start);
  const out: string[] = [];
  const n = splitCsvRange(text, start, end, out);
  assert.deepEqual(out.slice(0, n), ['d', 'q,"r"', 'z']);
  // A quote left open at the end of the range does not run into the next line.
  const bad = 'a,"open\nb,"x"\n';
  assert.equal(splitCsvRange(bad, 0, bad.indexOf('\n'), out), -1);
});

test('a header maps names to positions; a missing name is -1; a repeated name keeps its first place', () => {
  const h = new CsvHeader(['type', 'rcpt', 'vmta', 'rcpt']);
  assert.equal(h.indexOf('vmta'), 2);
  assert.equal(h.indexOf('rcpt'), 1);
  assert.equal(h.indexOf('nope'), -1);
  assert.equal(h.size, 4);
});
