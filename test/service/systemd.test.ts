import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { newApiToken } from '../../src/auth/tokens.js';
import { parseConfig } from '../../src/config/load.js';
import { CLI } from '../helpers/child.js';
import { tmpDir } from '../helpers/env.js';

const repo = path.resolve(path.dirname(CLI), '../../..');
const unit = path.join(repo, 'systemd', 'pmta-agent.service');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('the systemd service', () => {
  it('passes systemd-analyze verify', { skip: hasAnalyze ? false : 'systemd-analyze is not installed (Debian package systemd)' }, () => {
    // verify also checks that ExecStart's binary exists; on a build machine it is not
    // installed, so a copy of the unit points it at a stub. Every other line is as shipped.
    const { dir, cleanup } = tmpDir();
    try {
      const stub = path.join(dir, 'pmta-agent');
      writeFileSync(stub, '#!/bin/sh\n');
      chmodSync(stub, 0o755);
      const copy = path.join(dir, 'pmta-agent.service');
      const text = readFileSync(unit, 'utf8');
      assert.match(text, /^ExecStart=\/usr\/local\/bin\/pmta-agent run --config \/etc\/pmta-agent\/config\.json$/m);
      writeFileSync(copy, text.replace('ExecStart=/usr/local/bin/pmta-agent', `ExecStart=${stub}`));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const problems = (r.stderr + r.stdout)
        .split('\n')
        .filter((l) => l.includes('pmta-agent') && !/Failed to (connect|create).*bus|sysinit\.target/.test(l));
      assert.deepEqual(problems, [], r.stderr);
    } finally {
      cleanup();
    }
  });

  it('is hardened and still able to work', () => {
    const text = readFileSync(unit, 'utf8');
    for (const line of [
      'User=pmta-agent',
      'Restart=on-failure',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/etc/pmta/pmta-agent',
      'PrivateTmp=yes',
      'ProtectHome=yes',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      'CapabilityBoundingSet=',
      'StateDirectory=pmta-agent',
      'LogsDirectory=pmta-agent',
    ])
      assert.ok(text.split('\n').includes(line), `missing ${line}`);
    // The default config writes only where the unit allows.
    const cfg = parseConfig({ api: { token: newApiToken() } });
    assert.ok(cfg.pmta.configPath.startsWith('/etc/pmta/pmta-agent/'));
  });

  it('install.sh --root stages the code, the command, the unit, the polkit rule and a valid production config', () => {
    const { dir, cleanup } = tmpDir();
    try {
      execFileSync('bash', [path.join(repo, 'systemd', 'install.sh'), '--root', dir], { encoding: 'utf8' });
      assert.equal(readlinkSync(path.join(dir, 'usr/local/bin/pmta-agent')), '/opt/pmta-agent/dist/src/cli/main.js');
      assert.ok(existsSync(path.join(dir, 'opt/pmta-agent/dist/src/cli/main.js')));
      assert.ok(existsSync(path.join(dir, 'opt/pmta-agent/config/templates/pmta-agent.conf.ejs')));
      assert.equal(readFileSync(path.join(dir, 'etc/systemd/system/pmta-agent.service'), 'utf8'), readFileSync(unit, 'utf8'));
      assert.match(readFileSync(path.join(dir, 'etc/polkit-1/rules.d/60-pmta-agent.rules'), 'utf8'), /"reload"/);
      const configFile = path.join(dir, 'etc/pmta-agent/config.json');
      assert.equal(statSync(configFile).mode & 0o777, 0o640);
      const check = spawnSync(process.execPath, [CLI, 'check-config', '--config', configFile], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      const cfg = JSON.parse(readFileSync(configFile, 'utf8'));
      assert.equal(cfg.pmta.reloadCommand, 'systemctl reload pmta');
      assert.equal(cfg.store.stateDir, '/var/lib/pmta-agent');
      assert.equal(cfg.api.token, undefined);
      assert.deepEqual(cfg.api.tokens.map((t: { name: string; scopes: string[] }) => [t.name, t.scopes]), [['admin', ['admin']]]);
      assert.match(cfg.api.tokens[0].token, /^pmta_[A-Za-z0-9_-]{43}$/);
      assert.equal(statSync(path.join(dir, 'etc/pmta/pmta-agent/dkim')).mode & 0o777, 0o700);
      // A second run keeps the operator's config.
      writeFileSync(configFile, JSON.stringify({ ...cfg, log: { level: 'debug' } }));
      execFileSync('bash', [path.join(repo, 'systemd', 'install.sh'), '--root', dir]);
      assert.equal(JSON.parse(readFileSync(configFile, 'utf8')).log.level, 'debug');
    } finally {
      cleanup();
    }
  });

  it("the README's demo runs to completion and prints the quota change", () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--messages', '55'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /before: IP 45\.123\.10\.1 \(week_1\) sent 0 of 50, remaining 50; spooled 0/);
    assert.match(r.stdout, /50 forwarded to PowerMTA \(250\), 5 spooled \(250, over quota\)/);
    assert.match(r.stdout, /quota change: remaining 50 -> 0; PowerMTA received 50/);
  });
});
