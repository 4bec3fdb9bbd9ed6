import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/child.js';
import { API_TOKEN, startHarness, send, type Harness } from '../helpers/env.js';

/** Runs the CLI asynchronously: the daemon under test lives in this process and must keep serving. */
function cli(h: Harness, args: string[], token = API_TOKEN): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, PMTA_AGENT_URL: h.apiUrl, PMTA_AGENT_TOKEN: token } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('operator CLI over the API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    assert.ok((await send(h.port, {})).ok);
  });
  after(() => h.close());

  it('quota --json parses and matches the API', async () => {
    const r = await cli(h, ['quota', 'sos-expat', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const fromCli = JSON.parse(r.stdout);
    const fromApi = (await h.api('/api/v2/quotas/sos-expat')).body;
    assert.deepEqual(fromCli, fromApi);
    assert.equal(fromCli.ips[0].sent_today, 1);
  });

  it('quota prints a table for people', async () => {
    const r = await cli(h, ['quota', 'sos-expat']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /IP\s+VMTA\s+STATUS\s+PHASE\s+DAILY\s+SENT\s+HELD\s+LEFT/);
    assert.match(r.stdout, /45\.123\.10\.1\s+sos-expat-45-123-10-1\s+warming\s+week_1\s+50\s+1\s+0\s+49/);
  });

  it('check, status and ip pause/resume work and pause is visible to the API', async () => {
    const check = await cli(h, ['check', 'sos-expat', '10', '--json']);
    assert.equal(JSON.parse(check.stdout).can_send, true);
    const status = await cli(h, ['status', '--json']);
    assert.equal(JSON.parse(status.stdout).pmta.reachable, true);
    const pause = await cli(h, ['ip', 'pause', '45.123.10.1', '--reason', 'testing the CLI']);
    assert.equal(pause.status, 0, pause.stderr);
    assert.match(pause.stdout, /warming -> paused/);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.ips[0].status, 'paused');
    const resume = await cli(h, ['ip', 'resume', '45.123.10.1', '--reason', 'done']);
    assert.match(resume.stdout, /paused -> warming/);
  });

  it('user delete revokes an SMTP user; ip warmup sets the warmup position, audited', async () => {
    assert.equal((await h.api('/api/v2/tenants/sos-expat/users', { method: 'PUT', json: { username: 'cli-made', password: 'cli-made-pass' } })).status, 200);
    assert.ok((await send(h.port, { user: 'cli-made', pass: 'cli-made-pass' })).ok);
    const del = await cli(h, ['user', 'delete', 'sos-expat', 'cli-made']);
    assert.equal(del.status, 0, del.stderr);
    assert.equal(del.stdout, 'deleted cli-made\n');
    assert.equal(((await send(h.port, { user: 'cli-made', pass: 'cli-made-pass' })) as { code?: number }).code, 535);
    const missing = await cli(h, ['user', 'delete', 'sos-expat', 'cli-made']);
    assert.equal(missing.status, 1);

    const w = await cli(h, ['ip', 'warmup', '45.123.10.1', '--day', '9']);
    assert.equal(w.status, 0, w.stderr);
    assert.match(w.stdout, /warmup day 9/);
    assert.equal((await h.api('/api/v2/ips/45.123.10.1/audit')).body.entries[0].action, 'warmup.override');
    assert.equal((await cli(h, ['ip', 'warmup', '45.123.10.1'])).status, 2, 'nothing to set is a usage error');
    assert.equal((await cli(h, ['ip', 'warmup', '45.123.10.1', '--day', '1'])).status, 0);
  });

  it('add-domain adds the domain and IP like the seed script', async () => {
    const r = await cli(h, ['add-domain', '--tenant', 'sos-expat', '--domain', 'sos-alerts.com', '--ip', '45.123.10.7', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout);
    assert.ok(t.domains.includes('sos-alerts.com'));
    assert.ok(t.ips.some((i: { address: string }) => i.address === '45.123.10.7'));
  });

  it('add-domain with a bad domain and a bad IP reports both', async () => {
    const r = await cli(h, ['add-domain', '--tenant', 'sos-expat', '--domain', 'not a domain', '--ip', '999.1.2.3']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /domain: must be a hostname/);
    assert.match(r.stderr, /ip: must be an IPv4 address/);
  });

  it('ip list sorts addresses as numbers (45.123.10.9 before 45.123.10.10)', async () => {
    for (const address of ['45.123.10.10', '45.123.10.9']) {
      assert.equal((await h.api('/api/v2/tenants/sos-expat/ips', { method: 'POST', json: { address, hostname: 'mail9.sos-mail.com' } })).status, 201);
    }
    const r = await cli(h, ['ip', 'list', '--json']);
    const order = JSON.parse(r.stdout).ips.map((i: { address: string }) => i.address).filter((a: string) => a.startsWith('45.123.10.'));
    assert.deepEqual(order, [...order].sort((a: string, b: string) => Number(a.split('.')[3]) - Number(b.split('.')[3])));
    assert.ok(order.indexOf('45.123.10.9') < order.indexOf('45.123.10.10'));
    const text = (await cli(h, ['ip', 'list'])).stdout;
    assert.ok(text.indexOf('45.123.10.9 ') < text.indexOf('45.123.10.10 '));
  });

  it('status probes PowerMTA: unreachable as soon as nothing answers on its port, without a message failing first', async () => {
    await h.sim.stop();
    try {
      const down = await cli(h, ['status']);
      assert.equal(down.status, 0, down.stderr);
      assert.match(down.stdout, /powermta\s+\S+ UNREACHABLE: ECONNREFUSED/);
    } finally {
      await h.sim.start();
    }
    const up = await cli(h, ['status', '--json']);
    assert.equal(JSON.parse(up.stdout).pmta.reachable, true);
    assert.match(JSON.parse(up.stdout).pmta.greeting, /^220 /);
  });

  it('the MailWizz values suggest the tenant\'s main domain (the first declared), not the alphabetically first', async () => {
    const made = await h.api('/api/v2/tenants', {
      method: 'POST',
      json: { slug: 'zed-co', name: 'Zed', users: [{ username: 'zed-co', password: 'zed-password-1' }], domains: ['zed-main.com', 'aaa-other.com'] },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const r = await h.api('/api/v2/powermta/mailwizz-delivery-server/zed-co');
    assert.equal(r.body.from_email, 'newsletter@zed-main.com');
  });

  it('fails with exit 1 and the API reason for a bad token or unknown tenant, exit 2 for usage', async () => {
    const bad = await cli(h, ['quota', 'sos-expat'], 'not-the-token-at-all');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /401/);
    const unknown = await cli(h, ['quota', 'nobody']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /404/);
    assert.equal((await cli(h, ['check', 'sos-expat', 'many'])).status, 2);
    assert.equal((await cli(h, ['ip', 'pause', '45.123.10.1'])).status, 2);
  });
});

describe('pmta render and apply from the CLI', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('render prints the config; apply writes it', async () => {
    const r = await cli(h, ['pmta', 'render']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /<virtual-mta-pool sos-expat-pool>/);
    const a = await cli(h, ['pmta', 'apply', '--json']);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).kind, 'applied');
    const again = await cli(h, ['pmta', 'apply']);
    assert.match(again.stdout, /unchanged/);
  });
});

describe('suppression from the CLI', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('add, list and remove, with the SMTP gate following along', async () => {
    const add = await cli(h, ['suppression', 'add', 'sos-expat', 'cli@example.net', '--reason', 'asked by phone']);
    assert.equal(add.status, 0, add.stderr);
    assert.match(add.stdout, /added cli@example\.net/);
    assert.equal((await send(h.port, { to: 'cli@example.net' })).ok, false);
    const list = JSON.parse((await cli(h, ['suppression', 'list', 'sos-expat', '--json'])).stdout);
    assert.equal(list.total, 1);
    assert.equal(list.entries[0].email, 'cli@example.net');
    assert.match((await cli(h, ['suppression', 'list', 'sos-expat'])).stdout, /cli@example\.net\s+manual/);
    assert.equal((await cli(h, ['suppression', 'remove', 'sos-expat', 'cli@example.net'])).status, 0);
    assert.ok((await send(h.port, { to: 'cli@example.net' })).ok);
  });
});
