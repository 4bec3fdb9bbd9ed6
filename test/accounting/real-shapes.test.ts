// Files as PowerMTA really writes them, read by the tailer from disk. The lines
// are the vendor guide's samples and a production user's file
// (../shared/reference/powermta.md §3.5-3.8), typed here as text, not made by
// our own writer; only VMTA names, IPs and addresses are swapped for the
// test tenants'. Each shape must be read with no malformed line.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import type { SentLookup } from '../../src/accounting/attribute.js';
import { SuppressionStore } from '../../src/accounting/suppression.js';
import { feedbackSink } from '../../src/feedback/outbox.js';
import { KNOWN_VMTAS, SOS_ID, captureLog, counter, storeIn, storedTotals, tailer, tmpDir, type TestLog, type TestStore } from './fixtures.js';

const roots: Array<() => void> = [];
after(() => roots.forEach((c) => c()));

const [SOS1, SOS2] = KNOWN_VMTAS as [(typeof KNOWN_VMTAS)[number], (typeof KNOWN_VMTAS)[number]];

/** PowerMTA 4.x/5.x default `*` header of d/b/t records (powermta.md §3.5). */
const DEFAULT_HEADER =
  'type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool';

/** The agent's `record-fields X *,header_Message-Id`, with one more header an operator added. */
const AGENT_HEADER = `${DEFAULT_HEADER},header_Message-Id,header_X-Mw-Campaign-Uid`;

interface Ingested {
  store: TestStore;
  log: TestLog;
  /** feedback_outbox bodies, parsed. */
  outbox: Array<Record<string, string>>;
  suppressed: (email: string) => string | null;
}

/** Writes `content` as PowerMTA's live file and lets a tailer read it, with feedback on for every tenant. */
async function ingest(content: string | Buffer, sent?: SentLookup): Promise<Ingested> {
  const t = tmpDir();
  roots.push(t.cleanup);
  const acct = path.join(t.dir, 'acct');
  mkdirSync(acct);
  writeFileSync(path.join(acct, 'acct-2026-11-24-0000.csv'), content);
  const store = sent ? storeIn(t.dir, sent) : storeIn(t.dir);
  const log = captureLog();
  const clock = { now: () => new Date('2026-11-24T12:00:00Z') };
  await tailer(acct, store, { log, clock, feedback: feedbackSink(store.db, { enabled: () => true }, clock) }).drain();
  const outbox = (store.db.prepare('SELECT body FROM feedback_outbox ORDER BY id').all() as Array<{ body: string }>).map((r) => JSON.parse(r.body) as Record<string, string>);
  const sup = new SuppressionStore(store.db);
  return { store, log, outbox, suppressed: (email) => sup.check(SOS_ID, email)?.reason ?? null };
}

function noMalformed(i: Ingested): void {
  assert.equal(counter(i.store.db, 'malformed'), 0, JSON.stringify(i.log.lines.filter((l) => l.event === 'acct.malformed_line')));
}

/** The sent-message index of one message the agent forwarded. */
function indexOf(id: string, ip: (typeof KNOWN_VMTAS)[number], recipients: string[]): SentLookup {
  return (key) => (key === id ? { tenantId: ip.tenantId, ip: ip.ip, vmta: ip.vmta, jobId: null, recipients, day: '2026-11-24' } : undefined);
}

