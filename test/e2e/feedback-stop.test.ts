// A SIGTERM while the daemon (its own process, as systemd runs it) is posting
// bounces to MailWizz: the POST in flight is let finish, so the records are
// not posted again after the restart.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { startSimulator } from '../../src/sim/simulator.js';
import { spawnDaemon } from '../helpers/child.js';
import { SOS_TENANT, childConfig } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir, waitFor } from '../helpers/env.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('a SIGTERM during a feedback POST lets it finish: MailWizz gets the record once, nothing is left to send', async () => {
  const { dir, cleanup } = tmpDir();
  cleanups.push(cleanup);
  // MailWizz holds its answer until the daemon has been told to stop.
  const posts: string[] = [];
  let answer: (() => void) | null = null;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      posts.push(body);
      answer = () => res.end('{"status":"success"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const mwUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  const stateDir = path.join(dir, 'state');
  const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), bounceDomains: ['gone.example'] });
  cleanups.push(() => sim.close());
  const config = childConfig(stateDir, sim.port, {
    tenants: [{ ...SOS_TENANT, mailwizz: { url: mwUrl } }],
    patch: {
      smtp: { port: 0, shutdownGraceMs: 30_000 },
      accounting: { usePolling: true, pollIntervalMs: 50 },
      feedback: { intervalMs: 100, timeoutMs: 60_000 },
    },
  });
  const file = path.join(dir, 'config.json');
  const d1 = await spawnDaemon(file, config);
  cleanups.push(() => d1.proc.kill('SIGKILL'));
  const m = campaignMessage({ to: 'x@gone.example' });
  assert.ok((await send(d1.port, { to: 'x@gone.example', raw: m.raw })).ok);
  await waitFor(() => posts.length === 1, 15_000, 'the POST to MailWizz');

  d1.proc.kill('SIGTERM');
  await waitFor(() => d1.lines.some((l) => l.event === 'daemon.stopping'), 10_000, 'the stop begun');
  answer!();
  assert.equal(await d1.exited, 0);
  assert.ok(!d1.lines.some((l) => l.event === 'feedback.stop_aborted'));

  const db = new Database(path.join(stateDir, 'pmta-agent.db'), { readonly: true });
  const left = (db.prepare('SELECT COUNT(*) AS n FROM feedback_outbox').get() as { n: number }).n;
  db.close();
  assert.equal(left, 0, 'nothing left to post again on the next start');
  assert.equal(posts.length, 1);
  assert.equal(JSON.parse(posts[0]!.trim())['header_Message-Id'], m.messageId);
});
