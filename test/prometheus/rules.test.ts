import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { promtool } from '../helpers/promtool.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const RULES = path.join(ROOT, 'config/prometheus/pmta-agent.rules.yml');
const RULE_TESTS = path.join(ROOT, 'test/prometheus/pmta-agent.rules.test.yml');

const alertsIn = (file: string) => [...readFileSync(file, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]!);
const testedIn = (file: string) => new Set([...readFileSync(file, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]!));

describe('Prometheus alert rules (config/prometheus/pmta-agent.rules.yml)', () => {
  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', RULES]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alertsIn(RULES).length} rules found`));
  });

  it('cover what operators page on: daemon down, PowerMTA unreachable, spool growing, IP paused, bounce and complaint rates, accounting lag, feedback outbox', () => {
    assert.deepEqual(alertsIn(RULES).sort(), [
      'PmtaAgentAccountingLag',
      'PmtaAgentComplaintRateNearThreshold',
      'PmtaAgentDown',
      'PmtaAgentFeedbackOutboxStuck',
      'PmtaAgentHardBounceRateNearThreshold',
      'PmtaAgentIpPaused',
      'PmtaAgentPowerMtaUnreachable',
      'PmtaAgentSpoolGrowing',
    ]);
  });

  it('each rule has a unit test, and promtool test rules passes them', async () => {
    const tested = testedIn(RULE_TESTS);
    assert.deepEqual(
      alertsIn(RULES).filter((a) => !tested.has(a)),
      [],
      'rules without a unit test',
    );
    const r = await promtool(['test', 'rules', path.basename(RULE_TESTS)], { cwd: path.dirname(RULE_TESTS) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
