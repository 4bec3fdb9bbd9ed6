import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { verifyPassword } from '../../src/auth/password.js';
import { newApiToken } from '../../src/auth/tokens.js';
import { CLI } from '../helpers/child.js';
import { tmpDir } from '../helpers/env.js';

const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8' });
const example = path.resolve(path.dirname(CLI), '../../../config/pmta-agent.example.json');

describe('pmta-agent commands', () => {
  it('check-config refuses the example config for its placeholder token, and accepts it once `token new --write` put a real one in', () => {
    const { dir, cleanup } = tmpDir();
    try {
      const r = run(['check-config', '--config', example]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /api\.tokens\.0\.token: is the example config's placeholder; make one with `pmta-agent token new`/);
      const copy = path.join(dir, 'config.json');
      copyFileSync(example, copy);
      chmodSync(copy, 0o640);
      const made = run(['token', 'new', '--write', copy]);
      assert.equal(made.status, 0, made.stderr);
      const written = JSON.parse(readFileSync(copy, 'utf8'));
      assert.equal(written.api.tokens.length, 1);
      assert.equal(written.api.tokens[0].token, made.stdout.trim());
      assert.equal(statSync(copy).mode & 0o777, 0o640, 'the config keeps its mode');
      const ok = run(['check-config', '--config', copy]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /ok \(2 tenant\(s\), 3 IP\(s\)\)/);
    } finally {
      cleanup();
    }
  });

  it('check-config exits 1 naming the path of every bad key', () => {
    const { dir, cleanup } = tmpDir();
    const file = path.join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        smtp: { port: 'twenty-five' },
        tenants: [{ id: 1, slug: 'Bad Slug', name: 'x', users: [{ username: 'u1', password: 'pw' }], domains: ['a.com'], ips: [{ address: '300.1.1.1', hostname: 'h.a.com' }] }],
      }),
    );
    const r = run(['check-config', '--config', file]);
    cleanup();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /smtp\.port: /);
    assert.match(r.stderr, /tenants\.0\.slug: must be lowercase/);
    assert.match(r.stderr, /tenants\.0\.ips\.0\.address: must be an IPv4 address/);
  });

  it('run refuses to start on a bad config, with the key path', () => {
    const { dir, cleanup } = tmpDir();
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ warmup: { timezone: 'Mars/Olympus' } }));
    const r = run(['run', '--config', file]);
    cleanup();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /warmup\.timezone: must be an IANA time zone/);
  });

  it('hash-password prints a hash that verifies the password and not another', async () => {
    const r = run(['hash-password'], 's3cret-pass\n');
    assert.equal(r.status, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^scrypt\$/);
    assert.equal(await verifyPassword('s3cret-pass', hash), true);
    assert.equal(await verifyPassword('s3cret-pasS', hash), false);
  });

  it('an unknown command is a usage error (exit 2), --help exits 0', () => {
    assert.equal(run(['frobnicate']).status, 2);
    assert.equal(run(['--help']).status, 0);
    assert.equal(run(['run', '--help']).status, 0);
    assert.equal(run(['run', '--bogus']).status, 2);
  });
});

describe('the example config', () => {
  it('shows every key of the schema', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    const shown = JSON.parse(readFileSync(example, 'utf8')) as Record<string, unknown>;
    const defaults = parseConfig({ api: { tokens: [{ name: 'admin', token: newApiToken(), scopes: ['admin'] }] } }) as unknown as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (d: unknown, e: unknown, at: string) => {
      if (!d || typeof d !== 'object' || Array.isArray(d)) return;
      for (const k of Object.keys(d)) {
        const ev = (e as Record<string, unknown> | undefined)?.[k];
        if (ev === undefined) missing.push(`${at}${k}`);
        else walk((d as Record<string, unknown>)[k], ev, `${at}${k}.`);
      }
    };
    walk(defaults, shown, '');
    assert.deepEqual(missing, []);
  });
});
