// Every file shape PowerMTA really writes, read by the built daemon as its own
// process (as systemd runs it): one accounting file holding, in turn, a BOM,
// CRLF lines, the guide's d sample one field short of its header, a dsnDiag
// spanning lines, a line cut short by a restart with the new header glued to
// it, a record-fields list without timeLogged, epoch times, a lower-case
// header_message-id, a JMRP complaint without rcpt and an rb without vmta for
// messages the daemon forwarded. Only the cut line may count as malformed.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { startSimulator } from '../../src/sim/simulator.js';
import { spawnDaemon } from '../helpers/child.js';
import { CHILD_API_TOKEN, SOS_TENANT, childConfig } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir, waitFor } from '../helpers/env.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const IP = '45.123.10.1';
const VMTA = 'sos-expat-45-123-10-1';
const DEFAULT_HEADER =
  'type,timeLogged,timeQueued,orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool';

test('the daemon reads every real file shape with nothing malformed but a line PowerMTA never finished', async () => {
  const { dir, cleanup } = tmpDir();
  cleanups.push(cleanup);
  const fed: Array<Record<string, string>> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      for (const l of body.split('\n').filter(Boolean)) fed.push(JSON.parse(l) as Record<string, string>);
      res.end('{"status":"success"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const acctDir = path.join(dir, 'acct');
  const sim = await startSimulator({ port: 0, acctDir });
  cleanups.push(() => sim.close());
  const config = childConfig(path.join(dir, 'state'), sim.port, {
    tenants: [{ ...SOS_TENANT, mailwizz: { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` } }],
    patch: { accounting: { usePolling: true, pollIntervalMs: 50 }, feedback: { intervalMs: 100 } },
  });
  const d = await spawnDaemon(path.join(dir, 'config.json'), config);
  cleanups.push(async () => {
    d.proc.kill('SIGTERM');
    await d.exited;
  });
  const api = async (p: string): Promise<string> => (await fetch(`${d.apiUrl}${p}`, { headers: { authorization: `Bearer ${CHILD_API_TOKEN}` } })).text();

  // Two messages the daemon forwards: PowerMTA later reports a complaint (recipient redacted) and a remote bounce.
  const complained = campaignMessage({ to: 'redacted@hotmail.com' });
  const bounced = campaignMessage({ to: 'moved-away@example.org' });
  assert.ok((await send(d.port, { to: 'redacted@hotmail.com', raw: complained.raw })).ok);
  assert.ok((await send(d.port, { to: 'moved-away@example.org', raw: bounced.raw })).ok);

  const T = '2026-11-25 10:00:00+0000';
  const agentHeader = `${DEFAULT_HEADER},header_Message-Id`;
  const parts = [
    // A BOM, CRLF endings, the guide's d sample without its empty vmtaPool.
    `\uFEFF${agentHeader}\r\n`,
    `d,${T},${T},AA-D=1181.com@bounce.bar.com,D@1181.com,,relayed,2.0.0 (success),smtp;250 DATA ok,foo.int.port25.com (10.1.2.3),,api,foo.int.port25.com (127.0.0.1),smtp,${IP},10.1.2.3,"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8",41159,${VMTA},JoBID29546016861868,,1181.com/${VMTA}\r\n`,
    // A dsnDiag with a line break inside its quotes.
    `b,${T},${T},b@sos-mail.com,multi@example.org,,failed,5.1.1 (bad destination mailbox address),"smtp;550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check",mx (1.2.3.4),bad-mailbox,smtp,agent (127.0.0.1),smtp,${IP},1.2.3.4,,,${VMTA},,,example.org/${VMTA},,<multi@sos-mail.com>\r\n`,
    // PowerMTA stops in the middle of a line ...
    `b,${T},${T},b@sos-mail.com,cut@exa`,
    // ... and its next start writes a header straight after it: a production record-fields list without timeLogged.
    'type,timeQueued,bounceCat,vmta,orig,rcpt,srcMta,dlvSourceIp,jobId,dsnStatus,dsnMta\n',
    `b,2026-11-25 01:10:51+0200,bad-domain,${VMTA},mailwizz@example.com,NoTime@Domain.com,sourcemta.domain.com (0.0.0.0),${IP},,5.1.2 (bad destination system: no such domain),\n`,
    // iso-times no, and header_message-id as the operator typed it.
    `${DEFAULT_HEADER},header_message-id\n`,
    `b,1795507200,1795507190,b@sos-mail.com,Epoch@Example.org,,failed,5.1.1 (bad destination mailbox address),smtp;550 5.1.1 no such user,mx (198.51.100.7),bad-mailbox,smtp,agent (127.0.0.1),smtp,${IP},198.51.100.7,,,${VMTA},,,example.org/${VMTA},,<epoch@sos-mail.com>\n`,
    // A JMRP complaint with rcpt redacted and no vmta, about a message the daemon forwarded.
    'type,timeLogged,repSourceIp,feedbackType,format,userAgent,envId,orig,rcpt,reportingMta,dlvSourceIp,reportedDomain,header_Message-Id\n',
    `f,${T},${IP},abuse,jmrp,Hotmail FBL,,bounces@sos-mail.com,,,65.55.234.200,sos-mail.com,${complained.messageId}\n`,
    // A remote bounce: no vmta, no dlvSourceIp.
    'type,timeLogged,orig,rcpt,orcpt,dsnStatus,dsnDiag,dsnMta,dsnReportingMta,bounceCat,srcType,srcMta,envId,format,header_Message-Id\n',
    `rb,${T},bounces@sos-mail.com,moved-away@example.org,,5.1.1 (bad destination mailbox address),smtp;550 5.1.1 mailbox unavailable,mx.example.org (198.51.100.7),mx.example.org,bad-mailbox,smtp,mx.example.org (198.51.100.7),,dsn,${bounced.messageId}\n`,
  ];
  appendFileSync(path.join(acctDir, 'acct-2026-11-25-0001.csv'), parts.join(''));

  const want = ['multi@example.org', 'notime@domain.com', 'epoch@example.org', 'redacted@hotmail.com', 'moved-away@example.org'];
  let listed: string[] = [];
  await waitFor(
    async () => {
      listed = (JSON.parse(await api('/api/v2/suppression/sos-expat?limit=100')) as { entries: Array<{ email: string }> }).entries.map((e) => e.email);
      return want.every((w) => listed.includes(w));
    },
    30_000,
    'every shape read',
  );
  assert.ok(!listed.includes('mailwizz@example.com') && !listed.includes('b@sos-mail.com'), 'never a sender');
  await waitFor(() => ['rb', 'f'].every((t) => fed.some((l) => l.type === t)) && fed.some((l) => l['header_Message-Id'] === '<epoch@sos-mail.com>'), 15_000, 'fed back');
  const metrics = await api('/metrics');
  assert.match(metrics, /^pmta_agent_acct_malformed_lines_total 1$/m, 'the cut line alone');
  assert.doesNotMatch(metrics, /^pmta_agent_acct_unattributed_total\{[^}]*\} [1-9]/m);
  assert.ok(d.lines.some((l) => l.event === 'acct.header_note'), 'the header without timeLogged is reported');
});
