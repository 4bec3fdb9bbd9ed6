// The values an operator types into MailWizz's delivery-server form to point a
// tenant at the agent (mailwizz.md §1). Pure.
import type { IpState } from '../types.js';

/**
 * MailWizz paces a campaign only through quotas it knows (mailwizz.md §3.3):
 * over its own hourly quota it stops the batch and retries on the next cron
 * run, which is clean; a refusal from the agent would be a "giveup". The day's
 * capacity is spread over this many hours, like the PowerMTA throttles
 * (model.ts ThrottleOptions.hours), so the agent's spool stays small.
 */
export const DEFAULT_SENDING_HOURS = 10;

/**
 * MailWizz's default of 1 opens a new SMTP connection (and AUTH) for every
 * email (mailwizz.md §1.3); 100 keeps a connection for a batch while still
 * reconnecting often enough to spread over the agent's clients.
 */
export const DEFAULT_MAX_CONNECTION_MESSAGES = 100;

export interface TenantCapacityIp {
  state: IpState;
  /** Today's cap (warmup/schedule.ts capFor). */
  dailyCap: number;
}

/** Daily: the sum of today's caps of the warming and active IPs; hourly: that over `sendingHours`, rounded up. */
export function tenantQuotas(
  ips: readonly TenantCapacityIp[],
  sendingHours: number = DEFAULT_SENDING_HOURS,
): { daily: number; hourly: number } {
  if (!(Number.isFinite(sendingHours) && sendingHours > 0 && sendingHours <= 24)) {
    throw new RangeError(`sendingHours must be in (0, 24], got ${sendingHours}`);
  }
  const daily = ips
    .filter((ip) => ip.state === 'warming' || ip.state === 'active')
    .reduce((sum, ip) => sum + Math.max(0, Math.floor(ip.dailyCap)), 0);
  return { daily, hourly: Math.ceil(daily / sendingHours) };
}

export interface MailwizzServerInput {
  /** With `domains`, a From address outside them gets a note: the agent refuses such MAIL FROM with 550. */
  tenant: { slug: string; name: string; domains?: readonly string[] };
  /** The agent's SMTP listener as MailWizz reaches it. */
  smtpHost: string;
  smtpPort: number;
  /** One of the tenant's SMTP users. */
  username: string;
  fromEmail: string;
  fromName: string;
  hourlyQuota: number;
  dailyQuota: number;
  maxConnectionMessages?: number;
  /** The agent's pmta.replyTimeoutMs: MailWizz must wait clearly longer than the agent waits for PowerMTA. */
  pmtaReplyTimeoutMs?: number;
}

/**
 * MailWizz's SMTP timeout (seconds, 5 to 120, mailwizz.md): twice the time the
 * agent waits for PowerMTA's answer after the message, and at least 30. If
 * MailWizz gave up first, it would count as failed a message the agent then
 * hands to PowerMTA or spools, and send it again.
 */
export function mailwizzTimeoutS(pmtaReplyTimeoutMs: number): number {
  return Math.min(120, Math.max(30, Math.ceil((2 * pmtaReplyTimeoutMs) / 1000)));
}

export interface MailwizzDeliveryServer {
  type: 'smtp';
  name: string;
  hostname: string;
  port: number;
  username: string;
  /** Never the password itself. */
  password: string;
  protocol: '';
  timeout: number;
  from_email: string;
  from_name: string;
  max_connection_messages: number;
  hourly_quota: number;
  daily_quota: number;
  monthly_quota: number;
  status: 'active' | 'inactive';
  additional_headers: Array<{ name: string; value: string }>;
  /** Why some values are what they are, for the operator. */
  notes: string[];
}

const DEFAULT_PMTA_REPLY_TIMEOUT_MS = 15_000;

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function mailwizzDeliveryServer(input: MailwizzServerInput): MailwizzDeliveryServer {
  const notes: string[] = [];
  const loopback = isLoopbackHost(input.smtpHost);
  if (loopback) {
    // mailwizz.md §1.3: blank means plain TCP under SwiftMailer; SymfonyMailer
    // upgrades with STARTTLS only if offered. On loopback there is no wire to
    // protect, and 'tls' would mean STARTTLS to one mailer and implicit TLS
    // to the other.
    notes.push('protocol is blank: the agent is on loopback, so no TLS is needed');
  } else {
    notes.push(
      "protocol is blank: with MailWizz's SymfonyMailer the connection upgrades with STARTTLS when the agent has TLS files; " +
        "with SwiftMailer choose 'tls' (STARTTLS) instead, or the password crosses the network in clear",
    );
  }
  const fromDomain = input.fromEmail.slice(input.fromEmail.lastIndexOf('@') + 1).toLowerCase();
  if (input.tenant.domains && !input.tenant.domains.some((d) => d.toLowerCase() === fromDomain)) {
    notes.push(
      `from_email ${input.fromEmail} is not on one of the tenant's domains (${[...input.tenant.domains].join(', ')}): ` +
        'the agent refuses that MAIL FROM with 550 unless a bounce server or X-Force-Return-Path sets another',
    );
  }
  const daily = Math.max(0, Math.floor(input.dailyQuota));
  const hourly = Math.max(0, Math.floor(input.hourlyQuota));
  // In MailWizz a quota of 0 means unlimited (mailwizz.md §1.1): a tenant with
  // no sending capacity today must have its server switched off instead.
  const status = daily === 0 ? 'inactive' : 'active';
  if (status === 'inactive') {
    notes.push('no warming or active IP today: set the server inactive, since a quota of 0 means unlimited to MailWizz');
  }
  const replyS = (input.pmtaReplyTimeoutMs ?? DEFAULT_PMTA_REPLY_TIMEOUT_MS) / 1000;
  notes.push(
    replyS * 2 > 120
      ? `pmta.replyTimeoutMs (${replyS} s) is too long for MailWizz's largest timeout (120 s): lower it to 60 s or less, or MailWizz may resend messages PowerMTA took`
      : `timeout is at least twice pmta.replyTimeoutMs (${replyS} s), so MailWizz never gives up on a message the agent still hands to PowerMTA`,
  );
  notes.push(
    'hourly and daily quotas mirror today\'s warmup capacity and change as the warmup advances; update them (or read them from this endpoint) daily',
    "do not attach a MailWizz warmup plan: the agent's warmup is the authority",
  );
  return {
    type: 'smtp',
    name: `pmta-agent ${input.tenant.name}`,
    hostname: input.smtpHost,
    port: input.smtpPort,
    username: input.username,
    password: '(the password from the agent config; not shown)',
    protocol: '',
    timeout: mailwizzTimeoutS(input.pmtaReplyTimeoutMs ?? DEFAULT_PMTA_REPLY_TIMEOUT_MS),
    from_email: input.fromEmail,
    from_name: input.fromName,
    max_connection_messages: Math.max(1, Math.floor(input.maxConnectionMessages ?? DEFAULT_MAX_CONNECTION_MESSAGES)),
    hourly_quota: hourly,
    daily_quota: daily,
    monthly_quota: 0,
    status,
    // The agent makes the campaign UID PowerMTA's job id (X-Job), so
    // accounting and `pmta show jobs` group by campaign (mailwizz.md §2.1:
    // MailWizz ≥ 2.1 sends no campaign header of its own).
    additional_headers: [{ name: 'X-Mw-Campaign-Uid', value: '[CAMPAIGN_UID]' }],
    notes,
  };
}
