import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';
import { SOS, START, campaignMessage, testConfig, tmpDir, waitFor } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { recordingProxy, transactions } from '../helpers/recording-proxy.js';

const AUTH = `AUTH PLAIN ${Buffer.from(`\0${SOS.username}\0${SOS.password}`).toString('base64')}`;

describe("MAIL FROM's BODY=8BITMIME and SMTPUTF8 reach PowerMTA", () => {
  let sim: Simulator;
  let toPmta: Awaited<ReturnType<typeof recordingProxy>>;
  let daemon: Daemon;
  let dirs: ReturnType<typeof tmpDir>;
  let port: number;

  before(async () => {
    dirs = tmpDir();
    const clock = new ManualClock(START);
    sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct'), clock });
    // PowerMTA here is an smtp-server (the simulator); the relay in front of it keeps what the agent wrote.
    toPmta = await recordingProxy(sim.port);
    daemon = await startDaemon(testConfig(dirs.dir, toPmta.port), { clock, log: createLogger({ level: 'warn', write: () => undefined }) });
    port = daemon.smtpAddress.port;
  });
  after(async () => {
    await daemon.stop();
    await toPmta.close();
    await sim.close();
    dirs.cleanup();
  });

  /** The MAIL FROM line of each transaction the agent sent PowerMTA with this Message-ID in its data. */
  const mailLinesFor = (messageId: string): string[] =>
    toPmta
      .sent()
      .flatMap((conn) => transactions(conn))
      .filter((t) => t.data.toString('latin1').includes(messageId))
      .map((t) => t.mailFrom);

  /** One message as MailWizz sends it, with these MAIL FROM parameters; returns the final reply. */
  async function sendWith(params: string, m: { raw: string }): Promise<string> {
    const c = await rawSmtp(port);
    try {
      const ehlo = await c.cmd('EHLO mailwizz.local');
      assert.match(ehlo, /8BITMIME/);
      assert.match(ehlo, /SMTPUTF8/);
      assert.match(await c.cmd(AUTH), /^235 /);
      assert.match(await c.cmd(`MAIL FROM:<news@${SOS.domain}>${params}`), /^250 /);
      assert.match(await c.cmd('RCPT TO:<jean@example.net>'), /^250 /);
      assert.match(await c.cmd('DATA'), /^354 /);
      c.write(`${m.raw}\r\n.\r\n`);
      const reply = await c.reply();
      await c.cmd('QUIT');
      return reply;
    } finally {
      c.close();
    }
  }

  const eightBit = () => campaignMessage({ body: 'Bonjour, voilà un été à Montréal.\r\n' });

  it('on the fast path: BODY=8BITMIME and SMTPUTF8 go on the MAIL FROM the agent sends PowerMTA', async () => {
    const m = eightBit();
    assert.match(await sendWith(' BODY=8BITMIME SMTPUTF8', m), /^250 /);
    await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 5000, 'message at PowerMTA');
    const lines = mailLinesFor(m.messageId);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /^MAIL FROM:<news@sos-mail\.com>(?: \S+)*$/);
    assert.match(lines[0]!, / BODY=8BITMIME\b/);
    assert.match(lines[0]!, / SMTPUTF8\b/);
  });

  it('a message sent without them is passed on without them', async () => {
    const m = campaignMessage();
    assert.match(await sendWith('', m), /^250 /);
    await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 5000, 'message at PowerMTA');
    const lines = mailLinesFor(m.messageId);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.doesNotMatch(lines[0]!, /BODY=|SMTPUTF8/);
  });

  it('after a spool round trip (PowerMTA deferred the fast path): the dispatcher sends BODY=8BITMIME too', async () => {
    sim.configure({ deferAll: true });
    const m = eightBit();
    try {
      assert.match(await sendWith(' BODY=8BITMIME', m), /^250 2\.0\.0 Queued as /);
    } finally {
      sim.configure({ deferAll: false });
    }
    await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 10_000, 'message delivered from the spool');
    const lines = mailLinesFor(m.messageId);
    assert.ok(lines.length >= 2, `the fast attempt and the dispatcher's: ${lines.join('\n')}`);
    for (const line of lines) assert.match(line, / BODY=8BITMIME\b/);
    assert.doesNotMatch(lines.at(-1)!, /SMTPUTF8/);
  });
});
