import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ipTransition } from '../../src/tenants/transitions.js';
import { ManualClock } from '../../src/types.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { writeFileSync } from 'node:fs';
import { spawnDaemon } from '../helpers/child.js';
import { CHILD_API_TOKEN, childConfig, SOS_TENANT } from '../helpers/child-config.js';
import { API_TOKEN, SOS, send, testConfig, tmpDir, waitFor } from '../helpers/env.js';

const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../config/pmta-agent.example.json');
const IP = '45.123.10.1';
const SECOND = { username: 'sos-second', password: 'second-pass-1' };

/** A daemon on a state directory that outlives it, so a test can restart it. */
class Agent {
  daemon!: Daemon;
  logs: Array<Record<string, unknown>> = [];
  private constructor(
    readonly dir: string,
    readonly sim: Simulator,
    readonly clock: ManualClock,
  ) {}

  static async start(dir: string, sim: Simulator, clock: ManualClock, cfg: Config): Promise<Agent> {
    const a = new Agent(dir, sim, clock);
    await a.boot(cfg);
    return a;
  }

  async boot(cfg: Config): Promise<void> {
    const log = createLogger({ level: 'debug', write: (l) => this.logs.push(JSON.parse(l) as Record<string, unknown>) });
    this.daemon = await startDaemon(cfg, { clock: this.clock, log });
  }

  async restart(cfg: Config): Promise<void> {
    await this.daemon.stop();
    await this.boot(cfg);
  }

  get port(): number {
    return this.daemon.smtpAddress.port;
  }

