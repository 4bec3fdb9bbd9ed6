// Checks on the names that end up in PowerMTA's config, in file names under the
// DKIM directory and in DNS records. Pure: they run before anything touches
// the disk, so a domain like `../../etc` never becomes a path.

/** Bad render input: the path of the offending value (`tenants[1].ips[0].address`) and why. */
export class PmtaModelError extends Error {
  override readonly name = 'PmtaModelError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/**
 * A DNS name (domain or DKIM selector) that is not a plain hostname. The API
 * maps it to 400 naming `field`; the message never repeats more than a short
 * prefix of the input.
 */
export class InvalidDomainError extends Error {
  override readonly name = 'InvalidDomainError';
  readonly status = 400;
  constructor(
    readonly field: string,
    readonly value: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason} (got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)})`);
  }
}

// RFC 1035 §2.3.1 letter-digit-hyphen labels (RFC 1123 allows a leading digit).
// Internationalised names must arrive in their xn-- form (RFC 5890).
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// DNS names that are not hostnames (`_spf.google.com`, RFC 8552 §2) may carry underscores.
const DNS_LABEL_RE = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function checkLabels(field: string, raw: string, name: string, minLabels: number, labelRe = LABEL_RE): void {
  if (name.length === 0) throw new InvalidDomainError(field, raw, 'must not be empty');
  if (name.length > 253) throw new InvalidDomainError(field, raw, 'must be at most 253 characters');
  // Say what is wrong in the cases people actually hit before the generic rule.
  if (/[/\\]/.test(name)) throw new InvalidDomainError(field, raw, 'must not contain / or \\');
  if (name.includes('..')) throw new InvalidDomainError(field, raw, 'must not contain ".." (an empty label)');
  if (/\s/.test(name)) throw new InvalidDomainError(field, raw, 'must not contain spaces');
  const labels = name.split('.');
  if (labels.length < minLabels) {
    throw new InvalidDomainError(field, raw, `must have at least ${minLabels} dot-separated labels`);
  }
  for (const label of labels) {
    if (!labelRe.test(label)) {
      throw new InvalidDomainError(
        field,
        raw,
        'each label must be 1-63 letters, digits or inner hyphens (use the xn-- form for non-ASCII names)',
      );
    }
  }
}

/** A sending domain, lowercased: `Sos-Mail.COM` gives `sos-mail.com`. Throws InvalidDomainError. */
export function validateDomain(domain: string, field = 'domain'): string {
  if (typeof domain !== 'string') throw new InvalidDomainError(field, String(domain), 'must be a string');
  const name = domain.toLowerCase();
  checkLabels(field, domain, name, 2);
  if (/^\d+$/.test(name.slice(name.lastIndexOf('.') + 1))) {
    throw new InvalidDomainError(field, domain, 'must be a domain name, not an IP address');
  }
  return name;
}

/** A DNS name that may have underscore labels, such as an SPF include (`_spf.google.com`), lowercased. */
export function validateDnsName(name: string, field = 'name'): string {
  if (typeof name !== 'string') throw new InvalidDomainError(field, String(name), 'must be a string');
  const lower = name.toLowerCase();
  checkLabels(field, name, lower, 2, DNS_LABEL_RE);
  return lower;
}

/**
 * A DKIM selector, lowercased. RFC 6376 §3.1 allows dotted selectors; each
 * part must still be a plain label because it becomes part of a file name and
 * of `<selector>._domainkey.<domain>`.
 */
export function validateSelector(selector: string, field = 'selector'): string {
  if (typeof selector !== 'string') throw new InvalidDomainError(field, String(selector), 'must be a string');
  const name = selector.toLowerCase();
  checkLabels(field, selector, name, 1);
  if (name.length > 63) throw new InvalidDomainError(field, selector, 'must be at most 63 characters');
  return name;
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Loose IPv6 check: hex groups and colons, at most one `::`, optional embedded IPv4. */
export function isIpv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  const doubles = s.split('::').length - 1;
  if (doubles > 1) return false;
  let groups = s.split(':').filter((g) => g !== '');
  const last = groups[groups.length - 1];
  let ipv4Groups = 0;
  if (last !== undefined && last.includes('.')) {
    if (!isIpv4(last)) return false;
    groups = groups.slice(0, -1);
    ipv4Groups = 2;
  }
  if (!groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const count = groups.length + ipv4Groups;
  return doubles === 1 ? count < 8 : count === 8;
}

export function isIpAddress(s: string): boolean {
  return isIpv4(s) || isIpv6(s);
}

/** IPv4 addresses in numeric order (45.1.1.2 before 45.1.1.10), anything else after them by string. */
export function compareAddresses(a: string, b: string): number {
  const na = isIpv4(a) ? a.split('.').map(Number) : null;
  const nb = isIpv4(b) ? b.split('.').map(Number) : null;
  if (na && nb) {
    for (let i = 0; i < 4; i++) {
      const d = (na[i] ?? 0) - (nb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  }
  if (na) return -1;
  if (nb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Plain code-unit order, so the result never depends on the host's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
