// End to end: POST /api/v2/messages/send through the running daemon to the
// PowerMTA simulator. Named .e2e.ts, not .test.ts, so it does not run until
// the daemon mounts /api/v2/templates and /api/v2/messages with its submit
// (the gate entry shared with SMTP ingress) and the templates migration;
// rename it to send.test.ts then.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { IpAddress } from '../../src/types.js';
import { SOS, TODAY, startHarness, type Harness } from '../helpers/env.js';

const day = TODAY as never;
const IP = '45.123.10.1' as IpAddress;

const template = {
  tenant: 'sos-expat',
  name: 'welcome',
  subject: 'Bienvenue [FNAME] ✓',
  html: '<p>Bonjour {{ first_name }}</p><p><% x %> ${y}</p>',
  text: 'Bonjour {{ first_name }}',
};

describe('POST /api/v2/messages/send through the daemon', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function createTemplate(harness: Harness): Promise<void> {
    const r = await harness.api('/api/v2/templates', { method: 'POST', json: template });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }

  it('reaches PowerMTA with exactly one X-Virtual-MTA and an X-Job, and uses one unit of quota', async () => {
    h = await startHarness();
    await createTemplate(h);
    const r = await h.api('/api/v2/messages/send', {
      method: 'POST',
      json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net', variables: { first_name: 'Zoë' } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.success, true);
    assert.equal(r.body.total_recipients, 1);
    assert.equal(r.body.outcome, 'forwarded');
    assert.equal(r.body.ip_used, IP);
    assert.equal(r.body.ip_status, 'warming');
    assert.deepEqual(r.body.quota_info, { scope: 'ip', ip: IP, daily_quota: 50, sent_today: 1, remaining_today: 49 });

    assert.equal(h.sim.received.length, 1);
    const got = h.sim.received[0]!;
    assert.equal(got.mailFrom, `noreply@${SOS.domain}`);
    assert.deepEqual(got.rcptTo, ['jean@example.net']);
    assert.equal(got.vmta, 'sos-expat-45-123-10-1');
    assert.equal(got.vmtaHeaderCount, 1);
    assert.equal(got.job, 'tx-welcome', 'X-Job from the first Feedback-ID field');
    assert.equal(got.messageId, r.body.message_id);
    const raw = got.raw!.toString('utf8');
    assert.match(raw, /^Subject: =\?UTF-8\?/m);
    assert.match(raw, /<% x %> \$\{y\}/, 'template code travels as text');

    const usage = await h.daemon.ledger.usage(day, [IP]);
    assert.deepEqual(usage.get(IP), { committed: 1, reserved: 0 });
  });

  it('refuses a suppressed address without using quota or reaching PowerMTA', async () => {
    h = await startHarness();
    await createTemplate(h);
    const sup = await h.api('/api/v2/suppression/sos-expat', { method: 'POST', json: { email: 'gone@example.net', reason: 'manual' } });
    assert.ok(sup.status === 200 || sup.status === 201, JSON.stringify(sup.body));

    const r = await h.api('/api/v2/messages/send', { method: 'POST', json: { tenant: 'sos-expat', template: 'welcome', to: 'gone@example.net' } });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.success, false);
    assert.equal(r.body.outcome, 'refused');
    assert.equal(r.body.reason, 'suppressed');
    assert.equal(r.body.ip_used, null);
    assert.equal(r.body.quota_info.remaining_today, 50);
    assert.equal(h.sim.received.length, 0);
    const usage = await h.daemon.ledger.usage(day, [IP]);
    assert.deepEqual(usage.get(IP) ?? { committed: 0, reserved: 0 }, { committed: 0, reserved: 0 });
  });

  it('refuses a from outside the tenant domains before the gate', async () => {
    h = await startHarness();
    await createTemplate(h);
    const r = await h.api('/api/v2/messages/send', {
      method: 'POST',
      json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net', from: 'news@ulixai-mail.com' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'from');
    assert.equal(h.sim.received.length, 0);
  });
});
