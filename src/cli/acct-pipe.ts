// `pmta-agent acct-pipe --dir DIR`: the program PowerMTA runs for
// `<acct-file |/usr/local/bin/pmta-agent acct-pipe --dir DIR>` (accounting.mode
// "pipe"). PowerMTA writes its accounting CSV, header first, to our stdin; each
// piece is on disk (fsynced) in DIR before the next is read, so nothing
// PowerMTA handed over is lost while the daemon is down or restarting.
import { PipeSpool } from '../accounting/pipe-spool.js';
import { systemClock } from '../types.js';
import { parse, UsageError, withUsage } from './args.js';

const USAGE = `Usage: pmta-agent acct-pipe --dir DIR [--keep-days N]
Run by PowerMTA (<acct-file |/usr/local/bin/pmta-agent acct-pipe --dir DIR>):
appends the accounting records on stdin to DIR/pipe-YYYY-MM-DD.csv, fsynced,
for the agent's tailer (accounting.mode "pipe", DIR = pmta.accountingDir).
Files more than N days old (default 8, as PowerMTA's delete-after) are deleted.
`;

export function runAcctPipe(argv: string[], input: AsyncIterable<Buffer> = process.stdin): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values } = parse(argv, { dir: { type: 'string' }, 'keep-days': { type: 'string' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (!values.dir) throw new UsageError('--dir is required');
    const keepDays = values['keep-days'] === undefined ? 8 : Number(values['keep-days']);
    if (!Number.isInteger(keepDays) || keepDays < 1) throw new UsageError('--keep-days must be a whole number of days, 1 or more');
    const spool = new PipeSpool(values.dir, systemClock, keepDays);
    try {
      for await (const chunk of input) await spool.write(chunk);
    } finally {
      await spool.end();
    }
    return 0;
  });
}
