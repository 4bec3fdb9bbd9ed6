import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { peakRss, spawnDaemon } from '../helpers/child.js';
import { childConfig } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir, waitFor } from '../helpers/env.js';

function processConfig(stateDir: string, pmtaPort: number, extra: { concurrency?: number } = {}) {
  // Mail whose hand-off a kill cut short waits for accounting 2 s, not 15 min, before it goes again.
  return childConfig(stateDir, pmtaPort, { patch: { spool: { concurrency: extra.concurrency ?? 4, unknownFateHoldMs: 2_000 } } });
}

describe('the daemon as a process', () => {
  it('killed with SIGKILL three times while the dispatcher drains the spool: nothing is lost, and no duplicate where the agent had seen PowerMTA take the message', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const concurrency = 4;
    const stateDir = path.join(dir, 'state');
    const cfg = processConfig(stateDir, sim.port, { concurrency });
    let daemon = await spawnDaemon(path.join(dir, 'config.json'), cfg);
    try {
      await sim.stop();
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        const m = campaignMessage({ to: `r${i}@example.net` });
        const r = await send(daemon.port, { to: `r${i}@example.net`, raw: m.raw });
        assert.ok(r.ok && /Queued/.test(r.response), JSON.stringify(r));
        ids.push(m.messageId);
      }
      // A slow PowerMTA keeps hand-offs in flight when the kills come.
      sim.configure({ slowMs: 150 });
      await sim.start();
      for (let kill = 0; kill < 3; kill++) {
        const from = sim.received.length;
        await waitFor(() => sim.received.length >= from + 6, 20_000, `draining before kill ${kill + 1}`);
        daemon.proc.kill('SIGKILL');
        assert.equal(await daemon.exited, 'SIGKILL');
        daemon = await spawnDaemon(path.join(dir, 'config.json'), cfg);
      }
      sim.configure({ slowMs: 0 });
      await waitFor(() => new Set(sim.received.map((m) => m.messageId)).size >= 60, 20_000, 'all delivered after the restarts');
      await new Promise((r) => setTimeout(r, 300));
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      const counts = new Map<string, number>();
      for (const m of sim.received) counts.set(m.messageId!, (counts.get(m.messageId!) ?? 0) + 1);
      for (const id of ids) assert.ok(counts.has(id), `${id} delivered`);
      const dups = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      assert.ok(dups.length <= 3 * concurrency, `${dups.length} duplicates, at most the hand-offs in flight at the kills`);
      // A duplicate is only allowed where the agent never saw PowerMTA's 250: its journal row has no answer.
      const db = new Database(path.join(stateDir, 'pmta-agent.db'), { readonly: true });
      try {
        for (const id of dups) {
          const rows = db.prepare('SELECT accepted FROM handoffs WHERE message_id = ? ORDER BY id').all(normaliseMessageId(id)) as Array<{ accepted: string | null }>;
          assert.ok(rows.some((r) => r.accepted === null), `${id} was sent again although its acceptance was journalled`);
        }
      } finally {
        db.close();
      }
    } finally {
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      await sim.close();
      cleanup();
    }
  });

  it('forwards a 10 MB message intact, and a 40 MB message costs the daemon far less than its size in memory', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), keepMessages: false });
    const daemon = await spawnDaemon(path.join(dir, 'config.json'), processConfig(path.join(dir, 'state'), sim.port));
    try {
      const line = 'y'.repeat(998) + '\r\n';
      const bigMessage = (mb: number) => campaignMessage({ body: line.repeat(Math.ceil((mb * 1024 * 1024) / line.length)) }).raw;
      const stamp = `X-Virtual-MTA: sos-expat-45-123-10-1\r\nX-Job: cmp123\r\n`;
      const ten = bigMessage(10);
      const r = await send(daemon.port, { raw: ten });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(sim.received[0]!.sha256, createHash('sha256').update(stamp + ten).digest('hex'));
      // The first large messages grow the heap and stream buffers to their working size
      // (V8 sizes its young generation by allocation rate); after that, a message held
      // whole would add at least its own 40 MB to the peak.
      assert.ok((await send(daemon.port, { raw: ten })).ok);
      const afterTen = await peakRss(daemon.proc.pid!);
      const forty = bigMessage(40);
      assert.ok((await send(daemon.port, { raw: forty })).ok);
      assert.equal(sim.received[2]!.sha256, createHash('sha256').update(stamp + forty).digest('hex'));
      const growth = (await peakRss(daemon.proc.pid!)) - afterTen;
      assert.ok(growth < 20 * 1024 * 1024, `peak RSS grew by ${(growth / 1048576).toFixed(1)} MB for a 40 MB message`);
    } finally {
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      await sim.close();
      cleanup();
    }
  });
});
