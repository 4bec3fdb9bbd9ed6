import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { API_TOKEN, SOS, startHarness, type Harness } from '../helpers/env.js';

/** A POST whose body streams in chunks, without Content-Length. */
function chunkedPost(url: string, chunks: number, chunkBytes: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.write('{"slug":"huge","name":"');
    const chunk = 'x'.repeat(chunkBytes);
    let sent = 0;
    const pump = () => {
      while (sent < chunks) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}');
    };
    pump();
  });
}

describe('API limits: body size, names that reach the PowerMTA config, atomic creates', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  const tenantExists = async (slug: string) => (await h.api(`/api/v2/tenants/${slug}`)).status === 200;

  it('refuses a body over api.maxBodyBytes (1 MiB by default) with 413, with or without Content-Length, and creates nothing', async () => {
    const big = await h.api('/api/v2/tenants', { method: 'POST', json: { slug: 'huge', name: 'x'.repeat(2 * 1024 * 1024) } });
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'too_large');
    assert.match(big.body.message, /api\.maxBodyBytes \(1048576 bytes\)/);
    const streamed = await chunkedPost(`${h.apiUrl}/api/v2/tenants`, 64, 64 * 1024);
    assert.equal(streamed.status, 413);
    assert.equal(await tenantExists('huge'), false);
  });

  it('refuses tenant names that are too long or not one line of text, naming the field', async () => {
    for (const name of ['x'.repeat(101), 'Evil\n<virtual-mta other-tenant>', 'tab\there', 'line\u2028separator']) {
      const r = await h.api('/api/v2/tenants', { method: 'POST', json: { slug: 'evil', name } });
      assert.equal(r.status, 400, JSON.stringify(name));
      assert.equal(r.body.field, 'name');
    }
    const patched = await h.api('/api/v2/tenants/sos-expat', { method: 'PATCH', json: { name: 'SOS\r\n# injected' } });
    assert.equal(patched.status, 400);
    assert.equal(await tenantExists('evil'), false);
    assert.ok((await h.api('/api/v2/tenants', { method: 'POST', json: { slug: 'fine', name: 'Société Générale — Newsletters' } })).status === 201);
  });

  it('refuses slugs, hostnames and domains beyond their length or characters', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ slug: 'a'.repeat(64), name: 'Long slug' }, 'slug'],
      [{ slug: 'Bad_Slug', name: 'Bad slug' }, 'slug'],
      [{ slug: 'host1', name: 'Host', ips: [{ address: '45.123.40.1', hostname: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com` }] }, 'ips.0.hostname'],
      [{ slug: 'host2', name: 'Host', ips: [{ address: '45.123.40.2', hostname: 'mail.example.com\n<source 0/0>' }] }, 'ips.0.hostname'],
      [{ slug: 'dom1', name: 'Dom', domains: [`${'a'.repeat(64)}.com`] }, 'domains.0'],
      [{ slug: 'dom2', name: 'Dom', domains: ['../../etc'] }, 'domains.0'],
    ];
    for (const [json, field] of cases) {
      const r = await h.api('/api/v2/tenants', { method: 'POST', json });
      assert.equal(r.status, 400, JSON.stringify(json).slice(0, 80));
      assert.equal(r.body.field, field);
      assert.equal(await tenantExists(String(json.slug)), false);
    }
    const ip = await h.api('/api/v2/ips/45.123.10.1', { method: 'PATCH', json: { hostname: 'x'.repeat(300) + '.com' } });
    assert.equal(ip.status, 400);
    const dom = await h.api('/api/v2/tenants/sos-expat/domains', { method: 'POST', json: { domain: 'bad domain.com' } });
    assert.equal(dom.status, 400);
  });

  it('the config file is held to the same names', () => {
    const tenant = { id: 9, slug: 'cfg', users: [{ username: 'cfg-user', password: 'cfg-password' }], domains: ['cfg-mail.com'] };
    const problems = (name: string) => {
      try {
        parseConfig({ api: { token: API_TOKEN }, tenants: [{ ...tenant, name }] });
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    assert.match(problems('Two\nlines'), /1 problem\(s\)\s+tenants\.0\.name: must be one line of printable text/);
    assert.match(problems('x'.repeat(101)), /1 problem\(s\)\s+tenants\.0\.name: must be at most 100 characters/);
    assert.equal(problems('SOS Expat'), '');
  });

  it('a create that conflicts on a user, a domain or an IP answers 409 and leaves nothing behind', async () => {
    const conflicts: Array<[Record<string, unknown>, string]> = [
      [{ users: [{ username: SOS.username, password: 'another-password' }] }, 'username'],
      [{ domains: ['partial-mail.com', SOS.domain] }, 'domain'],
      [{ ips: [{ address: '45.123.50.1', hostname: 'mail1.partial-mail.com' }, { address: '45.123.10.1', hostname: 'mail2.partial-mail.com' }] }, 'address'],
    ];
    const audited = () => h.daemon.db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number };
    const auditBefore = audited().n;
    for (const [extra, field] of conflicts) {
      const r = await h.api('/api/v2/tenants', {
        method: 'POST',
        json: { slug: 'partial', name: 'Partial', users: [{ username: 'partial-user', password: 'partial-password' }], ...extra },
      });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.field, field);
      assert.equal(await tenantExists('partial'), false);
      assert.equal(h.daemon.registry.user('partial-user'), undefined);
      assert.equal(h.daemon.db.prepare("SELECT 1 FROM domains WHERE domain = 'partial-mail.com'").get(), undefined);
      assert.equal(h.daemon.db.prepare("SELECT 1 FROM ips WHERE address = '45.123.50.1'").get(), undefined);
    }
    assert.equal(audited().n, auditBefore);
    // The same create without the conflict goes through whole.
    const ok = await h.api('/api/v2/tenants', {
      method: 'POST',
      json: { slug: 'partial', name: 'Partial', users: [{ username: 'partial-user', password: 'partial-password' }], domains: ['partial-mail.com'], ips: [{ address: '45.123.50.1', hostname: 'mail1.partial-mail.com' }] },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.domains, ['partial-mail.com']);
    assert.equal(h.daemon.registry.user('partial-user')?.tenant, 'partial');
  });
});
