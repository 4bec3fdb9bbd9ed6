// The accounting records PowerMTA would log for one accepted message, given
// how the simulator has been told each recipient's mailbox behaves.
import { formatPmtaTime, vendorFields } from './acct-csv.js';

/** TEST-NET-1: a documentation address, never a real MX. */
export const SIM_MX_IP = '192.0.2.1';
/** TEST-NET-2: the mailbox provider's MTA a complaint report or a DSN comes from. */
export const SIM_REPORTER_IP = '198.51.100.20';
const ESMTP_FEATURES = 'PIPELINING,8BITMIME,SIZE';

export interface RecordBehaviour {
  bounceDomains: ReadonlySet<string>;
  deferDomains: ReadonlySet<string>;
  complainAddresses: ReadonlySet<string>;
  /** Delivered (`d`), then bounced back later by the receiver: an `rb` from the bounce processor. */
  remoteBounceAddresses?: ReadonlySet<string>;
}

export interface AcceptedMessage {
  mailFrom: string;
  rcptTo: string[];
  vmta: string;
  job: string | null;
  messageId: string | null;
  size: number;
  receivedAt: Date;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** `<slug>-<a>-<b>-<c>-<d>` → `a.b.c.d`; anything else (IPv6 names included) → ''. */
export function ipFromVmta(vmta: string): string {
  const m = /-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/.exec(vmta);
  if (!m) return '';
  const parts = m.slice(1, 5);
  return parts.every((p) => Number(p) <= 255) ? parts.join('.') : '';
}

/**
 * One record per recipient (`d`, `b` or `t`), plus an `f` after the `d` of a
 * complaining address and an `rb` after the `d` of one that bounces later. A
 * bouncing domain wins over a deferring one, and a bounced or deferred
 * recipient cannot complain: it never got the message.
 *
 * Each record holds only the fields PowerMTA logs for its type (powermta.md
 * §3.5-3.6): an `f` has no vmta and names our IP as `repSourceIp` (its
 * `dlvSourceIp` is the reporting MTA); an `rb` has neither vmta nor dlvSourceIp.
 */
export function recordsFor(msg: AcceptedMessage, b: RecordBehaviour, now: Date): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  const logged = formatPmtaTime(now);
  const queued = formatPmtaTime(msg.receivedAt);
  const headers = { 'header_Message-Id': msg.messageId ?? '' };
  const sourceIp = ipFromVmta(msg.vmta);
  for (const rcpt of msg.rcptTo) {
    const domain = domainOf(rcpt);
    const base: Record<string, string> = {
      timeLogged: logged,
      timeQueued: queued,
      orig: msg.mailFrom,
      rcpt,
      dsnMta: `mx.${domain} (${SIM_MX_IP})`,
      srcType: 'smtp',
      srcMta: 'agent (127.0.0.1)',
      dlvType: 'smtp',
      dlvSourceIp: sourceIp,
      dlvDestinationIp: SIM_MX_IP,
      dlvEsmtpAvailable: ESMTP_FEATURES,
      dlvSize: String(msg.size),
      vmta: msg.vmta,
      jobId: msg.job ?? '',
      queue: `${domain}/${msg.vmta}`,
      ...headers,
    };
    if (b.bounceDomains.has(domain)) {
      out.push(vendorFields({
        ...base,
        type: 'b',
        dsnAction: 'failed',
        dsnStatus: '5.1.1 (bad destination mailbox address)',
        dsnDiag: `smtp;550 5.1.1 <${rcpt}>: Recipient address rejected: User unknown`,
        bounceCat: 'bad-mailbox',
      }));
      continue;
    }
    if (b.deferDomains.has(domain)) {
      out.push(vendorFields({
        ...base,
        type: 't',
        dsnAction: 'delayed',
        dsnStatus: '4.7.1 (delivery not authorized, message refused)',
        dsnDiag: `smtp;451 4.7.1 <${rcpt}>: Recipient address rejected: Try again later`,
      }));
      continue;
    }
    out.push(vendorFields({ ...base, type: 'd', dsnAction: 'relayed', dsnStatus: '2.0.0 (success)', dsnDiag: 'smtp;250 2.0.0 OK' }));
    const lower = rcpt.toLowerCase();
    if (b.complainAddresses.has(lower)) {
      out.push(vendorFields({
        type: 'f',
        timeLogged: logged,
        repSourceIp: sourceIp,
        feedbackType: 'abuse',
        format: 'arf',
        userAgent: 'pmta-sim-fbl/1.0',
        orig: msg.mailFrom,
        rcpt,
        reportingMta: `dns; fbl.${domain}`,
        dlvSourceIp: SIM_REPORTER_IP,
        reportedDomain: domainOf(msg.mailFrom),
        ...headers,
      }));
    }
    if (b.remoteBounceAddresses?.has(lower)) {
      out.push(vendorFields({
        type: 'rb',
        timeLogged: logged,
        orig: msg.mailFrom,
        rcpt,
        dsnAction: 'failed',
        dsnStatus: '5.1.1 (bad destination mailbox address)',
        dsnDiag: `smtp;550 5.1.1 <${rcpt}>: mailbox unavailable`,
        dsnMta: `mx.${domain} (${SIM_REPORTER_IP})`,
        dsnReportingMta: `mx.${domain}`,
        bounceCat: 'bad-mailbox',
        srcType: 'smtp',
        srcMta: `mx.${domain} (${SIM_REPORTER_IP})`,
        format: 'dsn',
        ...headers,
      }));
    }
  }
  return out;
}
