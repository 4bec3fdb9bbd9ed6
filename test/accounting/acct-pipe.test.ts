// Pipe mode: PowerMTA writes its accounting CSV to `pmta-agent acct-pipe` on
// stdin (`<acct-file |program>`), the program spools it fsynced to the
// accounting directory, and the agent's tailer reads the spool, whether the
// daemon was up at the time or not.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { createAccountingEffects, createAccountingTailer } from '../../src/accounting/options.js';
import { PipeSpool, pipeFileName } from '../../src/accounting/pipe-spool.js';
import { ManualClock, systemClock } from '../../src/types.js';
import { CLI } from '../helpers/child.js';
import { startHarness } from '../helpers/env.js';
import { KNOWN_VMTAS, acctConfig, captureLog, counter, storeIn, storedTotals, tmpDir } from './fixtures.js';

const roots: Array<() => void> = [];
after(() => roots.forEach((c) => c()));
const SOS1 = KNOWN_VMTAS[0]!;

const HEADER = 'type,timeLogged,orig,rcpt,vmta,dlvSourceIp,bounceCat,dsnStatus,header_Message-Id';
const d = (i: number): string => `d,2026-11-24 10:00:00+0000,b@sos-mail.com,r${i}@example.org,${SOS1.vmta},${SOS1.ip},,2.0.0 (success),<p${i}@sos-mail.com>`;

/** Runs `pmta-agent acct-pipe --dir dir` as PowerMTA would, feeding it `pieces` one write at a time. */
async function runPipe(dir: string, pieces: string[]): Promise<number> {
  const proc = spawn(process.execPath, [CLI, 'acct-pipe', '--dir', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (x) => (stderr += x));
  const exited = new Promise<number>((resolve) => proc.on('exit', (code) => resolve(code ?? -1)));
  for (const p of pieces) await new Promise<void>((resolve, reject) => proc.stdin!.write(p, (err) => (err ? reject(err) : resolve())));
  proc.stdin!.end();
  const code = await exited;
  assert.equal(code, 0, stderr);
  return code;
}

test('records piped while the daemon is down are all counted once it reads the spool; a restart mid-line loses only the cut line', async () => {
  const t = tmpDir();
  roots.push(t.cleanup);
  const acct = path.join(t.dir, 'acct');
  const first = [HEADER, ...Array.from({ length: 500 }, (_, i) => d(i))].join('\n') + '\n';
  // Pieces cut anywhere, as a pipe delivers them; PowerMTA dies in the middle of record 500.
  const cut = d(500).slice(0, 40);
  await runPipe(acct, [first.slice(0, 1000), first.slice(1000, 1001), first.slice(1001), cut]);
  // PowerMTA starts the program again (restart or reload): the header comes first, as it always does.
  await runPipe(acct, [[HEADER, ...Array.from({ length: 300 }, (_, i) => d(1000 + i))].join('\n') + '\n']);

  const files = readdirSync(acct);
  assert.deepEqual(files.map((f) => /^pipe-\d{4}-\d{2}-\d{2}\.csv$/.test(f)), [true]);
  const store = storeIn(t.dir);
  const log = captureLog();
  const tailer = createAccountingTailer(acctConfig({ mode: 'pipe' }), acct, {
    db: store.db,
    effects: createAccountingEffects({ db: store.db, registry: store.registry, timeZone: 'UTC' }),
    log,
    clock: systemClock,
  })!;
  await tailer.drain();
  assert.equal(storedTotals(store.db).ips[SOS1.ip]?.delivered, 800);
  assert.equal(counter(store.db, 'malformed'), 1, 'the cut line alone');
  assert.equal(log.lines.find((l) => l.event === 'acct.malformed_line')?.reason, 'line cut short, followed by a header line');
});

test('the spool writes whole lines only while input flows, and a new day\'s file starts with the header in force', async () => {
  const t = tmpDir();
  roots.push(t.cleanup);
  const clock = new ManualClock('2026-11-24T23:59:59Z');
  const spool = new PipeSpool(t.dir, clock);
  await spool.write(Buffer.from(`${HEADER}\n${d(1)}\n${d(2).slice(0, 10)}`));
  const day1 = path.join(t.dir, pipeFileName(clock.now()));
  assert.equal(readFileSync(day1, 'utf8'), `${HEADER}\n${d(1)}\n`, 'the start of record 2 waits for its end');
  clock.set('2026-11-25T00:00:01Z');
  await spool.write(Buffer.from(`${d(2).slice(10)}\n${d(3)}\n`));
  await spool.end();
  assert.equal(readFileSync(path.join(t.dir, pipeFileName(clock.now())), 'utf8'), `${HEADER}\n${d(2)}\n${d(3)}\n`);
  assert.equal(readFileSync(day1, 'utf8'), `${HEADER}\n${d(1)}\n`);
});

test('the spool deletes its files older than keepDays when a new day starts, and nothing else', async () => {
  const t = tmpDir();
  roots.push(t.cleanup);
  for (const name of ['pipe-2026-11-15.csv', 'pipe-2026-11-16.csv', 'pipe-2026-11-17.csv', 'acct-2026-11-01-0000.csv']) writeFileSync(path.join(t.dir, name), `${HEADER}\n`);
  const spool = new PipeSpool(t.dir, new ManualClock('2026-11-24T08:00:00Z'), 8);
  await spool.write(Buffer.from(`${HEADER}\n${d(1)}\n`));
  await spool.end();
  assert.deepEqual(readdirSync(t.dir).sort(), ['acct-2026-11-01-0000.csv', 'pipe-2026-11-16.csv', 'pipe-2026-11-17.csv', 'pipe-2026-11-24.csv']);
});

test('accounting.mode "pipe" renders PowerMTA\'s <acct-file> as a pipe to acct-pipe, into the directory the tailer reads', async () => {
  const h = await startHarness({ patch: { accounting: { mode: 'pipe' } } });
  try {
    const conf = (await h.api('/api/v2/powermta/config/download')).body as string;
    const dir = h.daemon.cfg.pmta.accountingDir;
    assert.ok(conf.includes(`<acct-file "|/usr/local/bin/pmta-agent acct-pipe --dir ${dir}">`), conf.split('\n').filter((l) => l.includes('acct-file')).join('\n'));
  } finally {
    await h.close();
  }
});
