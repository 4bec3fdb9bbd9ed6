import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { newApiToken } from '../../src/auth/tokens.js';
import { OPS_BOT_TOKEN, startHarness, send, type Harness } from '../helpers/env.js';

// Debian's chromium, headless; the flags keep it off the network (this machine's is closed) and fresh each run.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const READ_TOKEN = newApiToken();

describe('/ui in a real browser (headless Chromium)', () => {
  let h: Harness;
  let profile: string;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's chromium (.ci/run does)`);
    h = await startHarness({
      sosIps: [{ address: '45.123.10.1' }, { address: '45.123.10.2', state: 'active' }],
      patch: { api: { tokens: [{ name: 'ops-bot', token: OPS_BOT_TOKEN, scopes: ['admin'] }, { name: 'viewer', token: READ_TOKEN, scopes: ['read'] }] } },
    });
    assert.ok((await send(h.port, {})).ok);
    profile = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await h?.close();
  });

  // Each test starts signed out at a desktop width, so the tests hold in any order.
  async function signIn(token: string): Promise<void> {
    await context.clearCookies();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${h.apiUrl}/ui`);
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('table.ips');
  }

  it('signs in with a token, shows the IP table and the charts, and nothing breaks the CSP', async () => {
    await context.clearCookies();
    await page.setViewportSize({ width: 1280, height: 900 });
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(h.apiUrl)) violations.push(`request to ${r.url()}`);
    });
    await page.goto(`${h.apiUrl}/ui`);
    await page.fill('#token', OPS_BOT_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('table.ips');
    assert.equal(await page.locator('tr[data-ip="45.123.10.1"] td.state').textContent(), 'warming');
    assert.equal(await page.locator('tr[data-ip="45.123.10.2"] td.state').textContent(), 'active');
    assert.equal(await page.locator('#tenant-sos-expat svg.chart').count(), 3);
    const box = await page.locator('#tenant-sos-expat svg.chart').first().boundingBox();
    assert.ok(box && box.width > 200 && box.height > 60, 'the charts are drawn at a readable size (the stylesheet loaded)');
    assert.match((await page.locator('#pmta').textContent()) ?? '', /reachable/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'pmta_ui');
    assert.deepEqual([session?.httpOnly, session?.sameSite], [true, 'Strict']);
    assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is not readable from the page');
    assert.deepEqual(violations, []);
  });

  it('pauses an IP with a reason: paused in the page and in the API; a screenshot is saved; resumed the same way', async () => {
    await signIn(OPS_BOT_TOKEN);
    const row = page.locator('tr[data-ip="45.123.10.1"]');
    await row.locator('input[name=reason]').fill('complaints from a seed list');
    await row.locator('button[value=pause]').click();
    await page.waitForSelector('tr[data-ip="45.123.10.1"] td.state.paused');
    assert.match((await page.locator('.flash.ok').textContent()) ?? '', /45\.123\.10\.1: warming -> paused \(complaints from a seed list\)/);
    const api = await h.api('/api/v2/quotas/sos-expat');
    assert.equal(api.body.ips.find((i: { ip_address: string }) => i.ip_address === '45.123.10.1').status, 'paused');
    assert.ok(await row.locator('button[value=resume]').isVisible(), 'a paused IP offers resume');
    const shot = path.join(h.dir, 'ui.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    await row.locator('input[name=reason]').fill('seed list cleaned');
    await row.locator('button[value=resume]').click();
    await page.waitForSelector('tr[data-ip="45.123.10.1"] td.state:not(.paused)');
    const after = await h.api('/api/v2/quotas/sos-expat');
    assert.notEqual(after.body.ips.find((i: { ip_address: string }) => i.ip_address === '45.123.10.1').status, 'paused');
  });

  it("at a phone's width the body does not overflow sideways (wide tables scroll in their own box)", async () => {
    await signIn(OPS_BOT_TOKEN);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.reload();
    await page.waitForSelector('table.ips');
    const { scroll, inner } = await page.evaluate(() => ({ scroll: document.body.scrollWidth, inner: window.innerWidth }));
    assert.ok(scroll <= inner, `body ${scroll}px wide in a ${inner}px window`);
    await page.screenshot({ path: path.join(h.dir, 'ui-phone.png'), fullPage: true });
  });

  it('a read token sees the page without pause or resume buttons', async () => {
    await signIn(OPS_BOT_TOKEN);
    await page.click('header button[type=submit]');
    await page.waitForSelector('#token');
    await page.fill('#token', READ_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('table.ips');
    assert.equal(await page.locator('button[value=pause], button[value=resume]').count(), 0);
    assert.match((await page.locator('header .who').textContent()) ?? '', /viewer \(read\)/);
  });
});
