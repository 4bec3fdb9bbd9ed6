import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newApiToken } from '../../src/auth/tokens.js';
import { ROUTE_RULES } from '../../src/api/scopes.js';
import { startHarness, type Harness } from '../helpers/env.js';

const READ = newApiToken();
const PUSH = newApiToken();
const SEND = newApiToken();
const SOS_ADMIN = newApiToken();
const SOS_READ = newApiToken();

/** A concrete path for a route pattern. */
function pathOf(pattern: string, values: Record<string, string>): string {
  return pattern.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name] ?? `no-such-${name}`));
}

const SOS_VALUES = { tenant: 'sos-expat', ip: '45.123.10.1', domain: 'sos-mail.com', name: 'welcome', email: 'x@example.net' };
const ULIXAI_VALUES = { tenant: 'ulixai', ip: '45.123.20.1', domain: 'ulixai-mail.com', name: 'welcome', email: 'x@example.net' };
const NOWHERE = { tenant: 'no-such-tenant', ip: '10.255.255.1', domain: 'no-such.example', name: 'no-such', email: 'no-such@example.net' };

const routes = Object.entries(ROUTE_RULES).map(([key, rule]) => {
  const [method, pattern] = key.split(' ') as [string, string];
  return { key, method, pattern, rule };
});

describe('API token scopes: every route declares the scope it needs', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      patch: {
        api: {
          tokens: [
            { name: 'dashboard', token: READ, scopes: ['read'] },
            { name: 'log-shipper', token: PUSH, scopes: ['accounting:push'] },
            { name: 'app-mailer', token: SEND, scopes: ['send'] },
            { name: 'sos-admin', token: SOS_ADMIN, scopes: ['admin'], tenants: ['sos-expat'] },
            { name: 'sos-dashboard', token: SOS_READ, scopes: ['read'], tenants: ['sos-expat'] },
          ],
        },
      },
    });
  });
  after(() => h.close());

  it('every rule names a route the daemon serves (no stale rule)', async () => {
    for (const r of routes) {
      const res = await h.api(pathOf(r.pattern, NOWHERE), { method: r.method, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { json: {} }) });
      assert.doesNotMatch(String(res.body?.message ?? ''), /^no route/, `${r.key}: ${JSON.stringify(res.body)}`);
    }
  });

  it('a read-only token gets 403 JSON on every route that changes something, and nothing changes', async () => {
    const audit = (await h.api('/api/v2/audit')).body.entries.length;
    const changing = routes.filter((r) => r.rule.scope !== 'read');
    assert.ok(changing.length >= 20, `only ${changing.length} changing routes`);
    for (const r of changing) {
      const res = await h.api(pathOf(r.pattern, SOS_VALUES), { method: r.method, token: READ, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { json: { reason: 'x', tenant: 'sos-expat' } }) });
      assert.equal(res.status, 403, `${r.key}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'forbidden', r.key);
      assert.equal(res.body.token, 'dashboard');
    }
    assert.equal((await h.api('/api/v2/audit')).body.entries.length, audit);
    assert.equal(h.daemon.registry.tenant('sos-expat')!.ips[0]!.state, 'warming');
  });

  it('every GET is a read, and the only POSTs a read token may make are the ones that compute without changing anything', () => {
    for (const r of routes.filter((x) => x.method === 'GET' && x.rule.scope !== 'read')) assert.equal(r.key, 'GET /api/v2/powermta/dkim/:domain', 'DKIM creates a missing key');
    assert.deepEqual(
      routes.filter((r) => r.method !== 'GET' && r.rule.scope === 'read').map((r) => r.key).sort(),
      ['POST /api/v2/quotas/:tenant/check', 'POST /api/v2/templates/:tenant/:name/preview', 'POST /api/v2/templates/validate'],
    );
  });

  it('a read-only token reads', async () => {
    for (const r of routes.filter((x) => x.rule.scope === 'read' && x.method === 'GET')) {
      const res = await h.api(pathOf(r.pattern, SOS_VALUES), { token: READ });
      assert.notEqual(res.status, 403, `${r.key}: ${JSON.stringify(res.body)}`);
      assert.notEqual(res.status, 401, r.key);
    }
    assert.equal((await h.api('/api/v2/quotas/sos-expat/check', { method: 'POST', json: { emails_to_send: 5 }, token: READ })).status, 200);
  });

  it('an accounting:push token can push records and nothing else: it cannot pause an IP', async () => {
    const pushed = await h.api('/api/v2/webhooks/powermta', { method: 'POST', body: '{"type":"d"}', token: PUSH });
    assert.notEqual(pushed.status, 403, JSON.stringify(pushed.body)); // 409 here: this agent tails files
    const pause = await h.api('/api/v2/ips/45.123.10.1/pause', { method: 'POST', json: { reason: 'fake complaints' }, token: PUSH });
    assert.equal(pause.status, 403);
    assert.equal(pause.body.scope, 'admin');
    assert.equal((await h.api('/api/v2/quotas/sos-expat', { token: PUSH })).status, 403);
  });

  it('a send token sends transactional mail and cannot read or change the rest', async () => {
    const sent = await h.api('/api/v2/messages/send', {
      method: 'POST',
      json: { tenant: 'sos-expat', to: 'jean@example.net', subject: 'Receipt', html: '<p>Thanks</p>' },
      token: SEND,
    });
    assert.ok(sent.status === 200 || sent.status === 202, JSON.stringify(sent.body));
    assert.equal((await h.api('/api/v2/quotas/sos-expat', { token: SEND })).status, 403);
    assert.equal((await h.api('/api/v2/tenants/sos-expat/users', { method: 'PUT', json: { username: 'sos-expat', password: 'taken-over-1' }, token: SEND })).status, 403);
  });

  it('a token limited to one tenant reaches that tenant and never another: by path, id, IP, domain or body', async () => {
    assert.equal((await h.api('/api/v2/quotas/sos-expat', { token: SOS_ADMIN })).status, 200);
    assert.equal((await h.api('/api/v2/quotas/1', { token: SOS_ADMIN })).status, 200);
    for (const r of routes.filter((x) => x.rule.tenant !== 'none')) {
      const res = await h.api(pathOf(r.pattern, ULIXAI_VALUES), { method: r.method, token: SOS_ADMIN, ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { json: { tenant: 'ulixai', reason: 'x' } }) });
      assert.equal(res.status, 403, `${r.key}: ${JSON.stringify(res.body)}`);
    }
    for (const [p, json] of [
      ['/api/v2/quotas/2', undefined],
      ['/api/v2/messages/send', { tenant: 2, to: 'a@example.net', subject: 's', html: 'h' }],
      ['/api/v2/templates', { tenant: 2, name: 'x', subject: 's', html: 'h' }],
    ] as const) {
      const res = await h.api(p, { method: json ? 'POST' : 'GET', token: SOS_ADMIN, ...(json ? { json } : {}) });
      assert.equal(res.status, 403, p);
    }
    assert.equal(h.daemon.registry.tenant('ulixai')!.ips[0]!.state, 'active');
    const unknown = await h.api('/api/v2/quotas/no-such-tenant', { token: SOS_READ });
    assert.equal(unknown.status, 403, 'a limited token learns nothing about tenants it cannot reach');
  });

  it('the audit log names the token that made a change', async () => {
    const pause = await h.api('/api/v2/ips/45.123.10.1/pause', { method: 'POST', json: { reason: 'tenant asked' }, token: SOS_ADMIN });
    assert.equal(pause.status, 200, JSON.stringify(pause.body));
    const audit = await h.api('/api/v2/ips/45.123.10.1/audit', { token: SOS_READ });
    assert.equal(audit.body.entries[0].actor, 'sos-admin');
    assert.equal((await h.api('/api/v2/ips/45.123.10.1/resume', { method: 'POST', json: { reason: 'done' }, token: SOS_ADMIN })).status, 200);
  });
});
