import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { AccountingTailer, nameMatcher } from '../../src/accounting/tailer.js';
import { AcctWriter } from '../../src/sim/acct-writer.js';
import { ACCT_COLUMNS, formatRecord } from '../../src/sim/acct-csv.js';
import {
  HEADER, KNOWN_VMTAS, captureLog, counter, eventually, generateLines, referenceCount, storeIn, storedTotals, tailer, tmpDir,
} from './fixtures.js';

const roots: Array<() => void> = [];
after(() => roots.forEach((c) => c()));

function setup(): { root: string; acct: string; store: ReturnType<typeof storeIn> } {
  const t = tmpDir();
  roots.push(t.cleanup);
  const acct = path.join(t.dir, 'acct');
  mkdirSync(acct);
  return { root: t.dir, acct, store: storeIn(t.dir) };
}

const body = (lines: string[]): string => lines.map((l) => l + '\n').join('');

test('a file written in pieces, cut mid-line and mid-character, is counted exactly once', async () => {
  const { acct, store } = setup();
  const SOS1 = KNOWN_VMTAS[0]!;
  const lines = generateLines(3000, 1);
  // Non-ASCII addresses make the reader take its UTF-8 path too.
  lines.splice(1500, 0, formatRecord(ACCT_COLUMNS, { type: 'b', timeLogged: '2026-11-24 09:00:00+0000', rcpt: 'José@Exämple.org', vmta: SOS1.vmta, bounceCat: 'bad-mailbox' }));
  const text = Buffer.from(HEADER + '\n' + body(lines));
  const file = path.join(acct, 'acct.csv');
  writeFileSync(file, '');
  const t = tailer(acct, store, { readChunkBytes: 1024, batchLines: 100 });
  // Cut points: inside a line, right after a newline, inside the two bytes of "é".
  const e = text.indexOf(Buffer.from('é'));
  const cuts = [7, 500, 501, text.indexOf(10, 40_000) + 1, e + 1, e + 2, 300_000, 300_001, 700_000, text.length].sort((x, y) => x - y);
  let from = 0;
  for (const cut of cuts) {
    appendFileSync(file, text.subarray(from, cut));
    from = cut;
    await t.drain();
    const done = text.subarray(0, cut);
    const complete = done.subarray(0, done.lastIndexOf(10) + 1).toString();
    assert.deepEqual(storedTotals(store.db), referenceCount([complete]), `after ${cut} bytes`);
    assert.equal(t.position()[0]?.offset ?? 0, Buffer.byteLength(complete), 'the checkpoint stops after the last whole line');
  }
  assert.equal(counter(store.db, 'malformed'), 0);
  assert.ok(store.db.prepare("SELECT 1 FROM suppression WHERE email = 'josé@exämple.org'").get(), 'the UTF-8 address arrived whole');
});

test('rotation mid-stream: the renamed file continues from its checkpoint and the new file is read from the start', async () => {
  const { acct, store } = setup();
  const w = await AcctWriter.open(acct, HEADER);
  const t = tailer(acct, store, { batchLines: 500 });
  const a = generateLines(2000, 10_000);
  const b = generateLines(1500, 20_000);
  const c = generateLines(1200, 30_000);
  await w.append(a);
  await t.drain();
  await w.append(b); // written, not yet read, when the file is renamed
  const rotated = await w.rotate(new Date('2026-11-24T10:00:00Z'));
  await w.append(c);
  await t.drain();
  await w.close();
  const texts = [readFileSync(rotated, 'utf8'), readFileSync(w.livePath, 'utf8')];
  assert.deepEqual(storedTotals(store.db), referenceCount(texts));
  const pos = t.position();
  assert.deepEqual(
    pos.map((p) => [path.basename(p.path), p.offset]).sort(),
    [[path.basename(rotated), statSync(rotated).size], ['acct.csv', statSync(w.livePath).size]].sort(),
  );
  // Reading again changes nothing.
  await t.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount(texts));
});

