import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

// smtp-server hands an envelope address over with its domain in Unicode, even
// when the client sent the A-label (`xn--...`): it runs punycode.toUnicode on
// every domain. PowerMTA logs the ASCII form in its accounting, so a suppression
// recorded from a bounce would never match the next RCPT in Unicode. The domain
// goes back to A-labels (UTS #46, as a browser or nodemailer does it) before the
// gate, suppression, journal and PowerMTA see the address; the local part stays
// as the client sent it (RFC 6531 leaves it to the receiving mailbox).

const NON_ASCII = /[^\x00-\x7f]/;
const HOSTNAME = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The address with an internationalized domain in A-labels; an ASCII domain,
 * an IP literal or a domainless `postmaster` as it came. Null when the domain
 * has no A-label form (a disallowed code point, a label over 63 octets).
 */
export function withAsciiDomain(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  if (!NON_ASCII.test(domain)) return address;
  const ascii = domainToASCII(domain);
  // A domain of full-width digits maps to an IPv4 address: that is no domain.
  if (!ascii || ascii.length > 253 || !HOSTNAME.test(ascii) || isIP(ascii)) return null;
  return address.slice(0, at + 1) + ascii;
}
