// The warmup cap under the faults that used to leak it, each with the daemon as
// its own process: a session kept alive past its reservation's TTL, SIGKILL
// between PowerMTA's 250 and the commit, Redis hanging at the commit.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { CHILD_API_TOKEN, childConfig, SOS_TENANT } from '../helpers/child-config.js';
import { rawSmtp } from '../helpers/raw-smtp.js';
import { campaignMessage, send, tmpDir, waitFor, type SendResult } from '../helpers/env.js';
import { startRedisServer } from '../helpers/redis-server.js';

const TOKEN = CHILD_API_TOKEN;
const today = () => new Date().toISOString().slice(0, 10);

/** SOS-Expat on one warming IP whose cap today is `cap`; reservations expire after `ttlMs`, swept every 100 ms. */
function capConfig(stateDir: string, pmtaPort: number, cap: number, ttlMs: number, extra: Record<string, Record<string, unknown>> = {}) {
  return childConfig(stateDir, pmtaPort, {
    tenants: [{ ...SOS_TENANT, ips: [{ ...SOS_TENANT.ips[0]!, state: 'warming', warmupStart: today() }] }],
    patch: {
      smtp: { maxClients: 100 },
      ledger: { reservationTtlMs: ttlMs, sweepIntervalMs: 100 },
      warmup: { timezone: 'UTC', steps: [{ days: 60, dailyCap: cap }], activeDailyCap: 10_000 },
      ...extra,
    },
  });
}

const rcptsReceived = (sim: Simulator) => sim.received.reduce((n, m) => n + m.rcptTo.length, 0);

