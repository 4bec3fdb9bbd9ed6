// `npm run bench`: how fast MailWizz can hand 10 KB messages to PowerMTA
// through the agent, against the same load sent straight to the PowerMTA
// simulator in the same run.
//
//   (a) direct:  load generator -> simulator
//   (b) agent:   load generator -> pmta-agent (fast path) -> simulator
//   spool path:  load generator -> pmta-agent with every IP paused -> disk
//
// Each at 20 concurrent sessions, one message per connection (MailWizz's
// default) and 100 per connection. The aim is b/a >= 0.5. Machines differ, so
// the bench prints rates and ratios to a baseline measured in the same run and
// asserts nothing about time; it fails (exit 1) only if a message fails.
//
// Options: --quick  a tenth of the messages (a smoke run, noisier numbers).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigInput } from '../src/config/schema.js';
import { messageFactory, MESSAGE_BYTES, runLoad, type LoadResult, type MessageFactory } from './load.js';
import { freePort, startAgent, startSim, stopAll, type AgentProc, type SimProc } from './procs.js';

const CONCURRENCY = 20;
const TENANT = { slug: 'bench', user: 'bench', pass: 'bench-password', domain: 'bench.example' };
const IPS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'];
const FROM = `news@${TENANT.domain}`;
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
const RUNS = [
  { perConnection: 1, messages: messagesFor(1, 2000) },
  { perConnection: 100, messages: messagesFor(100, 4000) },
];
const SPOOL_MESSAGES = messagesFor(1, 2000);

interface Row {
  scenario: string;
  target: 'direct' | 'agent' | 'spool';
  perConnection: number;
  run: number;
  result: LoadResult;
  /** Messages the simulator accepted during the run: must be all of them for direct and agent, none for spool. */
  simReceived: number;
  /** CPU seconds each process used during the run (null: not measurable here, or no agent in the path). */
  cpu: { load: number; sim: number | null; agent: number | null };
}

const vmtaOf = (n: number) => `${TENANT.slug}-${IPS[n % IPS.length]!.replace(/\./g, '-')}`;

// Direct sends carry what the agent would stamp (X-Virtual-MTA, which the
// simulator requires, and X-Job), so both paths deliver the same bytes.
const directMessage = messageFactory({
  domain: TENANT.domain,
  extraHeaders: (n) => [`X-Virtual-MTA: ${vmtaOf(n)}`, `X-Job: cmp${n % 7}`],
});
// What MailWizz sends to the agent: no routing headers.
const agentMessage = messageFactory({ domain: TENANT.domain });

function agentConfig(stateDir: string, smtpPort: number, pmtaPort: number, ipState: 'active' | 'paused'): ConfigInput {
  return {
    smtp: { host: '127.0.0.1', port: smtpPort },
    api: { port: 0 },
    accounting: { mode: 'off' },
    pmta: { host: '127.0.0.1', port: pmtaPort, maxConnections: CONCURRENCY, autoApply: false },
    store: { stateDir },
    // The spool agent's IPs are paused, so its dispatcher has nothing to do; a
    // long interval keeps it from even looking during the run.
    spool: ipState === 'paused' ? { dispatchIntervalMs: 3_600_000 } : {},
    // Far above what the bench sends, so the fast path never runs out of quota.
    warmup: { timezone: 'UTC', activeDailyCap: 100_000_000 },
    // warn, not the default info: a JSON line per message would be logged and
    // piped, which is not what is measured here.
    log: { level: 'warn' },
    tenants: [
      {
        id: 1,
        slug: TENANT.slug,
        name: 'Bench',
        users: [{ username: TENANT.user, password: TENANT.pass }],
        domains: [TENANT.domain],
        ips: IPS.map((address, i) => ({ address, hostname: `mta${i + 1}.${TENANT.domain}`, state: ipState })),
      },
    ],
  };
}

async function startAgentIn(dir: string, name: string, simPort: number, ipState: 'active' | 'paused'): Promise<AgentProc> {
  const stateDir = path.join(dir, name);
  mkdirSync(stateDir, { recursive: true });
  const port = await freePort();
  const file = path.join(stateDir, 'config.json');
  writeFileSync(file, JSON.stringify(agentConfig(stateDir, port, simPort, ipState), null, 2));
  return startAgent(name, file, port);
}

let nextNumber = 0;

async function load(port: number, target: Row['target'], perConnection: number, total: number, message: MessageFactory): Promise<LoadResult> {
  const result = await runLoad({
    port,
    auth: target === 'direct' ? undefined : { user: TENANT.user, pass: TENANT.pass },
    from: FROM,
    total,
    perConnection,
    concurrency: CONCURRENCY,
    message,
    firstNumber: nextNumber,
    // The fast path relays the simulator's "Ok: queued as ..."; the spool
    // path answers with the agent's own "Queued as <id>: <why>". A reply from
    // the other path means the run measured the wrong thing, so it is counted.
    expectReply: target === 'direct' ? undefined : target === 'agent' ? (r) => r.includes('Ok: queued as') : (r) => /\bQueued as\b/.test(r),
  });
  nextNumber += total;
  return result;
}

