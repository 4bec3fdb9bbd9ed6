import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { changedKeys, planReload } from '../../src/config/restart.js';
import { API_TOKEN, startHarness, testConfig, type Harness } from '../helpers/env.js';
import type { ConfigInput } from '../../src/config/schema.js';

/** A config file with the given sections over the defaults (and the one key without a default, a token). */
const config = (sections: Partial<ConfigInput> = {}) => parseConfig({ api: { token: API_TOKEN }, ...sections });

describe('SIGHUP: each key applied whole, or kept until the restart', () => {
  it('names the changed leaves; arrays compare whole', () => {
    const a = config();
    const b = config({ smtp: { port: 2600 }, warmup: { steps: [{ days: 3, dailyCap: 10 }] }, api: { token: API_TOKEN, maxBodyBytes: 10 } });
    assert.deepEqual(changedKeys(a, b), ['api.maxBodyBytes', 'smtp.port', 'warmup.steps']);
  });

  it('keeps restart keys at their running values in the config it runs on, and applies the rest', () => {
    const running = config({ pmta: { configPath: '/etc/pmta/a.conf', reloadCommand: 'pmta reload' } });
    const file = config({ pmta: { configPath: '/etc/pmta/b.conf', reloadCommand: 'systemctl reload pmta', port: 2526 }, smtp: { port: 2600, unauthenticatedTimeoutMs: 5000 } });
    const plan = planReload(running, file);
    assert.deepEqual(plan.restartNeeded, ['pmta.configPath', 'pmta.port', 'smtp.port']);
    assert.deepEqual(plan.applied, ['pmta.reloadCommand', 'smtp.unauthenticatedTimeoutMs']);
    assert.equal(plan.config.pmta.configPath, '/etc/pmta/a.conf');
    assert.equal(plan.config.pmta.port, running.pmta.port);
    assert.equal(plan.config.smtp.port, running.smtp.port);
    assert.equal(plan.config.pmta.reloadCommand, 'systemctl reload pmta');
    assert.equal(plan.config.smtp.unauthenticatedTimeoutMs, 5000);
    // Nothing changed: nothing to say.
    assert.deepEqual(planReload(running, running), { config: running, applied: [], restartNeeded: [] });
  });

  describe('on the running daemon', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness();
    });
    after(() => h.close());

    it('a new reloadCommand runs at the next apply; a new configPath waits for the restart, and the log says which', async () => {
      const before = h.daemon.cfg;
      const marker = path.join(h.dir, 'reloaded-by-new-command');
      const next = testConfig(h.dir, h.sim.port, {
        patch: { pmta: { ...before.pmta, configPath: path.join(h.dir, 'elsewhere', 'pmta-agent.conf'), reloadCommand: `touch ${marker}` } },
      });
      await h.daemon.reload(next);
      const restart = h.logs.find((l) => l.event === 'config.restart_needed');
      const reloaded = h.logs.find((l) => l.event === 'config.reloaded');
      assert.deepEqual(restart?.keys, ['pmta.configPath']);
      assert.deepEqual(reloaded?.applied, ['pmta.reloadCommand']);
      const result = await h.daemon.pmtaConfig.apply();
      assert.equal(result.kind, 'applied', JSON.stringify(result));
      assert.ok(existsSync(marker), 'the new reload command ran');
      assert.ok(readFileSync(before.pmta.configPath, 'utf8').includes('virtual-mta'), 'written where PowerMTA includes it now');
      assert.equal(existsSync(path.join(h.dir, 'elsewhere', 'pmta-agent.conf')), false);
      assert.equal(h.daemon.cfg.pmta.configPath, before.pmta.configPath);
    });
  });
});
