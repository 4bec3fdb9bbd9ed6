// `node dist/bench/suppression.js`: suppression checks per second (the gate
// runs one per recipient), against a list of 500 and of 50,000 addresses.
// A check is a lookup on the (tenant, address) key, so the two rates should be
// about the same (ratio near 1); a table scan would make the big list about a
// hundred times slower. Prints rates and the ratio and asserts nothing about
// time; fails (exit 1) only if a check finds the wrong thing.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SuppressionStore } from '../src/accounting/suppression.js';
import { openDb } from '../src/store/db.js';

const CHECKS = 200_000;

function rate(entries: number): number {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-bench-suppression-'));
  const db = openDb(path.join(dir, 'agent.db'));
  try {
    const store = new SuppressionStore(db);
    store.importCsv(1, Array.from({ length: entries }, (_, i) => `user${i}@example.org`).join('\n'));
    let hits = 0;
    const t0 = process.hrtime.bigint();
    // Half the checks hit (any case), half miss, as a campaign to a cleaned list would.
    for (let i = 0; i < CHECKS; i++) if (store.check(1, i % 2 ? `USER${i % entries}@example.org` : `other${i}@example.org`) !== null) hits++;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (hits !== CHECKS / 2) throw new Error(`${entries} entries: ${hits} hits, want ${CHECKS / 2}`);
    return CHECKS / seconds;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

rate(500); // warm-up
const small = rate(500);
const big = rate(50_000);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
process.stdout.write(
  `suppression checks per second: ${fmt(small)} with 500 entries, ${fmt(big)} with 50,000 (ratio ${(small / big).toFixed(2)})\n`,
);
