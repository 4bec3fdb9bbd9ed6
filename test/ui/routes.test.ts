import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newApiToken } from '../../src/auth/tokens.js';
import { API_TOKEN, OPS_BOT_TOKEN, startHarness, send, type Harness } from '../helpers/env.js';

const READ_TOKEN = newApiToken();
const SOS_ONLY_TOKEN = newApiToken();

/** A browser's session with the page: its cookie and the CSRF field of the last page. */
class Browser {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}

  async get(path = '/ui') {
    const res = await fetch(this.base + path, { headers: this.cookie ? { cookie: this.cookie } : {}, redirect: 'manual' });
    const text = await res.text();
    this.csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1] ?? this.csrf;
    return { res, text };
  }

  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0]!;
    return { res, text: await res.text(), setCookie: set };
  }

  async signIn(token: string) {
    const r = await this.post('/ui/login', { token });
    assert.equal(r.res.status, 303, r.text);
    return r;
  }
}

describe('/ui: the status page over HTTP', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      sosIps: [{ address: '45.123.10.1' }, { address: '45.123.10.2', state: 'active' }],
      patch: {
        api: {
          tokens: [
            { name: 'ops-bot', token: OPS_BOT_TOKEN, scopes: ['admin'] },
            { name: 'viewer', token: READ_TOKEN, scopes: ['read'] },
            { name: 'sos-admin', token: SOS_ONLY_TOKEN, scopes: ['admin'], tenants: ['sos-expat'] },
          ],
        },
      },
    });
    assert.ok((await send(h.port, {})).ok);
  });
  after(() => h.close());

  it('without a session: the sign-in form, under a CSP that allows nothing from elsewhere and no script', async () => {
    const { res, text } = await new Browser(h.apiUrl).get();
    assert.equal(res.status, 200);
    assert.match(text, /<form method="post" action="\/ui\/login">/);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /style-src 'self'/);
    assert.doesNotMatch(csp, /script-src|unsafe-inline|https?:/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });

  it('a wrong token is refused; a right one sets an HttpOnly, SameSite=Strict cookie that is not the token', async () => {
    const b = new Browser(h.apiUrl);
    const bad = await b.post('/ui/login', { token: 'pmta_not-a-configured-token-at-all' });
    assert.equal(bad.res.status, 401);
    assert.equal(bad.setCookie, null);
    const ok = await b.signIn(API_TOKEN);
    assert.match(ok.setCookie!, /^pmta_ui=[\w-]{40,}; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.ok(!ok.setCookie!.includes(API_TOKEN));
    // The cookie opens the page, never the JSON API: that keeps its bearer tokens.
    const api = await fetch(`${h.apiUrl}/api/v2/status`, { headers: { cookie: b.cookie } });
    assert.equal(api.status, 401);
  });

  it('the page: agent status, per IP state, warmup day and phase, cap, sent, held, spooled, and the charts', async () => {
    const b = new Browser(h.apiUrl);
    await b.signIn(API_TOKEN);
    const { res, text } = await b.get();
    assert.equal(res.status, 200);
    assert.match(text, /id="pmta"[^>]*>127\.0\.0\.1:\d+ reachable/);
    const cells = (ip: string) => {
      const row = new RegExp(`<tr data-ip="${ip.replace(/\./g, '\\.')}">([\\s\\S]*?)</tr>`).exec(text)?.[1] ?? '';
      return [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
    };
    // state, warmup day, phase, cap today, sent, held, left: the message went to the active IP (most quota left).
    assert.deepEqual(cells('45.123.10.1').slice(1, 8), ['warming', '1', 'week_1', '50', '0', '0', '50']);
    assert.deepEqual(cells('45.123.10.2').slice(1, 8), ['active', '1', 'active', '10000', '1', '0', '9999']);
    assert.match(text, /0<\/strong> spooled/);
    assert.equal((text.match(/<svg class="chart"/g) ?? []).length, 6, 'three charts per tenant');
    assert.match(text, /id="audit"/);
    assert.doesNotMatch(text, /<script/);
    assert.doesNotMatch(text, /\sstyle=/);
    const css = await fetch(`${h.apiUrl}/ui/style.css`);
    assert.match(css.headers.get('content-type')!, /text\/css/);
  });

  it('pause needs the CSRF field of the page and a same-origin request; then the IP is paused in the page and the API, audited with the token name', async () => {
    const b = new Browser(h.apiUrl);
    await b.signIn(OPS_BOT_TOKEN);
    await b.get();
    const noCsrf = await b.post('/ui/ips/45.123.10.1/pause', { reason: 'forged' });
    assert.equal(noCsrf.res.status, 403);
    const otherSite = await b.post('/ui/ips/45.123.10.1/pause', { reason: 'forged', csrf: b.csrf }, { origin: 'http://evil.example' });
    assert.equal(otherSite.res.status, 403);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.ips[0].status, 'warming');

    const ok = await b.post('/ui/ips/45.123.10.1/pause', { reason: 'bounce spike at gmail', csrf: b.csrf }, { origin: h.apiUrl });
    assert.equal(ok.res.status, 303);
    const page = (await b.get()).text;
    assert.match(page, /45\.123\.10\.1: warming -&gt; paused \(bounce spike at gmail\)/);
    assert.match(page, /<tr data-ip="45\.123\.10\.1"><td>[^]*?<td class="state paused">paused<\/td>/);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.ips.find((i: { ip_address: string }) => i.ip_address === '45.123.10.1').status, 'paused');
    const audit = (await h.api('/api/v2/ips/45.123.10.1/audit')).body.entries[0];
    assert.deepEqual([audit.action, audit.actor], ['ip.paused', 'ops-bot']);

    assert.equal((await b.post('/ui/ips/45.123.10.1/resume', { reason: 'checked', csrf: b.csrf })).res.status, 303);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.ips[0].status, 'warming');
  });

  it('a read token sees the page but gets no forms, and a pause it forges is refused by the API scope', async () => {
    const b = new Browser(h.apiUrl);
    await b.signIn(READ_TOKEN);
    const { text } = await b.get();
    assert.match(text, /viewer \(read\)/);
    assert.doesNotMatch(text, /action="\/ui\/ips\//);
    const forged = await b.post('/ui/ips/45.123.10.2/pause', { reason: 'x', csrf: b.csrf });
    assert.equal(forged.res.status, 303);
    assert.match((await b.get()).text, /pause 45\.123\.10\.2 refused \(403\)/);
    assert.equal((await h.api('/api/v2/quotas/sos-expat')).body.ips[1].status, 'active');
  });

  it('a token limited to one tenant sees that tenant only, not the agent-wide status', async () => {
    const b = new Browser(h.apiUrl);
    await b.signIn(SOS_ONLY_TOKEN);
    const { text } = await b.get();
    assert.match(text, /id="tenant-sos-expat"/);
    assert.doesNotMatch(text, /id="tenant-ulixai"/);
    assert.doesNotMatch(text, /45\.123\.20\.1/);
    assert.match(text, /limited to sos-expat/);
    const other = await b.post('/ui/ips/45.123.20.1/pause', { reason: 'not mine', csrf: b.csrf });
    assert.equal(other.res.status, 303);
    assert.equal((await h.api('/api/v2/quotas/ulixai')).body.ips[0].status, 'active');
  });

  it('sign out ends the session', async () => {
    const b = new Browser(h.apiUrl);
    await b.signIn(API_TOKEN);
    await b.get();
    const cookie = b.cookie;
    await b.post('/ui/logout', { csrf: b.csrf });
    const after = await fetch(`${h.apiUrl}/ui`, { headers: { cookie } });
    assert.match(await after.text(), /action="\/ui\/login"/);
  });
});
