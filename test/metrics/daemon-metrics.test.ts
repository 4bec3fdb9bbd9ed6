import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

interface Family {
  name: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}

/** The value of one sample on /metrics, or undefined when the daemon does not expose it. */
async function sample(h: Harness, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const res = await h.api('/metrics', { token: null });
  const families = parsePrometheusTextFormat(res.body as string) as Family[];
  const m = families
    .find((f) => f.name === name)
    ?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

describe('/metrics follows what the daemon goes through', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ sosIps: [{ address: '45.123.10.1' }, { address: '45.123.10.2', state: 'active' }] });
  });
  after(() => h.close());

  it('PowerMTA away: unreachable, the message waits in the spool and its age grows; PowerMTA back: reachable, the spool drains', async () => {
    assert.equal(await sample(h, 'pmta_agent_pmta_up'), 1);
    await h.sim.stop();
    const m = campaignMessage();
    const r = await send(h.port, { raw: m.raw });
    assert.ok(r.ok && /Queued/.test(r.response), 'MailWizz gets its 250 and the message is spooled');
    assert.equal(await sample(h, 'pmta_agent_pmta_up'), 0);
    assert.equal(await sample(h, 'pmta_agent_spool_messages', { tenant: 'sos-expat' }), 1);
    assert.ok((await sample(h, 'pmta_agent_spool_bytes', { tenant: 'sos-expat' }))! > m.raw.length / 2);
    assert.equal(await sample(h, 'pmta_agent_messages_total', { tenant: 'sos-expat', path: 'spooled' }), 1);
    h.clock.advance(90_000);
    assert.equal(await sample(h, 'pmta_agent_spool_oldest_seconds', { tenant: 'sos-expat' }), 90);
    assert.equal(await sample(h, 'pmta_agent_spool_oldest_seconds', { tenant: 'ulixai' }), 0);

    await h.sim.start();
    await waitFor(async () => (await sample(h, 'pmta_agent_spool_messages', { tenant: 'sos-expat' })) === 0, 10_000, 'the spool drained');
    assert.equal(await sample(h, 'pmta_agent_pmta_up'), 1);
    assert.equal(await sample(h, 'pmta_agent_spool_oldest_seconds', { tenant: 'sos-expat' }), 0);
    assert.equal(await sample(h, 'pmta_agent_spool_events_total', { event: 'delivered' }), 1);
  });

  it('an IP paused through the API reads 1 in state paused and 0 in the others', async () => {
    const ip = { tenant: 'sos-expat', ip: '45.123.10.2' };
    assert.equal(await sample(h, 'pmta_agent_ip_state', { ...ip, state: 'active' }), 1);
    assert.equal((await h.api('/api/v2/ips/45.123.10.2/pause', { method: 'POST', json: { reason: 'blocklisted' } })).status, 200);
    assert.equal(await sample(h, 'pmta_agent_ip_state', { ...ip, state: 'paused' }), 1);
    assert.equal(await sample(h, 'pmta_agent_ip_state', { ...ip, state: 'active' }), 0);
  });

  it("exposes the health guard's thresholds from the config", async () => {
    const health = h.daemon.cfg.health;
    assert.equal(await sample(h, 'pmta_agent_health_max_hard_bounce_rate'), health.maxHardBounceRate);
    assert.equal(await sample(h, 'pmta_agent_health_max_complaint_rate'), health.maxComplaintRate);
    assert.equal(await sample(h, 'pmta_agent_health_min_sample'), health.minSample);
  });
});
