import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { SentLookup } from '../../src/accounting/attribute.js';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { splitCsvLine } from '../../src/accounting/csv.js';
import { AcctHeader, parseRecord } from '../../src/accounting/records.js';
import { FeedbackSender } from '../../src/feedback/sender.js';
import { feedbackTargets, webhookUrl } from '../../src/feedback/targets.js';
import { ACCT_COLUMNS, formatRecord } from '../../src/sim/acct-csv.js';
import { ManualClock } from '../../src/types.js';
import { GHOST_VMTA, SOS_ID, ULIXAI_ID, captureLog, tmpDir } from '../accounting/fixtures.js';
import { Agent, MailWizzStandIn, SOS2, ULI, acct, idOf, nextN, until } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function root(): string {
  const t = tmpDir('pmta-feedback-test-');
  cleanups.push(t.cleanup);
  return t.dir;
}

async function mailwizz(): Promise<MailWizzStandIn> {
  const mw = new MailWizzStandIn();
  await mw.listen(0);
  cleanups.push(() => mw.close());
  return mw;
}

const sosOnly = (id: number): boolean => id === SOS_ID;

test('bounces and complaints of a feedback tenant reach MailWizz once each as NDJSON; deliveries, deferrals, other tenants and unknown VMTAs do not', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  const log = captureLog();
  const sender = new FeedbackSender({ db: agent.db, urlFor: (id) => (id === SOS_ID ? mw.base('/mailwizz/') : null), log });

  const n = Array.from({ length: 14 }, () => nextN());
  const at = (i: number): number => n[i]!;
  await agent.log([
    acct('d', at(0)),
    acct('b', at(1), { dsnDiag: 'smtp;550 5.1.1 <user@example.org>: user unknown, "no such user"' }),
    acct('t', at(2)),
    acct('b', at(3), { bounceCat: 'quota-issues', dsnStatus: '4.2.2', dsnDiag: 'smtp;452 mailbox full' }),
    acct('rb', at(4), { bounceCat: 'policy-related', dsnStatus: '5.7.1', dsnDiag: 'smtp;550 5.7.1 blocked' }, SOS2),
    acct('f', at(5)),
    acct('b', at(6), { bounceCat: '' }), // MailWizz ignores a bounce without a category
    acct('b', at(7), { 'header_Message-Id': '' }), // and cannot match one without a Message-ID
    acct('b', at(8), {}, ULI), // another tenant, without feedback
    acct('f', at(9), {}, ULI),
    acct('b', at(10), {}, { vmta: GHOST_VMTA, ip: '10.0.0.9' }), // not the agent's
    acct('r', at(11)),
    acct('rs', at(12)), // remote status without a bounce category
    acct('tq', at(13), { rcpt: '' }),
  ]);
  const expected = [at(1), at(3), at(4), at(5)].map(idOf);
  assert.equal(agent.outbox().length, 4, 'queued with the batch that read them');
  assert.deepEqual(
    agent.summaries.reduce((a, s) => ({ queued: a.queued + (s.feedback?.queued ?? 0), skipped: a.skipped + (s.feedback?.skipped ?? 0) }), { queued: 0, skipped: 0 }),
    { queued: 4, skipped: 2 },
  );

  assert.equal(await sender.flush(), 4);
  assert.equal(mw.requests.length, 1, 'one batch');
  const req = mw.requests[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/mailwizz/dswh/pmta');
  assert.equal(req.contentType, 'application/x-ndjson');
  assert.deepEqual(mw.storedIds, expected);
  assert.deepEqual(mw.stored[0], {
    type: 'b',
    timeLogged: acct('b', at(1)).timeLogged,
    orig: 'bounces@sos-mail.com',
    rcpt: `user${at(1)}@example.org`,
    bounceCat: 'bad-mailbox',
    dsnStatus: '5.1.1',
    dsnDiag: 'smtp;550 5.1.1 <user@example.org>: user unknown, "no such user"',
    vmta: 'sos-expat-45-123-10-1',
    jobId: `job-${at(1) % 3}`,
    'header_Message-Id': idOf(at(1)),
  });
  assert.deepEqual(
    mw.stored.map((r) => [r.type, r.bounceCat, r.dsnDiag]),
    [
      ['b', 'bad-mailbox', 'smtp;550 5.1.1 <user@example.org>: user unknown, "no such user"'],
      ['b', 'quota-issues', 'smtp;452 mailbox full'],
      ['rb', 'policy-related', 'smtp;550 5.7.1 blocked'],
      ['f', '', ''],
    ],
  );
  assert.equal(mw.stored[3]!.feedbackType, 'abuse');
  assert.deepEqual(agent.outbox(), [], 'deleted once MailWizz took them');

  // Nothing is sent twice: not by another pass, not by reading the file again.
  assert.equal(await sender.flush(), 0);
  await agent.log([]);
  assert.equal(await sender.flush(), 0);
  assert.equal(mw.requests.length, 1);

  // New lines only; batches of at most batchSize, in order.
  const more = Array.from({ length: 5 }, () => nextN());
  await agent.log(more.map((m, i) => acct(i % 2 ? 'f' : 'b', m)));
  const small = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log, batchSize: 2 });
  assert.equal(await small.flush(), 5);
  assert.deepEqual(mw.requests.slice(1).map((r) => r.lines.length), [2, 2, 1]);
  assert.deepEqual(mw.storedIds, [...expected, ...more.map(idOf)]);
  assert.equal(mw.requests[1]!.path, '/dswh/pmta');
  assert.deepEqual(log.lines.filter((l) => l.level !== 'debug'), [], 'nothing to report');
});

