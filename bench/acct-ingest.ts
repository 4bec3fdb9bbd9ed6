// Ingest speed of the accounting tailer: a generated 1,000,000-line accounting
// file read into a fresh SQLite store, against `wc -l` of the same file in the
// same run. Aim: the whole file in under 2 s.
//   node dist/bench/acct-ingest.js [lines]
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { readCounters } from '../src/accounting/effects.js';
import { HEADER, generateLines, storeIn, tailer, tmpDir } from '../test/accounting/fixtures.js';

const LINES = Number(process.argv[2] ?? 1_000_000);

async function writeFile(file: string, lines: number): Promise<void> {
  const out = createWriteStream(file);
  const write = async (s: string): Promise<void> => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write(HEADER + '\n');
  // The simulator's record builder is slow for a million lines: build one block
  // with it, then repeat the block with fresh recipients and Message-Ids.
  const BLOCK = 20_000;
  const block = generateLines(BLOCK, 0).join('\n') + '\n';
  for (let done = 1, b = 0; done < lines; done += BLOCK, b++) {
    const n = Math.min(BLOCK, lines - done);
    const text = n === BLOCK ? block : generateLines(n, 0).join('\n') + '\n';
    // A multiple of 150, so each shifted Message-ID keeps its IP in the fixtures' sent-message index.
    const shift = b * BLOCK * 15;
    await write(b === 0 ? text : text.replace(/(user|complainer|<m)(\d+)@/gi, (_m, p: string, d: string) => `${p}${Number(d) + shift}@`));
  }
  out.end();
  await once(out, 'finish');
}

async function main(): Promise<void> {
  const tmp = tmpDir('pmta-acct-bench-');
  try {
    const acctDir = join(tmp.dir, 'acct');
    execFileSync('mkdir', ['-p', acctDir]);
    const file = join(acctDir, 'acct.csv');
    const g0 = performance.now();
    await writeFile(file, LINES);
    const genMs = performance.now() - g0;
    const bytes = Number(execFileSync('stat', ['-c', '%s', file]).toString().trim());
    // Written pages flushed first, so neither measurement competes with writeback.
    execFileSync('sync');

    // Plain line count, with the file as warm in the page cache as the ingest will see it.
    execFileSync('wc', ['-l', file]);
    const w0 = performance.now();
    const wcOut = execFileSync('wc', ['-l', file]).toString();
    const wcMs = performance.now() - w0;
    const wcLines = Number(wcOut.trim().split(/\s+/)[0]);

    const store = storeIn(tmp.dir);
    const t = tailer(acctDir, store, { batchLines: 5000 });
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await t.drain();
    const ingestMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const c = readCounters(store.db);
    const seen = c.records + c.malformed + 1; // + the header line
    store.db.close();

    const mb = bytes / 1024 / 1024;
    console.log(`accounting ingest: ${wcLines.toLocaleString('en')} lines, ${mb.toFixed(0)} MiB (generated in ${(genMs / 1000).toFixed(1)} s)`);
    console.log(`  wc -l          ${wcMs.toFixed(0).padStart(6)} ms  ${fmtRate(wcLines, wcMs)} lines/s`);
    console.log(`  tailer.drain   ${ingestMs.toFixed(0).padStart(6)} ms  ${fmtRate(wcLines, ingestMs)} lines/s  ${(mb / (ingestMs / 1000)).toFixed(0)} MiB/s`);
    console.log(`  ratio ingest / wc -l: ${(ingestMs / wcMs).toFixed(1)}x   (ingest CPU: user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms)`);
    console.log(`  records ${c.records}, malformed ${c.malformed}, unattributed ${c.unattributed}, ignored ${c.ignored}, suppressed ${c.suppressed}`);
    console.log(`  aim: 1,000,000 lines under 2000 ms -> ${LINES >= 1_000_000 ? (ingestMs < 2000 ? 'met' : 'NOT met') : 'n/a (fewer lines)'}`);
    if (seen !== wcLines) {
      console.error(`line count mismatch: tailer saw ${seen}, wc -l ${wcLines}`);
      process.exitCode = 1;
    }
  } finally {
    tmp.cleanup();
  }
}

function fmtRate(lines: number, ms: number): string {
  return Math.round(lines / (ms / 1000)).toLocaleString('en').padStart(12);
}

await main();
