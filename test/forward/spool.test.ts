import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Spool } from '../../src/forward/spool.js';
import { createLogger } from '../../src/log/logger.js';
import { tmpDir } from '../helpers/env.js';

const log = createLogger({ level: 'error', write: () => undefined });

/** A message as an older version spooled it: under the tenant's slug, the slug in its metadata. */
function legacy(dir: string, slug: string, id: string, extra: Record<string, unknown> = {}) {
  mkdirSync(path.join(dir, slug), { recursive: true });
  writeFileSync(path.join(dir, slug, `${id}.eml`), `Message-ID: <${id}@x>\r\n\r\nbody\r\n`);
  const meta = { id, tenant: slug, mailFrom: 'n@sos-mail.com', rcptTo: ['a@x.net'], arrivedAt: '2026-11-25T10:00:00.000Z', reason: 'r', messageId: `<${id}@x>`, size: 30, attempts: 0, lastError: null, ...extra };
  writeFileSync(path.join(dir, slug, `${id}.json`), JSON.stringify(meta));
}

describe('the spool is keyed by tenant id', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tmpDir()));
  afterEach(() => cleanup());

  it('moves messages of a slug-named directory (older versions) to the tenant id, and loads each once', async () => {
    legacy(dir, 'sos-expat', 'm1');
    legacy(dir, 'sos-expat', 'm2');
    const spool = new Spool(dir, log);
    await spool.init((slug) => (slug === 'sos-expat' ? 1 : undefined));
    assert.deepEqual(spool.tenants(), [1]);
    assert.deepEqual(spool.queue(1).map((e) => e.meta.id), ['m1', 'm2']);
    assert.equal(existsSync(path.join(dir, 'sos-expat')), false);
    const meta = JSON.parse(readFileSync(path.join(dir, '1', 'm1.json'), 'utf8'));
    assert.equal(meta.tenantId, 1);
    assert.equal(meta.tenant, undefined);
    // A second start finds them where they are now.
    const again = new Spool(dir, log);
    await again.init(() => undefined);
    assert.equal(again.size(1), 2);
  });

  it('a migration cut short (new copy written, old pair still there) loads the message once', async () => {
    legacy(dir, 'sos-expat', 'm1');
    mkdirSync(path.join(dir, '1'));
    writeFileSync(path.join(dir, '1', 'm1.eml'), readFileSync(path.join(dir, 'sos-expat', 'm1.eml')));
    writeFileSync(path.join(dir, '1', 'm1.json'), JSON.stringify({ ...JSON.parse(readFileSync(path.join(dir, 'sos-expat', 'm1.json'), 'utf8')), tenant: undefined, tenantId: 1 }));
    const spool = new Spool(dir, log);
    await spool.init(() => 1);
    assert.equal(spool.size(), 1);
    assert.deepEqual(readdirSync(dir).sort(), ['1', 'tmp']);
  });

  it('a slug no tenant has any more is left in place, not lost', async () => {
    legacy(dir, 'gone', 'm1');
    const spool = new Spool(dir, log);
    await spool.init(() => undefined);
    assert.equal(spool.size(), 0);
    assert.ok(existsSync(path.join(dir, 'gone', 'm1.json')));
  });

  it('admits into the tenant id directory', async () => {
    const spool = new Spool(dir, log);
    await spool.init();
    const tmp = spool.tmpPathFor('x1');
    writeFileSync(tmp, 'Subject: a\r\n\r\nb');
    await spool.admit(tmp, { id: 'x1', tenantId: 7, mailFrom: 'a@b', rcptTo: ['c@d'], arrivedAt: new Date().toISOString(), reason: 'r', messageId: null, size: 15, attempts: 0, lastError: null });
    assert.ok(existsSync(path.join(dir, '7', 'x1.json')));
    assert.equal(spool.size(7), 1);
  });
});
