import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyPassword } from '../../src/auth/password.js';
import { newApiToken } from '../../src/auth/tokens.js';
import { jsonErrorAt } from '../../src/config/json-error.js';
import { ConfigError, DEFAULT_CONFIG_PATHS, loadConfig, parseConfig, resolveConfigPath } from '../../src/config/load.js';
import { probePmta } from '../../src/forward/pmta-probe.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { compareIpv4 } from '../../src/tenants/ip-order.js';
import { CLI } from '../helpers/child.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-ops-basics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config path resolution, shared by run and the operator commands', () => {
  it('--config, else $PMTA_AGENT_CONFIG, else the first existing of the checkout config, the installed one, the dev config', () => {
    assert.equal(resolveConfigPath('x.json', { PMTA_AGENT_CONFIG: 'y.json' }, () => true), 'x.json');
    assert.equal(resolveConfigPath(undefined, { PMTA_AGENT_CONFIG: 'y.json' }, () => true), 'y.json');
    assert.equal(resolveConfigPath(undefined, {}, () => true), 'config/pmta-agent.json');
    assert.equal(resolveConfigPath(undefined, {}, (p) => p !== 'config/pmta-agent.json'), '/etc/pmta-agent/config.json');
    assert.equal(resolveConfigPath(undefined, {}, (p) => p === 'config/pmta-agent.dev.json'), 'config/pmta-agent.dev.json');
    assert.equal(resolveConfigPath(undefined, {}, () => false), DEFAULT_CONFIG_PATHS[0]);
  });
});

describe('an invalid JSON config names the line and column', () => {
  const cases: Array<[string, string, { line: number; column: number }]> = [
    ['trailing comma', '{\n  "a": 1,\n  }', { line: 3, column: 3 }],
    ['missing comma', '{\n  "a": 1\n  "b": 2\n}', { line: 3, column: 3 }],
    ['bare word', '{\n  "log": { "level": info }\n}', { line: 2, column: 21 }],
    ['unclosed', '{\n  "a": [1, 2\n', { line: 3, column: 1 }],
    ['garbage after', '{}\n}', { line: 2, column: 1 }],
  ];
  for (const [name, text, at] of cases) {
    it(`${name}: line ${at.line}, column ${at.column}`, () => {
      assert.throws(() => JSON.parse(text));
      assert.deepEqual(jsonErrorAt(text), at);
    });
  }
  it('valid JSON has no error position', () => assert.equal(jsonErrorAt('{"a": [1, -2.5e3, "x\\u00e9", true, null]}'), null));
  it('loadConfig reports it in the problem line', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{\n  "smtp": { "port": 2525, }\n}\n');
    assert.throws(
      () => loadConfig(file),
      (err: unknown) => err instanceof ConfigError && /not valid JSON at line 2, column 27/.test(err.problems[0]!),
    );
  });
});

describe('dev tokens and the simulator section', () => {
  const tenants: unknown[] = [];
  it('a pmta_dev_ token is refused without dev.simulator', () => {
    assert.throws(
      () => parseConfig({ api: { tokens: [{ name: 'dev', token: 'pmta_dev_local-only-not-a-secret', scopes: ['admin'] }] }, tenants }),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => /^api\.tokens\.0\.token: is a development token/.test(p)),
    );
  });
  it('dev.simulator needs loopback listeners; with them a dev token is accepted', () => {
    const dev = { simulator: {} };
    const ok = parseConfig({ api: { tokens: [{ name: 'dev', token: 'pmta_dev_local-only-not-a-secret', scopes: ['admin'] }] }, dev, tenants });
    assert.deepEqual(ok.dev.simulator, { bounceDomains: ['bounce.test'], deferDomains: ['defer.test'], complainAddresses: ['complainer@complaint.test'] });
    assert.throws(
      () => parseConfig({ api: { token: newApiToken() }, smtp: { host: '0.0.0.0' }, dev, tenants }),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => /^smtp\.host: must be a loopback address while dev\.simulator is on/.test(p)),
    );
  });
});

describe('probePmta: a connect and a greeting', () => {
  it('reachable with the greeting of a listening SMTP server', async () => {
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), keepMessages: false });
    try {
      const r = await probePmta('127.0.0.1', sim.port, 2_000);
      assert.equal(r.reachable, true);
      assert.match((r as { greeting: string }).greeting, /^220 /);
    } finally {
      await sim.close();
    }
  });

  it('unreachable: nothing listening, a server that never greets, one that greets with 554', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await probePmta('127.0.0.1', closedPort, 2_000);
    assert.equal(refused.reachable, false);
    assert.match((refused as { error: string }).error, /ECONNREFUSED/);

    const sockets: net.Socket[] = [];
    const mute = net.createServer((s) => void sockets.push(s));
    const busy = net.createServer((s) => s.end('554 5.3.2 not now\r\n'));
    await Promise.all([mute, busy].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
    try {
      const silent = await probePmta('127.0.0.1', (mute.address() as net.AddressInfo).port, 200);
      assert.deepEqual([silent.reachable, (silent as { error: string }).error], [false, 'no greeting within 200 ms']);
      const refusing = await probePmta('127.0.0.1', (busy.address() as net.AddressInfo).port, 2_000);
      assert.deepEqual([refusing.reachable, (refusing as { error: string }).error], [false, 'greeting 554 5.3.2 not now']);
    } finally {
      sockets.forEach((s) => s.destroy());
      await Promise.all([mute, busy].map((srv) => new Promise((r) => srv.close(r))));
    }
  });
});

describe('small operator points', () => {
  it('IPv4 addresses compare as numbers', () => {
    assert.deepEqual(['45.123.10.10', '45.123.10.9', '9.1.1.1', '45.123.9.200'].sort(compareIpv4), ['9.1.1.1', '45.123.9.200', '45.123.10.9', '45.123.10.10']);
  });

  it('hash-password on a terminal asks without echoing the password', async () => {
    // script(1) gives the command a real terminal; what it prints is what the operator would see.
    const p = spawn('script', ['-qfec', `${process.execPath} ${CLI} hash-password`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let typed = false;
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Password: ') && !typed) {
        typed = true;
        p.stdin.write('tty-secret-42\r');
      }
    });
    const code = await new Promise((r) => p.on('close', r));
    p.stdin.end();
    assert.equal(code, 0, out);
    assert.ok(!out.includes('tty-secret-42'), `the password was echoed: ${JSON.stringify(out)}`);
    const hash = /scrypt\$\S+/.exec(out)?.[0];
    assert.ok(hash, out);
    assert.equal(await verifyPassword('tty-secret-42', hash), true);
  });
});