test('without feedbackTenants nothing is queued, and a batch whose transaction fails queues nothing', async () => {
  const plain = new Agent(root());
  cleanups.push(() => plain.close());
  await plain.log([acct('b', nextN()), acct('f', nextN())]);
  assert.deepEqual(plain.outbox(), []);
  assert.equal(plain.summaries[0]!.feedback, undefined, 'the summary is as before');

  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  const pending = agent.effects.begin();
  // Parsed from lines, as the reader does.
  const header = new AcctHeader(ACCT_COLUMNS);
  for (const r of [acct('b', nextN()), acct('f', nextN())]) {
    const parsed = parseRecord(splitCsvLine(formatRecord(ACCT_COLUMNS, r))!, header);
    assert.ok(!('malformed' in parsed));
    pending.add(parsed);
  }
  assert.throws(() =>
    agent.effects.commit(pending, () => {
      throw new Error('disk full');
    }),
  );
  assert.deepEqual(agent.outbox(), [], 'rolled back with the stats and the checkpoint');
});

test('an rs record with a bounce category is a bounce to MailWizz; the stats still ignore it', async () => {
  // An `rs` carries neither vmta nor dlvSourceIp: the Message-ID in the sent-message index names the IP.
  const n = nextN();
  const sent: SentLookup = (id) => (id === normaliseMessageId(idOf(n)) ? { tenantId: 1, ip: '45.123.10.1', vmta: 'sos-expat-45-123-10-1', jobId: null, recipients: ['late@example.org'], day: '2026-11-24' } : undefined);
  const agent = new Agent(root(), { feedbackTenants: sosOnly, sent });
  cleanups.push(() => agent.close());
  const base = { type: 'rs', timeLogged: new Date('2026-11-24T10:00:00Z'), line: 1, vmta: '', dlvSourceIp: '', rcpt: 'late@example.org', orig: 'b@sos-mail.com', jobId: 'j', messageId: idOf(n) };
  const rs = { ...base, kind: 'other' as const, bounceCat: 'inactive-mailbox', dsnStatus: '5.2.1', dsnDiag: 'smtp;550 5.2.1 mailbox disabled' };
  const bare = { ...base, kind: 'other' as const, messageId: idOf(nextN()) };
  const summary = agent.effects.apply({ records: [rs, bare], malformed: 0 });
  assert.equal(summary.ignored, 2, 'stats as before: rs is not counted');
  assert.deepEqual(summary.ips, []);
  assert.deepEqual(summary.feedback, { queued: 1, skipped: 0 }, 'an rs without a category is no bounce');
  const rows = agent.outbox();
  assert.equal(rows.length, 1);
  assert.deepEqual(JSON.parse(rows[0]!.body), {
    type: 'rs', timeLogged: '2026-11-24 10:00:00+0000', orig: 'b@sos-mail.com', rcpt: 'late@example.org',
    bounceCat: 'inactive-mailbox', dsnStatus: '5.2.1', dsnDiag: 'smtp;550 5.2.1 mailbox disabled',
    vmta: '', jobId: 'j', 'header_Message-Id': idOf(n),
  });
});

