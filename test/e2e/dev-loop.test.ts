import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { CLI } from '../helpers/child.js';
import { waitFor } from '../helpers/env.js';
import { freePort } from '../helpers/redis-server.js';

const DEV_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../config/pmta-agent.dev.json');

/** The environment of a shell in the checkout: no config path or API address given. */
function shellEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.PMTA_AGENT_CONFIG;
  delete env.PMTA_AGENT_URL;
  delete env.PMTA_AGENT_TOKEN;
  delete env.NODE_ENV;
  return { ...env, ...extra };
}

function cli(cwd: string, args: string[], extra: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, env: shellEnv(extra) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('npm start: the agent and the built-in PowerMTA simulator, from a checkout', () => {
  let dir: string;
  let daemon: ChildProcess;
  let exited: Promise<number | string>;
  let out = '';
  let smtpPort: number;
  let apiUrl: string;
  let token: string;

  before(async () => {
    // A checkout of its own: the dev config as shipped, on free ports so the suite can run beside a real `npm start`.
    dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-devloop-'));
    mkdirSync(path.join(dir, 'config'));
    const cfg = JSON.parse(readFileSync(DEV_CONFIG, 'utf8'));
    [smtpPort] = [await freePort()];
    const apiPort = await freePort();
    cfg.smtp = { ...cfg.smtp, port: smtpPort };
    cfg.api = { ...cfg.api, port: apiPort };
    cfg.pmta = { ...cfg.pmta, port: await freePort() };
    cfg.accounting = { usePolling: true, pollIntervalMs: 50 };
    token = cfg.api.tokens[0].token;
    apiUrl = `http://127.0.0.1:${apiPort}`;
    writeFileSync(path.join(dir, 'config', 'pmta-agent.dev.json'), JSON.stringify(cfg, null, 2));
    // No --config: run finds the dev config the way the operator commands do.
    daemon = spawn(process.execPath, [CLI, 'run'], { cwd: dir, env: shellEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stdout!.on('data', (d) => (out += d));
    daemon.stderr!.on('data', (d) => (out += d));
    exited = new Promise((resolve) => daemon.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    await waitFor(() => out.includes('dev.simulator_started'), 20_000, `the daemon to start: ${out}`);
  });

  // Stopping ends the daemon every test shares, so it is checked last whatever order the tests run in.
  after(async () => {
    try {
      daemon.kill('SIGTERM');
      assert.equal(await exited, 0, 'stops cleanly on SIGTERM, simulator included');
      assert.match(out, /"event":"daemon\.stopped"/);
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const api = async (p: string) => (await fetch(`${apiUrl}${p}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<any>;
  const send = (to: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port: smtpPort, ignoreTLS: true, auth: { user: 'sos-expat', pass: 'dev-password-sos' } })
      .sendMail({ from: 'news@sos-mail.com', to, subject: 'hi', text: 'hello' }) as Promise<{ response: string }>;

  it("a message sent as the README's one-liner shows up delivered in the stats; one to the bounce domain is suppressed", async () => {
    assert.match((await send('jean@example.net')).response, /^250 2\.0\.0 Ok/);
    assert.match((await send('nobody@bounce.test')).response, /^250 2\.0\.0 Ok/);
    await waitFor(async () => (await api('/api/v2/stats/sos-expat/overview')).totals.delivered === 1, 15_000, 'the delivery in the stats');
    await waitFor(async () => (await api('/api/v2/suppression/sos-expat')).entries.some((e: { email: string }) => e.email === 'nobody@bounce.test'), 15_000, 'the bounce suppressed');
    const stats = (await api('/api/v2/stats/sos-expat/overview')).totals;
    assert.equal(stats.bouncedHard, 1);
    assert.match(out, /"event":"acct.batch"/, 'accounting batches are logged at info level');
    const refused = await send('nobody@bounce.test').catch((err: Error) => err);
    assert.match(String((refused as Error).message), /550 5\.1\.1/);
  });

  it('the operator commands find the daemon from the checkout without a flag, and status probes PowerMTA', async () => {
    const status = await cli(dir, ['status']);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /powermta\s+127\.0\.0\.1:\d+ reachable \(220 /);
    // The README one-liner's message (the first test) or one sent here: delivered shows in status too.
    assert.match((await send('status-check@example.net')).response, /^250 2\.0\.0 Ok/);
    await waitFor(async () => /today sos-expat\s+accepted \d+, delivered [1-9]/.test((await cli(dir, ['status'])).stdout), 15_000, 'a delivery in pmta-agent status');
    const quota = await cli(dir, ['quota', 'sos-expat', '--json']);
    assert.equal(quota.status, 0, quota.stderr);
    assert.equal(JSON.parse(quota.stdout).tenant, 'sos-expat');
  });

  it('a production host refuses the dev config: check-config --production and run with NODE_ENV=production', async () => {
    const check = await cli(dir, ['check-config', '--production']);
    assert.equal(check.status, 1);
    assert.match(check.stderr, /dev\.simulator: the PowerMTA simulator is for development only/);
    const run = await cli(dir, ['run'], { NODE_ENV: 'production' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /dev\.simulator/);
  });

});
