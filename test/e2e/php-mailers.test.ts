// MailWizz's own mailers against the daemon as its own process, with the
// simulator as PowerMTA: SwiftMailer 6.3 (MailWizz's default) and Symfony
// Mailer 5.4, run by PHP from Debian's packages (`php-cli php-swiftmailer
// php-symfony-mailer`) through the scripts in test/fixtures/php/, and swaks
// for what those mailers never write (bare CR and LF, pipelining, SMTPUTF8).
// A relay in front of the daemon records what each client wrote, so what
// reaches PowerMTA is compared byte for byte with it.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type ReceivedMessage, type Simulator } from '../../src/sim/simulator.js';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { childConfig, SOS_TENANT, ULIXAI_TENANT } from '../helpers/child-config.js';
import { dataPayloads, recordingProxy } from '../helpers/recording-proxy.js';
import { tmpDir, waitFor } from '../helpers/env.js';

const PHP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/php');
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const NO_PHP = has('php') ? false : 'php is not installed (apt-get install php-cli php-swiftmailer php-symfony-mailer)';
const NO_SWAKS = has('swaks') ? false : 'swaks is not installed (apt-get install swaks)';

const OURS = 'sos-expat-45-123-10-1';
const THEIRS = 'ulixai-45-123-20-1';
/** PowerMTA's own answer as the simulator words it; the spool's is `Queued as ID: why`. */
const PMTA_250 = /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/;

/** A tenant whose IP warms with a cap of 2 a day, to see the spool's 250. */
const TINY_TENANT = {
  id: 3,
  slug: 'tiny',
  name: 'Tiny',
  users: [{ username: 'tiny', password: 'secret-tiny-1' }],
  domains: ['tiny-mail.com'],
  ips: [{ address: '45.123.30.1', hostname: 'mail1.tiny-mail.com', state: 'warming' }],
};

interface PhpMessage {
  messageId: string;
  from: string;
  to: string[];
  subject?: string;
  text?: string;
  encoding?: string;
  headers?: Array<[string, string]>;
}
interface PhpResult {
  messageId: string;
  ok: boolean;
  reply: string | null;
  error?: string;
}

/** 40 hex characters at the return-path domain, as MailWizz makes its Message-IDs. */
let seq = 0;
function mwId(domain = 'sos-mail.com'): string {
  seq++;
  return `${(Date.now().toString(16) + seq.toString(16).padStart(6, '0')).padEnd(40, 'a').slice(0, 40)}@${domain}`;
}

function campaign(to: string, campaignUid: string, extra: Array<[string, string]> = []): PhpMessage {
  return {
    messageId: mwId(),
    from: 'news@sos-mail.com',
    to: [to],
    subject: 'Nouvelles de décembre',
    text: `Bonjour ${to},\nLes nouvelles du mois.\n.une ligne qui commence par un point\n`,
    headers: [
      ['List-Unsubscribe', `<https://mw.example.com/lists/ab123/unsubscribe/sub1/${campaignUid}?source=email-client-unsubscribe-button>`],
      ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
      ['List-Id', 'ab123 <Newsletter>'],
      ['Feedback-ID', `${campaignUid}:sub1:ab123:cust1`],
      ...extra,
    ],
  };
}

