import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { hashPassword, verifyPassword } from '../../src/auth/password.js';
import { newApiToken } from '../../src/auth/tokens.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { CLI } from '../helpers/child.js';
import { tmpDir } from '../helpers/env.js';

/** The problems parseConfig reports, as "path: message" lines. */
function problems(raw: unknown): string[] {
  try {
    parseConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

const admin = () => ({ name: 'admin', token: newApiToken(), scopes: ['admin'] });
const tenantWith = (user: Record<string, unknown>) => ({ id: 1, slug: 'sos-expat', name: 'SOS', users: [user], domains: ['sos-mail.com'] });

describe('API tokens in the config', () => {
  it('a config without any token is refused, saying how to make one', () => {
    assert.deepEqual(problems({}), ['api.tokens: no API token: the control API needs at least one in api.tokens; make one with `pmta-agent token new`']);
  });

  it('published and guessable values are refused with the key path', () => {
    for (const token of ['change-me-change-me', 'CHANGE-ME-CHANGE-ME', 'test-token-0123456789abcdef', 'ops-bot-token-0123456789', 'demo-token-0123456789'])
      assert.match(problems({ api: { token } }).join('\n'), /^api\.token: is an example value published with pmta-agent, not a secret; make one with `pmta-agent token new`$/, token);
    assert.match(problems({ api: { tokens: [{ ...admin(), token: 'replace-with-pmta-agent-token-new' }] } }).join('\n'), /^api\.tokens\.0\.token: is the example config's placeholder/);
    assert.match(problems({ api: { token: 'aaaaaaaabbbbbbbbcccc' } }).join('\n'), /^api\.token: is too easy to guess/);
    assert.match(problems({ api: { token: 'short' } }).join('\n'), /^api\.token: must be at least 16 characters/);
  });

  it('a token needs known scopes, a unique name and its own value', () => {
    assert.match(problems({ api: { tokens: [{ name: 'x', token: newApiToken() }] } }).join('\n'), /^api\.tokens\.0\.scopes: give the token's scopes: a list of admin, read, accounting:push, send$/m);
    assert.match(problems({ api: { tokens: [{ name: 'x', token: newApiToken(), scopes: ['root'] }] } }).join('\n'), /^api\.tokens\.0\.scopes\.0: /m);
    assert.match(problems({ api: { tokens: [{ name: 'x', token: newApiToken(), scopes: [] }] } }).join('\n'), /^api\.tokens\.0\.scopes: give at least one/m);
    const same = newApiToken();
    assert.match(problems({ api: { tokens: [admin(), { name: 'admin', token: newApiToken(), scopes: ['read'] }] } }).join('\n'), /^api\.tokens\.1\.name: duplicate token name admin$/m);
    assert.match(problems({ api: { token: same, tokens: [{ name: 'b', token: same, scopes: ['read'] }] } }).join('\n'), /^api\.tokens\.0\.token: the same token twice/m);
    assert.match(problems({ api: { tokens: [{ ...admin(), tenants: ['Not A Slug'] }] } }).join('\n'), /^api\.tokens\.0\.tenants\.0: must be lowercase/m);
    assert.deepEqual(problems({ api: { tokens: [{ ...admin(), scopes: ['read', 'send'], tenants: ['sos-expat'] }] } }), []);
  });

  it('`pmta-agent run` refuses to start without a real token, naming the key and `token new`', () => {
    const { dir, cleanup } = tmpDir();
    try {
      const file = path.join(dir, 'config.json');
      for (const [api, expected] of [
        [{}, /api\.tokens: no API token.*pmta-agent token new/],
        [{ token: 'change-me-change-me' }, /api\.token: is an example value.*pmta-agent token new/],
      ] as const) {
        writeFileSync(file, JSON.stringify({ api, store: { stateDir: path.join(dir, 'state') } }));
        const r = spawnSync(process.execPath, [CLI, 'run', '--config', file], { encoding: 'utf8', timeout: 20_000 });
        assert.equal(r.status, 1, r.stdout);
        assert.match(r.stderr, expected);
      }
    } finally {
      cleanup();
    }
  });

  it('`pmta-agent token new` prints an entry the config accepts, a new secret each time', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'token', 'new', ...args], { encoding: 'utf8' });
    const a = run(['--name', 'dashboard', '--scopes', 'read', '--tenants', 'sos-expat']);
    assert.equal(a.status, 0, a.stderr);
    const entry = JSON.parse(a.stdout);
    assert.deepEqual({ ...entry, token: undefined }, { name: 'dashboard', scopes: ['read'], tenants: ['sos-expat'], token: undefined });
    assert.match(entry.token, /^pmta_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(problems({ api: { tokens: [entry] } }), []);
    assert.notEqual(JSON.parse(run([]).stdout).token, entry.token);
    assert.equal(run(['--scopes', 'root']).status, 2);
    assert.equal(spawnSync(process.execPath, [CLI, 'token'], { encoding: 'utf8' }).status, 2);
  });
});

describe('password hashes', () => {
  const malformed: Array<[string, RegExp]> = [
    ['scrypt$16384$8$1$c2FsdA==$', /key must be 32 bytes, not 0|salt must be/],
    ['', /unknown algorithm/],
    ['bcrypt$2b$10$abc', /unknown algorithm/],
    ['scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==', /must be scrypt\$N\$r\$p\$salt\$key/],
    ['scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + Buffer.alloc(32, 1).toString('base64'), /N 1024 must be a power of two from 16384/],
    ['scrypt$20000$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + Buffer.alloc(32, 1).toString('base64'), /N 20000 must be a power of two/],
    ['scrypt$16384$1$1$c2FsdHNhbHRzYWx0c2FsdA==$' + Buffer.alloc(32, 1).toString('base64'), /r 1 must be from 8 to 32/],
    ['scrypt$16384$8$0$c2FsdHNhbHRzYWx0c2FsdA==$' + Buffer.alloc(32, 1).toString('base64'), /p 0 must be from 1 to 16/],
    ['scrypt$16384$8$1$c2FsdA==$' + Buffer.alloc(32, 1).toString('base64'), /salt must be at least 16 bytes, not 4/],
    ['scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + Buffer.alloc(16, 1).toString('base64'), /key must be 32 bytes, not 16/],
    ['scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$not base64!', /must be base64/],
  ];

  it('an empty or malformed hash is refused at start with the key path', () => {
    for (const [hash, why] of malformed) {
      const p = problems({ api: { tokens: [admin()] }, tenants: [tenantWith({ username: 'sos-expat', passwordHash: hash })] });
      assert.equal(p.length, 1, `${hash}: ${p.join('; ')}`);
      assert.match(p[0]!, /^tenants\.0\.users\.0\.passwordHash: /, hash);
      assert.match(p[0]!, why, hash);
    }
  });

  it('verifying against a malformed hash is false, whatever the password (the empty key no longer matches)', async () => {
    for (const [hash] of malformed) for (const pw of ['', 'anything']) assert.equal(await verifyPassword(pw, hash), false, hash);
  });

  it('a hash from hash-password is accepted and verifies', async () => {
    const hash = await hashPassword('s3cret-pass');
    assert.deepEqual(problems({ api: { tokens: [admin()] }, tenants: [tenantWith({ username: 'sos-expat', passwordHash: hash })] }), []);
    assert.equal(await verifyPassword('s3cret-pass', hash), true);
    assert.equal(await verifyPassword('s3cret-pasS', hash), false);
  });
});
