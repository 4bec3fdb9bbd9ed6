// The relay bench's agent and messages, shared by `npm run bench` (run.ts)
// and the one-scenario profiling run (relay-once.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { newApiToken } from '../src/auth/tokens.js';
import type { ConfigInput } from '../src/config/schema.js';
import { messageFactory } from './load.js';
import { freePort, startAgent, type AgentProc } from './procs.js';

export const CONCURRENCY = 20;
export const TENANT = { slug: 'bench', user: 'bench', pass: 'bench-password', domain: 'bench.example' };
const IPS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'];
export const FROM = `news@${TENANT.domain}`;

const vmtaOf = (n: number) => `${TENANT.slug}-${IPS[n % IPS.length]!.replace(/\./g, '-')}`;

// Direct sends carry what the agent would stamp (X-Virtual-MTA, which the
// simulator requires, and X-Job), so both paths deliver the same bytes.
export const directMessage = messageFactory({
  domain: TENANT.domain,
  extraHeaders: (n) => [`X-Virtual-MTA: ${vmtaOf(n)}`, `X-Job: cmp${n % 7}`],
});
// What MailWizz sends to the agent: no routing headers.
export const agentMessage = messageFactory({ domain: TENANT.domain });

function agentConfig(stateDir: string, smtpPort: number, pmtaPort: number, ipState: 'active' | 'paused'): ConfigInput {
  return {
    smtp: { host: '127.0.0.1', port: smtpPort },
    // A fresh token: the daemon refuses to start without one.
    api: { port: 0, token: newApiToken() },
    accounting: { mode: 'off' },
    // smtp-sink stands in for PowerMTA as well as the simulator does: the agent
    // needs only EHLO, MAIL, RCPT, DATA and a 250; it is not told about X-Virtual-MTA.
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

export async function startAgentIn(dir: string, name: string, pmtaPort: number, ipState: 'active' | 'paused'): Promise<AgentProc> {
  const stateDir = path.join(dir, name);
  mkdirSync(stateDir, { recursive: true });
  const port = await freePort();
  const file = path.join(stateDir, 'config.json');
  writeFileSync(file, JSON.stringify(agentConfig(stateDir, port, pmtaPort, ipState), null, 2));
  return startAgent(name, file, port);
}

