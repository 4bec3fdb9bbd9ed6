import type { SuppressionStore } from '../accounting/suppression.js';
import type { Db } from '../store/db.js';
import { enqueueFeedback } from './outbox.js';
import { formatPmtaTime } from './record.js';

export interface Refusal {
  tenantId: number;
  mailFrom: string;
  rcpt: string;
  messageId: string | null;
  vmta: string;
  code: number;
  response: string;
  at: Date;
}

/** The bounce category PowerMTA would log for a refusal, from its enhanced status. */
export function refusalCategory(response: string): { status: string; bounceCat: 'bad-mailbox' | 'policy-related' | 'other' } {
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(response)?.[1] ?? '5.0.0';
  if (status.startsWith('5.1.')) return { status, bounceCat: 'bad-mailbox' };
  if (status.startsWith('5.7.')) return { status, bounceCat: 'policy-related' };
  return { status, bounceCat: 'other' };
}

/**
 * A spooled message that PowerMTA then refused for good: MailWizz already had
 * its 250, so without this the subscriber would be lost silently. It is handled
 * like the bounce PowerMTA would have logged: a bad mailbox is suppressed, and
 * the record goes to MailWizz through the feedback outbox when the tenant has one.
 */
export function recordRefusal(db: Db, suppression: SuppressionStore, feedbackEnabled: (tenantId: number) => boolean, r: Refusal): void {
  const { status, bounceCat } = refusalCategory(r.response);
  db.transaction(() => {
    if (bounceCat === 'bad-mailbox') {
      suppression.add(r.tenantId, r.rcpt, { reason: 'hard-bounce', source: 'pmta-refused', detail: r.response.slice(0, 500), at: r.at });
    }
    if (r.messageId && feedbackEnabled(r.tenantId)) {
      const body = JSON.stringify({
        type: 'b',
        timeLogged: formatPmtaTime(r.at),
        orig: r.mailFrom,
        rcpt: r.rcpt,
        bounceCat,
        dsnStatus: status,
        dsnDiag: `smtp;${r.response}`,
        vmta: r.vmta,
        jobId: '',
        'header_Message-Id': r.messageId,
      });
      enqueueFeedback(db, r.tenantId, body, r.at);
    }
  })();
}
