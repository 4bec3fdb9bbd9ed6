// `pmta-agent sim`: runs the PowerMTA simulator until SIGTERM/SIGINT.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadSimConfig } from './config.js';
import { startSimulator } from './simulator.js';

const USAGE = `Usage: pmta-agent sim --smtp HOST:PORT --acct-dir DIR [options]
       pmta-agent sim test-config FILE   (like pmta test config: errors, exit 1)

Runs an SMTP server standing in for PowerMTA: requires X-Virtual-MTA and writes
PowerMTA-format accounting CSV to DIR/acct.csv.

Options:
  --smtp HOST:PORT       listen address (port 0 picks a free one; [::1]:25 for IPv6)
  --acct-dir DIR         accounting directory (created if missing)
  --bounce-domain D      recipients at D get a b record (bad-mailbox); repeatable
  --complain ADDR        ADDR gets a d record then an f record (abuse); repeatable
  --remote-bounce ADDR   deliver, then log an rb (a bounce received back later) for ADDR; repeatable
  --defer-domain D       recipients at D get a t record only; repeatable
  --reject-rcpt A        refuse A (or @domain) at RCPT TO with 550 5.1.1; repeatable
  --slow-ms N            wait N ms before answering end of DATA
  --defer-all            answer 451 4.3.0 to every message
  --config FILE          run with this PowerMTA config: refused as PowerMTA would
                         refuse it; mail naming a VMTA it lacks gets 550 5.5.0;
                         SIGHUP re-reads it (pmta reload)
  --help                 show this help
`;

class UsageError extends Error {}

function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  const host = m?.[1] ?? m?.[2];
  if (!host || !(port >= 0 && port <= 65535)) throw new UsageError(`--smtp must be HOST:PORT, got "${s}"`);
  return { host, port };
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      smtp: { type: 'string' },
      'acct-dir': { type: 'string' },
      'bounce-domain': { type: 'string', multiple: true },
      complain: { type: 'string', multiple: true },
      'remote-bounce': { type: 'string', multiple: true },
      'defer-domain': { type: 'string', multiple: true },
      'reject-rcpt': { type: 'string', multiple: true },
      'slow-ms': { type: 'string' },
      'defer-all': { type: 'boolean' },
      config: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return null;
  if (!values.smtp) throw new UsageError('--smtp is required');
  if (!values['acct-dir']) throw new UsageError('--acct-dir is required');
  const slowMs = values['slow-ms'] === undefined ? 0 : Number(values['slow-ms']);
  if (!Number.isInteger(slowMs) || slowMs < 0) throw new UsageError('--slow-ms must be a whole number of milliseconds');
  return {
    ...parseHostPort(values.smtp),
    acctDir: values['acct-dir'],
    bounceDomains: values['bounce-domain'] ?? [],
    complainAddresses: values.complain ?? [],
    remoteBounceAddresses: values['remote-bounce'] ?? [],
    deferDomains: values['defer-domain'] ?? [],
    rejectRcpts: values['reject-rcpt'] ?? [],
    slowMs,
    deferAll: values['defer-all'] ?? false,
    ...(values.config ? { configFile: values.config } : {}),
  };
}

/** `argv` is what follows `sim` on the command line. Resolves with the exit code. */
export async function runSimCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'test-config') return testConfig(argv.slice(1));
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(argv);
  } catch (err) {
    process.stderr.write(`pmta-agent sim: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return 0;
  }

  const print = (line: string): void => void process.stdout.write(line + '\n');
  let sim;
  try {
    sim = await startSimulator({ ...opts, keepMessages: false, log: print });
  } catch (err) {
    process.stderr.write(`pmta-agent sim: ${(err as Error).message}\n`);
    return 1;
  }
  print(JSON.stringify({ event: 'sim.listening', host: sim.host, port: sim.port, acctDir: opts.acctDir }));

  const reload = (): void => {
    void sim.reload().then(
      (r) => print(r.ok ? 'Configuration reloaded.' : r.lines.join('\n')),
      (err: Error) => print(`Error: ${err.message}`),
    );
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const done = (): void => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
  process.off('SIGHUP', reload);
  await sim.close();
  print(JSON.stringify({ event: 'sim.stopped' }));
  return 0;
}

/** `pmta test config` for the simulator: PowerMTA's error lines on stdout, exit 1 when there are any. */
function testConfig(argv: string[]): number {
  const [file, ...rest] = argv;
  if (!file || rest.length > 0) {
    process.stderr.write(`pmta-agent sim test-config: give exactly one FILE\n${USAGE}`);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stdout.write(`Error: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const r = loadSimConfig(file, text);
  for (const line of r.lines) process.stdout.write(line + '\n');
  return r.ok ? 0 : 1;
}

// Runnable on its own (`node dist/src/sim/cli.js ...`) for the bench and demo.
function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isMain()) process.exitCode = await runSimCommand(process.argv.slice(2));
