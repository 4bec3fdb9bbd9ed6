import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';
import { API_TOKEN, campaignMessage, send, START, testConfig, tmpDir, waitFor } from '../helpers/env.js';

const mode = (p: string) => statSync(p).mode & 0o777;

/** Every directory and file under `dir`, with its mode. */
function tree(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out: Array<{ path: string; dir: boolean; mode: number }> = [{ path: dir, dir: true, mode: mode(dir) }];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) out.push(...tree(p));
    else out.push({ path: p, dir: false, mode: mode(p) });
  }
  return out;
}

describe('file modes of the state the daemon keeps', () => {
  it('under umask 000, SQLite (with -wal and -shm), the spool and DKIM keys are 0600 in 0700 directories, and loosened ones are tightened at start', async () => {
    const { dir, cleanup } = tmpDir();
    const previous = process.umask(0o000);
    const state = path.join(dir, 'state');
    // What a run under a permissive umask left behind: open directories, a readable key.
    mkdirSync(path.join(state, 'dkim'), { recursive: true, mode: 0o755 });
    mkdirSync(path.join(state, 'spool', 'tmp'), { recursive: true, mode: 0o777 });
    const oldKey = path.join(state, 'dkim', 'default.ulixai-mail.com.pem');
    writeFileSync(oldKey, generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey);
    chmodSync(oldKey, 0o644);
    chmodSync(state, 0o755);
    // PowerMTA defers everything: each message is spooled (files written by the agent).
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), deferAll: true });
    const cfg = testConfig(state, sim.port, { patch: { pmta: { accountingDir: path.join(dir, 'acct'), configPath: path.join(dir, 'pmta', 'pmta-agent.conf') } } });
    const daemon = await startDaemon(cfg, { clock: new ManualClock(START), log: createLogger({ level: 'error' }) });
    try {
      for (let i = 0; i < 3; i++) assert.ok((await send(daemon.smtpAddress.port, { raw: campaignMessage().raw })).ok);
      await waitFor(() => daemon.spool.size() === 3, 10_000, 'three spooled messages');
      const res = await fetch(`http://127.0.0.1:${daemon.apiAddress.port}/api/v2/powermta/dkim/sos-mail.com`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      assert.equal(res.status, 200);

      const entries = tree(state);
      const names = entries.map((e) => path.relative(state, e.path));
      for (const f of ['pmta-agent.db', 'pmta-agent.db-wal', 'pmta-agent.db-shm', 'dkim/default.sos-mail.com.pem', 'dkim/default.ulixai-mail.com.pem'])
        assert.ok(names.includes(f), `${f} is there`);
      assert.equal(entries.filter((e) => !e.dir && e.path.endsWith('.eml')).length, 3);
      for (const e of entries) assert.equal(e.mode, e.dir ? 0o700 : 0o600, `${path.relative(state, e.path) || '(state dir)'} is ${e.mode.toString(8)}`);
    } finally {
      process.umask(previous);
      await daemon.stop();
      await sim.close();
      cleanup();
    }
  });
});