test('an rs line with a bounce category read from a file is queued', async () => {
  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  await agent.log([acct('rs', nextN(), { bounceCat: 'bad-mailbox', dsnStatus: '5.1.1', dsnDiag: 'smtp;550 gone' })]);
  assert.equal(agent.outbox().length, 1);
});

test('bounces and complaints reach MailWizz exactly once each, in order, when it was down for a while and across an agent restart', async () => {
  const mw = await mailwizz();
  const dir = root();
  const log1 = captureLog();
  const fast = { intervalMs: 20, minBackoffMs: 20, maxBackoffMs: 80, timeoutMs: 2000 };
  let agent = new Agent(dir, { feedbackTenants: sosOnly });
  const sent: number[] = [];
  const feedbackBatch = (count: number): Array<Record<string, string>> => {
    const out: Array<Record<string, string>> = [];
    for (let i = 0; i < count; i++) {
      const n = nextN();
      out.push(acct('d', nextN())); // deliveries between them, never sent
      out.push(acct(i % 3 === 2 ? 'f' : 'b', n, {}, i % 2 ? SOS2 : undefined));
      sent.push(n);
    }
    return out;
  };

  // MailWizz answers 503 (maintenance) while the first records are read.
  mw.answer = () => 503;
  let sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log: log1, batchSize: 4, ...fast });
  sender.start();
  await agent.log(feedbackBatch(6));
  await until(() => mw.requests.length >= 3, 10_000, 'three refused attempts');
  assert.equal(mw.stored.length, 0);
  assert.ok(mw.requests.every((r) => r.lines[0]!['header_Message-Id'] === idOf(sent[0]!)), 'the oldest record first, every time');
  assert.ok(agent.outbox()[0]!.attempts >= 2, 'failed attempts are counted (the third may still be in flight)');

  // Then it is gone altogether (connection refused); more bounces come in meanwhile.
  await mw.close();
  await agent.log(feedbackBatch(5));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(log1.lines.filter((l) => l.event === 'feedback.unavailable').length, 1, 'an outage is logged once');
  assert.match(JSON.stringify(log1.lines.filter((l) => l.event === 'feedback.retry').at(-1)), /ECONNREFUSED/);

  // The agent restarts while MailWizz is still down.
  await sender.stop();
  agent.close();
  agent = new Agent(dir, { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  await agent.log([]); // the file again: nothing new, nothing queued twice
  assert.equal(agent.outbox().length, 11);
  await agent.log(feedbackBatch(4));
  const log2 = captureLog();
  sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log: log2, batchSize: 4, ...fast });
  cleanups.push(() => sender.stop());
  sender.start();
  await until(() => log2.lines.some((l) => l.event === 'feedback.unavailable'), 10_000, 'a failed attempt after the restart');

  // MailWizz is back.
  mw.answer = () => 200;
  await mw.listen();
  await until(() => agent.outbox().length === 0, 10_000, 'the outbox to empty');
  await sender.stop();
  assert.deepEqual(mw.storedIds, sent.map(idOf), 'every bounce and complaint once, in the order they were logged');
  assert.equal(new Set(mw.storedIds).size, 15);
  assert.ok(mw.stored.every((r) => r.type === 'b' || r.type === 'f'));
  assert.ok(log2.lines.some((l) => l.event === 'feedback.recovered'));

  // Yet another start sends nothing more.
  const again = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log: log2 });
  assert.equal(await again.flush(), 0);
  assert.equal(mw.stored.length, 15);
});

