import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { IpAddress } from '../../src/types.js';
import { TODAY, campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

const DAY = 24 * 3600 * 1000;
const ip1 = '45.123.10.1' as IpAddress;

describe('the deferred spool keeps what cannot go now and releases it later', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('race: 200 concurrent sessions against 50 units left: all get 250, exactly 50 go now, 150 wait, all 200 arrive once after the day turns', async () => {
    // Week 2 (200/day) with 150 used already: 50 left today, a full 200 tomorrow.
    h = await startHarness({ sosIps: [{ address: ip1, warmupStart: '2026-11-18' }], patch: { smtp: { port: 0, maxClients: 500 } } });
    const r = await h.daemon.ledger.reserve(ip1, TODAY as never, 150, 200, h.clock.now(), 60_000);
    await h.daemon.ledger.commit(r!);
    const messages = Array.from({ length: 200 }, (_, i) => campaignMessage({ to: `r${i}@example.net` }));
    const results = await Promise.all(messages.map((m, i) => send(h!.port, { to: `r${i}@example.net`, raw: m.raw })));
    const failed = results.filter((x) => !x.ok);
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 3)));
    const queued = results.filter((x) => x.ok && /Queued/.test(x.response));
    assert.equal(queued.length, 150);
    assert.equal(h.sim.received.length, 50);
    assert.equal(h.daemon.spool.size(1), 150);
    // The dispatcher keeps running but has no quota today.
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(h.sim.received.length, 50);
    const usage = await h.daemon.ledger.usage(TODAY as never, [ip1]);
    assert.deepEqual(usage.get(ip1), { committed: 200, reserved: 0 });

    h.clock.advance(DAY);
    await waitFor(() => h!.sim.received.length >= 200 && h!.daemon.spool.size() === 0, 20_000, 'spool drained');
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(h.sim.received.length, 200);
    const ids = new Set(h.sim.received.map((m) => m.messageId));
    assert.equal(ids.size, 200, 'each message exactly once');
    for (const m of messages) assert.ok(ids.has(m.messageId));
    const tomorrow = await h.daemon.ledger.usage('2026-11-26' as never, [ip1]);
    assert.deepEqual(tomorrow.get(ip1), { committed: 150, reserved: 0 });
  });

  it('PowerMTA down: messages are spooled with 250 and quota released; PowerMTA back: each arrives once', async () => {
    h = await startHarness();
    await h.sim.stop();
    const sent = [];
    for (let i = 0; i < 5; i++) {
      const m = campaignMessage();
      const r = await send(h.port, { raw: m.raw });
      assert.ok(r.ok, JSON.stringify(r));
      assert.match(r.response, /^250 2\.0\.0 Queued as \S+: PowerMTA un(reachable|available)/);
      sent.push(m.messageId);
    }
    assert.equal(h.daemon.spool.size(), 5);
    assert.deepEqual((await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1), { committed: 0, reserved: 0 });
    await h.sim.start();
    await waitFor(() => h!.sim.received.length >= 5 && h!.daemon.spool.size() === 0, 10_000, 'spool drained');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(h.sim.received.map((m) => m.messageId).sort(), sent.sort());
    assert.deepEqual((await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1), { committed: 5, reserved: 0 });
  });

  it('PowerMTA answering 4xx: the message is spooled, then delivered when PowerMTA takes mail again', async () => {
    h = await startHarness({ sim: { deferAll: true } });
    const m = campaignMessage();
    const r = await send(h.port, { raw: m.raw });
    assert.ok(r.ok && /Queued/.test(r.response) && /451/.test(r.response), JSON.stringify(r));
    h.sim.configure({ deferAll: false });
    await waitFor(() => h!.sim.received.length === 1, 10_000, 'delivered');
    assert.equal(h.sim.received[0]!.messageId, m.messageId);
  });

  it('mail spooled while its IP was usable, dispatched after that IP was paused, goes out on another IP of the tenant, never to the paused queue', async () => {
    const ip2 = '45.123.10.2' as IpAddress;
    h = await startHarness({ sosIps: [{ address: ip1 }, { address: ip2 }], sim: { deferAll: true }, patch: { spool: { dispatchIntervalMs: 50, retryBackoffMs: 200 } } });
    const messages = [campaignMessage(), campaignMessage()];
    for (const m of messages) {
      const r = await send(h.port, { raw: m.raw });
      assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
    }
    const paused = await h.api(`/api/v2/ips/${ip1}/pause`, { method: 'POST', body: JSON.stringify({ reason: 'test: paused while mail waits' }) });
    assert.equal(paused.body.state, 'paused', JSON.stringify(paused.body));
    h.sim.configure({ deferAll: false });
    await waitFor(() => messages.every((m) => h!.sim.received.some((r) => r.messageId === m.messageId)), 10_000, 'spool drained');
    const vmtas = h.sim.received.filter((r) => messages.some((m) => m.messageId === r.messageId)).map((r) => r.vmta);
    assert.deepEqual(vmtas, ['sos-expat-45-123-10-2', 'sos-expat-45-123-10-2']);
    assert.equal((await h.daemon.ledger.usage(TODAY as never, [ip1])).get(ip1)?.committed, 0);
  });

  it('a tenant whose spool is full gets 452 4.3.1 naming the limit', async () => {
    h = await startHarness({
      sosIps: [{ address: ip1, state: 'paused' }],
      patch: { spool: { maxMessagesPerTenant: 3, dispatchIntervalMs: 50, retryBackoffMs: 200 } },
    });
    for (let i = 0; i < 3; i++) {
      const r = await send(h.port, {});
      assert.ok(r.ok && /Queued .*no warming or active IP/.test(r.response), JSON.stringify(r));
    }
    const r = await send(h.port, {});
    assert.ok(!r.ok && r.code === 452, JSON.stringify(r));
    assert.match(r.response, /^452 4\.3\.1 .*limit of 3 messages/);
    assert.equal(h.daemon.spool.size(), 3);
    assert.ok(h.logs.some((l) => l.event === 'spool.limit_reached'));
  });

  it('a message older than the maximum age leaves the spool, logged as expired with its Message-ID', async () => {
    h = await startHarness({
      sosIps: [{ address: ip1, state: 'paused' }],
      patch: { spool: { maxAgeHours: 1, dispatchIntervalMs: 50, retryBackoffMs: 200 } },
    });
    const m = campaignMessage();
    assert.ok((await send(h.port, { raw: m.raw })).ok);
    assert.equal(h.daemon.spool.size(), 1);
    h.clock.advance(2 * 3600 * 1000);
    await waitFor(() => h!.logs.some((l) => l.event === 'spool.expired'), 5000, 'expiry');
    assert.equal(h.daemon.spool.size(), 0);
    const line = h.logs.find((l) => l.event === 'spool.expired');
    assert.equal(line?.messageId, m.messageId);
  });
});
