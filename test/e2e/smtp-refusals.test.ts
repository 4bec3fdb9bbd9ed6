import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ULIXAI, campaignMessage, send, startHarness, type Harness } from '../helpers/env.js';

// One daemon for the file; each test makes the sessions it checks, so the tests
// hold in any order.
describe('SMTP ingress refuses what must be refused, with the contract codes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  /** One session, which must leave nothing behind: nothing forwarded or spooled, no quota held. */
  async function refusedSession(opts: Parameters<typeof send>[1]) {
    const forwarded = h.sim.received.length;
    const spooled = h.daemon.spool.size();
    const r = await send(h.port, opts);
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(h.sim.received.length, forwarded, 'nothing forwarded');
    assert.equal(h.daemon.spool.size(), spooled, 'nothing spooled');
    assert.deepEqual(await h.daemon.ledger.inFlight(), [], 'no quota held');
    return r;
  }

  it('answers 530 5.7.0 to MAIL FROM without AUTH and forwards nothing', async () => {
    const r = await refusedSession({ user: null });
    assert.ok(!r.ok && r.code === 530, JSON.stringify(r));
    assert.match(r.response, /^530 5\.7\.0 /);
  });

  it('answers 535 5.7.8 to a wrong password', async () => {
    const r = await refusedSession({ pass: 'wrong-password' });
    assert.ok(!r.ok && r.code === 535, JSON.stringify(r));
    assert.match(r.response, /^535 5\.7\.8 /);
  });

  it('answers 535 5.7.8 to an unknown user', async () => {
    const r = await refusedSession({ user: 'nobody-here', pass: 'whatever' });
    assert.ok(!r.ok && r.code === 535, JSON.stringify(r));
  });

  it("answers 550 5.7.1 to a sender outside the tenant's domains, even another tenant's", async () => {
    const r = await refusedSession({ from: `news@${ULIXAI.domain}` });
    assert.ok(!r.ok && r.code === 550, JSON.stringify(r));
    assert.match(r.response, /^550 5\.7\.1 /);
  });

  it('never logs a password, neither a wrong one nor the right one', async () => {
    await refusedSession({ pass: 'wrong-password-2' });
    assert.ok((await send(h.port, { raw: campaignMessage().raw })).ok);
    const text = JSON.stringify(h.logs);
    assert.ok(!text.includes('secret-sos-1'));
    assert.ok(!text.includes('wrong-password-2'));
    assert.ok(h.logs.some((l) => l.event === 'smtp.auth_failed'), 'the failed login is logged');
  });

  it('accepts a good session after refused ones on the same daemon', async () => {
    await refusedSession({ pass: 'wrong-password' });
    await refusedSession({ from: `news@${ULIXAI.domain}` });
    const r = await send(h.port, { raw: campaignMessage().raw });
    assert.ok(r.ok, JSON.stringify(r));
  });
});