test('the guide\'s d, b and t samples: a d row one field short of its header (no vmtaPool) is read, not refused', async () => {
  const text = [
    DEFAULT_HEADER,
    // UG5 d sample: 22 fields under a 23-column header. PowerMTA leaves empty trailing fields out.
    `d,2019-02-08 21:54:05+0000,2019-02-08 21:54:05+0000,AA-D=1181.com@bounce.bar.com,D@1181.com,,relayed,2.0.0 (success),smtp;250 DATA ok,foo.int.port25.com (10.1.2.3),,api,foo.int.port25.com (127.0.0.1),smtp,${SOS1.ip},10.1.2.3,"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8",41159,${SOS1.vmta},JoBID29546016861868,,1181.com/${SOS1.vmta}`,
    `b,2019-02-08 21:53:41+0000,2019-02-08 21:53:41+0000,CB-A=yahoo.com@bounce.bar.com,A@yahoo.com,,failed,5.7.1 (delivery not authorized),smtp;554 5.7.1 Denied - Spam Suspected - http://www.w357sfhsjhf873.net/services/spamwatch/blocked.php,foo.int.bar.com (10.1.2.3),spam-related,api,foo.int.bar.com (127.0.0.1),smtp,${SOS1.ip},10.1.2.3,"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8",,${SOS1.vmta},,,yahoo.rollup/${SOS1.vmta}`,
    `t,2019-02-08 21:53:54+0000,2019-02-08 21:53:54+0000,DB.AD.G.AA.AB-DA=yahoo.fr@bounce.bar.com,DA@yahoo.fr,,delayed,4.7.0 (other or undefined security status),smtp;421 4.7.0 mx002.roc2.bluetie.com Error: too many errors,foo.int.bar.com (10.1.2.165),policy-related,api,foo.int.bar.com (127.0.0.1),smtp,${SOS1.ip},10.1.2.165,"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8",,${SOS1.vmta},,,yahoo.rollup/${SOS1.vmta},`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.deepEqual(storedTotals(i.store.db).ips[SOS1.ip], { delivered: 1, bouncedHard: 0, bouncedSoft: 0, bouncedOther: 1, deferred: 1, complaints: 0 });
});

test('a UTF-8 byte-order mark before the header line', async () => {
  const text = `\uFEFF${AGENT_HEADER}\r\nd,2026-11-24 10:00:00+0000,2026-11-24 09:59:58+0000,b@sos-mail.com,a@gmail.com,,relayed,2.0.0 (success),smtp;250 OK,mx (1.2.3.4),,smtp,agent (127.0.0.1),smtp,${SOS1.ip},1.2.3.4,"PIPELINING,SIZE",1200,${SOS1.vmta},,,gmail.com/${SOS1.vmta},,<a1@sos-mail.com>,j1\r\n`;
  const i = await ingest(Buffer.from(text, 'utf8'));
  noMalformed(i);
  assert.equal(storedTotals(i.store.db).ips[SOS1.ip]?.delivered, 1);
});

test('iso-times no: epoch seconds in timeLogged and timeQueued', async () => {
  // 1795507200 = 2026-11-24 08:00:00 UTC
  const text = `${DEFAULT_HEADER}\nb,1795507200,1795507190,b@sos-mail.com,Gone@Example.org,,failed,5.1.1 (bad destination mailbox address),smtp;550 5.1.1 no such user,mx.example.org (198.51.100.7),bad-mailbox,smtp,agent (127.0.0.1),smtp,${SOS2.ip},198.51.100.7,"PIPELINING",,${SOS2.vmta},,,example.org/${SOS2.vmta},\n`;
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(i.suppressed('gone@example.org'), 'hard-bounce');
  const day = i.store.db.prepare('SELECT day FROM ip_stats_daily WHERE ip = ?').get(SOS2.ip) as { day: string };
  assert.equal(day.day, '2026-11-24');
});

test('a quoted dsnDiag with a newline in it is one record, and the lines after it are read as usual', async () => {
  const text = [
    AGENT_HEADER,
    `b,2026-11-24 10:00:00+0000,2026-11-24 09:59:00+0000,b@sos-mail.com,multi@example.org,,failed,5.1.1 (bad destination mailbox address),"smtp;550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please try double-checking the recipient's email address",mx (1.2.3.4),bad-mailbox,smtp,agent (127.0.0.1),smtp,${SOS1.ip},1.2.3.4,"PIPELINING",,${SOS1.vmta},,,example.org/${SOS1.vmta},,<q1@sos-mail.com>,j`,
    `d,2026-11-24 10:00:01+0000,2026-11-24 09:59:00+0000,b@sos-mail.com,after@example.org,,relayed,2.0.0 (success),smtp;250 OK,mx (1.2.3.4),,smtp,agent (127.0.0.1),smtp,${SOS1.ip},1.2.3.4,"PIPELINING",100,${SOS1.vmta},,,example.org/${SOS1.vmta},,<q2@sos-mail.com>,j`,
    '',
  ].join('\r\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(i.suppressed('multi@example.org'), 'hard-bounce');
  assert.match(i.outbox[0]?.dsnDiag ?? '', /does not exist\.\r\n550 5\.1\.1 Please/);
  assert.equal(storedTotals(i.store.db).ips[SOS1.ip]?.delivered, 1);
  assert.equal(counter(i.store.db, 'records'), 2);
});

test('a header without timeLogged (a production record-fields list): dated by timeQueued, and the log says so', async () => {
  // magicdude4eva/port25-bouncehandler README, vmta names swapped for ours.
  const text = [
    'type,timeQueued,bounceCat,vmta,orig,rcpt,srcMta,dlvSourceIp,jobId,dsnStatus,dsnMta',
    `b,2016-05-29 01:10:51+0200,bad-domain,${SOS1.vmta},mailwizz@example.com,XXX@domain.com,sourcemta.domain.com (0.0.0.0),1.1.1.1,,5.1.2 (bad destination system: no such domain),`,
    `b,2016-05-29 01:10:23+0200,bad-mailbox,${SOS2.vmta},mailwizz@example.com,YYY@anotherdomain.com,sourcemta.domain.com (0.0.0.0),1.1.1.1,,5.1.1 (bad destination mailbox address),mx1.destindomain.com (2.2.2.2)`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(i.suppressed('xxx@domain.com'), 'hard-bounce');
  assert.equal(i.suppressed('yyy@anotherdomain.com'), 'hard-bounce');
  const days = i.store.db.prepare('SELECT DISTINCT day FROM ip_stats_daily').all() as Array<{ day: string }>;
  assert.deepEqual(days.map((d) => d.day), ['2016-05-28'], 'timeQueued 01:10+0200 is the 28th in UTC');
  const note = i.log.lines.find((l) => l.event === 'acct.header_note');
  assert.match(String(note?.note), /no timeLogged: records are dated by timeQueued/);
  assert.equal(note?.line, 1);
});

test('header_message-id in lower case (record-fields keeps the operator\'s case): the bounce is suppressed and fed back', async () => {
  const text = [
    DEFAULT_HEADER.replace(',vmtaPool', ',vmtaPool,header_message-id'),
    `b,2026-11-24 10:00:00+0000,2026-11-24 09:59:00+0000,b@sos-mail.com,lower@example.org,,failed,5.1.1 (bad destination mailbox address),smtp;550 5.1.1 unknown,mx (1.2.3.4),bad-mailbox,smtp,agent (127.0.0.1),smtp,${SOS1.ip},1.2.3.4,,,${SOS1.vmta},,,example.org/${SOS1.vmta},,<lc1@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(i.suppressed('lower@example.org'), 'hard-bounce');
  assert.equal(i.outbox.length, 1);
  assert.equal(i.outbox[0]?.['header_Message-Id'], '<lc1@sos-mail.com>');
});

test('a last line cut short by a restart, then a new header with other columns: the records after it are read by the new header', async () => {
  const before = [
    AGENT_HEADER,
    `d,2026-11-24 10:00:00+0000,2026-11-24 09:59:00+0000,b@sos-mail.com,one@example.org,,relayed,2.0.0 (success),smtp;250 OK,mx (1.2.3.4),,smtp,agent (127.0.0.1),smtp,${SOS1.ip},1.2.3.4,,100,${SOS1.vmta},,,example.org/${SOS1.vmta},,<r1@sos-mail.com>,j`,
    // PowerMTA stopped in the middle of this line: no newline after it.
    `b,2026-11-24 10:00:01+0000,2026-11-24 09:59:00+0000,b@sos-mail.com,cut@exa`,
  ].join('\n');
  // After the restart, a header with rcpt and orig in other places.
  const afterRestart = [
    'type,timeLogged,rcpt,orig,bounceCat,dsnStatus,vmta,header_Message-Id',
    `b,2026-11-24 10:05:00+0000,Victim@Example.org,bounces@sos-mail.com,bad-mailbox,5.1.1 (bad destination mailbox address),${SOS1.vmta},<r2@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(before + afterRestart);
  assert.equal(i.suppressed('victim@example.org'), 'hard-bounce');
  assert.equal(i.suppressed('bounces@sos-mail.com'), null, 'never the sender');
  const cut = i.log.lines.filter((l) => l.event === 'acct.malformed_line');
  assert.deepEqual(cut.map((l) => [l.line, l.reason]), [[3, 'line cut short, followed by a header line']], 'only the cut line, which is truly unreadable');
  assert.equal(counter(i.store.db, 'records'), 2);
});

test('a complaint as PowerMTA writes it (f: no vmta, repSourceIp, the reporter as dlvSourceIp) counts on the IP it is about', async () => {
  // The f field set of powermta.md §3.6 with our record-fields headers.
  const text = [
    'type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,reportingMta,dlvSourceIp,reportedDomain,header_From,header_Return-Path,header_X-job,header_Subject,header_Message-Id',
    `f,2026-11-24 11:40:37+0000,${SOS2.ip},abuse,arf,AOL SComp,,bounces@sos-mail.com,Angry@aol.com,mail1.domain.com,169.63.151.30,sos-mail.com,news@sos-mail.com,bounces@sos-mail.com,c8a1f,Hello,<c1@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(storedTotals(i.store.db).ips[SOS2.ip]?.complaints, 1);
  assert.equal(i.suppressed('angry@aol.com'), 'complaint');
  assert.equal(i.outbox[0]?.type, 'f');
  assert.equal(i.outbox[0]?.['header_Message-Id'], '<c1@sos-mail.com>');
  assert.equal(counter(i.store.db, 'unattributed'), 0);
});

test('a JMRP complaint with rcpt redacted takes the recipient from the sent-message index', async () => {
  const text = [
    'type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,reportingMta,dlvSourceIp,reportedDomain,header_Message-Id',
    `f,2026-11-24 11:40:37+0000,${SOS1.ip},abuse,jmrp,Hotmail FBL,,bounces@sos-mail.com,,,65.55.234.200,sos-mail.com,<Hm1@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(text, indexOf('hm1@sos-mail.com', SOS1, ['Redacted@Hotmail.com']));
  noMalformed(i);
  assert.equal(i.suppressed('redacted@hotmail.com'), 'complaint');
  assert.equal(storedTotals(i.store.db).ips[SOS1.ip]?.complaints, 1);
  assert.equal(i.outbox[0]?.rcpt, 'redacted@hotmail.com');
});

test('the guide\'s rb sample (no vmta, no dlvSourceIp) for a message the agent forwarded: suppressed and fed back', async () => {
  const text = [
    'type,timeLogged,orig,rcpt,orcpt,dsnStatus,dsnDiag,dsnMta,dsnReportingMta,bounceCat,srcType,srcMta,envId,format,header_Message-Id',
    // UG5's rb line, then envId, format and the Message-ID column our record-fields adds.
    `rb,2010-12-01 14:24:44-0500,bounce@bounce.com,lksjflkj@somedomain.com,,5.1.1 (bad destination mailbox address),"smtp;550 5.1.1 no such local recipient: <lksjflkj@somedomain.com> in ""RCPT TO:<lksjflkj@somedomain.com>""",mail.remotedomain.com (169.3.169.30),my.local.server.com,bad-mailbox,smtp,my.local.server.com (192.168.0.150),,dsn,<fw1@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(text, indexOf('fw1@sos-mail.com', SOS1, ['lksjflkj@somedomain.com']));
  noMalformed(i);
  assert.equal(i.suppressed('lksjflkj@somedomain.com'), 'hard-bounce');
  assert.equal(storedTotals(i.store.db).ips[SOS1.ip]?.bouncedHard, 1);
  assert.equal(i.outbox[0]?.type, 'rb');
  assert.equal(i.outbox[0]?.bounceCat, 'bad-mailbox');
});

test('unattributed records are counted per reason and logged with file and line', async () => {
  const text = [
    'type,timeLogged,orig,rcpt,dsnStatus,bounceCat,vmta,dlvSourceIp,header_Message-Id',
    'd,2026-11-24 10:00:00+0000,b@x,a@x.org,2.0.0,,ghost-1-2-3-4,1.2.3.4,',
    'rb,2026-11-24 10:00:01+0000,b@x,a@x.org,5.1.1,bad-mailbox,,,<nobody-sent-this@x>',
    'd,2026-11-24 10:00:02+0000,b@x,a@x.org,2.0.0,,,9.9.9.9,',
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(counter(i.store.db, 'unattributed'), 3);
  assert.equal(counter(i.store.db, 'unattributed:unknown-vmta'), 1);
  assert.equal(counter(i.store.db, 'unattributed:unknown-message-id'), 1);
  assert.equal(counter(i.store.db, 'unattributed:unknown-ip'), 1);
  const logged = i.log.lines.filter((l) => l.event === 'acct.unattributed');
  assert.deepEqual(logged.map((l) => [l.line, l.reason]), [[2, 'unknown-vmta'], [3, 'unknown-message-id'], [4, 'unknown-ip']]);
  assert.ok(logged.every((l) => String(l.file).endsWith('acct-2026-11-24-0000.csv')));
});

test('a complaint that names neither the recipient nor a known message still counts against the IP it is about', async () => {
  const text = [
    'type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,reportingMta,dlvSourceIp,reportedDomain',
    `f,2026-11-24 11:40:37+0000,${SOS1.ip},abuse,jmrp,Hotmail FBL,,bounces@sos-mail.com,,,65.55.234.200,sos-mail.com`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(storedTotals(i.store.db).ips[SOS1.ip]?.complaints, 1);
  assert.equal((i.store.db.prepare('SELECT COUNT(*) AS n FROM suppression').get() as { n: number }).n, 0, 'nobody to suppress');
});

test('a header written all in lower case (feedbacktype, header_message-id) is one header, not a header glued to another', async () => {
  const text = [
    'type,timelogged,repsourceip,feedbacktype,format,rcpt,header_message-id',
    `f,2026-11-24 11:40:37+0000,${SOS1.ip},abuse,arf,Low@Example.org,<low1@sos-mail.com>`,
    '',
  ].join('\n');
  const i = await ingest(text);
  noMalformed(i);
  assert.equal(i.suppressed('low@example.org'), 'complaint');
  assert.equal(i.outbox[0]?.feedbackType, 'abuse');
});
