import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ULIXAI, campaignMessage, send, startHarness, type Harness } from '../helpers/env.js';

describe('SMTP ingress refuses what must be refused, with the contract codes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('answers 530 5.7.0 to MAIL FROM without AUTH and forwards nothing', async () => {
    const r = await send(h.port, { user: null });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.code === 530, JSON.stringify(r));
    assert.match(r.response, /^530 5\.7\.0 /);
  });

  it('answers 535 5.7.8 to a wrong password', async () => {
    const r = await send(h.port, { pass: 'wrong-password' });
    assert.ok(!r.ok && r.code === 535, JSON.stringify(r));
    assert.match(r.response, /^535 5\.7\.8 /);
  });

  it('answers 535 5.7.8 to an unknown user', async () => {
    const r = await send(h.port, { user: 'nobody-here', pass: 'whatever' });
    assert.ok(!r.ok && r.code === 535, JSON.stringify(r));
  });

  it("answers 550 5.7.1 to a sender outside the tenant's domains, even another tenant's", async () => {
    const r = await send(h.port, { from: `news@${ULIXAI.domain}` });
    assert.ok(!r.ok && r.code === 550, JSON.stringify(r));
    assert.match(r.response, /^550 5\.7\.1 /);
  });

  it('never logs a password', () => {
    const text = JSON.stringify(h.logs);
    assert.ok(!text.includes('secret-sos-1'));
    assert.ok(!text.includes('wrong-password'));
    assert.ok(h.logs.some((l) => l.event === 'smtp.auth_failed'), 'the failed login is logged');
  });

  it('forwarded and spooled nothing for the refused sessions, and holds no quota', async () => {
    assert.equal(h.sim.received.length, 0);
    assert.equal(h.daemon.spool.size(), 0);
    assert.deepEqual(await h.daemon.ledger.inFlight(), []);
  });

  it('accepts a good session afterwards on the same daemon', async () => {
    const r = await send(h.port, { raw: campaignMessage().raw });
    assert.ok(r.ok, JSON.stringify(r));
  });
});