async function quota(d: ChildDaemon): Promise<{ sent_today: number; reserved: number }> {
  const res = await fetch(`${d.apiUrl}/api/v2/quotas/sos-expat`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return ((await res.json()) as { ips: Array<{ sent_today: number; reserved: number }> }).ips[0]!;
}

/** Message-IDs waiting in a stopped daemon's spool (`sub` '' when the spool is not under the state dir). */
function spooledIds(stateDir: string, sub = 'spool'): string[] {
  const root = path.join(stateDir, sub);
  const out: string[] = [];
  for (const d of readdirSync(root)) {
    if (d === 'tmp') continue;
    for (const f of readdirSync(path.join(root, d))) if (f.endsWith('.json')) out.push(JSON.parse(readFileSync(path.join(root, d, f), 'utf8')).messageId);
  }
  return out;
}

/** Root may mount a small tmpfs: a real full file system rather than a simulated error. */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  // Root in a container may still lack the right to mount: try once rather than fail the suite.
  const probe = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Writes until the file system says ENOSPC. */
function fillUp(file: string): void {
  const chunk = Buffer.alloc(64 * 1024);
  const fd = openSync(file, 'w');
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

async function stop(d: ChildDaemon): Promise<void> {
  d.proc.kill('SIGTERM');
  await d.exited;
}

describe('the warmup cap holds through faults (daemon as a process)', () => {
  it('a session that keeps itself alive with NOOP past the reservation TTL cannot push PowerMTA over the cap', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const d = await spawnDaemon(path.join(dir, 'c.json'), capConfig(path.join(dir, 'state'), sim.port, 3, 600));
    try {
      const s = await rawSmtp(d.port);
      await s.cmd('EHLO mailwizz');
      assert.match(await s.cmd(`AUTH PLAIN ${Buffer.from('\0sos-expat\0secret-sos-1').toString('base64')}`), /^235/);
      assert.match(await s.cmd('MAIL FROM:<news@sos-mail.com>'), /^250/);
      for (let i = 0; i < 3; i++) assert.match(await s.cmd(`RCPT TO:<held${i}@example.net>`), /^250/);
      // Well past the TTL, with sweeps every 100 ms.
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 250));
        assert.match(await s.cmd('NOOP'), /^250/);
      }
      assert.deepEqual(await quota(d), { ...(await quota(d)), reserved: 3 }, 'still held by the live session');
      // Other sessions find no quota: their mail waits.
      for (let i = 0; i < 3; i++) {
        const r = await send(d.port, { to: `other${i}@example.net` });
        assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
      }
      assert.match(await s.cmd('DATA'), /^354/);
      const m = campaignMessage({ to: 'held0@example.net' });
      assert.match(await s.cmd(`${m.raw}\r\n.`), /^250/);
      s.close();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(rcptsReceived(sim), 3, 'exactly the cap reached PowerMTA');
      assert.equal((await quota(d)).sent_today, 3);
    } finally {
      await stop(d);
      await sim.close();
      cleanup();
    }
  });

  it('SIGKILL between PowerMTA taking mail and the commit, three times: the units stay counted, 0 recipients over the cap, no acknowledged message lost', async () => {
    const { dir, cleanup } = tmpDir();
    const cap = 30;
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const stateDir = path.join(dir, 'state');
    const cfg = capConfig(stateDir, sim.port, cap, 300);
    const acked: string[] = [];
    let d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
    try {
      // Senders keep going across the kills, as MailWizz would.
      let stopSending = false;
      const sender = async (k: number) => {
        for (let i = 0; !stopSending; i++) {
          const m = campaignMessage({ to: `s${k}-${i}@example.net` });
          const r: SendResult = await send(d.port, { to: `s${k}-${i}@example.net`, raw: m.raw });
          if (r.ok) acked.push(m.messageId);
          else await new Promise((res) => setTimeout(res, 50)); // daemon down or restarting
        }
      };
      const senders = Array.from({ length: 8 }, (_, k) => sender(k));
      for (let kill = 0; kill < 3; kill++) {
        const from = sim.received.length;
        await waitFor(() => sim.received.length >= from + 4, 20_000, `mail flowing before kill ${kill + 1}`);
        d.proc.kill('SIGKILL');
        await d.exited;
        d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
      }
      // Past every TTL and sweep; the cap is used up and the rest waits.
      await waitFor(async () => (await quota(d)).sent_today >= cap, 30_000, 'cap used');
      await new Promise((r) => setTimeout(r, 800));
      stopSending = true;
      await Promise.all(senders);
      await new Promise((r) => setTimeout(r, 300));
      const received = rcptsReceived(sim);
      assert.ok(received <= cap, `${received} recipients reached PowerMTA against a cap of ${cap}`);
      assert.ok((await quota(d)).sent_today >= received, 'everything PowerMTA took is counted');
      await stop(d);
      const arrived = new Set(sim.received.map((m) => m.messageId));
      const waiting = new Set(spooledIds(stateDir));
      const lost = acked.filter((id) => !arrived.has(id) && !waiting.has(id));
      assert.deepEqual(lost, [], 'every message MailWizz got a 250 for reached PowerMTA or waits in the spool');
    } finally {
      d.proc.kill('SIGKILL');
      await sim.close();
      cleanup();
    }
  });

  it('Redis hanging while PowerMTA answers: the commit is retried, not dropped, and the cap holds', async () => {
    const { dir, cleanup } = tmpDir();
    const cap = 10;
    const redis = await startRedisServer();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), slowMs: 1500 });
    const d = await spawnDaemon(
      path.join(dir, 'c.json'),
      capConfig(path.join(dir, 'state'), sim.port, cap, 800, { store: { redisUrl: redis.url } }),
    );
    try {
      // Four messages reach PowerMTA, which answers after 1.5 s; Redis hangs before that and stays away past the TTL.
      const first = Array.from({ length: 4 }, (_, i) => send(d.port, { to: `first${i}@example.net` }));
      await new Promise((r) => setTimeout(r, 600));
      redis.pause();
      await new Promise((r) => setTimeout(r, 2500));
      redis.resume();
      for (const r of await Promise.all(first)) assert.ok(r.ok && !/Queued/.test(r.response), JSON.stringify(r));
      await waitFor(() => d.lines.some((l) => l.event === 'ledger.commit_retried'), 10_000, 'commits retried');
      await waitFor(async () => (await quota(d)).sent_today === 4, 10_000, 'the four counted');
      sim.configure({ slowMs: 0 });
      const more = await Promise.all(Array.from({ length: 10 }, (_, i) => send(d.port, { to: `more${i}@example.net` })));
      assert.equal(more.filter((r) => r.ok && /Queued/.test(r.response)).length, 4, 'only the rest of the cap goes now');
      assert.equal(rcptsReceived(sim), cap);
      assert.equal((await quota(d)).sent_today, cap);
    } finally {
      await stop(d);
      await sim.close();
      await redis.stop();
      cleanup();
    }
  });

  it('SIGKILL after PowerMTA took a spooled message but before the agent heard its 250: its accounting record settles it, the spooled copy is not sent again, the unit stays counted', async () => {
    const { dir, cleanup } = tmpDir();
    let d: ChildDaemon | null = null;
    let killOnReceive = false;
    // The simulator logs sim.received just before it writes its 250: a kill from here lands before the agent reads the reply.
    const sim = await startSimulator({
      port: 0,
      acctDir: path.join(dir, 'acct'),
      log: (line) => {
        if (killOnReceive && line.includes('"sim.received"')) {
          killOnReceive = false;
          d!.proc.kill('SIGKILL');
        }
      },
    });
    const stateDir = path.join(dir, 'state');
    // A long hold: a copy sent again here could only come from a failed reconciliation.
    const cfg = capConfig(stateDir, sim.port, 10, 60_000, { spool: { unknownFateHoldMs: 600_000 } });
    d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
    try {
      await sim.stop();
      const m = campaignMessage({ to: 'lost-reply@example.net' });
      const r = await send(d.port, { to: 'lost-reply@example.net', raw: m.raw });
      assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
      killOnReceive = true;
      await sim.start();
      assert.equal(await d.exited, 'SIGKILL');
      assert.equal(sim.received.filter((x) => x.messageId === m.messageId).length, 1, 'PowerMTA has it once');
      assert.deepEqual(spooledIds(stateDir), [m.messageId], 'the agent never heard the 250: its copy is still spooled');
      d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
      await waitFor(() => spooledIds(stateDir).length === 0, 15_000, 'the spooled copy dropped once accounting shows the d record');
      // Another dispatch pass or two, had the copy been kept.
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(sim.received.filter((x) => x.messageId === m.messageId).length, 1, 'no duplicate');
      assert.equal((await quota(d)).sent_today, 1, 'the unit of the lost answer stays counted, once');
      await stop(d);
      const db = new Database(path.join(stateDir, 'pmta-agent.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT fate, accepted FROM handoffs WHERE message_id = ?').all(normaliseMessageId(m.messageId)) as Array<{ fate: string; accepted: string }>;
        // Tries while PowerMTA was down were answered with nothing taken (accepted []).
        assert.deepEqual(rows.filter((x) => x.accepted !== '[]'), [{ fate: 'accounting', accepted: '["lost-reply@example.net"]' }], 'the journal shows the known outcome');
      } finally {
        db.close();
      }
    } finally {
      d.proc.kill('SIGKILL');
      await sim.close();
      cleanup();
    }
  });

  it('SQLITE_FULL on a real full file system while PowerMTA answers: no commit is lost, nothing acknowledged is lost, the cap holds', { skip: canMount() ? false : 'needs root to mount a small tmpfs' }, async () => {
    const { dir, cleanup } = tmpDir();
    const fsDir = path.join(dir, 'small');
    mkdirSync(fsDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', fsDir]);
    const cap = 12;
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const stateDir = path.join(fsDir, 'state');
    // The SQLite store on the small file system; the spool on another, so mail can still be acknowledged.
    const cfg = capConfig(stateDir, sim.port, cap, 60_000, { spool: { dir: path.join(dir, 'spool') } });
    const acked: string[] = [];
    const sendOne = async (to: string) => {
      const m = campaignMessage({ to });
      const r = await send(d.port, { to, raw: m.raw });
      if (r.ok) acked.push(m.messageId);
      return r;
    };
    let d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
    const filler = path.join(fsDir, 'filler');
    try {
      assert.ok((await sendOne('first@example.net')).ok);
      sim.configure({ slowMs: 1500 });
      const inFlight = Array.from({ length: 4 }, (_, i) => sendOne(`full${i}@example.net`));
      // Under way: each one's journal row written (before its body goes to PowerMTA), not only its units reserved
      // at RCPT, or the disk could fill before a row and that message fail locally instead.
      const begun = () => {
        const db = new Database(path.join(stateDir, 'pmta-agent.db'), { readonly: true });
        try {
          return (db.prepare('SELECT COUNT(*) AS n FROM handoffs WHERE accepted IS NULL').get() as { n: number }).n;
        } finally {
          db.close();
        }
      };
      await waitFor(() => begun() >= 4, 10_000, 'four hand-offs under way');
      fillUp(filler);
      for (const r of await Promise.all(inFlight)) assert.ok(r.ok, JSON.stringify(r));
      const full = d.lines.filter((l) => l.event === 'ledger.commit_failed' && JSON.stringify(l).includes('SQLITE_FULL'));
      assert.ok(full.length > 0, 'the commits after PowerMTA\'s 250 met SQLITE_FULL');
      // While the disk stays full nothing can be reserved: new mail waits in the spool.
      const meanwhile = await sendOne('meanwhile@example.net');
      assert.ok(meanwhile.ok, JSON.stringify(meanwhile));
      sim.configure({ slowMs: 0 });
      rmSync(filler);
      await waitFor(async () => (await quota(d)).sent_today >= rcptsReceived(sim), 20_000, 'the failed commits retried');
      for (let i = 0; i < cap + 6; i++) await sendOne(`after${i}@example.net`);
      await waitFor(async () => (await quota(d)).sent_today >= cap, 20_000, 'cap used');
      await new Promise((r) => setTimeout(r, 500));
      const received = rcptsReceived(sim);
      assert.ok(received <= cap, `${received} recipients reached PowerMTA against a cap of ${cap}`);
      assert.ok((await quota(d)).sent_today >= received, 'every recipient PowerMTA took is counted');
      await stop(d);
      const arrived = new Set(sim.received.map((m) => m.messageId));
      const waiting = new Set(spooledIds(path.join(dir, 'spool'), ''));
      assert.deepEqual(acked.filter((id) => !arrived.has(id) && !waiting.has(id)), [], 'every acknowledged message reached PowerMTA or waits in the spool');
    } finally {
      d.proc.kill('SIGKILL');
      await d.exited;
      await sim.close();
      execFileSync('umount', [fsDir]);
      cleanup();
    }
  });

  it('renaming a tenant\'s slug does not strand its spooled mail', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const stateDir = path.join(dir, 'state');
    const cfg = childConfig(stateDir, sim.port);
    let d = await spawnDaemon(path.join(dir, 'c.json'), cfg);
    try {
      await sim.stop();
      const m = campaignMessage();
      const r = await send(d.port, { raw: m.raw });
      assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
      await stop(d);
      const renamed = { ...cfg, tenants: [{ ...SOS_TENANT, slug: 'sos' }] };
      await sim.start();
      d = await spawnDaemon(path.join(dir, 'c.json'), renamed);
      await waitFor(() => sim.received.some((x) => x.messageId === m.messageId), 10_000, 'delivered after the rename');
      assert.equal(sim.received.find((x) => x.messageId === m.messageId)!.vmta, 'sos-45-123-10-1');
    } finally {
      await stop(d);
      await sim.close();
      cleanup();
    }
  });
});