/** The simulator prints its line just before it replies; give the bench's reader a moment to see the last ones. */
async function simCountSettled(sim: SimProc, expected: number): Promise<number> {
  const end = Date.now() + 2_000;
  while (sim.received() < expected && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return sim.received();
}

const rows: Row[] = [];

const cpuDelta = (before: number | null, after: number | null) => (before === null || after === null ? null : after - before);

/** One measured run: straight to the simulator, or through `agent` when given. */
async function measure(sim: SimProc, agent: AgentProc | null, target: Row['target'], perConnection: number, total: number, run: number): Promise<Row> {
  const before = sim.received();
  const message = target === 'direct' ? directMessage : agentMessage;
  const cpu0 = { load: process.cpuUsage(), sim: sim.cpuSeconds(), agent: agent?.cpuSeconds() ?? null };
  const result = await load(agent?.port ?? sim.port, target, perConnection, total, message);
  const loadCpu = process.cpuUsage(cpu0.load);
  const cpu = {
    load: (loadCpu.user + loadCpu.system) / 1e6,
    sim: cpuDelta(cpu0.sim, sim.cpuSeconds()),
    agent: agent ? cpuDelta(cpu0.agent, agent.cpuSeconds()) : null,
  };
  const expected = target === 'spool' ? before : before + result.ok + result.unexpected;
  const simReceived = (await simCountSettled(sim, expected)) - before;
  const label = target === 'direct' ? 'direct' : target === 'agent' ? 'agent' : 'agent spool path';
  const row: Row = { scenario: `${label}, ${perConnection} msg/conn`, target, perConnection, run, result, simReceived, cpu };
  rows.push(row);
  process.stderr.write(`  ${row.scenario.padEnd(28)} run ${run}: ${fmtRate(result.rate)} msg/s${result.failed ? `, ${result.failed} FAILED` : ''}\n`);
  return row;
}

async function warmUp(port: number, target: Row['target']): Promise<void> {
  // JIT, SQLite page cache, the agent's pool to the simulator and its auth
  // cache (scrypt once per TTL) are all cold at first; none of that is what
  // a sustained rate measures.
  const message = target === 'direct' ? directMessage : agentMessage;
  for (const perConnection of [1, 5]) {
    const r = await load(port, target, perConnection, 100, message);
    // Not part of the results, but a failure here is not hidden either.
    if (r.failed || r.unexpected) process.stderr.write(`  warm-up ${target}: ${r.failed} failed, ${r.unexpected} unexpected: ${r.samples.join('; ')}\n`);
  }
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const fmtRate = (r: number) => r.toFixed(0);

let workDir: string | null = null;

/** Children first (they write into the directory), then the directory. */
async function cleanUp(): Promise<void> {
  await stopAll();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = null;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-bench-'));
  workDir = dir;
  try {
    process.stderr.write(`pmta-agent bench${quick ? ' (--quick)' : ''}: starting the simulator and the agent in ${dir}\n`);
    const sim = await startSim(path.join(dir, 'acct'));
    const agent = await startAgentIn(dir, 'agent', sim.port, 'active');

    process.stderr.write('  warming up\n');
    await warmUp(sim.port, 'direct');
    await warmUp(agent.port, 'agent');

    // a, b, b, a: any drift over the run (page cache, a busy neighbour, the
    // accounting file growing) weighs on both sides alike, and the baseline is
    // the mean of the two direct runs.
    for (const { perConnection, messages } of RUNS) {
      await measure(sim, null, 'direct', perConnection, messages, 1);
      await measure(sim, agent, 'agent', perConnection, messages, 1);
      await measure(sim, agent, 'agent', perConnection, messages, 2);
      await measure(sim, null, 'direct', perConnection, messages, 2);
    }
    const agentPeakKb = agent.peakRssKb();
    await agent.stop();

    // A second daemon whose IPs are all paused: every message goes to the spool.
    const spoolAgent = await startAgentIn(dir, 'spool-agent', sim.port, 'paused');
    await warmUp(spoolAgent.port, 'spool');
    await measure(sim, spoolAgent, 'spool', 1, SPOOL_MESSAGES, 1);
    const spoolPeakKb = spoolAgent.peakRssKb();

    // Same measure for the simulator: what a bare Node SMTP server on the same load peaks at.
    const simPeakKb = sim.peakRssKb();
    const notes = [...sim.notable.map((l) => `sim: ${l}`), ...agent.notable.map((l) => `agent: ${l}`), ...spoolAgent.notable.map((l) => `spool-agent: ${l}`)];
    await stopAll();
    return report({ agent: agentPeakKb, spoolAgent: spoolPeakKb, sim: simPeakKb }, notes);
  } finally {
    await cleanUp();
  }
}

function report(peakRssKb: { agent: number | null; spoolAgent: number | null; sim: number | null }, notes: string[]): number {
  const out: string[] = [];
  const cpus = os.cpus().length;
  out.push('');
  out.push(`pmta-agent bench: ${(MESSAGE_BYTES / 1024).toFixed(0)} KB messages, ${CONCURRENCY} concurrent sessions, node ${process.version}, ${cpus} CPU(s)${quick ? ', --quick' : ''}`);
  out.push('');
  // CPU ms per message of each process, and how busy the agent was (100% =
  // one core: a Node process runs its JavaScript on one thread).
  out.push(`${''.padEnd(62)}${'--- cpu ms/msg ---'.padStart(20)}  agent`);
  out.push(
    `${'scenario'.padEnd(32)} ${'run'.padStart(3)} ${'msgs'.padStart(6)} ${'secs'.padStart(7)} ${'msg/s'.padStart(7)} ${'failed'.padStart(6)}   ${'load'.padStart(5)} ${'sim'.padStart(5)} ${'agent'.padStart(6)}  ${'busy'.padStart(5)}`,
  );
  const perMsg = (cpu: number | null, r: Row) => (cpu === null ? '-' : ((cpu * 1000) / r.result.messages).toFixed(2));
  for (const r of rows) {
    const bad = r.result.failed + r.result.unexpected;
    const busy = r.cpu.agent === null ? '-' : `${((100 * r.cpu.agent) / r.result.seconds).toFixed(0)}%`;
    out.push(
      `${r.scenario.padEnd(32)} ${String(r.run).padStart(3)} ${String(r.result.messages).padStart(6)} ${r.result.seconds.toFixed(2).padStart(7)} ${fmtRate(r.result.rate).padStart(7)} ${String(bad).padStart(6)}   ${perMsg(r.cpu.load, r).padStart(5)} ${perMsg(r.cpu.sim, r).padStart(5)} ${perMsg(r.cpu.agent, r).padStart(6)}  ${busy.padStart(5)}`,
    );
  }

  out.push('');
  out.push(`${'summary (mean of runs)'.padEnd(32)} ${'direct a'.padStart(9)} ${'agent b'.padStart(9)} ${'b/a'.padStart(6)}`);
  const summary: Array<{ perConnection: number; direct: number; agent: number; ratio: number }> = [];
  for (const { perConnection } of RUNS) {
    const rate = (t: Row['target']) => mean(rows.filter((r) => r.target === t && r.perConnection === perConnection).map((r) => r.result.rate));
    const direct = rate('direct');
    const agent = rate('agent');
    const ratio = agent / direct;
    summary.push({ perConnection, direct, agent, ratio });
    out.push(
      `${`${perConnection} msg/conn, msg/s`.padEnd(32)} ${fmtRate(direct).padStart(9)} ${fmtRate(agent).padStart(9)} ${ratio.toFixed(2).padStart(6)}${ratio < 0.5 ? '  (below the 0.5 aim)' : ''}`,
    );
  }
  const spool = rows.find((r) => r.target === 'spool');
  const direct1 = summary.find((s) => s.perConnection === 1);
  if (spool && direct1) {
    out.push(`${'agent spool path, 1 msg/conn'.padEnd(32)} ${''.padStart(9)} ${fmtRate(spool.result.rate).padStart(9)} ${(spool.result.rate / direct1.direct).toFixed(2).padStart(6)}  (vs direct, 1 msg/conn)`);
  }
  out.push('');
  const mb = (kb: number | null) => (kb === null ? 'n/a' : `${(kb / 1024).toFixed(0)} MB`);
  out.push(`agent peak RSS (VmHWM): ${mb(peakRssKb.agent)} fast path, ${mb(peakRssKb.spoolAgent)} spool path (simulator: ${mb(peakRssKb.sim)})`);

  // What must hold for the numbers to mean anything: every message accepted,
  // on the path the scenario names, and seen (or, for the spool, not seen) by the simulator.
  const problems: string[] = [];
  for (const r of rows) {
    const { failed, unexpected, samples, ok } = r.result;
    if (failed) problems.push(`${r.scenario} run ${r.run}: ${failed} of ${r.result.messages} failed`);
    if (unexpected) problems.push(`${r.scenario} run ${r.run}: ${unexpected} replies not from the ${r.target === 'spool' ? 'spool' : 'fast'} path`);
    for (const s of samples) problems.push(`    ${s}`);
    const want = r.target === 'spool' ? 0 : ok + unexpected;
    if (r.simReceived !== want) problems.push(`${r.scenario} run ${r.run}: simulator received ${r.simReceived}, expected ${want}`);
  }
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
          scenario: r.scenario,
          target: r.target,
          perConnection: r.perConnection,
          run: r.run,
          messages: r.result.messages,
          seconds: r.result.seconds,
          rate: r.result.rate,
          failed: r.result.failed,
          unexpected: r.result.unexpected,
          simReceived: r.simReceived,
          cpuSeconds: r.cpu,
        })),
        summary,
        spoolRate: spool?.result.rate ?? null,
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
