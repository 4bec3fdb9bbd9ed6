// Which of the agent's IPs (and so which tenant) an accounting record is
// about. Pure: the record and three lookups in, an answer out.
//
// PowerMTA does not write the same fields on every record type
// (powermta.md §3.5-3.6):
// - d, b, t, tq: `vmta` and `dlvSourceIp` (the sending IP);
// - rb, rs: a DSN that came back; neither `vmta` nor `dlvSourceIp`;
// - f: a complaint; no `vmta`, `repSourceIp` is the IP the complaint is about,
//   and `dlvSourceIp` is the address of the reporting MTA, not ours.
// The Message-ID (`header_Message-Id`) names the message on every type, and
// only the agent knows where each one left from: its sent-message index.
import type { AcctRecord } from './records.js';
import type { IpAddress } from '../types.js';
import type { ResolvedIp } from './resolve.js';

/** What the sent-message index knows of one message the agent handed to PowerMTA. */
export interface SentMessage {
  tenantId: number;
  ip: string;
  vmta: string;
  jobId: string | null;
  recipients: readonly string[];
  day: string;
}

/** The sent-message index, by normalised Message-ID. */
export type SentLookup = (normalisedMessageId: string) => SentMessage | undefined;

export const noSentIndex: SentLookup = () => undefined;

export interface AttributionSources {
  /** The agent's IP behind a VMTA name (any case); null when unknown. */
  vmta(name: string): ResolvedIp | null;
  /** The agent's IP by address; null when it is not one of the agent's. */
  ip(address: string): ResolvedIp | null;
  sent: SentLookup;
  /** The index's key for a `header_Message-Id` as logged. */
  normalise(messageId: string): string;
  /**
   * A record attributed to `tenantId` for this Message-ID and recipient proves
   * PowerMTA had the message: hand-offs whose fate was unknown learn it (the journal).
   */
  reconcile?(normalisedMessageId: string, tenantId: number, rcpt: string): void;
}

export type AttributedBy = 'vmta' | 'message-id' | 'rep-source-ip' | 'dlv-source-ip';

export const UNATTRIBUTED_REASONS = ['unknown-vmta', 'unknown-message-id', 'unknown-ip', 'no-key'] as const;
/**
 * unknown-vmta: a VMTA the agent does not have (and nothing else matched);
 * unknown-message-id: no VMTA, and a Message-ID the agent never handed off;
 * unknown-ip: only an IP, not one of the agent's;
 * no-key: none of vmta, header_Message-Id, repSourceIp (f), dlvSourceIp (d/b/t/tq).
 */
export type UnattributedReason = (typeof UNATTRIBUTED_REASONS)[number];

export type Attribution =
  | {
      kind: 'attributed';
      at: ResolvedIp;
      by: AttributedBy;
      /** The record's recipient, or for a report that redacted it the message's only recipient from the index ('' when unknown). */
      rcpt: string;
    }
  | { kind: 'unattributed'; reason: UnattributedReason; key: string };

/** Types whose `dlvSourceIp` is the agent's own sending IP. */
const DELIVERY_TYPES: ReadonlySet<string> = new Set(['d', 'b', 't', 'tq']);

/**
 * By `vmta`, else the Message-ID in the sent-message index, else for `f` its
 * `repSourceIp`, else for PowerMTA's own delivery records `dlvSourceIp`.
 */
export function attribute(rec: AcctRecord, src: AttributionSources): Attribution {
  if (rec.vmta !== '') {
    const at = src.vmta(rec.vmta);
    if (at !== null) return { kind: 'attributed', at, by: 'vmta', rcpt: rec.rcpt !== '' ? rec.rcpt : fromIndex(rec, src) };
  }
  if (rec.messageId !== '') {
    const sent = src.sent(src.normalise(rec.messageId));
    if (sent !== undefined) {
      const rcpt = rec.rcpt !== '' ? rec.rcpt : onlyRecipient(sent);
      return { kind: 'attributed', at: { ipAddress: sent.ip as IpAddress, tenantId: sent.tenantId }, by: 'message-id', rcpt };
    }
  }
  let ip = '';
  let by: AttributedBy = 'dlv-source-ip';
  if (rec.kind === 'complaint') {
    ip = rec.repSourceIp;
    by = 'rep-source-ip';
  } else if (DELIVERY_TYPES.has(rec.type)) ip = rec.dlvSourceIp;
  if (ip !== '') {
    const at = src.ip(ip);
    if (at !== null) return { kind: 'attributed', at, by, rcpt: rec.rcpt };
  }
  if (rec.vmta !== '') return { kind: 'unattributed', reason: 'unknown-vmta', key: rec.vmta };
  if (ip !== '') return { kind: 'unattributed', reason: 'unknown-ip', key: ip };
  if (rec.messageId !== '') return { kind: 'unattributed', reason: 'unknown-message-id', key: rec.messageId };
  return { kind: 'unattributed', reason: 'no-key', key: rec.type };
}

function fromIndex(rec: AcctRecord, src: AttributionSources): string {
  if (rec.messageId === '') return '';
  const sent = src.sent(src.normalise(rec.messageId));
  return sent === undefined ? '' : onlyRecipient(sent);
}

/** A redacted report names no recipient: the message's, when it had only one (MailWizz sends one per message). */
function onlyRecipient(sent: SentMessage): string {
  return sent.recipients.length === 1 ? sent.recipients[0]!.toLowerCase() : '';
}
