// A spooled message PowerMTA answered but deferred waits out a backoff on the
// daemon's clock before the dispatcher tries it again; one deferred because
// PowerMTA was unreachable goes as soon as PowerMTA is back.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { SpoolEntry, SpoolMeta } from '../../src/forward/spool.js';
import { buildPmtaModel } from '../../src/pmta/model.js';
import { renderPmtaConfig } from '../../src/pmta/render.js';
import { TWO_TENANTS } from '../pmta/fixtures.js';
import { campaignMessage, send, startHarness, tmpDir, waitFor, type Harness } from '../helpers/env.js';

const SOS_ID = 1;

describe('the dispatcher backs off a message PowerMTA answered but deferred', () => {
  let h: Harness | undefined;
  let cleanups: Array<() => void> = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const c of cleanups) c();
    cleanups = [];
  });

  const entryOf = (messageId: string): SpoolEntry | undefined => h!.daemon.spool.queue(SOS_ID).find((e) => e.meta.messageId === messageId);
  /** The meta as written on disk, not the in-memory copy. */
  const metaOnDisk = (messageId: string): SpoolMeta => JSON.parse(readFileSync(entryOf(messageId)!.metaPath, 'utf8')) as SpoolMeta;
  const deferredLines = (messageId: string) => h!.logs.filter((l) => l.event === 'dispatch.deferred' && l.messageId === messageId);
  const waitForPasses = async (n: number) => {
    const from = h!.daemon.dispatcher.passCount();
    await waitFor(() => h!.daemon.dispatcher.passCount() >= from + n, 10_000, `${n} dispatcher passes`);
  };
  const msUntilNext = (messageId: string) => Date.parse(metaOnDisk(messageId).nextAttemptAt!) - h!.clock.now().getTime();

  it('a 4xx to every RCPT TO: not tried again while the clock stands still, other mail of the tenant goes meanwhile (at once when PowerMTA comes back), tried again once the backoff has passed', async () => {
    h = await startHarness({ sim: { tempfailRcpts: ['later@example.net'] } });
    const a = campaignMessage({ to: 'later@example.net' });
    const r = await send(h.port, { to: 'later@example.net', raw: a.raw });
    assert.ok(r.ok && /Queued .*451/.test(r.response), JSON.stringify(r));
    // A 4xx about these recipients is not PowerMTA failing: the next message still goes on the fast path.
    const c = campaignMessage({ to: 'other@example.net' });
    const rc = await send(h.port, { to: 'other@example.net', raw: c.raw });
    assert.ok(rc.ok && !/Queued/.test(rc.response), JSON.stringify(rc));
    await waitFor(() => deferredLines(a.messageId).length === 1, 10_000, 'the dispatcher tried it once');
    assert.equal(metaOnDisk(a.messageId).deferrals, 1);
    assert.equal(msUntilNext(a.messageId), 200, 'spool.retryBackoffMs after the first deferral');

    await waitForPasses(5);
    assert.equal(deferredLines(a.messageId).length, 1, 'not tried again before its time');

    // PowerMTA goes away: a message spooled now has no backoff of its own and goes as soon as PowerMTA is back.
    await h.sim.stop();
    const b = campaignMessage({ to: 'now@example.net' });
    const rb = await send(h.port, { to: 'now@example.net', raw: b.raw });
    assert.ok(rb.ok && /Queued .*PowerMTA un(reachable|available)/.test(rb.response), JSON.stringify(rb));
    await waitFor(() => deferredLines(b.messageId).length >= 1, 10_000, 'the dispatcher tried it while PowerMTA was away');
    const bMeta = metaOnDisk(b.messageId);
    assert.equal(bMeta.nextAttemptAt, undefined);
    assert.equal(bMeta.deferrals, undefined);
    await h.sim.start();
    await waitFor(() => h!.sim.received.some((m) => m.messageId === b.messageId), 10_000, 'delivered once PowerMTA is back, the clock unmoved');
    assert.equal(deferredLines(a.messageId).length, 1, 'the backed-off message still waits');
    assert.ok(entryOf(a.messageId));

    h.clock.advance(200);
    await waitFor(() => deferredLines(a.messageId).length === 2, 10_000, 'tried again after the backoff');
    assert.equal(metaOnDisk(a.messageId).deferrals, 2);
    assert.equal(msUntilNext(a.messageId), 400, 'doubled');

    h.sim.configure({ tempfailRcpts: [] });
    h.clock.advance(400);
    await waitFor(() => h!.sim.received.some((m) => m.messageId === a.messageId) && h!.daemon.spool.size() === 0, 10_000, 'delivered after the second backoff');
    assert.equal(h.sim.received.filter((m) => m.messageId === a.messageId).length, 1);
  });

  it('a VMTA PowerMTA does not know yet: the wait doubles per deferral in a row, up to five minutes', async () => {
    const { dir, cleanup } = tmpDir();
    cleanups.push(cleanup);
    const conf = path.join(dir, 'pmta-agent.conf');
    const without = { ...TWO_TENANTS, tenants: TWO_TENANTS.tenants.map((t) => (t.slug === 'sos-expat' ? { ...t, ips: t.ips.filter((i) => i.address !== '45.123.10.1') } : t)) };
    await writeFile(conf, renderPmtaConfig(buildPmtaModel(without)));
    h = await startHarness({ sosIps: [{ address: '45.123.10.1', state: 'active' }], sim: { configFile: conf }, patch: { spool: { dispatchIntervalMs: 50, retryBackoffMs: 60_000 } } });
    const m = campaignMessage();
    const r = await send(h.port, { raw: m.raw });
    assert.ok(r.ok && /Queued .*does not know the VMTA/.test(r.response), JSON.stringify(r));
    const expected = [60_000, 120_000, 240_000, 300_000, 300_000];
    for (const [i, wait] of expected.entries()) {
      await waitFor(() => deferredLines(m.messageId).length === i + 1, 10_000, `deferral ${i + 1}`);
      assert.equal(metaOnDisk(m.messageId).deferrals, i + 1);
      assert.equal(msUntilNext(m.messageId), wait, `the wait after deferral ${i + 1}`);
      await waitForPasses(3);
      assert.equal(deferredLines(m.messageId).length, i + 1, 'not tried again before its time');
      if (i === expected.length - 1) {
        await writeFile(conf, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
        assert.ok((await h.sim.reload()).ok);
      }
      h.clock.advance(wait);
    }
    await waitFor(() => h!.sim.received.some((x) => x.messageId === m.messageId) && h!.daemon.spool.size() === 0, 10_000, 'delivered once PowerMTA knows the VMTA');
  });
});
