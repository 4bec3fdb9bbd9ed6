// Complaints as PowerMTA writes them (an `f` record: no vmta, the IP it is
// about as repSourceIp, the reporting MTA as dlvSourceIp), through the running
// daemon: counted on the right IP, the address suppressed, the record posted
// to MailWizz's /dswh/pmta, and the complaint-rate pause. Remote bounces
// (`rb`: no vmta, no dlvSourceIp) found by the sent-message index.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TODAY, campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

/** MailWizz's frontend, as far as /dswh/pmta goes: every NDJSON line it was sent. */
async function mailWizz(): Promise<{ url: string; lines: Array<Record<string, string>>; paths: string[]; close(): Promise<void> }> {
  const lines: Array<Record<string, string>> = [];
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      paths.push(req.url ?? '');
      for (const l of text.split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, string>);
      res.end('{"status":"success"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/mw`;
  return { url, lines, paths, close: () => new Promise((r) => server.close(() => r())) };
}

const IP1 = '45.123.10.1';
const IP2 = '45.123.10.2';

describe('complaints as PowerMTA writes them', () => {
  let h: Harness;
  let mw: Awaited<ReturnType<typeof mailWizz>>;
  before(async () => {
    mw = await mailWizz();
    h = await startHarness({
      sosIps: [
        { address: IP1, state: 'active' },
        { address: IP2, state: 'active' },
      ],
      sosTenant: { mailwizz: { url: mw.url } },
      sim: { complainAddresses: ['angry@example.net', 'angry2@example.net'], remoteBounceAddresses: ['late@example.net', 'late2@example.net'] },
      patch: { accounting: { mode: 'tail', usePolling: true, pollIntervalMs: 50 }, feedback: { intervalMs: 100 } },
    });
  });
  after(async () => {
    await h.close();
    await mw.close();
  });

  it('counts on the IP it is about, suppresses the address and reaches MailWizz\'s /dswh/pmta', async () => {
    // Other tests here count complaints too: this one looks at its own message and at what it added.
    const complaintsOn = async (): Promise<Map<string, number>> =>
      new Map((await h.api('/api/v2/stats/sos-expat/performance?days=1')).body.ips.map((i: { ip: string; complaints: number }) => [i.ip, i.complaints]));
    const before = await complaintsOn();
    const m = campaignMessage({ to: 'angry@example.net' });
    assert.ok((await send(h.port, { to: 'angry@example.net', raw: m.raw })).ok);
    const mine = (l: Record<string, string>): boolean => l.type === 'f' && l['header_Message-Id'] === m.messageId;
    await waitFor(() => mw.lines.some(mine), 10_000, 'complaint posted');
    const f = mw.lines.find(mine)!;
    assert.equal(f.rcpt, 'angry@example.net');
    assert.ok(mw.paths.every((p) => p === '/mw/dswh/pmta'));
    const sup = (await h.api('/api/v2/suppression/sos-expat')).body;
    assert.equal(sup.entries.find((e: { email: string }) => e.email === 'angry@example.net')?.reason, 'complaint');
    const sent = h.sim.received.at(-1)!;
    const ip = sent.vmta.endsWith('45-123-10-1') ? IP1 : IP2;
    const perf = (await h.api('/api/v2/stats/sos-expat/performance?days=1')).body;
    const row = perf.ips.find((i: { ip: string }) => i.ip === ip);
    assert.equal(row.complaints, (before.get(ip) ?? 0) + 1, JSON.stringify(perf.ips));
    const refused = await send(h.port, { to: 'angry@example.net' });
    assert.ok(!refused.ok && refused.code === 550);
  });

  it('a remote bounce (rb: no vmta, no dlvSourceIp) of a message the agent forwarded suppresses the address and is fed back', async () => {
    const m = campaignMessage({ to: 'late@example.net' });
    assert.ok((await send(h.port, { to: 'late@example.net', raw: m.raw })).ok);
    const mine = (l: Record<string, string>): boolean => l.type === 'rb' && l['header_Message-Id'] === m.messageId;
    await waitFor(() => mw.lines.some(mine), 10_000, 'rb posted');
    const rb = mw.lines.find(mine)!;
    assert.equal(rb.bounceCat, 'bad-mailbox');
    assert.equal(rb.vmta, '', 'as PowerMTA logged it');
    const sup = (await h.api('/api/v2/suppression/sos-expat')).body;
    assert.equal(sup.entries.find((e: { email: string }) => e.email === 'late@example.net')?.reason, 'hard-bounce');
    const unattributed = h.logs.filter((l) => l.event === 'acct.unattributed');
    assert.deepEqual(unattributed, []);
  });

  it('5 complaints among 2,000 deliveries pause the IP (complaint rate over 0.1%); 1 among them does not', async () => {
    const status = async (): Promise<string> =>
      (await h.api('/api/v2/quotas/sos-expat')).body.ips.find((i: { ip_address: string }) => i.ip_address === IP2).status;
    const complaints = async (): Promise<number> =>
      (await h.api('/api/v2/stats/sos-expat/performance?days=1')).body.ips.find((i: { ip: string }) => i.ip === IP2)?.complaints ?? 0;
    const before = await complaints();
    // A file PowerMTA started after a rotation: its own header, the d field set, then f records of the f field set.
    const file = path.join(h.dir, 'acct', `acct-${TODAY}-0001.csv`);
    const d = (i: number): string =>
      `d,${TODAY} 09:00:00+0000,${TODAY} 08:59:59+0000,bounces@sos-mail.com,r${i}@example.com,,relayed,2.0.0 (success),smtp;250 OK,mx.example.com (192.0.2.1),,smtp,agent (127.0.0.1),smtp,${IP2},192.0.2.1,"PIPELINING,SIZE",2000,sos-expat-45-123-10-2,,,example.com/sos-expat-45-123-10-2,,<bulk${i}@sos-mail.com>`;
    const f = (i: number): string =>
      `f,${TODAY} 09:30:00+0000,${IP2},abuse,arf,Yahoo! Inc.,,bounces@sos-mail.com,r${i}@example.com,feedback.yahoo.com,98.136.0.1,sos-mail.com,<bulk${i}@sos-mail.com>`;
    const D_HEADER =
      'type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool,header_Message-Id';
    const F_HEADER = 'type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,reportingMta,dlvSourceIp,reportedDomain,header_Message-Id';
    const lines = [D_HEADER, ...Array.from({ length: 2000 }, (_, i) => d(i)), F_HEADER, f(0)];
    appendFileSync(file, lines.join('\n') + '\n');
    await waitFor(async () => (await complaints()) === before + 1, 15_000, 'first complaint counted');
    assert.equal(await status(), 'active', '1 in 2,000 is 0.05%: under the threshold');
    appendFileSync(file, [1, 2, 3, 4].map(f).join('\n') + '\n');
    await waitFor(async () => (await status()) === 'paused', 15_000, 'IP paused');
    assert.equal(await complaints(), before + 5);
    const audit = (await h.api(`/api/v2/ips/${IP2}/audit`)).body.entries[0];
    assert.equal(audit.actor, 'health-guard');
    assert.match(JSON.stringify(audit), /complaint rate/);
  });
  it('/metrics shows records by type and outcome, unattributed by reason, tail lag, suppression size, the outbox and what was sent', async () => {
    const metrics = async (): Promise<string> => (await h.api('/metrics')).body as string;
    /** A sample's value, whatever order its labels are written in; undefined when the series has no sample yet. */
    const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      const line = text.split('\n').find((l) => {
        const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(l);
        return m?.[1] === name && pairs.every((p) => (m[2] ?? '').split(',').includes(p)) && (m[2] ?? '').split(',').filter(Boolean).length === pairs.length;
      });
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    // The other tests here add to the same counters in whatever order they run: this one asserts what its own mail added.
    const start = await metrics();
    const complaint = campaignMessage({ to: 'angry2@example.net' });
    const bounce = campaignMessage({ to: 'late2@example.net' });
    assert.ok((await send(h.port, { to: 'angry2@example.net', raw: complaint.raw })).ok);
    assert.ok((await send(h.port, { to: 'late2@example.net', raw: bounce.raw })).ok);
    await waitFor(() => mw.lines.some((l) => l.type === 'f' && l['header_Message-Id'] === complaint.messageId), 10_000, 'complaint posted');
    await waitFor(() => mw.lines.some((l) => l.type === 'rb' && l['header_Message-Id'] === bounce.messageId), 10_000, 'rb posted');
    await waitFor(async () => !/pmta_agent_feedback_outbox\{tenant="sos-expat"\} [1-9]/.test(await metrics()), 10_000, 'outbox drained');
    const text = await metrics();
    const added = (name: string, labels: Record<string, string> = {}): number => {
      const now = sample(text, name, labels);
      assert.ok(now !== undefined, `${name}${JSON.stringify(labels)} in /metrics`);
      return now - (sample(start, name, labels) ?? 0);
    };
    assert.equal(added('pmta_agent_acct_records_total', { type: 'f', outcome: 'counted' }), 1);
    assert.equal(added('pmta_agent_acct_records_total', { type: 'd', outcome: 'counted' }), 2);
    assert.equal(added('pmta_agent_acct_records_total', { type: 'rb', outcome: 'counted' }), 1);
    assert.equal(added('pmta_agent_suppression_addresses', { tenant: 'sos-expat' }), 2);
    assert.ok(added('pmta_agent_feedback_records_total', { result: 'sent' }) >= 2);
    assert.match(text, /pmta_agent_acct_tail_lag_bytes\{file="[^"]+acct\.csv"\} 0/);
    assert.match(text, /pmta_agent_acct_tail_lag_seconds\{file="[^"]+acct\.csv"\} 0/);
    assert.match(text, /# TYPE pmta_agent_acct_unattributed_total counter/);
    assert.match(text, /# TYPE pmta_agent_acct_malformed_lines_total counter/);
  });
});
