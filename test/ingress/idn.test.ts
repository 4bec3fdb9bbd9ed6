import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { withAsciiDomain } from '../../src/ingress/address.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';
import { API_TOKEN, SOS, START, campaignMessage, send, testConfig, tmpDir, waitFor } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { recordingProxy } from '../helpers/recording-proxy.js';

describe('internationalized domains become A-labels at ingress', () => {
  it('converts the domain only, keeps the local part, ASCII domains, IP literals and postmaster as sent', () => {
    assert.equal(withAsciiDomain('jean@exämple.net'), 'jean@xn--exmple-cua.net');
    assert.equal(withAsciiDomain('Jösé@Bücher.DE'), 'Jösé@xn--bcher-kva.de');
    assert.equal(withAsciiDomain('jean@Example.NET'), 'jean@Example.NET');
    assert.equal(withAsciiDomain('jean@[192.0.2.1]'), 'jean@[192.0.2.1]');
    assert.equal(withAsciiDomain('postmaster'), 'postmaster');
    assert.equal(withAsciiDomain(''), '');
  });

  it('has no A-label form for a disallowed code point, an over-long label or full-width digits', () => {
    assert.equal(withAsciiDomain('jean@a\uFDD0.net'), null);
    assert.equal(withAsciiDomain(`jean@${'ä'.repeat(60)}.net`), null);
    assert.equal(withAsciiDomain('jean@１２７.０.０.１'), null);
  });

  describe('through the daemon to a PowerMTA that reads the raw envelope', () => {
    let sim: Simulator;
    let toPmta: Awaited<ReturnType<typeof recordingProxy>>;
    let daemon: Daemon;
    let dirs: ReturnType<typeof tmpDir>;
    let port: number;
    let apiUrl: string;
    const idnSender = 'sös-mail.com';
    // The config holds hostnames: an IDN sender domain is configured as its A-label.
    const idnSenderAscii = 'xn--ss-mail-90a.com';

    before(async () => {
      dirs = tmpDir();
      const clock = new ManualClock(START);
      sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct'), clock });
      // What the agent writes to PowerMTA: the simulator, an smtp-server, would show Unicode again.
      toPmta = await recordingProxy(sim.port);
      const cfg = testConfig(dirs.dir, toPmta.port, { sosTenant: { domains: [SOS.domain, idnSenderAscii] } });
      daemon = await startDaemon(cfg, { clock, log: createLogger({ level: 'warn', write: () => undefined }) });
      port = daemon.smtpAddress.port;
      apiUrl = `http://127.0.0.1:${daemon.apiAddress.port}`;
    });
    after(async () => {
      await daemon.stop();
      await toPmta.close();
      await sim.close();
      dirs.cleanup();
    });

    const envelopeLines = () =>
      toPmta
        .sent()
        .map((b) => b.toString('utf8'))
        .join('')
        .split('\r\n')
        .filter((l) => /^(MAIL FROM|RCPT TO):/i.test(l));

    it('nodemailer sending to an IDN address: PowerMTA gets the A-label, the message arrives', async () => {
      const m = campaignMessage({ to: 'jean@exämple.net' });
      const r = await send(port, { to: 'jean@exämple.net', raw: m.raw });
      assert.equal(r.ok, true, r.response);
      await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 5000, 'message at PowerMTA');
      assert.ok(envelopeLines().some((l) => l === 'RCPT TO:<jean@xn--exmple-cua.net>'), envelopeLines().join('\n'));
    });

    it('a client sending UTF-8 with SMTPUTF8: sender and recipient domains reach PowerMTA as A-labels, local parts as sent', async () => {
      const m = campaignMessage({ to: 'jean@exämple.net' });
      const c = await rawSmtp(port);
      try {
        assert.match(await c.cmd('EHLO mailwizz.local'), /SMTPUTF8/);
        assert.match(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`), /^235 /);
        assert.match(await c.cmd(`MAIL FROM:<news@${idnSender}> SMTPUTF8`), /^250 /);
        assert.match(await c.cmd('RCPT TO:<marie@exämple.net>'), /^250 /);
        assert.match(await c.cmd('RCPT TO:<josé@exämple.net>'), /^250 /);
        assert.match(await c.cmd('DATA'), /^354 /);
        assert.match(await c.cmd(`${m.raw}\r\n.`), /^250 /);
        await c.cmd('QUIT');
      } finally {
        c.close();
      }
      await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 5000, 'message at PowerMTA');
      const lines = envelopeLines();
      assert.ok(lines.some((l) => /^MAIL FROM:<news@xn--ss-mail-90a\.com>/.test(l)), lines.join('\n'));
      assert.ok(lines.includes('RCPT TO:<marie@xn--exmple-cua.net>'), lines.join('\n'));
      // The local part as sent: PowerMTA gets it with SMTPUTF8.
      assert.ok(lines.includes('RCPT TO:<josé@xn--exmple-cua.net>'), lines.join('\n'));
    });

    it('a suppression stored for the A-label (as PowerMTA logs it) refuses the Unicode form at RCPT', async () => {
      const res = await fetch(`${apiUrl}/api/v2/suppression/sos-expat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'gone@xn--exmple-cua.net', reason: 'hard-bounce' }),
      });
      assert.equal(res.status, 201, await res.text());
      const r = await send(port, { to: 'gone@exämple.net' });
      assert.equal(r.ok, false);
      assert.equal(r.ok ? 0 : r.code, 550);
      assert.match(r.response, /5\.1\.1 <gone@xn--exmple-cua\.net> is on this tenant's suppression list/);
    });

    it('a domain with no A-label form gets 553 5.1.3 at RCPT and 553 5.1.7 at MAIL', async () => {
      const c = await rawSmtp(port);
      try {
        await c.cmd('EHLO mailwizz.local');
        assert.match(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`), /^235 /);
        assert.match(await c.cmd('MAIL FROM:<news@s\uFDD0s.com> SMTPUTF8'), /^553 5\.1\.7 /);
        assert.match(await c.cmd(`MAIL FROM:<news@${SOS.domain}> SMTPUTF8`), /^250 /);
        assert.match(await c.cmd('RCPT TO:<jean@a\uFDD0.net>'), /^553 5\.1\.3 /);
        assert.match(await c.cmd('RCPT TO:<jean@example.net>'), /^250 /);
        await c.cmd('RSET');
        await c.cmd('QUIT');
      } finally {
        c.close();
      }
    });
  });
});
