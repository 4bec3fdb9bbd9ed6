import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';
import { START, testConfig, tmpDir } from '../helpers/env.js';

describe('PowerMTA queues the agent paused are resumed after a restart', () => {
  const { dir, cleanup } = tmpDir();
  after(cleanup);
  const opsLog = path.join(dir, 'queue-ops.log');
  const ops = () => (existsSync(opsLog) ? readFileSync(opsLog, 'utf8').split('\n').filter(Boolean) : []);

  /** A daemon on `dir` whose config declares 45.123.10.2 in `state`; it applies once, then stops. */
  async function applyOnce(state: 'paused' | 'active'): Promise<void> {
    const clock = new ManualClock(START);
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), clock });
    const cfg = testConfig(dir, sim.port, {
      sosIps: [{ address: '45.123.10.1' }, { address: '45.123.10.2', warmupStart: '2026-10-01', state }],
      patch: {
        pmta: {
          pauseQueueCommand: `echo 'pause {vmta}' >> ${opsLog}; echo 'Queue(s) paused.'`,
          resumeQueueCommand: `echo 'resume {vmta}' >> ${opsLog}; echo 'Queue(s) resumed.'`,
        } as never,
      },
    });
    const daemon = await startDaemon(cfg, { clock, log: createLogger({ level: 'error', write: () => undefined }) });
    try {
      const r = await daemon.pmtaConfig.apply();
      assert.ok(['applied', 'unchanged'].includes(r.kind), JSON.stringify(r));
    } finally {
      await daemon.stop();
      await sim.close();
    }
  }

  it('pauses at the first start, and resumes at the next start once the IP is active again', async () => {
    await applyOnce('paused');
    assert.deepEqual(ops(), ['pause sos-expat-45-123-10-2']);
    // The IP was resumed while the agent was down (here: the config file says active now).
    await applyOnce('active');
    assert.deepEqual(ops(), ['pause sos-expat-45-123-10-2', 'resume sos-expat-45-123-10-2']);
    // Nothing of its own is paused any more: a third start touches no queue.
    await applyOnce('active');
    assert.equal(ops().length, 2);
  });
});
