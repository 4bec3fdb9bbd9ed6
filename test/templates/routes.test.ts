import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseHeaders, splitHeaderBlock } from '../../src/stamp/headers.js';
import type { IpAddress } from '../../src/types.js';
import { TODAY } from '../helpers/env.js';
import { startTemplateApp, type TemplateApp } from './app.js';

const welcome = {
  tenant: 'sos-expat',
  name: 'welcome',
  subject: 'Bienvenue [FNAME] — ça commence',
  html: '<p>Bonjour {{ first_name }}, votre code : <b>{{ code }}</b></p><p>© [CURRENT_YEAR] [COMPANY_NAME]</p>',
  text: 'Bonjour {{ first_name }}, votre code : {{ code }}',
};

function headersOf(raw: string): string {
  const split = splitHeaderBlock(Buffer.from(raw));
  assert.ok(split);
  return raw.slice(0, split.headerEnd).replace(/\r\n[ \t]/g, ' ');
}

describe('template routes', () => {
  let t: TemplateApp;
  beforeEach(async () => {
    t = await startTemplateApp();
  });
  afterEach(() => t.close());

  it('POST / creates a template and answers 201 with the variables it reads', async () => {
    const r = await t.request('/api/v2/templates', { json: welcome });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.tenant, 'sos-expat');
    assert.equal(r.body.name, 'welcome');
    assert.equal(r.body.html, welcome.html);
    assert.deepEqual(r.body.variables, ['code', 'company_name', 'first_name']);
    assert.equal(r.body.created_at, '2026-11-25T10:00:00.000Z');
  });

  it('POST / addresses the tenant by id as well as slug', async () => {
    const r = await t.request('/api/v2/templates', { json: { ...welcome, tenant: 2 } });
    assert.equal(r.status, 201);
    assert.equal(r.body.tenant, 'ulixai');
  });

  it('POST / answers 400 naming the part, line and column of a syntax error', async () => {
    const r = await t.request('/api/v2/templates', { json: { ...welcome, html: '<p>\n  Hi {{ first name }}\n{{ }}</p>' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid');
    assert.equal(r.body.field, 'html');
    assert.equal(r.body.line, 2);
    assert.equal(r.body.column, 14);
    assert.match(r.body.message, /^html: bad character " " .* at line 2, column 14$/);
    assert.deepEqual(
      r.body.errors.map((e: { field: string; line: number; column: number }) => [e.field, e.line, e.column]),
      [
        ['html', 2, 14],
        ['html', 3, 1],
      ],
    );
  });

  it('POST / answers 409 on a duplicate name, 400 on a bad name or a missing field, 404 on an unknown tenant', async () => {
    assert.equal((await t.request('/api/v2/templates', { json: welcome })).status, 201);
    const dup = await t.request('/api/v2/templates', { json: welcome });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.field, 'name');
    const badName = await t.request('/api/v2/templates', { json: { ...welcome, name: 'Welcome Mail' } });
    assert.equal(badName.status, 400);
    assert.equal(badName.body.field, 'name');
    const { html: _h, ...noHtml } = welcome;
    const missing = await t.request('/api/v2/templates', { json: noHtml });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.field, 'html');
    const unknown = await t.request('/api/v2/templates', { json: { ...welcome, tenant: 'nobody' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.tenant, 'nobody');
  });

  it('GET /{tenant} lists the tenant\'s templates without bodies; other tenants do not see them', async () => {
    await t.request('/api/v2/templates', { json: welcome });
    await t.request('/api/v2/templates', { json: { ...welcome, name: 'receipt', text: undefined } });
    const r = await t.request('/api/v2/templates/sos-expat');
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.templates.map((x: { name: string; has_text: boolean; html?: string }) => [x.name, x.has_text, x.html]),
      [
        ['receipt', false, undefined],
        ['welcome', true, undefined],
      ],
    );
    assert.deepEqual((await t.request('/api/v2/templates/ulixai')).body.templates, []);
    assert.equal((await t.request('/api/v2/templates/ulixai/welcome')).status, 404);
  });

  it('GET /{tenant}/{name} reads one by name or id; 404 names the template', async () => {
    const created = (await t.request('/api/v2/templates', { json: welcome })).body;
    assert.equal((await t.request('/api/v2/templates/sos-expat/welcome')).body.html, welcome.html);
    assert.equal((await t.request(`/api/v2/templates/1/${created.id}`)).body.name, 'welcome');
    const missing = await t.request('/api/v2/templates/sos-expat/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.template, 'nope');
  });

  it('PUT /{tenant}/{name} changes the fields given; a syntax error is a 400 with position and changes nothing', async () => {
    await t.request('/api/v2/templates', { json: welcome });
    t.clock.advance(1000);
    const r = await t.request('/api/v2/templates/sos-expat/welcome', { method: 'PUT', json: { subject: 'Hello {{ first_name }}', text: null } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.subject, 'Hello {{ first_name }}');
    assert.equal(r.body.text, null);
    assert.equal(r.body.html, welcome.html);
    assert.equal(r.body.updated_at, '2026-11-25T10:00:01.000Z');
    const bad = await t.request('/api/v2/templates/sos-expat/welcome', { method: 'PUT', json: { subject: 'x {{ oops' } });
    assert.equal(bad.status, 400);
    assert.deepEqual([bad.body.field, bad.body.line, bad.body.column], ['subject', 1, 3]);
    assert.equal((await t.request('/api/v2/templates/sos-expat/welcome')).body.subject, 'Hello {{ first_name }}');
    const empty = await t.request('/api/v2/templates/sos-expat/welcome', { method: 'PUT', json: {} });
    assert.equal(empty.status, 400);
  });

  it('DELETE /{tenant}/{name} removes it; a second delete is 404', async () => {
    await t.request('/api/v2/templates', { json: welcome });
    const r = await t.request('/api/v2/templates/sos-expat/welcome', { method: 'DELETE' });
    assert.deepEqual(r.body, { ok: true, tenant: 'sos-expat', deleted: 'welcome', id: 1 });
    assert.equal((await t.request('/api/v2/templates/sos-expat/welcome', { method: 'DELETE' })).status, 404);
  });

  it('POST /{tenant}/{name}/preview renders with sample data when none is given', async () => {
    await t.request('/api/v2/templates', { json: welcome });
    const r = await t.request('/api/v2/templates/sos-expat/welcome/preview', { json: {} });
    assert.equal(r.status, 200);
    assert.equal(r.body.sample, true);
    assert.equal(r.body.subject, 'Bienvenue Sample first_name — ça commence');
    assert.equal(r.body.html, '<p>Bonjour Sample first_name, votre code : <b>Sample code</b></p><p>© 2026 Sample company_name</p>');
  });

  it('POST /{tenant}/{name}/preview renders the given data, html-escaped in html only, missing as empty', async () => {
    await t.request('/api/v2/templates', { json: welcome });
    const r = await t.request('/api/v2/templates/sos-expat/welcome/preview', { json: { variables: { first_name: 'Léa <3', FNAME: 'L&A' } } });
    assert.equal(r.body.sample, false);
    assert.equal(r.body.subject, 'Bienvenue L&A — ça commence');
    assert.equal(r.body.html, '<p>Bonjour Léa &lt;3, votre code : <b></b></p><p>© 2026 </p>');
    assert.equal(r.body.text, 'Bonjour Léa <3, votre code : ');
  });

  it('stores <% %> and ${} as text and previews them as text', async () => {
    const html = '<% require("fs").readFileSync("/etc/passwd") %> ${process.env.HOME} <%= 7*7 %> {{ x }}';
    assert.equal((await t.request('/api/v2/templates', { json: { ...welcome, name: 'code', html } })).status, 201);
    const r = await t.request('/api/v2/templates/sos-expat/code/preview', { json: { variables: { x: '<%= 1 %>' } } });
    assert.equal(r.body.html, '<% require("fs").readFileSync("/etc/passwd") %> ${process.env.HOME} <%= 7*7 %> &lt;%= 1 %&gt;');
  });

  it('POST /validate reports every error with its part and position, and the variables', async () => {
    const bad = await t.request('/api/v2/templates/validate', { json: { subject: 'Hi {{ name', html: '<p>{{ a }}</p>\n{{ b! }}', text: '[FNAME]' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.body.ok, false);
    assert.deepEqual(
      bad.body.errors.map((e: { field: string; line: number; column: number }) => [e.field, e.line, e.column]),
      [
        ['subject', 1, 4],
        ['html', 2, 5],
      ],
    );
    assert.deepEqual(bad.body.variables, ['a', 'first_name']);
    const good = await t.request('/api/v2/templates/validate', { json: { subject: 'Hi [FNAME]', html: '{{ a }}' } });
    assert.deepEqual(good.body, { ok: true, variables: ['a', 'first_name'], errors: [] });
  });
});

describe('POST /api/v2/messages/send', () => {
  let t: TemplateApp;
  beforeEach(async () => {
    t = await startTemplateApp();
    assert.equal((await t.request('/api/v2/templates', { json: welcome })).status, 201);
  });
  afterEach(() => t.close());

  const usage = async () => (await t.ledger.usage(TODAY as never, ['45.123.10.1' as IpAddress])).get('45.123.10.1' as IpAddress);

  it('renders the stored template, composes the message and submits it from noreply@ the tenant domain', async () => {
    const r = await t.request('/api/v2/messages/send', {
      json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net', variables: { first_name: 'Zoë', code: '<123>' } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(t.submissions.length, 1);
    const s = t.submissions[0]!;
    assert.deepEqual([s.tenant, s.mailFrom, s.rcptTo], ['sos-expat', 'noreply@sos-mail.com', 'jean@example.net']);
    const headers = headersOf(s.raw!);
    assert.match(headers, /^Subject: =\?UTF-8\?Q\?Bienvenue_Zo=C3=ABn?/m);
    assert.match(headers, /^From: noreply@sos-mail\.com$/m);
    assert.match(headers, /^To: jean@example\.net$/m);
    const info = parseHeaders(headers);
    assert.equal(info.messageId, r.body.message_id);
    assert.equal(info.feedbackId, 'tx-welcome:sos-expat:transactional:pmta-agent');
    assert.match(s.raw!, /&lt;123&gt;/, 'html part escaped');
    assert.match(s.raw!, /votre code : <123>/, 'text part not escaped');
  });

  it('answers with the seed send shape: outcome, IP and its status, quota of that IP after the send', async () => {
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 1, template: 'welcome', to: 'jean@example.net' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      success: true,
      tenant: 'sos-expat',
      template: 'welcome',
      total_recipients: 1,
      recipient: 'jean@example.net',
      from: 'noreply@sos-mail.com',
      outcome: 'forwarded',
      message_id: r.body.message_id,
      ip_used: '45.123.10.1',
      vmta: 'sos-expat-45-123-10-1',
      ip_status: 'warming',
      response: '250 2.0.0 queued',
      quota_info: { scope: 'ip', ip: '45.123.10.1', daily_quota: 50, sent_today: 1, remaining_today: 49 },
    });
    assert.match(r.body.message_id, /^<[0-9a-f]{40}@sos-mail\.com>$/);
    assert.deepEqual(await usage(), { committed: 1, reserved: 0 });
  });

  it('sends subject + html given inline, with the recipient as [EMAIL] by default', async () => {
    const r = await t.request('/api/v2/messages/send', {
      json: { tenant: 'sos-expat', subject: 'Receipt', html: '<p>Sent to [EMAIL]</p>', to: 'jean@example.net', from: 'billing@SOS-mail.com', from_name: 'SOS Billing' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.template, null);
    const s = t.submissions[0]!;
    assert.equal(s.mailFrom, 'billing@SOS-mail.com');
    assert.match(s.raw!, /Sent to jean@example\.net/);
    assert.equal(parseHeaders(headersOf(s.raw!)).feedbackId, 'tx-adhoc:sos-expat:transactional:pmta-agent');
  });

  it('refuses a from outside the tenant\'s domains with 400 on from, before anything is submitted', async () => {
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net', from: 'news@ulixai-mail.com' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'from');
    assert.equal(t.submissions.length, 0);
  });

  it('answers 400 naming the field for a bad to, template and inline both, or neither', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ template: 'welcome', to: 'not-an-address' }, 'to'],
      [{ template: 'welcome', to: 'a@b.com', subject: 'x' }, 'subject'],
      [{ to: 'a@b.com', html: '<p>x</p>' }, 'subject'],
      [{ to: 'a@b.com', subject: 'x' }, 'html'],
    ];
    for (const [json, field] of cases) {
      const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', ...json } });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.equal(r.body.field, field, JSON.stringify(r.body));
    }
    assert.equal((await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', template: 'nope', to: 'a@b.com' } })).status, 404);
    assert.equal(t.submissions.length, 0);
  });

  it('answers 400 with the position for inline parts that do not parse', async () => {
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', subject: 'ok', html: '<p>\n\n {{ a', to: 'a@b.com' } });
    assert.equal(r.status, 400);
    assert.deepEqual([r.body.field, r.body.line, r.body.column], ['html', 3, 2]);
    assert.equal(t.submissions.length, 0);
  });

  it('reports a refusal (suppressed) with success false, no IP and the tenant quota untouched', async () => {
    t.script.push({ kind: 'refused', code: 550, response: '550 5.1.1 jean@example.net is suppressed (hard-bounce)', reason: 'suppressed' });
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net' } });
    assert.equal(r.status, 422);
    assert.equal(r.body.success, false);
    assert.equal(r.body.outcome, 'refused');
    assert.equal(r.body.reason, 'suppressed');
    assert.equal(r.body.code, 550);
    assert.equal(r.body.ip_used, null);
    assert.equal(r.body.ip_status, null);
    assert.deepEqual(r.body.quota_info, { scope: 'tenant', ip: null, daily_quota: 50, sent_today: 0, remaining_today: 50 });
    assert.deepEqual(await usage(), { committed: 0, reserved: 0 });
  });

  it('reports a spooled message as accepted (202) with the spool reason', async () => {
    t.script.push({ kind: 'spooled', id: 'sp-1', reason: 'daily quota used' });
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net' } });
    assert.equal(r.status, 202);
    assert.equal(r.body.success, true);
    assert.equal(r.body.outcome, 'spooled');
    assert.equal(r.body.spool_id, 'sp-1');
    assert.equal(r.body.reason, 'daily quota used');
    assert.equal(r.body.quota_info.scope, 'tenant');
  });

  it('answers 503 when PowerMTA refused, so the caller retries', async () => {
    t.script.push({ kind: 'refused', code: 451, response: '451 4.3.0 try later', reason: 'pmta' });
    const r = await t.request('/api/v2/messages/send', { json: { tenant: 'sos-expat', template: 'welcome', to: 'jean@example.net' } });
    assert.equal(r.status, 503);
    assert.equal(r.body.success, false);
  });
});