test('watching: appends and a rotation are picked up without drain', async () => {
  const { acct, store } = setup();
  const w = await AcctWriter.open(acct, HEADER);
  const log = captureLog();
  // The periodic rescan on, as in production: under load an fs event can be missed.
  const t = tailer(acct, store, { log, batchLines: 1000, rescanIntervalMs: 1000 });
  const batches: number[] = [];
  t.on('batch', (s) => batches.push(s.ips.length));
  await t.start();
  try {
    const texts: string[] = [];
    await w.append(generateLines(1000, 40_000));
    texts[0] = readFileSync(w.livePath, 'utf8');
    assert.ok(await eventually(() => isDeepStrictEqual(storedTotals(store.db), referenceCount(texts))), 'appends followed');
    const rotated = await w.rotate(new Date('2026-11-24T11:00:00Z'));
    await w.append(generateLines(700, 50_000));
    await w.append(generateLines(300, 60_000));
    texts[0] = readFileSync(rotated, 'utf8');
    texts[1] = readFileSync(w.livePath, 'utf8');
    assert.ok(await eventually(() => isDeepStrictEqual(storedTotals(store.db), referenceCount(texts))), 'rotation followed');
    assert.ok(batches.length >= 2);
    assert.ok(await eventually(() => log.lines.some((l) => l.event === 'acct.unattributed' && l.reason === 'unknown-vmta' && l.value === 'ghost-10-0-0-9' && typeof l.line === 'number')));
  } finally {
    await t.stop();
    await w.close();
  }
});

test('truncation restarts the file from the start, whether seen small or already regrown', async () => {
  const { acct, store } = setup();
  const file = path.join(acct, 'acct.csv');
  const log = captureLog();
  const t = tailer(acct, store, { log });
  const a = HEADER + '\n' + body(generateLines(800, 70_000));
  writeFileSync(file, a);
  await t.drain();
  // Cut to nothing, then a shorter file under the same inode.
  truncateSync(file, 0);
  const b = HEADER + '\n' + body(generateLines(200, 80_000));
  appendFileSync(file, b);
  await t.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([a, b]));
  // Cut and rewritten longer than before between two looks: the first bytes tell.
  truncateSync(file, 0);
  const c = HEADER + '\n' + body(generateLines(1500, 90_000));
  appendFileSync(file, c);
  await t.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([a, b, c]));
  assert.deepEqual(
    log.lines.filter((l) => l.event === 'acct.file_restarted').map((l) => l.reason),
    ['truncated', 'replaced'],
  );
});

test('a file replaced under the same name (renamed over, or deleted and made again) is read from the start', async () => {
  const { acct, store } = setup();
  const file = path.join(acct, 'acct.csv');
  const t = tailer(acct, store);
  const a = HEADER + '\n' + body(generateLines(600, 100_000));
  writeFileSync(file, a);
  await t.drain();
  const b = HEADER + '\n' + body(generateLines(900, 110_000));
  writeFileSync(path.join(acct, 'incoming.tmp'), b);
  renameSync(path.join(acct, 'incoming.tmp'), file);
  await t.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([a, b]));
  // Deleted and created again: the file system may hand out the same inode.
  unlinkSync(file);
  const c = HEADER + '\n' + body(generateLines(900, 120_000));
  writeFileSync(file, c);
  await t.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([a, b, c]));
});

test('a tailer stopped in the middle of a large file, and a new one started, count it exactly once', async () => {
  const { acct, store } = setup();
  const text = HEADER + '\n' + body(generateLines(150_000, 200_000));
  writeFileSync(path.join(acct, 'acct.csv'), text);
  const first = tailer(acct, store, { batchLines: 5000, readChunkBytes: 512 * 1024 });
  let batches = 0;
  first.on('batch', () => {
    if (++batches === 3) void first.stop();
  });
  await first.drain();
  const mid = first.position()[0]!;
  assert.ok(mid.offset > 0 && mid.offset < text.length, `stopped part way (${mid.offset} of ${text.length})`);
  assert.ok(mid.line >= 15_000 && mid.line < 16_000, `three batches of about 5000 lines (${mid.line})`);
  const second = tailer(acct, storeIn(path.dirname(acct)));
  await second.drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([text]));
  assert.equal(counter(store.db, 'records'), 150_000);
});

test('a tailer process killed with SIGKILL mid-file loses and repeats nothing', async () => {
  const { root, acct, store } = setup();
  const text = HEADER + '\n' + body(generateLines(120_000, 400_000));
  writeFileSync(path.join(acct, 'acct.csv'), text);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./ingest-child.js', import.meta.url)), root, acct], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let seen = 0;
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      seen = out.split('\n').filter((l) => l.startsWith('batch')).length;
      if (seen >= 5 && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
  assert.ok(!out.includes('done'), 'killed before the end of the file');
  const killedAt = tailer(acct, store).position()[0]!;
  assert.ok(killedAt.offset < text.length);
  await tailer(acct, store).drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([text]));
  assert.equal(counter(store.db, 'records'), 120_000);
});

