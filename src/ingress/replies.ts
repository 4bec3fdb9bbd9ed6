// Every SMTP reply the agent itself composes, in one table: code, RFC 3463
// enhanced status and text. MailWizz gives up on a subscriber at any 4xx/5xx
// (shared/reference/mailwizz.md §3), so the only refusals are the ones that must be.
export interface Reply {
  code: number;
  text: string; // starts with the enhanced status code
}

export const replies = {
  authRequired: (): Reply => ({ code: 530, text: '5.7.0 Authentication required' }),
  badCredentials: (): Reply => ({ code: 535, text: '5.7.8 Authentication credentials invalid' }),
  authTimeout: (ms: number): Reply => ({ code: 421, text: `4.7.0 No authentication within ${Math.round(ms / 1000)} s, closing` }),
  waitingRoomFull: (): Reply => ({ code: 421, text: '4.7.0 Too many connections waiting to authenticate, closing the oldest' }),
  tooManyConnections: (): Reply => ({ code: 421, text: '4.7.0 Too many connections, try again in a moment' }),
  senderNotAllowed: (domain: string): Reply => ({ code: 550, text: `5.7.1 Sender domain ${domain || '(empty)'} is not one of this tenant's domains` }),
  // RFC 3463: X.1.7 bad sender's mailbox address syntax, X.1.3 bad destination mailbox address syntax.
  senderDomainNotAscii: (mailFrom: string): Reply => ({ code: 553, text: `5.1.7 Sender <${mailFrom}> has a domain with no ASCII (IDNA A-label) form` }),
  recipientDomainNotAscii: (rcpt: string): Reply => ({ code: 553, text: `5.1.3 Recipient <${rcpt}> has a domain with no ASCII (IDNA A-label) form` }),
  suppressedBounce: (rcpt: string, reason: string): Reply => ({
    code: 550,
    text: `5.1.1 <${rcpt}> is on this tenant's suppression list (${reason === 'manual' ? 'added by an operator' : 'hard bounce'})`,
  }),
  suppressedComplaint: (rcpt: string): Reply => ({ code: 550, text: `5.7.1 <${rcpt}> complained about this sender and is suppressed` }),
  tooManyRecipients: (max: number): Reply => ({ code: 452, text: `4.5.3 Too many recipients (limit ${max})` }),
  spoolFull: (tenant: string, limit: string): Reply => ({ code: 452, text: `4.3.1 Deferred spool of tenant ${tenant} is full (${limit}); try again later` }),
  badHeader: (problem: string): Reply => ({ code: 554, text: `5.6.0 Message refused: ${problem}` }),
  tooBig: (max: number): Reply => ({ code: 552, text: `5.3.4 Message exceeds the size limit of ${max} bytes` }),
  localError: (): Reply => ({ code: 451, text: '4.3.0 Local error while receiving the message; try again' }),
  // 421 closes the session (RFC 5321 §3.8); the client reconnects and its AUTH then gets 535.
  credentialsRevoked: (): Reply => ({ code: 421, text: '4.7.0 Credentials revoked or changed; closing the session' }),
  shuttingDown: (): Reply => ({ code: 421, text: '4.3.2 Service shutting down, try again later' }),
  queued: (id: string, why: string): Reply => ({ code: 250, text: `2.0.0 Queued as ${id}: ${why}; it will be sent as soon as possible` }),
  forwarded: (pmtaResponse: string): Reply => ({ code: 250, text: relayText(pmtaResponse, '2.0.0') }),
  pmtaRefused: (code: number, pmtaResponse: string): Reply => ({ code, text: relayText(pmtaResponse, `${String(code)[0]}.0.0`) }),
} as const;

/** PowerMTA's own reply text without its code, keeping its enhanced status if it had one. */
function relayText(response: string, fallbackEnhanced: string): string {
  const stripped = response.replace(/^\d{3}[ -]/, '').trim();
  return /^[245]\.\d{1,3}\.\d{1,3}\b/.test(stripped) ? stripped : `${fallbackEnhanced} ${stripped}`;
}

export class SmtpReplyError extends Error {
  readonly responseCode: number;
  constructor(reply: Reply) {
    super(reply.text);
    this.responseCode = reply.code;
  }
}
