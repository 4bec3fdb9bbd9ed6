import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newApiToken } from '../../src/auth/tokens.js';
import { parseConfig } from '../../src/config/load.js';
import { isLoopbackHost, mailwizzDeliveryServer, mailwizzTimeoutS, tenantQuotas } from '../../src/pmta/mailwizz.js';

const SOS_IPS = [
  { state: 'warming' as const, dailyCap: 50 },
  { state: 'warming' as const, dailyCap: 200 },
  { state: 'warming' as const, dailyCap: 5000 },
  { state: 'active' as const, dailyCap: 10000 },
  { state: 'paused' as const, dailyCap: 0 },
  { state: 'retired' as const, dailyCap: 3000 },
];

describe('tenantQuotas', () => {
  it("sums today's caps of warming and active IPs, and spreads them over 10 sending hours by default", () => {
    assert.deepEqual(tenantQuotas(SOS_IPS), { daily: 15250, hourly: 1525 });
  });

  it('takes the number of sending hours', () => {
    assert.deepEqual(tenantQuotas([{ state: 'warming', dailyCap: 50 }], 24), { daily: 50, hourly: 3 });
  });
});

describe('mailwizzDeliveryServer', () => {
  const base = {
    tenant: { slug: 'sos-expat', name: 'SOS-Expat', domains: ['sos-mail.com'] },
    smtpHost: '127.0.0.1',
    smtpPort: 2525,
    username: 'sos-expat',
    fromEmail: 'news@sos-mail.com',
    fromName: 'SOS-Expat',
    ...(() => {
      const q = tenantQuotas(SOS_IPS);
      return { hourlyQuota: q.hourly, dailyQuota: q.daily };
    })(),
  };

  it('gives the fields an operator types into MailWizz for a tenant on the loopback listener', () => {
    const s = mailwizzDeliveryServer(base);
    assert.equal(s.type, 'smtp');
    assert.equal(s.hostname, '127.0.0.1');
    assert.equal(s.port, 2525);
    assert.equal(s.username, 'sos-expat');
    assert.equal(s.protocol, '');
    assert.equal(s.timeout, 30);
    assert.equal(s.from_email, 'news@sos-mail.com');
    assert.equal(s.from_name, 'SOS-Expat');
    assert.equal(s.max_connection_messages, 100);
    assert.equal(s.hourly_quota, 1525);
    assert.equal(s.daily_quota, 15250);
    assert.equal(s.status, 'active');
    assert.deepEqual(s.additional_headers, [{ name: 'X-Mw-Campaign-Uid', value: '[CAMPAIGN_UID]' }]);
    assert.match(s.password, /not shown/);
  });

  it('switches the server off when the tenant has no capacity today, since 0 means unlimited to MailWizz', () => {
    const s = mailwizzDeliveryServer({ ...base, hourlyQuota: 0, dailyQuota: 0 });
    assert.equal(s.status, 'inactive');
    assert.ok(s.notes.some((n) => /0 means unlimited/.test(n)));
  });

  it('explains the protocol choice when the agent is reached over the network', () => {
    const s = mailwizzDeliveryServer({ ...base, smtpHost: '10.0.0.5' });
    assert.equal(s.protocol, '');
    assert.ok(s.notes.some((n) => /SwiftMailer choose 'tls'/.test(n)));
  });

  it("notes a From address outside the tenant's domains", () => {
    const s = mailwizzDeliveryServer({ ...base, fromEmail: 'news@gmail.com' });
    assert.ok(s.notes.some((n) => /refuses that MAIL FROM with 550/.test(n)));
  });

  it('recognises loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['10.0.0.1', '0.0.0.0', 'agent.example.com']) assert.equal(isLoopbackHost(h), false, h);
  });
});

describe("MailWizz's SMTP timeout against the agent's wait for PowerMTA", () => {
  it('is at least twice pmta.replyTimeoutMs, at least 30 s and at most MailWizz\'s 120 s', () => {
    assert.equal(mailwizzTimeoutS(15_000), 30);
    assert.equal(mailwizzTimeoutS(5_000), 30);
    assert.equal(mailwizzTimeoutS(30_000), 60);
    assert.equal(mailwizzTimeoutS(90_000), 120);
  });

  it('with the default config, the agent gives up on PowerMTA in at most half the time MailWizz waits', () => {
    const cfg = parseConfig({ api: { token: newApiToken() }, tenants: [] });
    assert.ok(cfg.pmta.replyTimeoutMs * 2 <= mailwizzTimeoutS(cfg.pmta.replyTimeoutMs) * 1000);
    const s = mailwizzDeliveryServer({
      tenant: { slug: 'sos-expat', name: 'SOS-Expat' },
      smtpHost: '127.0.0.1',
      smtpPort: 2525,
      username: 'u',
      fromEmail: 'n@sos-mail.com',
      fromName: 'SOS',
      hourlyQuota: 1,
      dailyQuota: 10,
      pmtaReplyTimeoutMs: cfg.pmta.replyTimeoutMs,
    });
    assert.ok(s.timeout * 1000 >= 2 * cfg.pmta.replyTimeoutMs);
  });
});
