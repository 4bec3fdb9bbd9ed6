import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPS_BOT_TOKEN, SOS, TODAY, campaignMessage, send, startHarness, type Harness } from '../helpers/env.js';

const SOS_IPS = [
  { address: '45.123.10.1', warmupStart: TODAY }, // week_1: 50
  { address: '45.123.10.2', warmupStart: '2026-10-01' }, // past week 5: active cap
];

// The tests that only read share a daemon that sent three messages; those that
// change tenants, IPs or counts have a daemon of their own, so both hold in any order.
describe('control API over real HTTP against the running daemon', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ sosIps: SOS_IPS });
    for (let i = 0; i < 3; i++) assert.ok((await send(h.port, { raw: campaignMessage().raw })).ok);
  });
  after(() => h.close());

  it('answers 401 JSON without a token, with a wrong one, and with a malformed header', async () => {
    for (const token of [null, 'wrong-token-wrong-token', '']) {
      const r = await h.api('/api/v2/quotas/sos-expat', { token });
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'unauthorized');
    }
  });

  it('serves /healthz and /metrics without a token', async () => {
    const health = await h.api('/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.ok, true);
    const metrics = await h.api('/metrics', { token: null });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /pmta_agent_messages_total\{path="forwarded",tenant="sos-expat"\} 3/);
    assert.match(metrics.body, /pmta_agent_quota_used\{ip="45\.123\.10\.2",state="warming",tenant="sos-expat"\} 3/);
    assert.match(metrics.body, /pmta_agent_forward_seconds_count 3/);
  });

  it('GET /api/v2/quotas/{tenant} gives the seed fields with the numbers of the mail just sent', async () => {
    const r = await h.api('/api/v2/quotas/sos-expat');
    assert.equal(r.status, 200);
    const q = r.body;
    assert.equal(q.tenant_id, 1);
    assert.equal(q.total_ips, 2);
    assert.equal(q.warming_ips, 2);
    assert.equal(q.active_ips, 0);
    assert.equal(q.total_daily_capacity, 50 + 10_000);
    assert.equal(q.remaining_today, 50 + 10_000 - 3);
    const ip2 = q.ips.find((i: { ip_address: string }) => i.ip_address === '45.123.10.2');
    assert.deepEqual(
      { status: ip2.status, phase: ip2.phase, daily_quota: ip2.daily_quota, sent_today: ip2.sent_today, remaining: ip2.remaining },
      { status: 'warming', phase: 'active', daily_quota: 10_000, sent_today: 3, remaining: 9_997 },
    );
    const ip1 = q.ips.find((i: { ip_address: string }) => i.ip_address === '45.123.10.1');
    assert.equal(ip1.phase, 'week_1');
    assert.equal(ip1.daily_quota, 50);
    // by numeric id too
    assert.equal((await h.api('/api/v2/quotas/1')).body.tenant_id, 1);
  });

  it('POST /check says can_send, recommends the IP with most left, and splits what one IP cannot take', async () => {
    const small = await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', json: { emails_to_send: 100 } });
    assert.equal(small.status, 200);
    assert.equal(small.body.can_send, true);
    assert.equal(small.body.recommended_ip, '45.123.10.2');
    const big = await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', json: { emails_to_send: 10_000 } });
    assert.equal(big.body.can_send, true);
    assert.deepEqual(big.body.split, [
      { ip_address: '45.123.10.2', count: 9_997 },
      { ip_address: '45.123.10.1', count: 3 },
    ]);
    const tooBig = await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', json: { emails_to_send: 20_000 } });
    assert.equal(tooBig.body.can_send, false);
    assert.equal(tooBig.body.overflow, 20_000 - 10_047);
  });

  it('answers 400 naming the field for bad bodies', async () => {
    const r = await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', json: { emails_to_send: -5 } });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'emails_to_send');
    const r2 = await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(r2.status, 400);
    assert.equal(r2.body.field, '(body)');
    const r3 = await h.api('/api/v2/tenants/sos-expat/ips', { method: 'POST', json: { address: '999.1.1.1', hostname: 'x.example.com' } });
    assert.equal(r3.status, 400);
    assert.equal(r3.body.field, 'address');
  });

  it('answers 404 for an unknown tenant or IP', async () => {
    assert.equal((await h.api('/api/v2/quotas/nobody')).status, 404);
    assert.equal((await h.api('/api/v2/quotas/sos-expat/ip/10.9.9.9')).status, 404);
    const ip = await h.api('/api/v2/quotas/sos-expat/ip/sos-expat-45-123-10-1');
    assert.equal(ip.status, 200);
    assert.equal(ip.body.ip_address, '45.123.10.1');
    assert.equal((await h.api('/api/v2/ips/10.9.9.9/pause', { method: 'POST', json: { reason: 'x' } })).status, 404);
  });

  it('reports status: sessions, PowerMTA reachability, spool and reservations', async () => {
    const r = await h.api('/api/v2/status');
    assert.equal(r.status, 200);
    assert.equal(r.body.pmta.reachable, true);
    assert.equal(r.body.reservations_in_flight, 0);
    assert.equal(typeof r.body.smtp.sessions_open, 'number');
    assert.equal(r.body.spool.messages, 0);
    assert.equal(SOS.domain, 'sos-mail.com');
  });
});

