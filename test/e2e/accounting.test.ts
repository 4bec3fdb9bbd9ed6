import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { TODAY, ULIXAI, campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

/** A local HTTP server standing in for the alert webhook. */
async function webhookSink(): Promise<{ url: string; bodies: unknown[]; close(): Promise<void> }> {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/alerts`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

/** The daemon tailing the simulator's accounting files: two active SOS-Expat IPs, a bouncing domain, a complaining address. */
function startTailingHarness(webhookUrl: string): Promise<Harness> {
  return startHarness({
    sosIps: [
      { address: '45.123.10.1', state: 'active' },
      { address: '45.123.10.2', state: 'active' },
    ],
    sim: { bounceDomains: ['gone.example'], complainAddresses: ['angry@example.net'] },
    patch: {
      alerts: { webhookUrl, telegram: null },
      health: { maxHardBounceRate: 0.2, maxComplaintRate: 0.5, windowDays: 1, minSample: 10 },
      accounting: { mode: 'tail', usePolling: true, pollIntervalMs: 50, rescanIntervalMs: 1000 },
    },
  });
}

/** Whether `email` is on the tenant's suppression list, as the API lists it. */
async function suppressed(h: Harness, tenant: string, email: string) {
  const list = (await h.api(`/api/v2/suppression/${tenant}`)).body as { entries: Array<{ email: string; reason: string }> };
  return list.entries.find((e) => e.email === email) ?? null;
}

// Each test sends the mail it checks, so the tests hold in any order; the
// health guard, which pauses IPs, has a daemon of its own below.
describe('accounting through the running daemon: suppression, stats', () => {
  let h: Harness;
  let sink: Awaited<ReturnType<typeof webhookSink>>;
  before(async () => {
    sink = await webhookSink();
    h = await startTailingHarness(sink.url);
  });
  after(async () => {
    await h.close();
    await sink.close();
  });

  it('a hard bounce puts the address on the suppression list; sending to it again gets 550 5.1.1 and uses no quota', async () => {
    assert.ok((await send(h.port, { to: 'nobody@gone.example' })).ok);
    await waitFor(async () => (await suppressed(h, 'sos-expat', 'nobody@gone.example')) !== null, 10_000, 'bounce tailed');
    assert.equal((await suppressed(h, 'sos-expat', 'nobody@gone.example'))?.reason, 'hard-bounce');
    const before = (await h.api('/api/v2/quotas/sos-expat')).body.remaining_today;
    const r = await send(h.port, { to: 'nobody@gone.example' });
    assert.ok(!r.ok && r.code === 550, JSON.stringify(r));
    assert.match(r.response, /^550 5\.1\.1 /);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.remaining_today, before);
  });

  it('an address suppressed through the API is refused at the next RCPT, an imported one too; removed, it is accepted again', async () => {
    // Sent to first: the gate has checked the list already when the entry is added.
    assert.ok((await send(h.port, { to: 'later@example.net' })).ok);
    assert.equal((await h.api('/api/v2/suppression/sos-expat', { method: 'POST', json: { email: 'Later@Example.net' } })).status, 201);
    const r = await send(h.port, { to: 'later@example.net' });
    assert.ok(!r.ok && r.code === 550, JSON.stringify(r));
    const imported = await h.api('/api/v2/suppression/sos-expat/import', { method: 'POST', body: 'email\nbulk@example.net\n', headers: { 'content-type': 'text/csv' } });
    assert.equal(imported.body.added, 1, JSON.stringify(imported.body));
    const b = await send(h.port, { to: 'BULK@example.net' });
    assert.ok(!b.ok && b.code === 550, JSON.stringify(b));
    assert.equal((await h.api(`/api/v2/suppression/sos-expat/${encodeURIComponent('later@example.net')}`, { method: 'DELETE' })).status, 200);
    assert.ok((await send(h.port, { to: 'later@example.net' })).ok);
  });

  it('a complaint suppresses the address with 550 5.7.1', async () => {
    assert.ok((await send(h.port, { to: 'angry@example.net' })).ok);
    await waitFor(async () => (await suppressed(h, 'sos-expat', 'angry@example.net')) !== null, 10_000, 'complaint tailed');
    assert.equal((await suppressed(h, 'sos-expat', 'angry@example.net'))?.reason, 'complaint');
    const r = await send(h.port, { to: 'angry@example.net' });
    assert.ok(!r.ok && r.code === 550 && /^550 5\.7\.1 /.test(r.response), JSON.stringify(r));
  });

  it('manual entries can be added, exported, imported and removed', async () => {
    assert.equal((await h.api('/api/v2/suppression/sos-expat', { method: 'POST', json: { email: 'Manual@Example.net' } })).status, 201);
    assert.equal((await send(h.port, { to: 'manual@example.net' })).ok, false);
    const exported = await h.api('/api/v2/suppression/sos-expat/export');
    assert.match(exported.body, /manual@example\.net/);
    const imported = await h.api('/api/v2/suppression/sos-expat/import', { method: 'POST', body: 'email\nold1@example.net\nnot-an-address\nold2@example.net\n' });
    assert.equal(imported.body.added, 2);
    assert.equal(imported.body.bad.length, 1);
    assert.equal((await h.api('/api/v2/suppression/sos-expat/manual@example.net', { method: 'DELETE' })).status, 200);
    assert.ok((await send(h.port, { to: 'manual@example.net' })).ok);
    assert.equal((await h.api('/api/v2/suppression/sos-expat', { method: 'POST', json: { email: 'not-an-email' } })).body.field, 'email');
  });

  it('stats overview and performance count what PowerMTA reported, per IP and for the tenant', async () => {
    // Ulixai's own mail: one delivered, one hard bounce, one delivered then complained about.
    const ulixai = { user: ULIXAI.username, pass: ULIXAI.password, from: `news@${ULIXAI.domain}` };
    for (const to of ['fine@example.net', 'stats@gone.example', 'angry@example.net']) {
      assert.ok((await send(h.port, { ...ulixai, to, raw: campaignMessage({ from: ulixai.from, to }).raw })).ok);
    }
    const overview = async () => (await h.api('/api/v2/stats/ulixai/overview')).body;
    await waitFor(async () => {
      const t = (await overview()).totals;
      return t.delivered >= 2 && t.bouncedHard >= 1 && t.complaints >= 1;
    }, 30_000, 'stats');
    const o = await overview();
    assert.equal(o.day, TODAY);
    assert.equal(o.totals.accepted, 3, JSON.stringify(o.totals));
    assert.equal(o.totals.delivered, 2);
    assert.equal(o.totals.bouncedHard, 1);
    assert.equal(o.totals.complaints, 1);
    const p = (await h.api('/api/v2/stats/ulixai/performance?days=7')).body;
    assert.equal(p.totals.bouncedHard, 1);
    assert.equal((await h.api('/api/v2/stats/ulixai/performance?days=0')).body.field, 'days');
  });

  it('refuses pushed accounting records when this agent tails the files (nothing counted twice)', async () => {
    const r = await h.api('/api/v2/webhooks/powermta', { method: 'POST', json: { type: 'd', rcpt: 'x@example.net' } });
    assert.equal(r.status, 409);
    assert.equal(r.body.field, 'accounting.mode');
  });
});

describe('the IP health guard through the running daemon', () => {
  let h: Harness;
  let sink: Awaited<ReturnType<typeof webhookSink>>;
  before(async () => {
    sink = await webhookSink();
    h = await startTailingHarness(sink.url);
  });
  after(async () => {
    await h.close();
    await sink.close();
  });

  it('an IP pushed over the bounce threshold is paused, gets no more mail, and the alert reaches the webhook', async () => {
    // Everything now goes to bouncing addresses: the IPs' hard-bounce rates climb past 20%.
    for (let i = 0; i < 30; i++) await send(h.port, { to: `gone${i}@gone.example`, raw: campaignMessage({ to: `gone${i}@gone.example` }).raw });
    await waitFor(() => sink.bodies.length > 0, 10_000, 'alert');
    const alert = sink.bodies[0] as { kind: string; detail: { ip: string } };
    assert.equal(alert.kind, 'ip_paused');
    const paused = alert.detail.ip;
    const q = (await h.api('/api/v2/quotas/sos-expat')).body;
    assert.equal(q.ips.find((i: { ip_address: string }) => i.ip_address === paused).status, 'paused');
    const audit = (await h.api(`/api/v2/ips/${paused}/audit`)).body.entries[0];
    assert.equal(audit.actor, 'health-guard');
    const before = h.sim.received.length;
    for (let i = 0; i < 3; i++) await send(h.port, { to: `later${i}@example.net` });
    const sinceVmtas = h.sim.received.slice(before).map((m) => m.vmta);
    assert.ok(sinceVmtas.every((v) => v !== `sos-expat-${paused.replace(/\./g, '-')}`), sinceVmtas.join(','));
  });
});

describe('accounting pushed over HTTP (accounting.mode push)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ patch: { accounting: { mode: 'push' } } });
  });
  after(() => h.close());

  it('takes NDJSON records like the tailer: a hard bounce suppresses, unknown VMTAs are counted and skipped', async () => {
    const lines = [
      { type: 'b', timeLogged: `${TODAY} 10:00:00+0000`, orig: 'news@sos-mail.com', rcpt: 'Pushed@Example.net', vmta: 'sos-expat-45-123-10-1', dlvSourceIp: '45.123.10.1', bounceCat: 'bad-mailbox', dsnStatus: '5.1.1', dsnDiag: 'smtp;550 5.1.1 unknown', 'header_Message-Id': '<a@b>' },
      { type: 'd', timeLogged: `${TODAY} 10:00:01+0000`, orig: 'news@sos-mail.com', rcpt: 'x@example.net', vmta: 'someone-else-1-2-3-4', dlvSourceIp: '1.2.3.4' },
    ];
    const r = await h.api('/api/v2/webhooks/powermta', { method: 'POST', body: lines.map((l) => JSON.stringify(l)).join('\n') });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.records, 2);
    assert.equal(r.body.unknown, 1);
    const s = (await h.api('/api/v2/suppression/sos-expat')).body;
    assert.equal(s.entries[0].email, 'pushed@example.net');
    const refused = await send(h.port, { to: 'pushed@example.net' });
    assert.ok(!refused.ok && refused.code === 550);
    assert.equal((await h.api('/api/v2/webhooks/powermta', { method: 'POST', body: '{oops' })).status, 400);
  });

  it('a record pushed twice (a shipper retrying) counts once', async () => {
    const rec = { type: 'd', timeLogged: `${TODAY} 11:00:00+0000`, rcpt: 'twice@example.net', vmta: 'sos-expat-45-123-10-1', dlvSourceIp: '45.123.10.1', 'header_Message-Id': '<twice@sos>' };
    const delivered = async (): Promise<number> => (await h.api('/api/v2/stats/sos-expat/overview')).body.totals.delivered;
    const before = await delivered();
    const first = await h.api('/api/v2/webhooks/powermta', { method: 'POST', json: rec });
    assert.deepEqual([first.body.records, first.body.duplicates], [1, 0]);
    // The same record again, its keys in another order, in an array with a new one.
    const reordered = Object.fromEntries(Object.entries(rec).reverse());
    const again = await h.api('/api/v2/webhooks/powermta', { method: 'POST', json: [reordered, { ...rec, rcpt: 'other@example.net' }] });
    assert.deepEqual([again.body.records, again.body.duplicates], [1, 1]);
    assert.equal(await delivered(), before + 2);
  });
});

describe('feedback to MailWizz through the running daemon', () => {
  it('posts each bounce and complaint once to {mailwizz}/dswh/pmta as NDJSON with type, bounceCat, dsnDiag and header_Message-Id', async () => {
    const lines: Array<Record<string, string>> = [];
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        paths.push(req.url ?? '');
        for (const l of text.split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        res.end('{"status":"success"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mailwizz`;
    const h = await startHarness({
      sosIps: [{ address: '45.123.10.1', state: 'active' }],
      sosTenant: { mailwizz: { url } },
      sim: { bounceDomains: ['gone.example'], complainAddresses: ['angry@example.net'] },
      patch: { accounting: { mode: 'tail', usePolling: true, pollIntervalMs: 50, rescanIntervalMs: 1000 }, feedback: { intervalMs: 100 } },
    });
    try {
      const bounce = campaignMessage({ to: 'x@gone.example' });
      const complaint = campaignMessage({ to: 'angry@example.net' });
      assert.ok((await send(h.port, { to: 'x@gone.example', raw: bounce.raw })).ok);
      assert.ok((await send(h.port, { to: 'angry@example.net', raw: complaint.raw })).ok);
      assert.ok((await send(h.port, { to: 'fine@example.net' })).ok);
      await waitFor(() => lines.length >= 2, 10_000, 'feedback posted');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(lines.length, 2, 'delivered mail is not fed back, each record once');
      assert.ok(paths.every((p) => p === '/mailwizz/dswh/pmta'));
      const b = lines.find((l) => l.type === 'b')!;
      assert.equal(b.bounceCat, 'bad-mailbox');
      assert.match(b.dsnDiag!, /550 5\.1\.1/);
      assert.equal(b['header_Message-Id'], bounce.messageId);
      assert.equal(lines.find((l) => l.type === 'f')!['header_Message-Id'], complaint.messageId);
    } finally {
      await h.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('a spooled message PowerMTA later refuses for good', () => {
  it('is not lost silently: the address is suppressed and MailWizz gets the bounce by Message-ID', async () => {
    const lines: Array<Record<string, string>> = [];
    const server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        for (const l of text.split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const h = await startHarness({
      sosTenant: { mailwizz: { url } },
      patch: { accounting: { mode: 'off' }, feedback: { intervalMs: 100 } },
    });
    try {
      await h.sim.stop();
      const m = campaignMessage({ to: 'gone@example.net' });
      const r = await send(h.port, { to: 'gone@example.net', raw: m.raw });
      assert.ok(r.ok && /Queued/.test(r.response), 'MailWizz got its 250');
      h.sim.configure({ rejectRcpts: ['gone@example.net'] });
      await h.sim.start();
      await waitFor(() => lines.length === 1, 10_000, 'bounce fed back');
      assert.equal(lines[0]!.type, 'b');
      assert.equal(lines[0]!.bounceCat, 'bad-mailbox');
      assert.equal(lines[0]!['header_Message-Id'], m.messageId);
      assert.equal(h.daemon.spool.size(), 0);
      const s = (await h.api('/api/v2/suppression/sos-expat')).body;
      assert.equal(s.entries[0].email, 'gone@example.net');
      assert.equal(s.entries[0].source, 'pmta-refused');
    } finally {
      await h.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
