import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SOS, campaignMessage, startHarness, waitFor, type Harness } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';

describe("SMTP protocol as MailWizz's mailers use it", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('offers AUTH PLAIN LOGIN, SIZE and 8BITMIME, and neither PIPELINING nor STARTTLS without certificates', async () => {
    const c = await rawSmtp(h.port);
    const ehlo = await c.cmd('EHLO mailwizz.local');
    c.close();
    assert.match(ehlo, /AUTH PLAIN LOGIN/);
    assert.match(ehlo, /SIZE \d+/);
    assert.match(ehlo, /8BITMIME/);
    // SwiftMailer mishandles a refused MAIL FROM when it pipelines (see src/ingress/smtp.ts).
    assert.doesNotMatch(ehlo, /PIPELINING/);
    assert.doesNotMatch(ehlo, /STARTTLS/);
  });

  it('still takes MAIL, RCPT and DATA pipelined in one write (swaks --pipeline, clients that pipeline anyway)', async () => {
    const c = await rawSmtp(h.port);
    await c.cmd('EHLO mailwizz.local');
    assert.match(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`), /^235 /);
    const before = h.sim.received.length;
    const replies = c.cmdMany([`MAIL FROM:<news@${SOS.domain}>`, 'RCPT TO:<pipelined@example.net>', 'DATA']);
    const [mail, rcpt, data] = await replies;
    assert.match(mail!, /^250 /);
    assert.match(rcpt!, /^250 /);
    assert.match(data!, /^354 /);
    const { raw } = campaignMessage({ to: 'pipelined@example.net' });
    assert.match(await c.cmd(`${raw}.`), /^250 /);
    assert.match(await c.cmd('RSET'), /^250 /);
    assert.match(await c.cmd('NOOP'), /^250 /);
    assert.match(await c.cmd('QUIT'), /^221 /);
    c.close();
    await waitFor(() => h.sim.received.length === before + 1);
  });

  it('refuses a message over the size limit with 552 5.3.4 and holds no quota afterwards', async () => {
    const c = await rawSmtp(h.port);
    await c.cmd('EHLO mailwizz.local');
    await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`);
    await c.cmd(`MAIL FROM:<news@${SOS.domain}>`);
    await c.cmd('RCPT TO:<big@example.net>');
    assert.match(await c.cmd('DATA'), /^354 /);
    const limit = h.daemon.cfg.smtp.maxMessageBytes;
    const chunk = 'z'.repeat(1000) + '\r\n';
    const header = 'Subject: big\r\n\r\n';
    const reply = await c.cmd(header + chunk.repeat(Math.ceil(limit / chunk.length) + 10) + '.');
    c.close();
    assert.match(reply, /^552 5\.3\.4 /);
    await waitFor(async () => (await h.daemon.ledger.inFlight()).length === 0);
  });
});
