// One settlement on both paths, through the real daemon (in this process) and
// the simulator: what MailWizz hears, what is suppressed and fed back, what the
// dispatcher drops, and whose fault a timeout is.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildPmtaModel } from '../../src/pmta/model.js';
import { renderPmtaConfig } from '../../src/pmta/render.js';
import { TWO_TENANTS } from '../pmta/fixtures.js';
import { campaignMessage, send, startHarness, tmpDir, TODAY, ULIXAI, waitFor } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import type { IpAddress } from '../../src/types.js';

const ip1 = '45.123.10.1' as IpAddress;

/** A MailWizz /dswh/pmta endpoint collecting the NDJSON records it is sent. */
async function mailwizz() {
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
  return { lines, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('settling PowerMTA answers, end to end', () => {
  it('fast path: a recipient PowerMTA refuses (5.1.1) while the other is taken is suppressed and fed back; MailWizz gets 250', async () => {
    const mw = await mailwizz();
    const h = await startHarness({ sosTenant: { mailwizz: { url: mw.url } }, patch: { accounting: { mode: 'off' }, feedback: { intervalMs: 100 } }, sim: { rejectRcpts: ['gone@example.net'] } });
    try {
      const m = campaignMessage();
      const r = await send(h.port, { to: ['ok@example.net', 'gone@example.net'], raw: m.raw });
      assert.ok(r.ok && !/Queued/.test(r.response), JSON.stringify(r));
      await waitFor(() => mw.lines.length === 1, 10_000, 'bounce fed back');
      assert.equal(mw.lines[0]!.rcpt, 'gone@example.net');
      assert.equal(mw.lines[0]!.bounceCat, 'bad-mailbox');
      assert.equal(mw.lines[0]!['header_Message-Id'], m.messageId);
      const s = (await h.api('/api/v2/suppression/sos-expat')).body;
      assert.deepEqual(s.entries.map((e: { email: string }) => e.email), ['gone@example.net']);
      const line = h.logs.find((l) => l.event === 'smtp.message');
      assert.deepEqual([line?.forwarded, line?.spooled, line?.refused], [1, 0, 1]);
      assert.deepEqual((await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1), { committed: 1, reserved: 0 });
    } finally {
      await h.close();
      await mw.close();
    }
  });

  it('dispatcher: a recipient suppressed while its mail waited is dropped before any unit is used', async () => {
    const h = await startHarness();
    try {
      await h.sim.stop();
      const m = campaignMessage();
      const r = await send(h.port, { to: ['stays@example.net', 'complained@example.net'], raw: m.raw });
      assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
      assert.equal((await h.api('/api/v2/suppression/sos-expat', { method: 'POST', json: { email: 'complained@example.net', reason: 'complaint' } })).status, 201);
      await h.sim.start();
      await waitFor(() => h.sim.received.length === 1 && h.daemon.spool.size() === 0, 10_000, 'sent');
      assert.deepEqual(h.sim.received[0]!.rcptTo, ['stays@example.net']);
      assert.ok(h.logs.some((l) => l.event === 'dispatch.rcpt_suppressed' && l.rcpt === 'complained@example.net'));
      assert.deepEqual((await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1), { committed: 1, reserved: 0 });
      assert.match(await (await fetch(`${h.apiUrl}/metrics`)).text(), /pmta_agent_spool_events_total\{event="suppressed"\} 1/);
    } finally {
      await h.close();
    }
  });

  it("one tenant's stalled upload is spooled without marking PowerMTA down for the others", async () => {
    const h = await startHarness({ patch: { pmta: { replyTimeoutMs: 600 } as never } });
    try {
      const s = await rawSmtp(h.port);
      await s.cmd('EHLO slow');
      await s.cmd(`AUTH PLAIN ${Buffer.from('\0sos-expat\0secret-sos-1').toString('base64')}`);
      await s.cmd('MAIL FROM:<news@sos-mail.com>');
      await s.cmd('RCPT TO:<slow@example.net>');
      assert.match(await s.cmd('DATA'), /^354/);
      const m = campaignMessage({ to: 'slow@example.net' });
      const half = Math.floor(m.raw.length / 2);
      s.write(m.raw.slice(0, half));
      // The upload stops half-way, well past PowerMTA's reply timeout; meanwhile another tenant sends.
      await new Promise((r) => setTimeout(r, 1500));
      const other = await send(h.port, { user: ULIXAI.username, pass: ULIXAI.password, from: `news@${ULIXAI.domain}`, raw: campaignMessage({ from: `news@${ULIXAI.domain}` }).raw });
      assert.ok(other.ok && !/Queued/.test(other.response), `the other tenant's mail goes straight to PowerMTA: ${JSON.stringify(other)}`);
      s.write(`${m.raw.slice(half)}\r\n.\r\n`);
      assert.match(await s.reply(), /^250 2\.0\.0 Queued as \S+: the client upload stalled/);
      s.close();
      const after = await send(h.port, { user: ULIXAI.username, pass: ULIXAI.password, from: `news@${ULIXAI.domain}`, raw: campaignMessage({ from: `news@${ULIXAI.domain}` }).raw });
      assert.ok(after.ok && !/Queued/.test(after.response), JSON.stringify(after));
    } finally {
      await h.close();
    }
  });

  it('a reply that the VMTA does not exist (a reload removed it a moment ago) is retried from the spool, not bounced', async () => {
    // PowerMTA runs a config without SOS-Expat's 45.123.10.1 (its VMTA is gone), then reloads one with it.
    const { dir, cleanup } = tmpDir();
    const conf = path.join(dir, 'pmta-agent.conf');
    const without = { ...TWO_TENANTS, tenants: TWO_TENANTS.tenants.map((t) => (t.slug === 'sos-expat' ? { ...t, ips: t.ips.filter((i) => i.address !== '45.123.10.1') } : t)) };
    await writeFile(conf, renderPmtaConfig(buildPmtaModel(without)));
    const h = await startHarness({ sosIps: [{ address: ip1, state: 'active' }], sim: { configFile: conf } });
    try {
      const m = campaignMessage();
      const r = await send(h.port, { raw: m.raw });
      assert.ok(r.ok && /Queued .*does not know the VMTA/.test(r.response), JSON.stringify(r));
      assert.equal(h.daemon.spool.size(), 1);
      assert.equal((await h.api('/api/v2/suppression/sos-expat')).body.entries.length, 0, 'no bounce, no suppression');
      await writeFile(conf, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
      assert.ok((await h.sim.reload()).ok);
      // The dispatcher may have tried it before the reload: PowerMTA answered that deferral, so the copy
      // waits out its backoff on the daemon's clock, which this test holds still unless it moves it.
      h.clock.advance(300_000);
      await waitFor(() => h.sim.received.some((x) => x.messageId === m.messageId), 10_000, 'delivered after the reload');
      assert.equal(h.sim.received[0]!.vmta, 'sos-expat-45-123-10-1');
      // The simulator records the message before its 250 reaches the agent, which commits only then.
      const usage = async () => (await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1);
      await waitFor(async () => (await usage())?.committed === 1, 5_000, 'the unit committed once PowerMTA answered');
      assert.deepEqual(await usage(), { committed: 1, reserved: 0 });
    } finally {
      await h.close();
      cleanup();
    }
  });
});