describe('changes through the control API, on the running daemon', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ sosIps: SOS_IPS });
  });
  after(() => h.close());

  it('an IP paused through the API is skipped by the next SMTP message, and the pause is audited with the token name', async () => {
    const p = await h.api('/api/v2/ips/45.123.10.2/pause', { method: 'POST', json: { reason: 'blocklisted at spamhaus' }, token: OPS_BOT_TOKEN });
    assert.equal(p.status, 200);
    assert.equal(p.body.state, 'paused');
    const before = h.sim.received.length;
    assert.ok((await send(h.port, {})).ok);
    assert.notEqual(h.sim.received[before]!.vmta, 'sos-expat-45-123-10-2');
    const audit = await h.api('/api/v2/ips/45.123.10.2/audit');
    assert.equal(audit.body.entries[0].actor, 'ops-bot');
    assert.match(audit.body.entries[0].detail, /blocklisted at spamhaus/);
    const resumed = await h.api('/api/v2/ips/45.123.10.2/resume', { method: 'POST', json: { reason: 'delisted' } });
    assert.equal(resumed.body.state, 'warming');
    assert.equal((await h.api('/api/v2/ips/45.123.10.2/pause', { method: 'POST', json: {} })).body.field, 'reason');
  });

  it('a tenant added through the API can authenticate and send, and survives a reload of the registry from SQLite', async () => {
    const created = await h.api('/api/v2/tenants', {
      method: 'POST',
      json: {
        slug: 'newbrand',
        name: 'New Brand',
        users: [{ username: 'newbrand', password: 'newbrand-password' }],
        domains: ['newbrand-mail.com'],
        ips: [{ address: '45.123.30.1', hostname: 'mail1.newbrand-mail.com', state: 'active' }],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.pool, 'newbrand-pool');
    const r = await send(h.port, { user: 'newbrand', pass: 'newbrand-password', from: 'hello@newbrand-mail.com' });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(h.sim.received.at(-1)!.vmta, 'newbrand-45-123-30-1');
    h.daemon.registry.reload();
    assert.ok(h.daemon.registry.tenant('newbrand'));
    const dup = await h.api('/api/v2/tenants', { method: 'POST', json: { slug: 'newbrand', name: 'again' } });
    assert.equal(dup.status, 409);
  });

  it("adds a domain with its IP as the seed's add_domain did (warmup starts today)", async () => {
    const r = await h.api('/api/v2/tenants/sos-expat/domains', { method: 'POST', json: { domain: 'sos-news.com', ip: '45.123.10.9' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const ip = r.body.ips.find((i: { address: string }) => i.address === '45.123.10.9');
    assert.equal(ip.warmup_start, TODAY);
    assert.equal(ip.hostname, 'mail.sos-news.com');
    assert.ok(r.body.domains.includes('sos-news.com'));
    assert.ok((await send(h.port, { from: 'x@sos-news.com' })).ok);
  });
});

describe('capacity forecast', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ sosIps: [] });
  });
  after(() => h.close());

  it("answers the seed's plan: 5 IPs added a week apart reach 50,000 a day once all are active", async () => {
    const r = await h.api('/api/v2/quotas/sos-expat/forecast?days=90&add_ip_every=7&max_ips=5');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const totals = r.body.forecast.map((d: { total: number }) => d.total);
    assert.equal(totals[0], 50, 'day one: one new IP in week 1');
    assert.equal(Math.max(...totals), 50_000);
    const first = r.body.forecast.find((d: { total: number }) => d.total === 50_000);
    assert.equal(first.ips.filter((i: { cap: number }) => i.cap === 10_000).length, 5);
    assert.equal((await h.api('/api/v2/quotas/sos-expat/forecast?days=0')).body.field, 'days');
  });
});