test('records MailWizz refuses (422) are split off one by one; one refused alone repeatedly goes to feedback_dead, the rest arrive in order', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: () => true });
  cleanups.push(() => agent.close());
  const clock = new ManualClock('2026-11-24T12:00:00Z');
  const log = captureLog();
  const ns = Array.from({ length: 7 }, () => nextN());
  const poison = ns[2]!;
  mw.answer = (req) => (req.lines.some((l) => l['header_Message-Id'] === idOf(poison)) ? 422 : 200);
  await agent.log(ns.map((n) => acct('b', n)));
  const sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log, batchSize: 4, deadAfterRefusals: 2, minBackoffMs: 1000, clock });

  for (let i = 0; i < 10 && agent.outbox().length > 0; i++) {
    await sender.flush();
    clock.advance(60_000);
  }
  assert.deepEqual(agent.outbox(), []);
  assert.deepEqual(mw.storedIds, ns.filter((n) => n !== poison).map(idOf), 'the others once each, in order');
  const dead = agent.db.prepare('SELECT tenant_id, body, attempts, error FROM feedback_dead').all() as Array<{ tenant_id: number; body: string; attempts: number; error: string }>;
  assert.equal(dead.length, 1);
  assert.equal(JSON.parse(dead[0]!.body)['header_Message-Id'], idOf(poison));
  assert.equal(dead[0]!.tenant_id, SOS_ID);
  assert.match(dead[0]!.error, /^HTTP 422/);
  assert.equal(log.lines.filter((l) => l.event === 'feedback.dead_lettered').length, 1);
  assert.ok(log.lines.some((l) => l.event === 'feedback.refused' && l.level === 'error'));
  assert.deepEqual(sender.status(), { queued: 0, dead: 1, tenants: [] });

  // Put back by an operator once MailWizz takes it.
  mw.answer = () => 200;
  assert.equal(sender.requeueDead(), 1);
  assert.equal(await sender.flush(), 1);
  assert.equal(mw.storedIds.at(-1), idOf(poison));
  assert.equal(mw.storedIds.filter((id) => id === idOf(poison)).length, 1);
});

test('a wrong URL (404) keeps the records and retries with growing backoff; nothing is dead-lettered', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: () => true });
  cleanups.push(() => agent.close());
  const clock = new ManualClock('2026-11-24T12:00:00Z');
  const log = captureLog();
  const ns = [nextN(), nextN(), nextN()];
  await agent.log([acct('b', ns[0]!), acct('f', ns[1]!, {}, ULI), acct('b', ns[2]!)]);
  let fixed = false;
  mw.answer = () => (fixed ? 200 : 404);
  const sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log, minBackoffMs: 1000, maxBackoffMs: 4000, deadAfterRefusals: 1, clock });

  const start = clock.now().getTime();
  assert.equal(await sender.flush(), 0);
  assert.equal(mw.requests.length, 2, 'one POST per tenant');
  assert.equal(log.lines.filter((l) => l.event === 'feedback.misrouted' && l.level === 'error').length, 2);
  const head = (tenant: number) => agent.outbox().find((r) => r.tenant_id === tenant)!;
  assert.equal(head(SOS_ID).next_at, start + 1000);
  assert.equal(await sender.flush(), 0);
  assert.equal(mw.requests.length, 2, 'not before its backoff');
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    clock.set(head(SOS_ID).next_at);
    const before = clock.now().getTime();
    await sender.flush();
    delays.push(head(SOS_ID).next_at - before);
  }
  assert.deepEqual(delays, [2000, 4000, 4000, 4000], 'doubling up to maxBackoffMs');
  assert.equal(log.lines.filter((l) => l.event === 'feedback.misrouted').length, 2, 'logged once per tenant per outage');
  assert.equal(sender.status().tenants.find((t) => t.tenantId === SOS_ID)?.failing?.failures, 5);
  assert.equal((agent.db.prepare('SELECT COUNT(*) AS n FROM feedback_dead').get() as { n: number }).n, 0);

  fixed = true;
  clock.advance(10_000);
  assert.equal(await sender.flush(), 3);
  assert.deepEqual(new Set(mw.storedIds), new Set(ns.map(idOf)));
  assert.equal(mw.stored.length, 3);
  assert.equal(mw.stored.find((r) => r.type === 'f')?.vmta, '', 'as PowerMTA logged it: a complaint has no vmta');
  assert.deepEqual(sender.status(), { queued: 0, dead: 0, tenants: [] });
  assert.ok(log.lines.some((l) => l.event === 'feedback.recovered' && l.tenantId === ULIXAI_ID));
});

test('a POST that gets no answer times out and is retried; stop() past its grace aborts one in flight and keeps its records', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  const n = nextN();
  await agent.log([acct('b', n)]);
  mw.answer = () => 'hang';
  const clock = new ManualClock('2026-11-24T12:00:00Z');
  const log = captureLog();
  const sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log, timeoutMs: 100, clock });
  assert.equal(await sender.flush(), 0);
  assert.match(String(log.lines.find((l) => l.event === 'feedback.unavailable')?.error), /no answer within 100 ms/);
  assert.equal(agent.outbox()[0]!.attempts, 1);

  // With no grace left, stop() does not wait for the timeout: the POST is aborted.
  clock.advance(60_000);
  const patient = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log, timeoutMs: 60_000, clock });
  patient.start();
  await until(() => mw.requests.length === 2, 5000, 'the second POST');
  await patient.stop(0);
  assert.ok(log.lines.some((l) => l.event === 'feedback.stop_aborted'));
  assert.equal(agent.outbox()[0]!.attempts, 1, 'an aborted POST is not a failed attempt');
  assert.equal(log.lines.filter((l) => l.event === 'feedback.unavailable').length, 1, 'only the first POST timed out');

  mw.answer = () => 200;
  assert.equal(await sender.flush(), 1);
  // The hung requests never counted as taken.
  assert.deepEqual(mw.storedIds, [idOf(n)]);
});

