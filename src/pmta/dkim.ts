// DKIM keys for PowerMTA's `domain-key` lines, and the DNS records an operator
// publishes for a sending domain (DKIM, SPF, DMARC).
import { createPublicKey, generateKeyPair, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../store/fsync.js';
import { promisify } from 'node:util';
import { compareAddresses, InvalidDomainError, isIpv4, isIpv6, validateDnsName, validateDomain, validateSelector } from './names.js';

export { InvalidDomainError, validateDomain, validateSelector } from './names.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export const DKIM_KEY_BITS = 2048;

/**
 * Where a key lives: `<dir>/<selector>.<domain>.pem`, powermta.md's example
 * layout. The names are checked here too, so no caller can build a path
 * from an unchecked domain.
 */
export function dkimKeyPath(dir: string, domain: string, selector: string): string {
  return path.join(dir, `${validateSelector(selector)}.${validateDomain(domain)}.pem`);
}

export interface DkimKey {
  domain: string;
  selector: string;
  keyPath: string;
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
  /** False when the key was already on disk. */
  created: boolean;
}

async function readKey(domain: string, selector: string, keyPath: string, created: boolean): Promise<DkimKey> {
  const pem = await readFile(keyPath, 'utf8');
  const publicKeyPem = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
  return { domain, selector, keyPath, publicKeyPem, created };
}

/**
 * The key for `domain` and `selector` in `dir`, generated (RSA 2048) when there
 * is none. Domain and selector are checked before any path is built, so a
 * name like `../x` throws InvalidDomainError without touching the disk.
 *
 * The private key is written as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the form
 * PowerMTA's domain-key examples use, with mode 0600 in a 0700 directory.
 * PowerMTA must be able to read it: run the agent as PowerMTA's user (or
 * group-share the directory deliberately).
 *
 * An existing key is never replaced: the new file is written under a temporary
 * name and hard-linked into place, which fails if another caller got there
 * first; that caller's key then wins and is returned, so the public key given
 * out always matches the file PowerMTA signs with.
 */
export async function ensureDkimKey(dir: string, domain: string, selector: string): Promise<DkimKey> {
  const d = validateDomain(domain);
  const s = validateSelector(selector);
  const keyPath = dkimKeyPath(dir, d, s);
  try {
    return await readKey(d, s, keyPath, false);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: DKIM_KEY_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const tmp = path.join(dir, `.${s}.${d}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  try {
    // The umask can only narrow the mode given to open; chmod makes it exact.
    await fh.chmod(0o600);
    await fh.writeFile(privateKey, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  let created = true;
  try {
    await link(tmp, keyPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    created = false;
  }
  await unlink(tmp);
  await fsyncDir(dir);
  return readKey(d, s, keyPath, created);
}

/** Ensures a key per domain, in domain order; what buildPmtaModel's `dkim` takes. */
export async function ensureDkimKeys(dir: string, domains: Iterable<string>, selector: string): Promise<DkimKey[]> {
  const sorted = [...new Set([...domains].map((x) => validateDomain(x)))].sort();
  const out: DkimKey[] = [];
  for (const d of sorted) out.push(await ensureDkimKey(dir, d, selector));
  return out;
}

/** Keys already on disk for these domains, without generating any (for a dry render). */
export async function existingDkimKeys(
  dir: string,
  domains: Iterable<string>,
  selector: string,
): Promise<Array<{ domain: string; selector: string; keyPath: string }>> {
  const s = validateSelector(selector);
  const out: Array<{ domain: string; selector: string; keyPath: string }> = [];
  for (const d of [...new Set([...domains].map((x) => validateDomain(x)))].sort()) {
    const keyPath = dkimKeyPath(dir, d, s);
    try {
      if ((await stat(keyPath)).isFile()) out.push({ domain: d, selector: s, keyPath });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

/** Makes a key file 0600 again if an operator loosened it. */
export async function tightenKeyMode(keyPath: string): Promise<void> {
  await chmod(keyPath, 0o600);
}

export interface TxtRecord {
  name: string;
  type: 'TXT';
  value: string;
  /**
   * The value as character-strings of at most 255 bytes (RFC 1035 §3.3.14):
   * a DNS server that takes one string per TXT record part needs them split,
   * and resolvers join them back without separators (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
   */
  chunks: string[];
  /** A BIND zone-file line with the chunks quoted. */
  zoneLine: string;
}

function chunk255(value: string): string[] {
  // Every value here is ASCII, so 255 characters are 255 bytes.
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out.length > 0 ? out : [''];
}

function txt(name: string, value: string): TxtRecord {
  const chunks = chunk255(value);
  return { name, type: 'TXT', value, chunks, zoneLine: `${name}. IN TXT ( ${chunks.map((c) => `"${c}"`).join(' ')} )` };
}

/** `<selector>._domainkey.<domain>` with `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo DER>` (RFC 6376 §3.6.1). */
export function dkimDnsRecord(domain: string, selector: string, publicKeyPem: string): TxtRecord {
  const d = validateDomain(domain);
  const s = validateSelector(selector);
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return txt(`${s}._domainkey.${d}`, `v=DKIM1; k=rsa; p=${der.toString('base64')}`);
}

export interface SpfOptions {
  /** Other senders of the domain, e.g. `_spf.google.com` for staff mail. */
  includes?: string[];
  /**
   * `~all` (softfail) by default: the agent knows only the IPs it sends from,
   * not the domain's other senders, and a wrong `-all` makes their mail fail.
   * Switch to `-all` once the DMARC reports show nothing else sends.
   */
  all?: '~all' | '-all';
}

/** The domain's SPF TXT record authorising the tenant's IPs (RFC 7208). */
export function spfRecord(domain: string, ips: readonly string[], opts: SpfOptions = {}): TxtRecord {
  const d = validateDomain(domain);
  ips.forEach((ip, i) => {
    if (!isIpv4(ip) && !isIpv6(ip)) throw new InvalidDomainError(`ips[${i}]`, ip, 'must be an IP address');
  });
  const mechanisms: string[] = [];
  const v4 = [...new Set(ips.filter(isIpv4))].sort(compareAddresses);
  const v6 = [...new Set(ips.filter((ip) => !isIpv4(ip)).map((ip) => ip.toLowerCase()))].sort(compareAddresses);
  for (const ip of v4) mechanisms.push(`ip4:${ip}`);
  for (const ip of v6) mechanisms.push(`ip6:${ip}`);
  (opts.includes ?? []).forEach((inc, i) => mechanisms.push(`include:${validateDnsName(inc, `includes[${i}]`)}`));
  return txt(d, ['v=spf1', ...mechanisms, opts.all ?? '~all'].join(' '));
}

// Local part and domain of a report address; `;`, `,` and `!` would end the
// DMARC tag or the URI list (RFC 7489 §6.4), so they are refused.
const EMAIL_RE = /^[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+)$/;

export interface DmarcRecord extends TxtRecord {
  notes: string[];
}

/**
 * `_dmarc.<domain>` with `p=none`: a starting policy. It asks receivers for
 * aggregate reports without acting on failures, so a sender the operator
 * forgot (a CRM, a helpdesk) shows up in the reports instead of losing its
 * mail; move to `quarantine`, then `reject`, once the reports are clean.
 */
export function dmarcRecord(domain: string, ruaEmail?: string): DmarcRecord {
  const d = validateDomain(domain);
  const tags = ['v=DMARC1', 'p=none'];
  const notes: string[] = [];
  if (ruaEmail !== undefined && ruaEmail !== '') {
    const m = EMAIL_RE.exec(ruaEmail);
    if (!m) throw new InvalidDomainError('rua', ruaEmail, 'must be a plain email address');
    const ruaDomain = validateDomain(m[1]!, 'rua');
    tags.push(`rua=mailto:${ruaEmail}`);
    if (ruaDomain !== d && !ruaDomain.endsWith(`.${d}`)) {
      notes.push(`${ruaDomain} must publish ${d}._report._dmarc.${ruaDomain} TXT "v=DMARC1" to accept these reports (RFC 7489 §7.1)`);
    }
  } else {
    notes.push('no rua address: receivers send no reports; add rua=mailto:... to see who sends as this domain');
  }
  // adkim/aspf relaxed: MailWizz's Return-Path is often a bounce subdomain.
  tags.push('adkim=r', 'aspf=r', 'fo=1');
  return { ...txt(`_dmarc.${d}`, tags.join('; ')), notes };
}