  async api(p: string, init: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`http://127.0.0.1:${this.daemon.apiAddress.port}${p}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    });
    return { status: res.status, body: await res.json() };
  }

  async cap(ip = IP, tenant = 'sos-expat'): Promise<{ daily_quota: number; warmup_day: number; status: string }> {
    const q = (await this.api(`/api/v2/quotas/${tenant}`)).body;
    const i = q.ips.find((x: { ip_address: string }) => x.ip_address === ip);
    return { daily_quota: i.daily_quota, warmup_day: i.warmup_day, status: i.status };
  }

  events(name: string): Array<Record<string, unknown>> {
    return this.logs.filter((l) => l.event === name);
  }
}

const auth = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;

describe('the config file vs the stored state', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(build: (dir: string, simPort: number) => Config, start = '2026-11-25T10:00:00Z') {
    const { dir, cleanup } = tmpDir();
    const clock = new ManualClock(start);
    cleanups.push(cleanup);
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), clock });
    cleanups.push(() => sim.close());
    const cfg = build(dir, sim.port);
    const agent = await Agent.start(dir, sim, clock, cfg);
    cleanups.push(() => agent.daemon.stop());
    return { agent, cfg, dir, sim };
  }

  const withSecondUser = (dir: string, port: number, users = [{ username: SOS.username, password: SOS.password }, SECOND]) =>
    testConfig(dir, port, { sosTenant: { users } });

  it('a user removed from the file: after the reload its next AUTH gets 535 and its open session ends at its next command with 421', async () => {
    const { agent, dir, sim } = await setup((d, p) => withSecondUser(d, p));
    const open = await rawSmtp(agent.port);
    await open.cmd('EHLO test');
    assert.match(await open.cmd(auth(SECOND.username, SECOND.password)), /^235 /);
    assert.match(await open.cmd(`MAIL FROM:<news@${SOS.domain}>`), /^250 /);

    await agent.daemon.reload(withSecondUser(dir, sim.port, [{ username: SOS.username, password: SOS.password }]));

    assert.match(await open.cmd('RCPT TO:<a@example.net>'), /^421 4\.7\.0 /, 'the open session is cut');
    open.close();
    const again = await send(agent.port, { user: SECOND.username, pass: SECOND.password });
    assert.equal(again.ok, false);
    assert.equal((again as { code: number }).code, 535);
    assert.ok((await send(agent.port, {})).ok, 'the user the file still declares works');
    const audit = (await agent.api('/api/v2/audit?subject=tenant:sos-expat')).body.entries;
    assert.ok(audit.some((e: { action: string; actor: string; detail: string }) => e.action === 'user.remove' && e.actor === 'config' && e.detail.includes(SECOND.username)));
  });

  it('a password reset through the API survives a reload and a restart; the file password is reported as ignored', async () => {
    const { agent, cfg } = await setup((d, p) => withSecondUser(d, p));
    const r = await agent.api('/api/v2/tenants/sos-expat/users', { method: 'PUT', json: { username: SECOND.username, password: 'reset-by-api-1' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const step of ['reload', 'restart'] as const) {
      if (step === 'reload') await agent.daemon.reload(cfg);
      else await agent.restart(cfg);
      assert.ok((await send(agent.port, { user: SECOND.username, pass: 'reset-by-api-1' })).ok, `new password after ${step}`);
      const old = await send(agent.port, { user: SECOND.username, pass: SECOND.password });
      assert.equal((old as { code?: number }).code, 535, `old password refused after ${step}`);
    }
    const ignored = agent.events('config.ignored');
    assert.ok(ignored.some((e) => e.setting === 'tenants.0.users.1.password' && e.stored === 'a password set through the API'));
    assert.ok(!JSON.stringify(ignored).includes(SECOND.password), 'no password in the log');
  });

  it('DELETE of a user through the API: its next AUTH gets 535 at once (the AUTH cache forgets it)', async () => {
    const { agent } = await setup((d, p) => withSecondUser(d, p));
    assert.ok((await send(agent.port, { user: SECOND.username, pass: SECOND.password })).ok, 'cached now');
    const r = await agent.api(`/api/v2/tenants/sos-expat/users/${SECOND.username}`, { method: 'DELETE' });
    assert.equal(r.status, 200);
    assert.match(r.body.warning, /config file declares this user/);
    assert.equal(((await send(agent.port, { user: SECOND.username, pass: SECOND.password })) as { code?: number }).code, 535);
    assert.equal((await agent.api('/api/v2/tenants/sos-expat/users/nobody', { method: 'DELETE' })).status, 404);
    assert.equal((await agent.api(`/api/v2/tenants/ulixai/users/${SOS.username}`, { method: 'DELETE' })).status, 404, 'not through another tenant');
  });

  it('what the API created survives a reload; what the file removed goes: users and domains deleted, tenants and IPs disabled with spool and warmup kept', async () => {
    const { agent, cfg, dir, sim } = await setup((d, p) => testConfig(d, p, { sosIps: [{ address: IP }, { address: '45.123.10.9' }] }));
    assert.equal((await agent.api('/api/v2/tenants', { method: 'POST', json: { slug: 'api-made', name: 'Made by API', users: [{ username: 'api-user', password: 'api-pass-123' }], domains: ['api-made.com'], ips: [{ address: '45.123.30.1', hostname: 'mail.api-made.com' }] } })).status, 201);
    assert.equal((await agent.api('/api/v2/tenants/sos-expat/domains', { method: 'POST', json: { domain: 'extra-sos.com' } })).status, 201);
    await agent.daemon.reload(cfg);
    assert.ok((await send(agent.port, { user: 'api-user', pass: 'api-pass-123', from: 'news@api-made.com' })).ok, 'API tenant still sends');
    assert.ok((await agent.api('/api/v2/tenants/sos-expat')).body.domains.includes('extra-sos.com'));

    // Ulixai leaves the file, and SOS-Expat loses an IP and its domain list shrinks to one new domain.
    await send(agent.port, { user: 'ulixai', pass: 'secret-ulixai-1', from: 'news@ulixai-mail.com' });
    const base = testConfig(dir, sim.port, { sosIps: [{ address: IP }], sosTenant: { domains: ['new-sos.com'] } });
    const next = { ...base, tenants: base.tenants.filter((t) => t.slug !== 'ulixai') };
    await agent.daemon.reload(next);
    const sos = (await agent.api('/api/v2/tenants/sos-expat')).body;
    assert.deepEqual(sos.domains, ['extra-sos.com', 'new-sos.com'], 'the file domain is gone, the API one stays');
    assert.deepEqual(sos.ips.map((i: { address: string }) => i.address), [IP]);
    assert.equal((await agent.api('/api/v2/tenants/ulixai')).status, 404);
    assert.equal(((await send(agent.port, { user: 'ulixai', pass: 'secret-ulixai-1', from: 'news@ulixai-mail.com' })) as { code?: number }).code, 535);
    const status = (await agent.api('/api/v2/status')).body;
    assert.deepEqual(status.disabled.tenants.map((t: { slug: string }) => t.slug), ['ulixai']);
    assert.deepEqual(status.disabled.ips.map((i: { address: string }) => i.address).sort(), ['45.123.10.9', '45.123.20.1']);
    assert.equal(agent.events('config.tenant_disabled')[0]?.tenant, 'ulixai');

    // Declared again: back, with its stored warmup.
    await agent.daemon.reload(cfg);
    assert.equal((await agent.api('/api/v2/tenants/ulixai')).status, 200);
    assert.equal((await agent.cap('45.123.20.1', 'ulixai')).status, 'active');
    assert.deepEqual((await agent.api('/api/v2/status')).body.disabled, { tenants: [], ips: [] });
  });

  it('a regressed IP stays regressed across a reload and a restart with the example config; a changed warmupStart is reported, not applied', async () => {
    const example = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
    const build = (dir: string, port: number, ipPatch: Record<string, unknown> = {}): Config => {
      const raw = structuredClone(example);
      raw.smtp = { ...raw.smtp, port: 0 };
      // The example's token is a placeholder the daemon refuses: a real one, as an operator would set.
      raw.api = { ...raw.api, port: 0, tokens: [{ name: 'admin', token: API_TOKEN, scopes: ['admin'] }] };
      raw.pmta = { ...raw.pmta, port, autoApply: false, configPath: path.join(dir, 'pmta', 'agent.conf'), accountingDir: path.join(dir, 'acct') };
      raw.store = { ...raw.store, stateDir: dir };
      raw.log = { level: 'warn' };
      Object.assign(raw.tenants[0].ips[0], ipPatch);
      return parseConfig(raw);
    };
    // The example's IP starts on 2026-11-02: 2026-11-11 is its day 10 (week 2, 200 a day).
    const { agent, dir, sim } = await setup((d, p) => build(d, p), '2026-11-11T10:00:00Z');
    assert.deepEqual(await agent.cap(), { daily_quota: 200, warmup_day: 10, status: 'warming' });
    agent.daemon.db
      .prepare('INSERT INTO ip_stats_daily (ip, day, tenant_id, accepted, delivered, bounced_hard) VALUES (?, ?, 1, 200, 180, 20)')
      .run(IP, '2026-11-11');
    agent.clock.advance(86_400_000);
    agent.daemon.warmup.run();
    const regressed = { daily_quota: 50, warmup_day: 3, status: 'warming' };
    assert.deepEqual(await agent.cap(), regressed, '10% bounces on day 10: back a week');

    await agent.daemon.reload(build(dir, sim.port));
    assert.deepEqual(await agent.cap(), regressed, 'after a reload with the same file');
    await agent.restart(build(dir, sim.port));
    assert.deepEqual(await agent.cap(), regressed, 'after a restart with the same file');
    assert.equal(agent.events('config.ignored').length, 0, 'an unchanged file says nothing');

    await agent.daemon.reload(build(dir, sim.port, { warmupStart: '2026-11-01' }));
    assert.deepEqual(await agent.cap(), regressed, 'a changed warmupStart is not applied');
    const said = agent.events('config.ignored');
    assert.equal(said.length, 1);
    assert.equal(said[0]!.setting, 'tenants.0.ips.0.warmupStart');
    assert.equal(said[0]!.file, '2026-11-01');
    assert.equal(said[0]!.stored, '2026-11-10');

    // The explicit operator command applies it, audited.
    const r = await agent.api(`/api/v2/ips/${IP}/warmup`, { method: 'POST', json: { start: '2026-11-01' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await agent.cap()).warmup_day, 12);
    const audit = (await agent.api(`/api/v2/ips/${IP}/audit`)).body.entries;
    assert.equal(audit[0].action, 'warmup.override');
  });

  it('the file cannot un-retire an IP: the change is reported and the IP stays retired', async () => {
    const { agent, dir, sim } = await setup((d, p) => testConfig(d, p));
    assert.equal((await agent.api(`/api/v2/ips/${IP}/retire`, { method: 'POST', json: { reason: 'returned to the host' } })).status, 200);
    await agent.daemon.reload(testConfig(dir, sim.port, { sosIps: [{ address: IP, state: 'active' }] }));
    assert.equal((await agent.cap()).status, 'retired');
    assert.ok(agent.events('config.ignored').some((e) => e.setting === 'tenants.0.ips.0.state' && e.stored === 'retired'));
  });

  it('a value from another agent cannot un-retire an IP nor resume one the health guard paused; an operator can resume it', async () => {
    const { agent } = await setup((d, p) => testConfig(d, p, { sosIps: [{ address: IP }, { address: '45.123.10.2' }] }));
    const admin = agent.daemon.admin;
    admin.setIpState('health-guard', IP, 'paused', 'hard bounces 9%');
    admin.setIpState('ops', '45.123.10.2', 'retired', 'gone');
    const later = new Date(agent.clock.now().getTime() + 60_000).toISOString();
    assert.deepEqual(admin.applySharedState(IP, 'warming', later, 'set on another agent'), {
      applied: false,
      refused: 'the IP was paused by the health guard; only an operator resumes it',
    });
    assert.equal(admin.applySharedState('45.123.10.2', 'warming', later, 'set on another agent').applied, false);
    assert.equal((await agent.cap()).status, 'paused');
    assert.equal((await agent.api(`/api/v2/ips/${IP}/resume`, { method: 'POST', json: { reason: 'checked the list' } })).status, 200);
    assert.equal((await agent.cap()).status, 'warming');
  });
});

describe('the daemon process on SIGHUP', () => {
  it('a user removed from the file gets 535 after SIGHUP; a password reset through the API survives SIGHUP', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const file = path.join(dir, 'config.json');
    const tenant = (users: unknown[]) => ({ ...SOS_TENANT, users });
    const both = [{ username: 'sos-expat', password: 'secret-sos-1' }, SECOND];
    const daemon = await spawnDaemon(file, childConfig(path.join(dir, 'state'), sim.port, { tenants: [tenant(both)] }));
    try {
      const reset = await fetch(`${daemon.apiUrl}/api/v2/tenants/sos-expat/users`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${CHILD_API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'sos-expat', password: 'reset-by-api-1' }),
      });
      assert.equal(reset.status, 200);
      assert.ok((await send(daemon.port, { user: SECOND.username, pass: SECOND.password })).ok);

      writeFileSync(file, JSON.stringify(childConfig(path.join(dir, 'state'), sim.port, { tenants: [tenant([both[0]])] })));
      daemon.proc.kill('SIGHUP');
      await waitFor(() => daemon.lines.some((l) => l.event === 'config.reloaded'), 10_000, 'reload');
      assert.equal(((await send(daemon.port, { user: SECOND.username, pass: SECOND.password })) as { code?: number }).code, 535);
      assert.ok((await send(daemon.port, { user: 'sos-expat', pass: 'reset-by-api-1' })).ok, 'the API password stands');
      assert.equal(((await send(daemon.port, { user: 'sos-expat', pass: 'secret-sos-1' })) as { code?: number }).code, 535);
    } finally {
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      await sim.close();
      cleanup();
    }
  });
});

describe('IP state transitions', () => {
  it('retired is final for everyone; a health-guard pause is lifted by an operator only', () => {
    assert.equal(ipTransition({ state: 'retired', by: 'ops' }, 'warming', 'operator').ok, false);
    assert.equal(ipTransition({ state: 'retired', by: 'ops' }, 'retired', 'shared-store').ok, true);
    for (const source of ['config', 'shared-store', 'warmup'] as const) {
      assert.equal(ipTransition({ state: 'paused', by: 'health-guard' }, 'warming', source).ok, false, source);
    }
    assert.equal(ipTransition({ state: 'paused', by: 'health-guard' }, 'warming', 'operator').ok, true);
    assert.equal(ipTransition({ state: 'paused', by: 'shared-store' }, 'active', 'shared-store').ok, true);
    assert.equal(ipTransition({ state: 'warming', by: null }, 'paused', 'shared-store').ok, true);
  });
});

