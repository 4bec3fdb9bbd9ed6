import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, before, describe, it } from 'node:test';
import { AuthCache, hashPassword } from '../../src/auth/password.js';
import { Credentials } from '../../src/ingress/credentials.js';
import { SOS, send, startHarness, waitFor, type Harness } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';

const plain = (user: string, pass: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`;

/** scrypt computations started while `fn` runs, seen by Node itself (async resources of type SCRYPTREQUEST). */
async function scryptsDuring(fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'SCRYPTREQUEST' && n++) });
  hook.enable();
  try {
    await fn();
  } finally {
    hook.disable();
  }
  return n;
}

describe('SMTP AUTH against guessing', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ patch: { smtp: { port: 0, authFailureDelayMs: 20, authFailureMaxDelayMs: 2000 } } });
  });
  after(() => h.close());

  it('an unknown username costs one scrypt, like a known one with a wrong password, and gets the same 535 5.7.8', async () => {
    const c = await rawSmtp(h.port);
    await c.cmd('EHLO mailwizz.local');
    let unknown = '';
    let known = '';
    const unknownScrypts = await scryptsDuring(async () => (unknown = await c.cmd(plain('nobody-here', 'guess-1'))));
    const knownScrypts = await scryptsDuring(async () => (known = await c.cmd(plain(SOS.username, 'guess-2'))));
    c.close();
    assert.equal(unknownScrypts, 1);
    assert.equal(knownScrypts, 1);
    assert.match(unknown, /^535 5\.7\.8 /);
    assert.equal(unknown, known);
  });

  it('checks an unknown username against a hash with the same scrypt parameters and key length as hashPassword makes', async () => {
    const credentials = new Credentials(h.daemon.registry, new AuthCache(0));
    const params = (hash: string) => {
      const [kind, n, r, p, , key] = hash.split('$');
      return { kind, n, r, p, keyBytes: Buffer.from(key!, 'base64').length };
    };
    assert.deepEqual(params(await credentials.dummyHash), params(await hashPassword('x')));
    assert.deepEqual(await credentials.check('nobody-here', ''), { ok: false });
    const known = await credentials.check(SOS.username, SOS.password);
    assert.equal(known.ok && known.tenant, 'sos-expat');
  });

  it('answers failed AUTH from one address later each time, and does not slow another address or a correct login', async () => {
    const delays = () => h.logs.filter((l) => l.event === 'smtp.auth_failed' && l.username === 'throttled-user').map((l) => [l.remote, l.delayMs]);
    const c = await rawSmtp(h.port, { localAddress: '127.0.0.3' });
    await c.cmd('EHLO mailwizz.local');
    for (let i = 0; i < 3; i++) assert.match(await c.cmd(plain('throttled-user', `guess-${i}`)), /^535 5\.7\.8 /);
    c.close();
    const other = await rawSmtp(h.port, { localAddress: '127.0.0.4' });
    await other.cmd('EHLO mailwizz.local');
    assert.match(await other.cmd(plain('throttled-user', 'guess')), /^535 5\.7\.8 /);
    assert.match(await other.cmd(plain(SOS.username, SOS.password)), /^235 /);
    other.close();
    assert.deepEqual(delays(), [
      ['127.0.0.3', 20],
      ['127.0.0.3', 40],
      ['127.0.0.3', 80],
      ['127.0.0.4', 20],
    ]);
  });
});

describe('connections that do not authenticate', () => {
  it('past smtp.maxUnauthenticatedClients, the one waiting longest is closed with 421 4.7.0 and the newcomer is served', async () => {
    const h = await startHarness({ patch: { smtp: { port: 0, maxUnauthenticatedClients: 3 } } });
    try {
      const idle = [];
      for (let i = 0; i < 3; i++) idle.push(await rawSmtp(h.port));
      // Idle, not just arrived: a connection is pushed out only after a second of waiting.
      await new Promise((r) => setTimeout(r, 1_100));
      const firstClosed = idle[0]!.reply();
      const fourth = await rawSmtp(h.port);
      assert.match(await firstClosed, /^421 4\.7\.0 Too many connections waiting to authenticate/);
      assert.match(await fourth.cmd('EHLO mailwizz.local'), /^250/);
      assert.match(await fourth.cmd(plain(SOS.username, SOS.password)), /^235 /);
      // Authenticated, it no longer counts: three more idle ones do not push it out.
      const more = await Promise.all([0, 1, 2].map(() => rawSmtp(h.port)));
      assert.match(await fourth.cmd('NOOP'), /^250/);
      assert.equal(h.daemon.ingress.unauthenticated(), 3);
      for (const c of [...idle, ...more, fourth]) c.close();
    } finally {
      await h.close();
    }
  });

  it('a connection that has not authenticated within smtp.unauthenticatedTimeoutMs is closed with 421 4.7.0', async () => {
    const h = await startHarness({ patch: { smtp: { port: 0, unauthenticatedTimeoutMs: 200 } } });
    try {
      const c = await rawSmtp(h.port);
      await c.cmd('EHLO idle.example');
      assert.match(await c.reply(), /^421 4\.7\.0 No authentication within/);
      c.close();
      await waitFor(() => h.daemon.ingress.unauthenticated() === 0);
      // Authenticated in time, a session is not cut.
      const r = await send(h.port, {});
      assert.ok(r.ok, JSON.stringify(r));
    } finally {
      await h.close();
    }
  });
});
