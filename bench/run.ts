// `npm run bench`: how fast MailWizz can hand 10 KB messages on through the
// agent, against the same load sent straight to a sink in the same run.
//
// Table 1, the relay's cost, against Postfix's smtp-sink (a C sink that answers
// at once: the physical floor of a relay on this machine):
//   direct:  load generator -> smtp-sink
//   agent:   load generator -> pmta-agent (fast path) -> smtp-sink (as PowerMTA)
// Table 2, against the PowerMTA simulator (built on smtp-server, so it keeps
// smtp-server's 100 ms pause before each greeting, as before this bench had a sink):
//   direct:  load generator -> simulator
//   agent:   load generator -> pmta-agent (fast path) -> simulator
//   spool:   load generator -> pmta-agent with every IP paused -> disk
//
// Each at 20 concurrent sessions, one message per connection (MailWizz's
// default) and 100 per connection, 3 runs of each, direct and agent runs
// alternating; the tables show medians. The aim is agent/direct >= 0.5.
// Machines differ, so the bench prints rates and ratios to a baseline measured
// in the same run and asserts nothing about time; it fails (exit 1) only if a
// message fails or arrives on the wrong path.
//
// nodemailer (the load generator, and MailWizz's SwiftMailer/Symfony mailers
// alike) writes whole commands and sets TCP_NODELAY on its sockets.
//
// Options: --quick  a tenth of the messages (a smoke run, noisier numbers).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MESSAGE_BYTES, runLoad, type LoadResult, type MessageFactory } from './load.js';
import { findSmtpSink, startSim, startSink, stopAll, type AgentProc, type Proc } from './procs.js';
import { agentMessage, CONCURRENCY, directMessage, FROM, startAgentIn, TENANT } from './relay-setup.js';

const RUNS_EACH = 3;
const RESULTS_FILE = fileURLToPath(new URL('../bench-results.json', import.meta.url)); // dist/bench-results.json

const quick = process.argv.includes('--quick');
const unknown = process.argv.slice(2).filter((a) => a !== '--quick');
if (unknown.length) {
  process.stderr.write(`bench: unknown argument(s) ${unknown.join(' ')}\nUsage: node dist/bench/run.js [--quick]\n`);
  process.exit(2);
}

/**
 * Messages per measured run. --quick divides by ten, but never below one
 * connection per session: fewer would leave sessions idle and measure a
 * lower concurrency than the scenario says.
 */
function messagesFor(perConnection: number, full: number): number {
  return Math.max(quick ? Math.round(full / 10) : full, perConnection * CONCURRENCY);
}
const MODES = [
  { perConnection: 1, messages: messagesFor(1, 2000) },
  { perConnection: 100, messages: messagesFor(100, 4000) },
];

type Target = 'direct' | 'agent' | 'spool';
type Table = 'sink' | 'sim';

/** What receives the mail in a table: smtp-sink or the simulator. */
interface Backend {
  proc: Proc;
  port: number;
  received(): number;
}

interface Row {
  table: Table;
  target: Target;
  perConnection: number;
  run: number;
  result: LoadResult;
  /** Messages the backend accepted during the run: all of them for direct and agent, none for spool. */
  backendReceived: number;
  /** CPU seconds each process used during the run (null: not measurable here, or no agent in the path). */
  cpu: { load: number; backend: number | null; agent: number | null };
}

let nextNumber = 0;

async function load(port: number, target: Target, perConnection: number, total: number): Promise<LoadResult> {
  const message: MessageFactory = target === 'direct' ? directMessage : agentMessage;
  const result = await runLoad({
    port,
    auth: target === 'direct' ? undefined : { user: TENANT.user, pass: TENANT.pass },
    from: FROM,
    total,
    perConnection,
    concurrency: CONCURRENCY,
    message,
    firstNumber: nextNumber,
    // The fast path relays the backend's own 250; the spool path answers with
    // the agent's "Queued as <id>: <why>". A reply from the other path means
    // the run measured the wrong thing, so it is counted.
    expectReply: target === 'direct' ? undefined : target === 'agent' ? (r) => !/\bQueued as\b/.test(r) : (r) => /\bQueued as\b/.test(r),
  });
  nextNumber += total;
  return result;
}

