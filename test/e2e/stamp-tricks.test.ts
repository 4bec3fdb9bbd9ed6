// A hostile tenant's header tricks through the daemon as its own process, from
// a raw socket (nodemailer would already turn a bare CR into CRLF on its way
// in) and from nodemailer, to the simulator: PowerMTA must see exactly one
// X-Virtual-MTA, the sender's own, and at most one X-Job.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { childConfig, SOS_TENANT, ULIXAI_TENANT } from '../helpers/child-config.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { send, tmpDir, waitFor } from '../helpers/env.js';

const OURS = 'sos-expat-45-123-10-1';
const THEIRS = 'ulixai-45-123-20-1';

/** PowerMTA's header fields from what the simulator received (CRLF on the wire). */
function fields(raw: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of raw.toString('latin1').split('\r\n')) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]![1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon).replace(/[\s\u0000]/g, '').toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

describe('header tricks through the real daemon', () => {
  let sim: Simulator;
  let d: ChildDaemon;
  let dirs: { dir: string; cleanup(): void };
  before(async () => {
    dirs = tmpDir();
    sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct') });
    d = await spawnDaemon(path.join(dirs.dir, 'c.json'), childConfig(path.join(dirs.dir, 'state'), sim.port, { tenants: [SOS_TENANT, ULIXAI_TENANT] }));
  });
  after(async () => {
    d.proc.kill('SIGTERM');
    await d.exited;
    await sim.close();
    dirs.cleanup();
  });

  /** One message over a raw socket, bytes exactly as given (dot-stuffed); returns the reply to the final dot. */
  async function rawSend(id: string, header: string): Promise<string> {
    const s = await rawSmtp(d.port);
    try {
      await s.cmd('EHLO mailwizz');
      await s.cmd(`AUTH PLAIN ${Buffer.from('\0sos-expat\0secret-sos-1').toString('base64')}`);
      await s.cmd('MAIL FROM:<news@sos-mail.com>');
      await s.cmd(`RCPT TO:<${id}@example.net>`);
      await s.cmd('DATA');
      return await s.cmd(`Message-ID: <${id}@sos-mail.com>\r\n${header}\r\n\r\nHello\r\n.`);
    } finally {
      s.close();
    }
  }

  const delivered: Array<[string, string]> = [
    ['bare-cr', 'From: a@sos-mail.com\r\nFeedback-ID: x\rX-Virtual-MTA: ' + THEIRS + '\r\nSubject: hi'],
    ['bare-cr-job', 'From: a@sos-mail.com\r\nX-Job: mine\r\nFeedback-ID: x\rX-Job: theirs'],
    ['bare-lf', 'From: a@sos-mail.com\r\nSubject: a\nX-Virtual-MTA: ' + THEIRS],
    ['space-colon', 'From: a@sos-mail.com\r\nX-Virtual-MTA : ' + THEIRS],
    ['odd-case', 'From: a@sos-mail.com\r\nx-vIrTuAl-MtA: ' + THEIRS],
    ['folded', 'From: a@sos-mail.com\r\nX-Virtual-MTA:\r\n\t' + THEIRS],
    ['top-continuation', ' X-Virtual-MTA: ' + THEIRS + '\r\nFrom: a@sos-mail.com'],
    ['two-jobs', 'From: a@sos-mail.com\r\nX-Job: one\r\nX-Job: two'],
  ];
  for (const [id, header] of delivered) {
    it(`raw socket, ${id}: PowerMTA gets one X-Virtual-MTA (${OURS}) and at most one X-Job`, async () => {
      assert.match(await rawSend(id, header), /^250 /);
      const mine = (x: { rcptTo: string[] }) => x.rcptTo.includes(`${id}@example.net`);
      await waitFor(() => sim.received.some(mine), 5000, 'delivered');
      const m = sim.received.find(mine)!;
      const f = fields(m.raw!);
      assert.deepEqual(f.filter(([n]) => n === 'x-virtual-mta'), [['x-virtual-mta', OURS]]);
      assert.ok(f.filter(([n]) => n === 'x-job').length <= 1);
      assert.equal(m.vmtaHeaderCount, 1);
    });
  }

  it('raw socket: a NUL in the header block is refused with 554 and nothing reaches PowerMTA', async () => {
    const before = sim.received.length;
    assert.match(await rawSend('nul', 'From: a@sos-mail.com\r\nX-Virtual-MTA\u0000: ' + THEIRS), /^554 5\.6\.0 .*control character/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sim.received.length, before);
  });

  it('raw socket: a header block over 1 MiB is refused with 554 and nothing reaches PowerMTA', async () => {
    const before = sim.received.length;
    const reply = await rawSend('huge', `From: a@sos-mail.com\r\nX-Pad: ${'p'.repeat(1024 * 1024 + 10)}\r\nX-Virtual-MTA: ${THEIRS}`);
    assert.match(reply, /^554 5\.6\.0 .*longer than/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sim.received.length, before);
  });

  it('nodemailer (as MailWizz sends): an X-Virtual-MTA it carries is replaced by the sender\'s own', async () => {
    const raw = `From: a@sos-mail.com\r\nMessage-ID: <nm@sos-mail.com>\r\nFeedback-ID: x\rX-Virtual-MTA: ${THEIRS}\r\nSubject: hi\r\n\r\nHello\r\n`;
    const r = await send(d.port, { raw });
    assert.ok(r.ok, JSON.stringify(r));
    await waitFor(() => sim.received.some((m) => m.messageId === '<nm@sos-mail.com>'), 5000, 'delivered');
    const m = sim.received.find((x) => x.messageId === '<nm@sos-mail.com>')!;
    assert.deepEqual(fields(m.raw!).filter(([n]) => n === 'x-virtual-mta'), [['x-virtual-mta', OURS]]);
  });
});