test('stop() lets a POST in flight finish within its grace: MailWizz has the records once and the outbox is empty', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  const n = nextN();
  await agent.log([acct('b', n), acct('f', nextN())]);
  mw.answer = () => 'hang';
  const sender = new FeedbackSender({ db: agent.db, urlFor: () => mw.base(), log: captureLog(), timeoutMs: 60_000 });
  sender.start();
  await until(() => mw.requests.length === 1, 5000, 'the POST');
  const stopped = sender.stop(60_000);
  mw.release(200);
  await stopped;
  assert.equal(agent.outbox().length, 0, 'deleted once MailWizz answered: nothing to send again');
  assert.equal(mw.requests.length, 1, 'no new POST after stop');
  assert.equal(mw.storedIds[0], idOf(n));
});

test('webhook URLs and the per-tenant targets follow the config, reloads included', () => {
  assert.equal(webhookUrl('https://mw.example.com'), 'https://mw.example.com/dswh/pmta');
  assert.equal(webhookUrl(' https://mw.example.com/ '), 'https://mw.example.com/dswh/pmta');
  assert.equal(webhookUrl('https://example.com/mailwizz/index.php'), 'https://example.com/mailwizz/index.php/dswh/pmta');
  assert.equal(webhookUrl('https://mw.example.com/dswh/pmta'), 'https://mw.example.com/dswh/pmta');
  assert.equal(webhookUrl('https://mw.example.com/?k=1'), 'https://mw.example.com/dswh/pmta?k=1');
  assert.throws(() => webhookUrl('not a url'));

  let tenants: Array<{ id: number; mailwizz?: { url: string | null } }> = [{ id: 1, mailwizz: { url: 'https://a.example' } }, { id: 2 }];
  const targets = feedbackTargets(() => tenants);
  assert.equal(targets.enabled(1), true);
  assert.equal(targets.enabled(2), false);
  assert.equal(targets.urlFor(1), 'https://a.example');
  assert.equal(targets.urlFor(3), null);
  tenants = [{ id: 1, mailwizz: { url: null } }, { id: 2, mailwizz: { url: 'https://b.example' } }];
  assert.equal(targets.enabled(1), false);
  assert.equal(targets.urlFor(2), 'https://b.example');
});

test('a tenant without a usable URL keeps its records (logged once) until it has one', async () => {
  const mw = await mailwizz();
  const agent = new Agent(root(), { feedbackTenants: sosOnly });
  cleanups.push(() => agent.close());
  const n = nextN();
  await agent.log([acct('f', n)]);
  const log = captureLog();
  let url: string | null = null;
  const sender = new FeedbackSender({ db: agent.db, urlFor: () => url, log });
  assert.equal(await sender.flush(), 0);
  assert.equal(await sender.flush(), 0);
  assert.equal(log.lines.filter((l) => l.event === 'feedback.no_url').length, 1);
  url = 'mailwizz.example.com';
  assert.equal(await sender.flush(), 0);
  assert.equal(log.lines.filter((l) => l.event === 'feedback.bad_url').length, 1);
  assert.equal(agent.outbox().length, 1);
  // A MailWizz behind basic auth: the credentials in the URL become the header (and stay out of the logs).
  url = `http://feedback:s%40cret@127.0.0.1:${mw.port}/mw`;
  mw.answer = (req) => (req.authorization === `Basic ${Buffer.from('feedback:s@cret').toString('base64')}` ? 200 : 401);
  assert.equal(await sender.flush(), 1);
  assert.deepEqual(mw.storedIds, [idOf(n)]);
  assert.equal(mw.requests[0]!.path, '/mw/dswh/pmta');
  assert.ok(!JSON.stringify(log.lines).includes('s%40cret'));
});
