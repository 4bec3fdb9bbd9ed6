// `node dist/bench/log-cost.js`: CPU the agent spends per message on its log
// line, in the same run on the same machine:
//   before      the hand-written logger: JSON.stringify and a synchronous write per line
//   pino-async  pino with its asynchronous destination (sonic-boom), a write to it per line
//   after       pino as the daemon uses it: a turn's lines written once when the turn ends
//
// Each measurement is a child process logging the `smtp.message` line of N
// messages (the line every message costs) to its stdout, a stream socket read
// by this process, as journald reads the service's stdout. It yields to the
// event loop every 100 lines, as a server does between SMTP commands. The
// child reports the CPU it used (all threads, so writes on libuv's pool count)
// when it exits, after its last line was written. A child that builds the same
// fields and logs nothing gives the floor, subtracted from the others.
//
// Machines differ, so this prints microseconds per message and the after/before
// ratio, and asserts nothing about time; it fails (exit 1) only if a child did
// not deliver all its lines.
//
// Options: --quick  a tenth of the lines (a smoke run, noisier numbers).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger, type Fields, type Logger } from '../src/log/logger.js';

type Variant = 'none' | 'before' | 'pino-async' | 'after';
const VARIANTS: Variant[] = ['none', 'before', 'pino-async', 'after'];
const ROUNDS = 5;

/** The logger of src/log/logger.ts before issue 17, kept here as the baseline. */
function handWrittenLogger(): Logger {
  const emit = (level: string, event: string, fields?: Fields) =>
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }, errorReplacer) + '\n');
  const log: Logger = {
    debug: () => {},
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
    child: () => log,
    flush: () => Promise.resolve(),
  };
  return log;
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as NodeJS.ErrnoException).code };
  return value;
}

/** What reception.ts logs per message; the old logger got session and tenant as fields, pino binds them once per session. */
function messageFields(i: number): Fields {
  return {
    messageId: `<${i.toString(16).padStart(8, '0')}6f1c2b9a8e7d4c3b2a1f0e9d8c7b6a5f@sos-mail.com>`,
    rcpts: [`r${i}@example.net`],
    size: 10_240,
    path: 'forwarded',
    ip: '45.123.10.1',
    vmta: 'sos-expat-45-123-10-1',
    reason: undefined,
    reply: '250 2.0.0 Ok: queued as 4F2A1C3B9D',
  };
}

async function child(variant: Variant, lines: number): Promise<void> {
  const perConnection = 100;
  const cpu0 = process.cpuUsage();
  const root = variant === 'before' ? handWrittenLogger() : variant === 'none' ? null : createLogger({ stdout: variant === 'pino-async' ? 'pino-async' : 'turn' });
  // Registered after the logger's own exit handler, so the lines it writes at exit are counted.
  process.on('exit', () => {
    const cpu = process.cpuUsage(cpu0);
    process.stderr.write(JSON.stringify({ cpuMicros: cpu.user + cpu.system }) + '\n');
  });
  let session = root;
  let sink = 0;
  for (let i = 0; i < lines; i++) {
    const sessionId = `s${Math.floor(i / perConnection)}`;
    if (!root) sink += Object.keys({ session: sessionId, tenant: 'sos-expat', ...messageFields(i) }).length;
    else if (variant === 'before') root.info('smtp.message', { session: sessionId, tenant: 'sos-expat', ...messageFields(i) });
    else {
      if (i % perConnection === 0) session = root.child({ session: sessionId }).child({ tenant: 'sos-expat' });
      session!.info('smtp.message', messageFields(i));
    }
    if (i % perConnection === perConnection - 1) await new Promise((r) => setImmediate(r));
  }
  if (sink < 0) process.stdout.write('');
}

function measure(variant: Variant, lines: number): Promise<{ cpuMicros: number; received: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', variant, String(lines)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let received = 0;
    let report = '';
    proc.stdout.on('data', (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) received++;
    });
    proc.stderr.on('data', (d) => (report += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child ${variant} exited ${code}: ${report}`));
      resolve({ cpuMicros: (JSON.parse(report.trim().split('\n').pop()!) as { cpuMicros: number }).cpuMicros, received });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const lines = quick ? 20_000 : 200_000;
  const cpu: Record<Variant, number[]> = { none: [], before: [], 'pino-async': [], after: [] };
  let failed = false;
  // Rounds interleave the variants so a busy moment of the machine hits all of them.
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of VARIANTS) {
      const r = await measure(v, lines);
      const expected = v === 'none' ? 0 : lines;
      if (r.received !== expected) {
        process.stderr.write(`log-cost: ${v} delivered ${r.received} of ${expected} lines\n`);
        failed = true;
      }
      cpu[v].push(r.cpuMicros / lines);
    }
  }
  const floor = median(cpu.none);
  const cost = (v: Variant) => median(cpu[v]) - floor;
  const before = cost('before');
  const fmt = (n: number) => n.toFixed(2).padStart(6);
  const row = (v: Variant, label: string) =>
    `  ${label.padEnd(52)} ${fmt(cost(v))} µs/message   ${v === 'before' ? '' : `x${(cost(v) / before).toFixed(2)} of before`}`;
  process.stdout.write(
    [
      `log line per message: ${lines} messages per run, median of ${ROUNDS} runs, CPU of the logging process (user+system, all threads)`,
      row('before', 'before: hand-written, a synchronous write per line'),
      row('pino-async', "pino, its asynchronous destination line by line"),
      row('after', "after: pino, a turn's lines in one write (the daemon)"),
      `  saved per message: ${(before - cost('after')).toFixed(2)} µs (floor subtracted: building the fields, ${floor.toFixed(2)} µs)`,
      '',
    ].join('\n'),
  );
  return failed ? 1 : 0;
}

const at = process.argv.indexOf('--child');
if (at >= 0) await child(process.argv[at + 1] as Variant, Number(process.argv[at + 2]));
else process.exitCode = await main();
