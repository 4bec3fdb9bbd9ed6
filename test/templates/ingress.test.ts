import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { composeMessage } from '../../src/templates/compose.js';
import { renderMessage } from '../../src/templates/render.js';
import { SOS, send, startHarness, type Harness } from '../helpers/env.js';
import { readAll } from './app.js';

// The composed message is what the send route hands to the gate; here it goes
// through SMTP ingress of the real daemon, so the stamping it meets is the same.
describe('a composed transactional message through the daemon', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('reaches the simulator stamped once, with X-Job from its Feedback-ID, and otherwise byte-identical', async () => {
    const rendered = renderMessage(
      { subject: 'Reçu [FNAME] ✓', html: '<p>{{ amount }} €</p><p><% x %> ${y}</p>', text: 'Montant : {{ amount }} €' },
      { first_name: 'Zoë', amount: '12,50' },
      { now: h.clock.now() },
    );
    const from = `billing@${SOS.domain}`;
    const first = composeMessage({ from: { address: from }, to: 'jean@example.net', ...rendered, tenant: 'sos-expat', template: 'receipt' }, { now: h.clock.now(), random: (n) => Buffer.alloc(n, 1) });
    const again = composeMessage({ from: { address: from }, to: 'jean@example.net', ...rendered, tenant: 'sos-expat', template: 'receipt' }, { now: h.clock.now(), random: (n) => Buffer.alloc(n, 1) });
    const expected = (await readAll(again.message)).toString('utf8');

    const r = await send(h.port, { from, to: 'jean@example.net', raw: first.message });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(h.sim.received.length, 1);
    const got = h.sim.received[0]!;
    assert.equal(got.vmtaHeaderCount, 1);
    assert.equal(got.vmta, 'sos-expat-45-123-10-1');
    assert.equal(got.job, 'tx-receipt');
    assert.equal(got.messageId, first.messageId);
    const raw = got.raw!.toString('utf8');
    // Boundaries are random per message, so compare with them normalised.
    const boundaries = (s: string) => s.replace(/--_NmP-[0-9a-f]+-Part_\d+/g, '--BOUNDARY');
    assert.equal(boundaries(raw), boundaries(`X-Virtual-MTA: sos-expat-45-123-10-1\r\nX-Job: tx-receipt\r\n${expected}`));
    assert.match(raw, /^Subject: =\?UTF-8\?Q\?Re=C3=A7u_Zo=C3=AB/m);
  });
});
