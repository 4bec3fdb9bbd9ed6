// Run by tailer.test.ts as a separate process that the test kills with SIGKILL
// in the middle of a file: prints one line per committed batch.
//   node ingest-child.js <state dir> <accounting dir>
import { storeIn, tailer } from './fixtures.js';

const [stateDir, acctDir] = process.argv.slice(2) as [string, string];
const store = storeIn(stateDir);
const t = tailer(acctDir, store, { batchLines: 2000, readChunkBytes: 256 * 1024 });
t.on('batch', (b) => process.stdout.write(`batch ${b.ips.reduce((n, i) => n + i.delivered, 0)}\n`));
await t.drain();
process.stdout.write('done\n');
