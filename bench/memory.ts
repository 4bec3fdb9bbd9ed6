// `node dist/bench/memory.js`: the agent's peak resident set (VmHWM, Linux) when
// 100 sessions each send one 10 MB message at the same moment, forwarded to
// Postfix's smtp-sink as its PowerMTA. Issue 15's aim: below 200 MB (printed
// as met or not). Also the agent's resident set right after start, for scale.
// The agent runs with the systemd unit's environment, as deployed (procs.ts).
// Prints sizes; asserts only that every message got a 250.
//
// Options: --sessions N (default 100), --mb N (default 10), --memory-bytes N
// (the agent's spool.memoryBytes; default: the config's default).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { newApiToken } from '../src/auth/tokens.js';
import { findSmtpSink, freePort, startAgent, startSink, stopAll } from './procs.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SESSIONS = arg('--sessions', 100);
const MB = arg('--mb', 10);
const MEMORY_BYTES = arg('--memory-bytes', -1);
const TENANT = { user: 'bench', pass: 'bench-password', domain: 'bench.example' };
/** Issue 15: the agent's peak RSS with 100 concurrent 10 MB messages. */
const AIM_MB = 200;

function message(bytes: number): Buffer {
  const head = `From: <news@${TENANT.domain}>\r\nTo: <a@example.net>\r\nSubject: big\r\nMessage-ID: <big-${process.pid}@${TENANT.domain}>\r\n\r\n`;
  const line = 'x'.repeat(76) + '\r\n';
  return Buffer.from(head + line.repeat(Math.ceil((bytes - head.length) / line.length)));
}

async function main(): Promise<void> {
  const sinkBinary = findSmtpSink();
  if (!sinkBinary) throw new Error('smtp-sink not found (apt-get install postfix)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-bench-memory-'));
  try {
    const sink = await startSink(sinkBinary);
    const port = await freePort();
    const stateDir = path.join(dir, 'agent');
    mkdirSync(stateDir);
    const config = {
      smtp: { host: '127.0.0.1', port, maxClients: SESSIONS + 10 },
      api: { port: 0, tokens: [{ name: 'bench', token: newApiToken(), scopes: ['admin'] }] },
      accounting: { mode: 'off' },
      pmta: { host: '127.0.0.1', port: sink.port, maxConnections: SESSIONS, autoApply: false },
      store: { stateDir },
      spool: MEMORY_BYTES >= 0 ? { memoryBytes: MEMORY_BYTES } : {},
      warmup: { timezone: 'UTC', activeDailyCap: 100_000_000 },
      log: { level: 'warn' },
      tenants: [
        {
          id: 1,
          slug: 'bench',
          name: 'Bench',
          users: [{ username: TENANT.user, password: TENANT.pass }],
          domains: [TENANT.domain],
          ips: [{ address: '192.0.2.1', hostname: `mta1.${TENANT.domain}`, state: 'active' }],
        },
      ],
    };
    const file = path.join(stateDir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const agent = await startAgent('agent', file, port);
    const idle = agent.peakRssKb();
    const raw = message(MB * 1024 * 1024);
    const t0 = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: SESSIONS }, async () => {
        const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: TENANT, socketTimeout: 120_000 });
        try {
          return (await t.sendMail({ envelope: { from: `news@${TENANT.domain}`, to: 'a@example.net' }, raw })) as { response: string };
        } finally {
          t.close();
        }
      }),
    );
    const seconds = (Date.now() - t0) / 1000;
    const peak = agent.peakRssKb();
    const failed = results.filter((r) => r.status === 'rejected' || !/^250/.test(r.value.response));
    const mb = (kb: number | null) => (kb === null ? 'n/a' : `${(kb / 1024).toFixed(0)} MB`);
    process.stdout.write(
      `${SESSIONS} sessions x ${MB} MB (${((SESSIONS * raw.length) / 1024 / 1024).toFixed(0)} MB in all) in ${seconds.toFixed(1)} s: ` +
        `agent peak RSS ${mb(peak)} (aim below ${AIM_MB} MB: ${peak === null ? 'n/a' : peak / 1024 < AIM_MB ? 'met' : 'not met'}; after start: ${mb(idle)}), ${failed.length} failed\n`,
    );
    if (failed.length) {
      const f = failed[0]!;
      throw new Error(f.status === 'rejected' ? String(f.reason) : f.value.response);
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
