import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import type { IpAddress } from '../../src/types.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { SOS, TODAY, campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

const day = TODAY as never;

describe('the fast path forwards to PowerMTA', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('delivers once with exactly one X-Virtual-MTA of the tenant IP, an X-Job, and the message byte-identical', async () => {
    h = await startHarness();
    const { raw, messageId } = campaignMessage({ extraHeaders: ['X-Virtual-MTA: someone-elses-vmta'] });
    const r = await send(h.port, { raw });
    assert.ok(r.ok, JSON.stringify(r));
    assert.match(r.response, /^250 /);
    assert.equal(h.sim.received.length, 1);
    const got = h.sim.received[0]!;
    assert.equal(got.vmta, 'sos-expat-45-123-10-1');
    assert.equal(got.vmtaHeaderCount, 1);
    assert.equal(got.job, 'cmp123', 'X-Job is the first field of Feedback-ID');
    assert.equal(got.messageId, messageId);
    const text = got.raw!.toString('utf8');
    const expected = `X-Virtual-MTA: sos-expat-45-123-10-1\r\nX-Job: cmp123\r\n${raw.replace('X-Virtual-MTA: someone-elses-vmta\r\n', '')}`;
    assert.equal(text, expected);
    const usage = await h.daemon.ledger.usage(day, ['45.123.10.1' as IpAddress]);
    assert.deepEqual(usage.get('45.123.10.1' as IpAddress), { committed: 1, reserved: 0 });
  });

  it('picks the IP with more quota left, and uses both as they even out', async () => {
    h = await startHarness({
      // week 1 (50/day) and week 2 (200/day)
      sosIps: [
        { address: '45.123.10.1', warmupStart: TODAY },
        { address: '45.123.10.2', warmupStart: '2026-11-18' },
      ],
    });
    const first = await send(h.port, {});
    assert.ok(first.ok);
    assert.equal(h.sim.received[0]!.vmta, 'sos-expat-45-123-10-2');
    // Bring .2 down to 51 left (149 + the one above = 150 used); .1 has 50.
    const r = await h.daemon.ledger.reserve('45.123.10.2' as IpAddress, day, 149, 200, h.clock.now(), 60_000);
    assert.ok(r);
    await h.daemon.ledger.commit(r);
    for (let i = 0; i < 4; i++) assert.ok((await send(h.port, {})).ok);
    const vmtas = h.sim.received.slice(1).map((m) => m.vmta);
    assert.ok(vmtas.includes('sos-expat-45-123-10-1') && vmtas.includes('sos-expat-45-123-10-2'), vmtas.join(','));
    const usage = await h.daemon.ledger.usage(day, ['45.123.10.1', '45.123.10.2'] as IpAddress[]);
    const left1 = 50 - usage.get('45.123.10.1' as IpAddress)!.committed;
    const left2 = 200 - usage.get('45.123.10.2' as IpAddress)!.committed;
    assert.ok(Math.abs(left1 - left2) <= 1, `remaining evened out: ${left1} vs ${left2}`);
  });

  it("passes PowerMTA's 550 for a recipient on to the client and releases the unit", async () => {
    h = await startHarness({ sim: { rejectRcpts: ['gone@example.net'] } });
    const r = await send(h.port, { to: 'gone@example.net' });
    assert.ok(!r.ok, JSON.stringify(r));
    assert.equal(r.code, 550);
    assert.match(r.response, /^550 5\.1\.1/);
    assert.equal(h.sim.received.length, 0);
    assert.equal(h.daemon.spool.size(), 0);
    const usage = await h.daemon.ledger.usage(day, ['45.123.10.1' as IpAddress]);
    assert.deepEqual(usage.get('45.123.10.1' as IpAddress), { committed: 0, reserved: 0 });
  });

  it('releases the reservation of a session dropped after RCPT TO', async () => {
    h = await startHarness();
    const harness = h;
    const c = await rawSmtp(harness.port);
    assert.match(c.greeting, /^220 /);
    assert.match(await c.cmd('EHLO test'), /^250-/);
    assert.match(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`), /^235 /);
    assert.match(await c.cmd(`MAIL FROM:<news@${SOS.domain}>`), /^250 /);
    assert.match(await c.cmd('RCPT TO:<jean@example.net>'), /^250 /);
    assert.equal((await harness.daemon.ledger.inFlight()).length, 1, 'RCPT reserved one unit');
    c.close();
    await waitFor(async () => (await harness.daemon.ledger.inFlight()).length === 0, 5000, 'reservation released');
    const usage = await harness.daemon.ledger.usage(day, ['45.123.10.1' as IpAddress]);
    assert.deepEqual(usage.get('45.123.10.1' as IpAddress), { committed: 0, reserved: 0 });
  });

  it('handles several messages on one connection with RSET between them (max connection messages > 1)', async () => {
    h = await startHarness();
    const transport = nodemailer.createTransport({
      pool: true,
      maxConnections: 1,
      host: '127.0.0.1',
      port: h.port,
      secure: false,
      ignoreTLS: true,
      auth: { user: SOS.username, pass: SOS.password },
    });
    try {
      for (let i = 0; i < 5; i++) {
        await transport.sendMail({ envelope: { from: `news@${SOS.domain}`, to: `r${i}@example.net` }, raw: campaignMessage().raw });
      }
    } finally {
      transport.close();
    }
    assert.equal(h.sim.received.length, 5);
    assert.equal(new Set(h.sim.received.map((m) => m.messageId)).size, 5);
  });

  it('forwards a 10 MB message with its body byte-identical (its memory bound is tested on the daemon process: e2e/process.test.ts)', async () => {
    h = await startHarness();
    const line = 'x'.repeat(998) + '\r\n';
    const body = line.repeat(Math.ceil((10 * 1024 * 1024) / line.length));
    const { raw } = campaignMessage({ body });
    const hashBody = createHash('sha256').update(body).digest('hex');
    const r = await send(h.port, { raw });
    assert.ok(r.ok, JSON.stringify(r));
    const got = h.sim.received[0]!;
    const text = got.raw!.toString('utf8');
    const receivedBody = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.equal(createHash('sha256').update(receivedBody).digest('hex'), hashBody);
  });
});