/** Backends count a message just before or after they reply; give the bench's reader a moment to see the last ones. */
async function countSettled(backend: Backend, expected: number): Promise<number> {
  const end = Date.now() + 2_000;
  while (backend.received() < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return backend.received();
}

const rows: Row[] = [];
const cpuDelta = (before: number | null, after: number | null) => (before === null || after === null ? null : after - before);

/** One measured run: straight to the backend, or through `agent` when given. */
async function measure(table: Table, backend: Backend, agent: AgentProc | null, target: Target, perConnection: number, total: number, run: number): Promise<void> {
  const before = backend.received();
  const cpu0 = { load: process.cpuUsage(), backend: backend.proc.cpuSeconds(), agent: agent?.cpuSeconds() ?? null };
  const result = await load(agent?.port ?? backend.port, target, perConnection, total);
  const loadCpu = process.cpuUsage(cpu0.load);
  const cpu = {
    load: (loadCpu.user + loadCpu.system) / 1e6,
    backend: cpuDelta(cpu0.backend, backend.proc.cpuSeconds()),
    agent: agent ? cpuDelta(cpu0.agent, agent.cpuSeconds()) : null,
  };
  const expected = target === 'spool' ? before : before + result.ok + result.unexpected;
  const backendReceived = (await countSettled(backend, expected)) - before;
  rows.push({ table, target, perConnection, run, result, backendReceived, cpu });
  process.stderr.write(
    `  ${`${table}: ${target}, ${perConnection} msg/conn`.padEnd(32)} run ${run}: ${result.rate.toFixed(0)} msg/s${result.failed ? `, ${result.failed} FAILED` : ''}\n`,
  );
}

async function warmUp(port: number, target: Target): Promise<void> {
  // JIT, SQLite page cache, the agent's pool to the backend and its auth
  // cache (scrypt once per TTL) are all cold at first; none of that is what
  // a sustained rate measures. 200 messages were not enough: the first
  // measured run of each side was still 20-40% slower than the next two.
  for (const { perConnection, messages } of MODES) {
    const r = await load(port, target, perConnection, quick ? messages : Math.round(messages / 2));
    // Not part of the results, but a failure here is not hidden either.
    if (r.failed || r.unexpected) process.stderr.write(`  warm-up ${target}: ${r.failed} failed, ${r.unexpected} unexpected: ${r.samples.join('; ')}\n`);
  }
}

/** Direct and agent runs alternate (d a, a d, d a): drift over the run weighs on both sides alike. */
async function compare(table: Table, backend: Backend, agent: AgentProc): Promise<void> {
  for (const { perConnection, messages } of MODES) {
    for (let run = 1; run <= RUNS_EACH; run++) {
      const order: Target[] = run % 2 ? ['direct', 'agent'] : ['agent', 'direct'];
      for (const target of order) await measure(table, backend, target === 'agent' ? agent : null, target, perConnection, messages, run);
    }
  }
}

let workDir: string | null = null;

/** Children first (they write into the directory), then the directory. */
async function cleanUp(): Promise<void> {
  await stopAll();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}

interface Peaks {
  sinkAgent: number | null;
  simAgent: number | null;
  spoolAgent: number | null;
  sim: number | null;
}

async function main(): Promise<number> {
  const sinkBinary = findSmtpSink();
  if (!sinkBinary) {
    process.stderr.write(
      'bench: smtp-sink not found. It is the direct baseline (a sink without smtp-server\'s greeting pause); install it with `apt-get install postfix`.\n',
    );
    return 2;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-bench-'));
  workDir = dir;
  try {
    process.stderr.write(`pmta-agent bench${quick ? ' (--quick)' : ''}: ${sinkBinary}, the simulator and the agent, in ${dir}\n`);

    // Table 1: against smtp-sink.
    const sink = await startSink(sinkBinary);
    const sinkBackend: Backend = { proc: sink, port: sink.port, received: () => sink.received() };
    const sinkAgent = await startAgentIn(dir, 'agent-sink', sink.port, 'active');
    process.stderr.write('  warming up\n');
    await warmUp(sink.port, 'direct');
    await warmUp(sinkAgent.port, 'agent');
    await compare('sink', sinkBackend, sinkAgent);
    const peaks: Peaks = { sinkAgent: sinkAgent.peakRssKb(), simAgent: null, spoolAgent: null, sim: null };
    const notes = [...sinkAgent.notable.map((l) => `agent (sink): ${l}`), ...sink.notable.map((l) => `smtp-sink: ${l}`)];
    await sinkAgent.stop();
    await sink.stop();

    // Table 2: against the simulator.
    const sim = await startSim(path.join(dir, 'acct'));
    const simBackend: Backend = { proc: sim, port: sim.port, received: () => sim.received() };
    const simAgent = await startAgentIn(dir, 'agent-sim', sim.port, 'active');
    await warmUp(sim.port, 'direct');
    await warmUp(simAgent.port, 'agent');
    await compare('sim', simBackend, simAgent);
    peaks.simAgent = simAgent.peakRssKb();
    notes.push(...simAgent.notable.map((l) => `agent (sim): ${l}`));
    await simAgent.stop();

    // A daemon whose IPs are all paused: every message goes to the spool.
    const spoolAgent = await startAgentIn(dir, 'spool-agent', sim.port, 'paused');
    await warmUp(spoolAgent.port, 'spool');
    for (let run = 1; run <= RUNS_EACH; run++) await measure('sim', simBackend, spoolAgent, 'spool', 1, MODES[0]!.messages, run);
    peaks.spoolAgent = spoolAgent.peakRssKb();
    peaks.sim = sim.peakRssKb();
    notes.push(...sim.notable.map((l) => `sim: ${l}`), ...spoolAgent.notable.map((l) => `spool-agent: ${l}`));
    await stopAll();
    return report(peaks, notes);
  } finally {
    await cleanUp();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const msPerMsg = (cpu: number | null, r: Row) => (cpu === null ? null : (cpu * 1000) / r.result.messages);
const fmt = (x: number | null, digits = 0) => (x === null || Number.isNaN(x) ? '-' : x.toFixed(digits));

interface Summary {
  table: Table;
  perConnection: number;
  direct: number;
  agent: number;
  ratio: number;
  agentCpuMsPerMsg: number | null;
  backendCpuMsPerMsg: number | null;
  directBackendCpuMsPerMsg: number | null;
}

function summarise(table: Table, perConnection: number): Summary {
  const of = (target: Target) => rows.filter((r) => r.table === table && r.target === target && r.perConnection === perConnection);
  const medianOf = (rs: Row[], pick: (r: Row) => number | null) => {
    const xs = rs.map(pick).filter((x): x is number => x !== null);
    return xs.length ? median(xs) : null;
  };
  const direct = medianOf(of('direct'), (r) => r.result.rate) ?? NaN;
  const agent = medianOf(of('agent'), (r) => r.result.rate) ?? NaN;
  return {
    table,
    perConnection,
    direct,
    agent,
    ratio: agent / direct,
    agentCpuMsPerMsg: medianOf(of('agent'), (r) => msPerMsg(r.cpu.agent, r)),
    backendCpuMsPerMsg: medianOf(of('agent'), (r) => msPerMsg(r.cpu.backend, r)),
    directBackendCpuMsPerMsg: medianOf(of('direct'), (r) => msPerMsg(r.cpu.backend, r)),
  };
}

function report(peakRssKb: Peaks, notes: string[]): number {
  const out: string[] = [];
  const cpus = os.cpus().length;
  const mb = (kb: number | null) => (kb === null ? 'n/a' : `${(kb / 1024).toFixed(0)} MB`);
  const mode = (n: number) => (n === 1 ? '1 message per connection (MailWizz default)' : `${n} messages per connection`);
  out.push('');
  out.push(
    `pmta-agent bench: ${(MESSAGE_BYTES / 1024).toFixed(0)} KB messages, ${CONCURRENCY} concurrent sessions, medians of ${RUNS_EACH} runs, node ${process.version}, ${cpus} CPU(s)${quick ? ', --quick' : ''}`,
  );

  const summaries: Summary[] = [];
  out.push('');
  out.push('Relay cost, against Postfix smtp-sink (the agent forwards to smtp-sink as its PowerMTA):');
  out.push('');
  out.push('| mode | direct to smtp-sink msg/s | through the agent msg/s | agent / direct | agent CPU ms/msg |');
  out.push('|---|---|---|---|---|');
  for (const { perConnection } of MODES) {
    const s = summarise('sink', perConnection);
    summaries.push(s);
    out.push(`| ${mode(perConnection)} | ${fmt(s.direct)} | ${fmt(s.agent)} | ${fmt(s.ratio, 2)}${s.ratio < 0.5 ? ' (aim 0.5)' : ''} | ${fmt(s.agentCpuMsPerMsg, 2)} |`);
  }
  out.push('');
  out.push(`Agent peak RSS (VmHWM): ${mb(peakRssKb.sinkAgent)}.`);

  out.push('');
  out.push("Against the PowerMTA simulator (smtp-server, with its 100 ms greeting pause on the direct side):");
  out.push('');
  out.push('| mode | direct to simulator msg/s | through the agent msg/s | agent / direct | agent CPU ms/msg |');
  out.push('|---|---|---|---|---|');
  for (const { perConnection } of MODES) {
    const s = summarise('sim', perConnection);
    summaries.push(s);
    out.push(`| ${mode(perConnection)} | ${fmt(s.direct)} | ${fmt(s.agent)} | ${fmt(s.ratio, 2)} | ${fmt(s.agentCpuMsPerMsg, 2)} |`);
  }
  const spoolRows = rows.filter((r) => r.target === 'spool');
  const spoolRate = spoolRows.length ? median(spoolRows.map((r) => r.result.rate)) : null;
  const spoolCpu = spoolRows.length ? median(spoolRows.map((r) => msPerMsg(r.cpu.agent, r) ?? NaN)) : null;
  out.push(`| spool path, 1 message per connection | | ${fmt(spoolRate)} | | ${fmt(spoolCpu, 2)} |`);
  out.push('');
  out.push(`Agent peak RSS: ${mb(peakRssKb.simAgent)} fast path, ${mb(peakRssKb.spoolAgent)} spool path (simulator: ${mb(peakRssKb.sim)}).`);

  out.push('');
  out.push('Every run (CPU ms per message of the load generator, the backend and the agent):');
  out.push(
    `${'table'.padEnd(5)} ${'target'.padEnd(6)} ${'msg/conn'.padStart(8)} ${'run'.padStart(3)} ${'msgs'.padStart(6)} ${'secs'.padStart(7)} ${'msg/s'.padStart(7)} ${'bad'.padStart(4)}   ${'load'.padStart(5)} ${'backend'.padStart(7)} ${'agent'.padStart(6)}`,
  );
  for (const r of rows) {
    out.push(
      `${r.table.padEnd(5)} ${r.target.padEnd(6)} ${String(r.perConnection).padStart(8)} ${String(r.run).padStart(3)} ${String(r.result.messages).padStart(6)} ${r.result.seconds.toFixed(2).padStart(7)} ${r.result.rate.toFixed(0).padStart(7)} ${String(r.result.failed + r.result.unexpected).padStart(4)}   ${fmt(msPerMsg(r.cpu.load, r), 2).padStart(5)} ${fmt(msPerMsg(r.cpu.backend, r), 2).padStart(7)} ${fmt(msPerMsg(r.cpu.agent, r), 2).padStart(6)}`,
    );
  }

  // What must hold for the numbers to mean anything: every message accepted,
  // on the path the scenario names, and seen (or, for the spool, not seen) by the backend.
  const problems: string[] = [];
  for (const r of rows) {
    const name = `${r.table}: ${r.target}, ${r.perConnection} msg/conn, run ${r.run}`;
    const { failed, unexpected, samples, ok } = r.result;
    if (failed) problems.push(`${name}: ${failed} of ${r.result.messages} failed`);
    if (unexpected) problems.push(`${name}: ${unexpected} replies not from the ${r.target === 'spool' ? 'spool' : 'fast'} path`);
    for (const s of samples) problems.push(`    ${s}`);
    const want = r.target === 'spool' ? 0 : ok + unexpected;
    if (r.backendReceived !== want) problems.push(`${name}: the backend received ${r.backendReceived}, expected ${want}`);
  }
  out.push('');
  out.push(problems.length ? `PROBLEMS:\n  ${problems.join('\n  ')}` : 'all messages accepted on the expected path');
  if (notes.length) out.push(`warnings logged by the children:\n  ${notes.slice(0, 10).join('\n  ')}`);
  process.stdout.write(out.join('\n') + '\n');

  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        node: process.version,
        cpus,
        quick,
        concurrency: CONCURRENCY,
        messageBytes: MESSAGE_BYTES,
        runs: rows.map((r) => ({
          table: r.table,
          target: r.target,
          perConnection: r.perConnection,
          run: r.run,
          messages: r.result.messages,
          seconds: r.result.seconds,
          rate: r.result.rate,
          failed: r.result.failed,
          unexpected: r.result.unexpected,
          backendReceived: r.backendReceived,
          cpuSeconds: r.cpu,
        })),
        summary: summaries,
        spool: { rate: spoolRate, agentCpuMsPerMsg: spoolCpu },
        peakRssKb,
        problems,
      },
      null,
      2,
    ) + '\n',
  );
  process.stderr.write(`results written to ${RESULTS_FILE}\n`);
  return problems.length ? 1 : 0;
}

// Ctrl-C or a kill of the bench must not leave the children running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping the children\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanUp();
    process.exitCode = 1;
  },
);
