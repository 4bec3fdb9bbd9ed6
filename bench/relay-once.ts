// One relay scenario, for working on the agent's cost rather than reporting it:
//   node dist/bench/relay-once.js [--per N] [--messages N] [--sessions N]
// smtp-sink stands in for PowerMTA; the agent runs as its own process. Prints
// the rate, the agent's CPU ms per message and its peak RSS. With
//   BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"
// the agent writes a CPU profile of the run when it stops.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runLoad } from './load.js';
import { findSmtpSink, startSink, stopAll } from './procs.js';
import { agentMessage, CONCURRENCY, FROM, startAgentIn, TENANT } from './relay-setup.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`relay-once: --${name} needs a positive integer\n`);
    process.exit(2);
  }
  return n;
}

const perConnection = option('per', 100);
const messages = option('messages', 8000);
const concurrency = option('sessions', CONCURRENCY);

async function main(): Promise<number> {
  const binary = findSmtpSink();
  if (!binary) {
    process.stderr.write('relay-once: smtp-sink not found (apt-get install postfix)\n');
    return 2;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-relay-once-'));
  try {
    const sink = await startSink(binary);
    const agent = await startAgentIn(dir, 'agent', sink.port, 'active');
    let next = 0;
    const run = async (total: number) => {
      const cpu0 = agent.cpuSeconds();
      const r = await runLoad({
        port: agent.port,
        auth: { user: TENANT.user, pass: TENANT.pass },
        from: FROM,
        total,
        perConnection,
        concurrency,
        message: agentMessage,
        firstNumber: next,
      });
      next += total;
      const cpu = agent.cpuSeconds();
      return { r, cpuMs: cpu0 === null || cpu === null ? null : ((cpu - cpu0) * 1000) / total };
    };
    await run(Math.min(500, messages)); // warm-up: JIT, caches, the pool to the sink
    const { r, cpuMs } = await run(messages);
    const rss = agent.peakRssKb();
    process.stdout.write(
      `${perConnection} msg/conn, ${concurrency} sessions, ${messages} messages: ${r.rate.toFixed(0)} msg/s, ` +
        `agent ${cpuMs === null ? '-' : cpuMs.toFixed(3)} CPU ms/msg, peak RSS ${rss === null ? '-' : `${(rss / 1024).toFixed(0)} MB`}` +
        `${r.failed ? `, ${r.failed} FAILED: ${r.samples.join('; ')}` : ''}\n`,
    );
    await agent.stop();
    await sink.stop();
    return r.failed ? 1 : 0;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  async (err: unknown) => {
    process.stderr.write(`relay-once: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAll();
    process.exitCode = 1;
  },
);
