import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
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
      writeFileSync(copy, text.replaceAll('/usr/local/bin/pmta-agent ', `${stub} `));
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

  it("gives node memory settings it accepts: node starts with the unit's Environment= lines", () => {
    const env: Record<string, string> = {};
    for (const m of readFileSync(unit, 'utf8').matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!;
    assert.match(env.NODE_OPTIONS ?? '', /--max-semi-space-size=\d+/);
    assert.match(env.MALLOC_MMAP_THRESHOLD_ ?? '', /^\d+$/);
    // node refuses to start (exit 9) when NODE_OPTIONS holds a flag it does not take there.
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write("ok")'], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok');
  });

  it('install.sh --root stages the code without tests, benches or dev dependencies, the command, the units, the polkit rule and a production config without demo tenants', () => {
    const { dir, cleanup } = tmpDir();
    try {
      execFileSync('bash', [path.join(repo, 'systemd', 'install.sh'), '--root', dir], { encoding: 'utf8' });
      assert.equal(readlinkSync(path.join(dir, 'usr/local/bin/pmta-agent')), '/opt/pmta-agent/dist/src/cli/main.js');
      const code = path.join(dir, 'opt/pmta-agent');
      assert.ok(existsSync(path.join(code, 'dist/src/cli/main.js')));
      assert.ok(existsSync(path.join(code, 'config/templates/pmta-agent.conf.ejs')));
      for (const gone of ['dist/test', 'dist/bench', 'node_modules/typescript', 'node_modules/@types/node']) assert.ok(!existsSync(path.join(code, gone)), `${gone} is not installed`);
      assert.ok(existsSync(path.join(code, 'node_modules/better-sqlite3')));
      for (const u of ['pmta-agent.service', 'pmta-agent-reload-pmta.service'])
        assert.equal(readFileSync(path.join(dir, 'etc/systemd/system', u), 'utf8'), readFileSync(path.join(repo, 'systemd', u), 'utf8'));
      const rule = readFileSync(path.join(dir, 'etc/polkit-1/rules.d/60-pmta-agent.rules'), 'utf8');
      assert.match(rule, /action\.lookup\("unit"\) == "pmta-agent-reload-pmta\.service"/);
      assert.match(rule, /action\.lookup\("verb"\) == "start"/);
      assert.doesNotMatch(rule, /"pmta\.service"/, 'the agent cannot reload PowerMTA around the check');
      const configFile = path.join(dir, 'etc/pmta-agent/config.json');
      assert.equal(statSync(configFile).mode & 0o777, 0o640);
      assert.equal(statSync(path.dirname(configFile)).mode & 0o777, 0o750);
      const check = spawnSync(process.execPath, [CLI, 'check-config', '--production', '--config', configFile], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      const cfg = JSON.parse(readFileSync(configFile, 'utf8'));
      assert.deepEqual(cfg.tenants, []);
      assert.equal(cfg.pmta.reloadCommand, 'systemctl start pmta-agent-reload-pmta.service');
      assert.equal(cfg.store.stateDir, '/var/lib/pmta-agent');
      assert.equal(cfg.api.token, undefined);
      assert.deepEqual(cfg.api.tokens.map((t: { name: string; scopes: string[] }) => [t.name, t.scopes]), [['admin', ['admin']]]);
      assert.match(cfg.api.tokens[0].token, /^pmta_[A-Za-z0-9_-]{43}$/);
      assert.equal(statSync(path.join(dir, 'etc/pmta/pmta-agent/dkim')).mode & 0o777, 0o700);
      assert.equal(statSync(path.join(dir, 'var/lib/pmta-agent')).mode & 0o777, 0o700);
      // The agent tails its own accounting directory, never the vendor's default acct.csv beside it.
      assert.equal(cfg.pmta.accountingDir, '/var/log/pmta/pmta-agent');
      assert.equal(statSync(path.join(dir, 'var/log/pmta/pmta-agent')).mode & 0o777, 0o750);
      // A second run keeps the operator's config.
      writeFileSync(configFile, JSON.stringify({ ...cfg, log: { level: 'debug' } }));
      execFileSync('bash', [path.join(repo, 'systemd', 'install.sh'), '--root', dir]);
      assert.equal(JSON.parse(readFileSync(configFile, 'utf8')).log.level, 'debug');
    } finally {
      cleanup();
    }
  });

  it('a staged install has no file the service user could write outside its state and PowerMTA include directories, and is owned by root', () => {
    const { dir, cleanup } = tmpDir();
    try {
      execFileSync('bash', [path.join(repo, 'systemd', 'install.sh'), '--root', dir], { encoding: 'utf8' });
      const writable = ['var/lib/pmta-agent', 'etc/pmta/pmta-agent'].map((p) => path.join(dir, p));
      const asRoot = process.getuid?.() === 0;
      const bad: string[] = [];
      const walk = (p: string) => {
        const st = lstatSync(p);
        if (st.isSymbolicLink()) return;
        if (writable.some((w) => p === w || p.startsWith(w + path.sep))) return;
        if (st.mode & 0o022) bad.push(`${path.relative(dir, p)} is ${(st.mode & 0o777).toString(8)}`);
        if (asRoot && p !== dir && st.uid !== 0) bad.push(`${path.relative(dir, p)} is owned by uid ${st.uid}`);
        if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e));
      };
      walk(dir);
      assert.deepEqual(bad, []);
    } finally {
      cleanup();
    }
  });

  it('check-config --production refuses the demo tenants and plaintext passwords of the example config, with each key path', () => {
    const { dir, cleanup } = tmpDir();
    try {
      const file = path.join(dir, 'config.json');
      const example = JSON.parse(readFileSync(path.join(repo, 'config/pmta-agent.example.json'), 'utf8'));
      writeFileSync(file, JSON.stringify({ ...example, api: { tokens: [{ name: 'admin', token: newApiToken(), scopes: ['admin'] }] } }));
      assert.equal(spawnSync(process.execPath, [CLI, 'check-config', '--config', file]).status, 0, 'valid for development');
      const r = spawnSync(process.execPath, [CLI, 'check-config', '--production', '--config', file], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /tenants\.0\.slug: sos-expat is a demo tenant of the example config/);
      assert.match(r.stderr, /tenants\.1\.domains\.0: ulixai-mail\.com is a demo domain/);
      assert.match(r.stderr, /tenants\.0\.users\.0\.password: a plaintext password; put passwordHash from `pmta-agent hash-password` instead/);
      assert.match(r.stderr, /pmta\.reloadCommand: "true" does not reload PowerMTA/);
    } finally {
      cleanup();
    }
  });

  it('PowerMTA is reloaded only through a root-owned unit that first lints the include file', () => {
    const text = readFileSync(path.join(repo, 'systemd', 'pmta-agent-reload-pmta.service'), 'utf8');
    const exec = text.split('\n').filter((l) => l.startsWith('ExecStart='));
    assert.deepEqual(exec, ['ExecStart=/usr/local/bin/pmta-agent pmta lint /etc/pmta/pmta-agent/pmta-agent.conf', 'ExecStart=/bin/systemctl reload pmta.service']);
    assert.ok(!/^User=/m.test(text), 'runs as root, like PowerMTA');
    assert.match(text, /^Type=oneshot$/m);
    // The check it runs: the agent's own file passes, a file with a directive the agent never emits does not.
    const { dir, cleanup } = tmpDir();
    try {
      const good = path.join(dir, 'good.conf');
      const bad = path.join(dir, 'bad.conf');
      const golden = readFileSync(path.join(repo, 'test/pmta/golden/two-tenants.conf'), 'utf8');
      writeFileSync(good, golden);
      writeFileSync(bad, golden + 'http-access 0/0 admin\n');
      const lint = (f: string) => spawnSync(process.execPath, [CLI, 'pmta', 'lint', f], { encoding: 'utf8' });
      assert.equal(lint(good).status, 0, lint(good).stdout);
      assert.equal(lint(bad).status, 1);
    } finally {
      cleanup();
    }
    if (hasAnalyze) {
      const { dir: d2, cleanup: c2 } = tmpDir();
      try {
        const stub = path.join(d2, 'pmta-agent');
        writeFileSync(stub, '#!/bin/sh\n');
        chmodSync(stub, 0o755);
        const copy = path.join(d2, 'pmta-agent-reload-pmta.service');
        writeFileSync(copy, text.replace('ExecStart=/usr/local/bin/pmta-agent', `ExecStart=${stub}`));
        const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
        const problems = (r.stderr + r.stdout).split('\n').filter((l) => l.includes('pmta-agent-reload') && !/Failed to (connect|create).*bus|sysinit\.target/.test(l));
        assert.deepEqual(problems, [], r.stderr);
      } finally {
        c2();
      }
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
