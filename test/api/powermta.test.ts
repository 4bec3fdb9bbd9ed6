import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TODAY, startHarness, waitFor, type Harness } from '../helpers/env.js';

describe('PowerMTA config API and automatic apply through the running daemon', () => {
  let h: Harness;
  let confPath: string;
  let reloadLog: string;
  /** Times the reload command ran. */
  const reloads = () => (existsSync(reloadLog) ? readFileSync(reloadLog, 'utf8').split('\n').filter((l) => l === 'reload').length : 0);
  const dkimKeys = () => (existsSync(path.join(h.dir, 'dkim')) ? readdirSync(path.join(h.dir, 'dkim')).sort() : []);
  before(async () => {
    h = await startHarness({
      sosIps: [
        { address: '45.123.10.1', warmupStart: TODAY },
        { address: '45.123.10.2', warmupStart: '2026-10-01', state: 'active' },
        // Only the retire test uses this one: a retired IP does not come back.
        { address: '45.123.10.3', warmupStart: '2026-10-01', state: 'paused' },
      ],
    });
    confPath = h.daemon.cfg.pmta.configPath;
    reloadLog = path.join(h.dir, 'reloads.log');
    // Turn on automatic apply with commands that record each call, in order, in one log.
    await h.daemon.reload({
      ...h.daemon.cfg,
      pmta: {
        ...h.daemon.cfg.pmta,
        autoApply: true,
        reloadCommand: `echo reload >> ${reloadLog}`,
        testCommand: `echo test >> ${reloadLog}`,
        pauseQueueCommand: `echo 'pause {vmta}' >> ${reloadLog}; echo 'Queue(s) paused.'`,
        resumeQueueCommand: `echo 'resume {vmta}' >> ${reloadLog}; echo 'Queue(s) resumed.'`,
      },
    });
    // The reload applies the config once by itself; every test starts after that apply.
    await waitFor(() => reloads() === 1, 5000, 'the apply after the reload');
  });
  after(() => h.close());

  it('POST /apply writes the include file and runs the reload command; unchanged state is not rewritten', async () => {
    const r = await h.api('/api/v2/powermta/apply', { method: 'POST' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(['applied', 'unchanged'].includes(r.body.kind));
    const text = readFileSync(confPath, 'utf8');
    assert.match(text, /<virtual-mta sos-expat-45-123-10-1>/);
    assert.match(text, /smtp-source-host 45\.123\.10\.1 /);
    assert.match(text, /<virtual-mta-pool sos-expat-pool>/);
    assert.match(text, /process-x-virtual-mta yes/);
    const reloaded = reloads();
    const again = await h.api('/api/v2/powermta/apply', { method: 'POST' });
    assert.equal(again.body.kind, 'unchanged');
    assert.equal(reloads(), reloaded, 'PowerMTA is reloaded only when the file changed');
  });

  it('pausing an IP keeps its VMTA defined but out of the pool and pauses its queues before the reload; resuming resumes them after', async () => {
    // The queues of 45.123.10.3 (paused from the start, the retire test's) are held on every apply too: not this test's subject.
    const ops = () => (existsSync(reloadLog) ? readFileSync(reloadLog, 'utf8').split('\n').filter((l) => l && !l.endsWith('45-123-10-3')) : []);
    const start = ops().length;
    assert.equal((await h.api('/api/v2/ips/45.123.10.2/pause', { method: 'POST', json: { reason: 'complaints' } })).status, 200);
    await waitFor(() => ops().slice(start).filter((l) => l.startsWith('pause')).length === 2, 5000, 'auto apply with queue pauses');
    // Held before the reload takes it out of the pool; again after it (idempotent).
    assert.deepEqual(ops().slice(start), ['pause sos-expat-45-123-10-2', 'test', 'reload', 'pause sos-expat-45-123-10-2']);
    const text = readFileSync(confPath, 'utf8');
    // Still defined: PowerMTA bounces queued mail whose VMTA is gone (§8.5.2).
    assert.match(text, /<virtual-mta sos-expat-45-123-10-2>/);
    const pool = /<virtual-mta-pool sos-expat-pool>([\s\S]*?)<\/virtual-mta-pool>/.exec(text)![1]!;
    assert.doesNotMatch(pool, /sos-expat-45-123-10-2/);
    assert.equal((await h.api('/api/v2/powermta/status')).body.failing, false);

    const mid = ops().length;
    await h.api('/api/v2/ips/45.123.10.2/resume', { method: 'POST', json: { reason: 'ok' } });
    await waitFor(() => ops().slice(mid).includes('resume sos-expat-45-123-10-2'), 5000, 'auto apply with queue resume');
    assert.deepEqual(ops().slice(mid), ['test', 'reload', 'resume sos-expat-45-123-10-2']);
    assert.match(/<virtual-mta-pool sos-expat-pool>([\s\S]*?)<\/virtual-mta-pool>/.exec(readFileSync(confPath, 'utf8'))![1]!, /sos-expat-45-123-10-2/);
  });

  it('GET /config/download and /config/{tenant} return PowerMTA config text', async () => {
    const all = await h.api('/api/v2/powermta/config/download');
    assert.equal(all.status, 200);
    assert.match(all.body, /sos-expat-pool/);
    assert.match(all.body, /ulixai-pool/);
    const one = await h.api('/api/v2/powermta/config/ulixai');
    assert.match(one.body, /ulixai-45-123-20-1/);
    assert.doesNotMatch(one.body, /sos-expat-45-123-10-1/);
  });

  it('GET /vmta/{tenant} lists the pool and each IP with state and quota', async () => {
    const r = await h.api('/api/v2/powermta/vmta/sos-expat');
    assert.equal(r.body.pool, 'sos-expat-pool');
    assert.equal(r.body.delivery.port, h.daemon.cfg.smtp.port);
    const v1 = r.body.vmtas.find((v: { ip_address: string }) => v.ip_address === '45.123.10.1');
    assert.equal(v1.daily_quota, 50);
    assert.equal(v1.name, 'sos-expat-45-123-10-1');
  });

  it('GET /mailwizz-delivery-server/{tenant} mirrors today\'s capacity into MailWizz quotas', async () => {
    const r = await h.api('/api/v2/powermta/mailwizz-delivery-server/sos-expat');
    assert.equal(r.status, 200);
    assert.equal(r.body.username, 'sos-expat');
    assert.equal(r.body.daily_quota, 50 + 10_000);
    assert.equal(r.body.hourly_quota, Math.ceil(10_050 / 10));
    assert.equal(r.body.protocol, '');
    assert.ok(r.body.max_connection_messages > 1);
    assert.doesNotMatch(JSON.stringify(r.body), /secret-sos-1/);
  });

  it('GET /dkim/{domain} makes a 0600 key whose published record verifies a signature', async () => {
    const r = await h.api('/api/v2/powermta/dkim/sos-mail.com?selector=s2026');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.dkim.name, 's2026._domainkey.sos-mail.com');
    const p = /p=([A-Za-z0-9+/=]+)/.exec(r.body.dkim.value)![1]!;
    const keyDir = path.join(h.dir, 'dkim');
    const keyFile = path.join(keyDir, readdirSync(keyDir).find((f) => f.startsWith('s2026.'))!);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const sig = sign('sha256', Buffer.from('hello'), createPrivateKey(readFileSync(keyFile)));
    const pub = createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
    assert.ok(verify('sha256', Buffer.from('hello'), pub, sig));
    assert.match(r.body.spf.value, /ip4:45\.123\.10\.1/);
    assert.match(r.body.dmarc.value, /^v=DMARC1; p=none/);
  });

  it('refuses a domain with "..", "/" or other non-hostname characters with 400 before touching the disk', async () => {
    const before = dkimKeys();
    for (const bad of ['..', '..%2F..%2Fetc', 'a%2Fb.com', 'bad_domain!.com', 'x..y.com']) {
      const r = await h.api(`/api/v2/powermta/dkim/${bad}`);
      assert.ok(r.status === 400 || r.status === 404, `${bad}: ${r.status}`);
      if (r.status === 400) assert.equal(r.body.field, 'domain');
    }
    assert.equal((await h.api('/api/v2/powermta/dkim/x..y.com')).status, 400);
    assert.equal((await h.api('/api/v2/powermta/dkim/sos-mail.com?selector=../../x')).body.field, 'selector');
    assert.deepEqual(dkimKeys(), before);
    assert.equal((await h.api('/api/v2/powermta/dkim/unknown-domain.com')).status, 404);
  });

  it('enabling the processors renders them and raises a restart-needed alert (a reload does not pick processors up, §12.6)', async () => {
    const processors = { feedbackLoop: { enabled: true, subdomain: 'fbl', localPart: 'fbl' }, bounce: { enabled: true, subdomain: 'bounce' }, forwardTo: null };
    await h.daemon.reload({ ...h.daemon.cfg, pmta: { ...h.daemon.cfg.pmta, processors } });
    const r = await h.api('/api/v2/powermta/apply', { method: 'POST' });
    assert.ok(['applied', 'unchanged'].includes(r.body.kind), JSON.stringify(r.body));
    await waitFor(() => h.logs.some((l) => l.event === 'alert.pmta_restart_needed'), 5000, 'restart-needed alert');
    const text = readFileSync(confPath, 'utf8');
    assert.match(text, /<feedback-loop-processor>[\s\S]*address fbl@fbl\.sos-mail\.com/);
    assert.match(text, /<bounce-processor>[\s\S]*domain bounce\.sos-mail\.com/);
    const alerts = h.logs.filter((l) => l.event === 'alert.pmta_restart_needed').length;
    await h.api('/api/v2/powermta/apply', { method: 'POST' });
    assert.equal(h.logs.filter((l) => l.event === 'alert.pmta_restart_needed').length, alerts, 'no second alert while they stay the same');
  });

  it('retiring an IP keeps its VMTA defined, out of the pool, until it has drained (pmta.retireDrainHours)', async () => {
    assert.equal((await h.api('/api/v2/ips/45.123.10.3/retire', { method: 'POST', json: { reason: 'done' } })).status, 200);
    await waitFor(() => /retired, draining/.test(readFileSync(confPath, 'utf8')), 5000, 'auto apply after retire');
    const text = readFileSync(confPath, 'utf8');
    assert.match(text, /<virtual-mta sos-expat-45-123-10-3>\n    # retired, draining/);
    assert.doesNotMatch(/<virtual-mta-pool sos-expat-pool>([\s\S]*?)<\/virtual-mta-pool>/.exec(text)![1]!, /45-123-10-3/);
    // Drained: with no drain time left the VMTA goes.
    await h.daemon.reload({ ...h.daemon.cfg, pmta: { ...h.daemon.cfg.pmta, retireDrainHours: 0 } });
    const r = await h.api('/api/v2/powermta/apply', { method: 'POST' });
    assert.equal(r.body.kind, 'applied', JSON.stringify(r.body));
    assert.doesNotMatch(readFileSync(confPath, 'utf8'), /45-123-10-3/);
  });
});
