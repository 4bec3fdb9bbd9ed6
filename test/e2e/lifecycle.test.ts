import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { startSimulator } from '../../src/sim/simulator.js';
import { spawnDaemon } from '../helpers/child.js';
import { CHILD_API_TOKEN, childConfig, SOS_TENANT, ULIXAI_TENANT } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir, waitFor } from '../helpers/env.js';

function lifecycleConfig(stateDir: string, pmtaPort: number, extraTenants: unknown[] = []) {
  return childConfig(stateDir, pmtaPort, {
    tenants: [SOS_TENANT, ...extraTenants],
    patch: {
      smtp: { shutdownGraceMs: 600 },
      pmta: { replyTimeoutMs: 10_000, maxConnections: 20 },
      // The hand-offs given up at shutdown had sent their final dot, so their fate is unknown (rule 1): their units
      // stay counted and their spooled copies wait this long for accounting before they go again (they used to go at
      // once, units given back). The simulator drops a message whose client hung up, so accounting never shows them.
      spool: { unknownFateHoldMs: 1_000 },
    },
  });
}

describe('service lifecycle of the daemon process', () => {
  it('SIGTERM with 20 transactions in flight to a slow PowerMTA: all get 250, none lost or sent twice, no reservation left, exit 0', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), slowMs: 1_500 });
    const cfgFile = path.join(dir, 'config.json');
    const cfg = lifecycleConfig(path.join(dir, 'state'), sim.port);
    let daemon = await spawnDaemon(cfgFile, cfg);
    try {
      const messages = Array.from({ length: 20 }, (_, i) => campaignMessage({ to: `r${i}@example.net` }));
      const sends = messages.map((m, i) => send(daemon.port, { to: `r${i}@example.net`, raw: m.raw }));
      // PowerMTA takes 1.5 s to answer: stop the service once every message is between DATA and its reply.
      const inFlight = async () => {
        const res = await fetch(`${daemon.apiUrl}/api/v2/status`, { headers: { authorization: `Bearer ${CHILD_API_TOKEN}` } });
        return ((await res.json()) as { smtp: { messages_in_flight: number } }).smtp.messages_in_flight;
      };
      await waitFor(async () => (await inFlight()) === 20, 10_000, '20 messages in flight');
      daemon.proc.kill('SIGTERM');
      const results = await Promise.all(sends);
      assert.deepEqual(
        results.filter((r) => !r.ok),
        [],
        'every transaction in flight got its 250',
      );
      assert.equal(await daemon.exited, 0);
      const stopping = daemon.lines.find((l) => l.event === 'daemon.stopping')!;
      assert.equal(stopping.inFlight, 20, 'the premise: 20 messages were in flight at SIGTERM');
      const db = new Database(path.join(dir, 'state', 'pmta-agent.db'), { readonly: true });
      const held = db.prepare("SELECT COUNT(*) AS n FROM reservations WHERE state = 'held'").get() as { n: number };
      db.close();
      assert.equal(held.n, 0, 'no reservation left');
      const queued = results.filter((r) => r.ok && /Queued/.test(r.response)).length;
      assert.ok(queued > 0, 'the grace time ran out for some, which were spooled');
      assert.ok(daemon.lines.some((l) => l.event === 'forward.fate_unknown'), 'given up after their final dot: of unknown fate');

      sim.configure({ slowMs: 0 });
      daemon = await spawnDaemon(cfgFile, cfg);
      await waitFor(() => new Set(sim.received.map((m) => m.messageId)).size === 20, 15_000, 'spooled ones delivered after restart');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sim.received.length, 20, 'each message exactly once');
      assert.deepEqual(new Set(sim.received.map((m) => m.messageId)), new Set(messages.map((m) => m.messageId)));
    } finally {
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      await sim.close();
      cleanup();
    }
  });

  it('SIGHUP loads a new tenant without a restart, and a broken file is refused while the old config keeps running', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const cfgFile = path.join(dir, 'config.json');
    const daemon = await spawnDaemon(cfgFile, lifecycleConfig(path.join(dir, 'state'), sim.port));
    try {
      const ulixai = ULIXAI_TENANT;
      const asUlixai = { user: 'ulixai', pass: 'secret-ulixai-1', from: 'news@ulixai-mail.com' };
      assert.equal((await send(daemon.port, asUlixai)).ok, false, 'unknown before the reload');
      // A connection open across the reload must survive it.
      writeFileSync(cfgFile, JSON.stringify(lifecycleConfig(path.join(dir, 'state'), sim.port, [ulixai])));
      daemon.proc.kill('SIGHUP');
      await waitFor(() => daemon.lines.some((l) => l.event === 'config.reloaded'), 5000, 'reload');
      const r = await send(daemon.port, asUlixai);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(sim.received.at(-1)!.vmta, 'ulixai-45-123-20-1');

      writeFileSync(cfgFile, '{ "smtp": { "port": "not a number" ');
      daemon.proc.kill('SIGHUP');
      await waitFor(() => daemon.lines.some((l) => l.event === 'config.reload_refused'), 5000, 'refusal');
      const refused = daemon.lines.find((l) => l.event === 'config.reload_refused')!;
      assert.match(JSON.stringify(refused.problems), /not valid JSON/);
      assert.ok((await send(daemon.port, asUlixai)).ok, 'still running on the last good config');
      assert.ok((await send(daemon.port, {})).ok);
    } finally {
      daemon.proc.kill('SIGTERM');
      assert.equal(await daemon.exited, 0);
      await sim.close();
      cleanup();
    }
  });
});