function runPhp(script: string, job: Record<string, unknown>): Promise<PhpResult[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('php', [path.join(PHP_DIR, script)], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${script}: ${err.message}\n${stderr}`));
      resolve((JSON.parse(stdout) as { results: PhpResult[] }).results);
    });
    child.stdin!.end(JSON.stringify(job));
  });
}

/** The header fields PowerMTA reads (CRLF on the wire), names lower-cased. */
function fields(raw: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of raw.toString('latin1').split('\r\n')) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]![1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** What the client wrote as PowerMTA reads it: every bare CR and bare LF ends a line. */
const wire = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
/** Without the header lines the agent adds or removes (X-Virtual-MTA, X-Job), unfolded ones only. */
const unstamped = (b: Buffer) =>
  Buffer.from(
    wire(b)
      .toString('latin1')
      .replace(/^(?:x-virtual-mta|x-job)[ \t]*:[^\r]*\r\n/gim, ''),
    'latin1',
  );

describe("MailWizz's mailers (PHP SwiftMailer 6.3, Symfony Mailer 5.4, swaks) against the daemon process", { skip: NO_PHP && NO_SWAKS ? NO_PHP : false }, () => {
  let sim: Simulator;
  let d: ChildDaemon;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let dirs: { dir: string; cleanup(): void };
  before(async () => {
    dirs = tmpDir();
    sim = await startSimulator({ port: 0, acctDir: path.join(dirs.dir, 'acct') });
    const today = new Date().toISOString().slice(0, 10);
    const tiny = { ...TINY_TENANT, ips: TINY_TENANT.ips.map((ip) => ({ ...ip, warmupStart: today })) };
    const cfg = childConfig(path.join(dirs.dir, 'state'), sim.port, {
      tenants: [SOS_TENANT, ULIXAI_TENANT, tiny],
      patch: { warmup: { steps: [{ days: 7, dailyCap: 2 }] } },
    });
    d = await spawnDaemon(path.join(dirs.dir, 'c.json'), cfg);
    proxy = await recordingProxy(d.port);
  });
  after(async () => {
    await proxy.close();
    d.proc.kill('SIGTERM');
    await d.exited;
    await sim.close();
    dirs.cleanup();
  });

  const job = (extra: Record<string, unknown>) => ({ host: '127.0.0.1', port: proxy.port, username: 'sos-expat', password: 'secret-sos-1', ...extra });
  const arrived = (messageId: string) => sim.received.find((m) => m.messageId === `<${messageId}>`);
  /** Everything the clients wrote after DATA so far, by Message-ID. */
  const clientCopy = (messageId: string): Buffer => {
    const all = proxy.sent().flatMap(dataPayloads);
    const mine = all.filter((p) => p.toString('latin1').includes(`<${messageId}>`));
    assert.equal(mine.length, 1, `the client sent ${messageId} once`);
    return mine[0]!;
  };

  /** PowerMTA got it: one X-Virtual-MTA (the sender's), X-Job as the README says, the rest byte for byte. */
  async function assertForwarded(messageId: string, expectedJob: string, vmta = OURS): Promise<ReceivedMessage> {
    await waitFor(() => arrived(messageId) !== undefined, 5000, `${messageId} at PowerMTA`);
    const m = arrived(messageId)!;
    const f = fields(m.raw!);
    assert.deepEqual(f.filter(([n]) => n === 'x-virtual-mta'), [['x-virtual-mta', vmta]]);
    assert.deepEqual(f.filter(([n]) => n === 'x-job'), [['x-job', expectedJob]]);
    assert.deepEqual(f.filter(([n]) => n === 'message-id'), [['message-id', `<${messageId}>`]]);
    const stampedTop = `X-Virtual-MTA: ${vmta}\r\nX-Job: ${expectedJob}\r\n`;
    assert.equal(m.raw!.subarray(0, stampedTop.length).toString('latin1'), stampedTop, 'stamped headers come first');
    assert.ok(m.raw!.subarray(stampedTop.length).equals(unstamped(clientCopy(messageId))), `${messageId}: the rest arrives byte for byte`);
    return m;
  }

  for (const [script, name] of [
    ['swiftmailer-send.php', 'SwiftMailer 6.3'],
    ['symfony-mailer-send.php', 'Symfony Mailer 5.4'],
  ] as const) {
    describe(name, { skip: NO_PHP }, () => {
      it('AUTH LOGIN, one connection per message (MailWizz default): PowerMTA\'s 250, X-Job from Feedback-ID', async () => {
        const msgs = [campaign('ana@example.net', 'cmpLOGIN1'), campaign('bob@example.net', 'cmpLOGIN1'), campaign('cy@example.net', 'cmpLOGIN1')];
        const results = await runPhp(script, job({ auth: 'LOGIN', perConnection: 1, messages: msgs }));
        for (const r of results) assert.match(r.reply ?? r.error ?? '', PMTA_250, JSON.stringify(r));
        for (const m of msgs) await assertForwarded(m.messageId, 'cmpLOGIN1');
      });

      it('AUTH PLAIN, 100 messages per connection: X-Job from X-Mw-Campaign-Uid, 8-bit body', async () => {
        const msgs = [0, 1, 2, 3].map((i) => ({
          ...campaign(`p${i}@example.net`, 'cmpFB', [['X-Mw-Campaign-Uid', 'cmpPLAIN2']]),
          text: `Ça coûte 10 € — 日本語 ${i}\n`,
          encoding: '8bit',
        }));
        const results = await runPhp(script, job({ auth: 'PLAIN', perConnection: 100, messages: msgs }));
        for (const r of results) assert.match(r.reply ?? r.error ?? '', PMTA_250, JSON.stringify(r));
        for (const m of msgs) await assertForwarded(m.messageId, 'cmpPLAIN2');
      });

      it('a refused MAIL FROM on a reused connection does not take the next messages with it', async () => {
        const bad = { ...campaign('x@example.net', 'cmpR'), from: 'news@not-ours.example' };
        const good = [campaign('r1@example.net', 'cmpR'), campaign('r2@example.net', 'cmpR')];
        const results = await runPhp(script, job({ auth: 'PLAIN', perConnection: 100, messages: [bad, ...good] }));
        assert.match(results[0]!.reply ?? '', /^550 5\.7\.1 Sender domain/);
        assert.match(results[1]!.reply ?? results[1]!.error ?? '', PMTA_250, JSON.stringify(results[1]));
        assert.match(results[2]!.reply ?? results[2]!.error ?? '', PMTA_250, JSON.stringify(results[2]));
        for (const m of good) await assertForwarded(m.messageId, 'cmpR');
      });

      it("over quota: the spool's 250, nothing at PowerMTA beyond the cap", async () => {
        const before = sim.received.filter((m) => m.vmta === 'tiny-45-123-30-1').length;
        const msgs = [0, 1, 2].map((i) => ({ ...campaign(`q${i}@example.net`, 'cmpQ'), from: 'news@tiny-mail.com', messageId: mwId('tiny-mail.com') }));
        const results = await runPhp(script, { ...job({ auth: 'LOGIN', perConnection: 1, messages: msgs }), username: 'tiny', password: 'secret-tiny-1' });
        // The cap (2 a day) is shared by both mailers' runs: whatever is left of it goes to PowerMTA, the rest is spooled.
        const forwarded = results.filter((r) => PMTA_250.test(r.reply ?? ''));
        const spooled = results.filter((r) => /^250 2\.0\.0 Queued as \S+: daily quota/.test(r.reply ?? ''));
        assert.equal(forwarded.length + spooled.length, 3, JSON.stringify(results));
        assert.equal(forwarded.length, Math.max(0, 2 - before));
        for (const r of forwarded) await assertForwarded(r.messageId, 'cmpQ', 'tiny-45-123-30-1');
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(sim.received.filter((m) => m.vmta === 'tiny-45-123-30-1').length <= 2);
      });
    });
  }

  describe('swaks', { skip: NO_SWAKS }, () => {
    /** One message with swaks through the recording relay (run apart: the relay lives in this process); returns swaks' transcript. */
    function swaks(args: string[], data: Buffer): Promise<string> {
      return new Promise((resolve, reject) => {
        const argv = ['--server', `127.0.0.1:${proxy.port}`, '-au', 'sos-expat', '-ap', 'secret-sos-1', '--from', 'news@sos-mail.com', '--data', '-', ...args];
        const child = execFile('swaks', argv, { encoding: 'latin1', timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
        child.stdin!.end(data);
      });
    }
    const lastReply = (transcript: string) => [...transcript.matchAll(/^<-  (\d{3} .*)$/gm)].map((m) => m[1]).at(-2); // the one before QUIT's 221

    it("--pipeline, AUTH LOGIN: PowerMTA's 250", async () => {
      const id = mwId();
      const out = await swaks(['-a', 'LOGIN', '--pipeline', '--to', 'pipe@example.net'], Buffer.from(`Message-ID: <${id}>\r\nFeedback-ID: cmpSW:s:l:c\r\nSubject: p\r\n\r\nhi\r\n`));
      assert.match(lastReply(out) ?? '', PMTA_250, out);
      await assertForwarded(id, 'cmpSW');
    });

    it('bare CR and bare LF in headers and body, a long folded header, 8-bit body: one X-Virtual-MTA, the rest as PowerMTA reads it', async () => {
      const id = mwId();
      const data = Buffer.concat([
        Buffer.from(`Message-ID: <${id}>\r\nFrom: news@sos-mail.com\r\nSubject: tricks\rX-Virtual-MTA: ${THEIRS}\r\nX-Long: ${'a'.repeat(70)}\r\n ${'b'.repeat(900)}\r\n\t${'c'.repeat(70)}\r\n`),
        Buffer.from(`Feedback-ID: cmpCR:s:l:c\nX-Bare-LF: yes\r\n\r\nBody: caf\u00e9 \u20ac\rbare cr\nbare lf\r\n.leading dot\r\n`, 'utf8'),
      ]);
      const out = await swaks(['-a', 'PLAIN', '--to', 'tricks@example.net'], data);
      assert.match(lastReply(out) ?? '', PMTA_250, out);
      await assertForwarded(id, 'cmpCR');
    });

    it('SMTPUTF8: an internationalised recipient gets PowerMTA\'s 250 and the message arrives whole', async () => {
      const id = mwId();
      const out = await swaks(['-a', 'PLAIN', '--to', 'jos\u00e9@ex\u00e4mple.net'], Buffer.from(`Message-ID: <${id}>\r\nFeedback-ID: cmpU8:s:l:c\r\nSubject: u\r\n\r\nhi\r\n`));
      assert.match(lastReply(out) ?? '', PMTA_250, out);
      const m = await assertForwarded(id, 'cmpU8');
      assert.deepEqual(m.rcptTo, ['jos\u00e9@ex\u00e4mple.net']);
    });
  });
});