test('1,000 malformed lines among 100,000 good ones: every good one counts, each bad one is counted and logged once', async () => {
  const { acct, store } = setup();
  const good = generateLines(100_000, 600_000);
  const SOS1 = KNOWN_VMTAS[0]!;
  const badKinds = [
    'this is not an accounting line',
    'd,2026-11-24 10:00:00+0000,only,three',
    `d,not-a-time,${'x,'.repeat(ACCT_COLUMNS.length - 2)}x`,
    formatRecord(ACCT_COLUMNS, { type: 'zz', timeLogged: '2026-11-24 10:00:00+0000', rcpt: 'a@b.c', vmta: SOS1.vmta }),
    `d,"2026-11-24 10:00:00+0000,${SOS1.vmta},unterminated`,
    formatRecord(ACCT_COLUMNS, { type: 'b', timeLogged: '2026-11-24 10:00:00+0000', rcpt: '', vmta: SOS1.vmta }),
  ];
  const lines: string[] = [];
  const badAt = new Set<number>();
  for (let i = 0, g = 0; g < good.length || badAt.size < 1000; i++) {
    if (badAt.size < 1000 && (i % 101 === 50 || g >= good.length)) {
      lines.push(badKinds[badAt.size % badKinds.length]!);
      badAt.add(i + 2); // line numbers count from 1, and line 1 is the header
    } else {
      lines.push(good[g++]!);
    }
  }
  const text = HEADER + '\n' + body(lines);
  writeFileSync(path.join(acct, 'acct.csv'), text);
  const log = captureLog();
  await tailer(acct, store, { log, maxMalformedLogs: 100_000 }).drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([HEADER + '\n' + body(good)]));
  assert.equal(counter(store.db, 'malformed'), 1000);
  assert.equal(counter(store.db, 'records'), 100_000);
  const logged = log.lines.filter((l) => l.event === 'acct.malformed_line');
  assert.equal(logged.length, 1000);
  assert.deepEqual(new Set(logged.map((l) => l.line)), badAt);
  assert.ok(logged.every((l) => l.file === path.join(acct, 'acct.csv') && typeof l.reason === 'string'));
});

test('malformed lines beyond the log limit are counted, with one summary line', async () => {
  const { acct, store } = setup();
  writeFileSync(path.join(acct, 'acct.csv'), HEADER + '\n' + body(Array.from({ length: 50 }, () => 'garbage')));
  const log = captureLog();
  await tailer(acct, store, { log, maxMalformedLogs: 10 }).drain();
  assert.equal(counter(store.db, 'malformed'), 50);
  assert.equal(log.lines.filter((l) => l.event === 'acct.malformed_line').length, 10);
  assert.deepEqual(log.lines.filter((l) => l.event === 'acct.malformed_not_logged').map((l) => l.count), [40]);
});

test('a line longer than the limit is skipped as one malformed line; the lines around it count', async () => {
  const { acct, store } = setup();
  const lines = generateLines(20, 700_000);
  lines.splice(10, 0, 'd,' + 'x'.repeat(10_000));
  const text = HEADER + '\n' + body(lines);
  writeFileSync(path.join(acct, 'acct.csv'), text);
  await tailer(acct, store, { readChunkBytes: 1024, maxLineBytes: 4096 }).drain();
  assert.equal(counter(store.db, 'malformed'), 1);
  assert.deepEqual(storedTotals(store.db), referenceCount([HEADER + '\n' + body(lines.filter((l) => l.length < 5000))]));
});

test('only files matching the pattern are read', async () => {
  const { acct, store } = setup();
  const text = HEADER + '\n' + body(generateLines(100, 800_000));
  writeFileSync(path.join(acct, 'acct.csv'), text);
  writeFileSync(path.join(acct, 'diag.csv'), text);
  writeFileSync(path.join(acct, 'acct.csv.gz'), text);
  await tailer(acct, store).drain();
  assert.deepEqual(storedTotals(store.db), referenceCount([text]));
  assert.equal(nameMatcher('acct*.csv')('acct-2026-11-24-0000.csv'), true);
  assert.equal(nameMatcher('acct*.csv')('acct.csv.gz'), false);
  assert.equal(nameMatcher(/^diag\.csv$/g)('diag.csv'), true);
  assert.equal(nameMatcher(/^diag\.csv$/g)('diag.csv'), true, 'a global RegExp does not carry lastIndex between names');
});

test('a directory that does not exist yet is not an error', async () => {
  const { root, store } = setup();
  const log = captureLog();
  const t = tailer(path.join(root, 'missing'), store, { log });
  await t.drain();
  assert.ok(log.lines.some((l) => l.event === 'acct.dir_unreadable'));
});
