import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  dkimDnsRecord,
  dkimKeyPath,
  dmarcRecord,
  ensureDkimKey,
  existingDkimKeys,
  InvalidDomainError,
  spfRecord,
  validateDomain,
  validateSelector,
} from '../../src/pmta/dkim.js';

let base: string;
let dir: string;

beforeEach(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'pmta-dkim-'));
  dir = path.join(base, 'dkim');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

/** `k=v; k=v` tags of a DKIM or DMARC record (RFC 6376 §3.2). */
function tags(value: string): Map<string, string> {
  return new Map(
    value
      .split(';')
      .map((t) => t.trim())
      .filter(Boolean)
      .map((t) => [t.slice(0, t.indexOf('=')).trim(), t.slice(t.indexOf('=') + 1).trim()]),
  );
}

describe('ensureDkimKey', () => {
  it('generates an RSA 2048 key whose signatures verify with the public key published in DNS', async () => {
    const key = await ensureDkimKey(dir, 'sos-mail.com', 'default');
    assert.equal(key.created, true);
    assert.equal(key.keyPath, path.join(dir, 'default.sos-mail.com.pem'));

    const privatePem = readFileSync(key.keyPath, 'utf8');
    assert.match(privatePem, /^-----BEGIN RSA PRIVATE KEY-----/);
    const data = Buffer.from('from:SOS-Expat <news@sos-mail.com>\r\nsubject:Bonjour\r\n');
    const signature = sign('sha256', data, privatePem);

    const record = dkimDnsRecord('sos-mail.com', 'default', key.publicKeyPem);
    const p = tags(record.value).get('p')!;
    const published = createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
    assert.equal(published.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(verify('sha256', data, published, signature), true);
    assert.equal(verify('sha256', Buffer.from('tampered'), published, signature), false);
  });

  it('stores the private key with mode 0600 in a 0700 directory', async () => {
    const key = await ensureDkimKey(dir, 'sos-mail.com', 'default');
    assert.equal(statSync(key.keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });

  it('reuses the key on disk instead of making a new one', async () => {
    const first = await ensureDkimKey(dir, 'sos-mail.com', 'default');
    const again = await ensureDkimKey(dir, 'SOS-Mail.com', 'DEFAULT');
    assert.equal(again.created, false);
    assert.equal(again.publicKeyPem, first.publicKeyPem);
  });

  it('gives concurrent callers the same key and leaves no temporary files', async () => {
    const keys = await Promise.all([1, 2, 3].map(() => ensureDkimKey(dir, 'ulixai-mail.com', 'default')));
    assert.equal(new Set(keys.map((k) => k.publicKeyPem)).size, 1);
    assert.equal(keys.filter((k) => k.created).length, 1);
    assert.deepEqual(readdirSync(dir), ['default.ulixai-mail.com.pem']);
  });

  for (const bad of ['../etc', 'a/b.com', '..', 'sos..com', 'sos mail.com', 'sos-mail.com/../../x', '', 'exa_mple.com', '-sos.com', 'com', '45.123.10.1', 'sös.com', 'sos-mail.com.', 'a\\b.com']) {
    it(`refuses the domain ${JSON.stringify(bad)} with InvalidDomainError before touching the disk`, async () => {
      await assert.rejects(ensureDkimKey(dir, bad, 'default'), (e: unknown) => {
        assert.ok(e instanceof InvalidDomainError);
        assert.equal(e.field, 'domain');
        assert.equal(e.status, 400);
        return true;
      });
      assert.equal(existsSync(dir), false);
    });
  }

  it('refuses a selector that is not a DNS label, naming the selector field', async () => {
    for (const bad of ['../x', 'a b', 'a/b', '', 'x'.repeat(64)]) {
      await assert.rejects(ensureDkimKey(dir, 'sos-mail.com', bad), (e: unknown) => e instanceof InvalidDomainError && e.field === 'selector');
    }
    assert.equal(existsSync(dir), false);
  });

  it('lists only the keys already on disk when asked not to create any', async () => {
    await ensureDkimKey(dir, 'sos-mail.com', 'default');
    assert.deepEqual(await existingDkimKeys(dir, ['ulixai-mail.com', 'sos-mail.com'], 'default'), [
      { domain: 'sos-mail.com', selector: 'default', keyPath: dkimKeyPath(dir, 'sos-mail.com', 'default') },
    ]);
  });
});

describe('validateDomain', () => {
  it('lowercases a good domain', () => {
    assert.equal(validateDomain('SOS-Mail.COM'), 'sos-mail.com');
    assert.equal(validateDomain('xn--ss-xka.example'), 'xn--ss-xka.example');
  });

  it('names the field given by the caller and says why', () => {
    assert.throws(
      () => validateDomain('a..b.com', 'tenants[0].domains[2]'),
      (e: unknown) => e instanceof InvalidDomainError && e.field === 'tenants[0].domains[2]' && /\.\./.test(e.reason),
    );
  });

  it('accepts a dotted selector', () => {
    assert.equal(validateSelector('mw.2026'), 'mw.2026');
  });
});

describe('dkimDnsRecord', () => {
  it('names <selector>._domainkey.<domain> and gives v=DKIM1; k=rsa; p=... split into strings of at most 255 bytes', async () => {
    const key = await ensureDkimKey(dir, 'sos-mail.com', 'mw2026');
    const r = dkimDnsRecord('sos-mail.com', 'mw2026', key.publicKeyPem);
    assert.equal(r.name, 'mw2026._domainkey.sos-mail.com');
    assert.equal(r.type, 'TXT');
    const t = tags(r.value);
    assert.equal(t.get('v'), 'DKIM1');
    assert.equal(t.get('k'), 'rsa');
    assert.match(t.get('p')!, /^[A-Za-z0-9+/]+={0,2}$/);
    assert.ok(r.value.length > 255, 'a 2048-bit key needs more than one string');
    assert.ok(r.chunks.length >= 2);
    for (const c of r.chunks) assert.ok(Buffer.byteLength(c) <= 255);
    assert.equal(r.chunks.join(''), r.value);
    assert.equal(r.zoneLine, `mw2026._domainkey.sos-mail.com. IN TXT ( ${r.chunks.map((c) => `"${c}"`).join(' ')} )`);
  });
});

describe('spfRecord', () => {
  it("authorises the tenant's IPs with ip4 mechanisms, softfail by default", () => {
    const r = spfRecord('sos-mail.com', ['45.123.10.10', '45.123.10.2', '45.123.10.1', '45.123.10.2']);
    assert.equal(r.name, 'sos-mail.com');
    assert.equal(r.value, 'v=spf1 ip4:45.123.10.1 ip4:45.123.10.2 ip4:45.123.10.10 ~all');
    assert.deepEqual(r.chunks, [r.value]);
  });

  it('adds includes and a hard fail on request', () => {
    const r = spfRecord('sos-mail.com', ['45.123.10.1'], { includes: ['_spf.google.com'], all: '-all' });
    assert.equal(r.value, 'v=spf1 ip4:45.123.10.1 include:_spf.google.com -all');
  });

  it('refuses something that is not an IP', () => {
    assert.throws(() => spfRecord('sos-mail.com', ['45.123.10.1 ~all include:evil.com']), InvalidDomainError);
  });
});

describe('dmarcRecord', () => {
  it('starts at p=none with aggregate reports to the given address', () => {
    const r = dmarcRecord('sos-mail.com', 'dmarc@sos-mail.com');
    assert.equal(r.name, '_dmarc.sos-mail.com');
    const t = tags(r.value);
    assert.equal(r.value.startsWith('v=DMARC1; p=none'), true);
    assert.equal(t.get('rua'), 'mailto:dmarc@sos-mail.com');
    assert.deepEqual(r.notes, []);
  });

  it('notes the authorisation record an outside report address needs, and the lack of one', () => {
    assert.match(dmarcRecord('sos-mail.com', 'reports@dmarc.example.net').notes[0]!, /sos-mail\.com\._report\._dmarc\.dmarc\.example\.net/);
    assert.match(dmarcRecord('sos-mail.com').notes[0]!, /no rua address/);
    assert.equal(tags(dmarcRecord('sos-mail.com').value).has('rua'), false);
  });

  it('refuses a report address that would break the record', () => {
    assert.throws(() => dmarcRecord('sos-mail.com', 'a@b.com; p=reject'), InvalidDomainError);
  });
});
