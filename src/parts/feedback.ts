// Feedback to MailWizz: which tenants send it, the outbox sender, and the
// record of a recipient PowerMTA refused for good after MailWizz had its 250.
import type { FeedbackSink } from '../accounting/effects.js';
import { feedbackSink } from '../feedback/outbox.js';
import { FeedbackSender } from '../feedback/sender.js';
import { recordRefusal } from '../feedback/refusals.js';
import { feedbackTargets } from '../feedback/targets.js';
import type { RefusedAfterAck } from '../forward/settler.js';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface FeedbackPart {
  /** Does this tenant send its bounces and complaints to MailWizz? */
  enabled(tenantId: number): boolean;
  /** Where accounting queues the bounces and complaints of those tenants. */
  sink: FeedbackSink;
  /** Suppresses a recipient PowerMTA refused for good and, for feedback tenants, queues the bounce. */
  refused(r: RefusedAfterAck): void;
  status(): Record<string, unknown>;
  start(): void;
  stop(): Promise<void>;
}

export function feedbackPart(ctx: PartContext, store: StorePart): FeedbackPart {
  const { clock, log } = ctx;
  const targets = feedbackTargets(() => ctx.cfg().tenants);
  // Backoff on real time, not the daemon clock: it is plumbing, not business time.
  const records = ctx.metrics.counter(
    'pmta_agent_feedback_records_total',
    'Feedback records MailWizz took (sent), that wait after a failed POST (retried), given up (dead)',
    ['result'],
  );
  const sender = new FeedbackSender({ db: store.db, urlFor: targets.urlFor, log, ...ctx.cfg().feedback, onRecords: (result, n) => records.inc({ result }, n) });
  return {
    enabled: targets.enabled,
    sink: feedbackSink(store.db, targets, clock),
    refused: (r) => {
      try {
        recordRefusal(store.db, store.suppression, targets.enabled, {
          tenantId: r.tenant.id,
          mailFrom: r.mailFrom,
          rcpt: r.rcpt,
          messageId: r.messageId,
          vmta: r.vmta,
          code: r.code,
          response: r.response,
          at: clock.now(),
        });
      } catch (err) {
        log.error('forward.refusal_record_failed', { tenant: r.tenant.slug, rcpt: r.rcpt, error: err as Error });
      }
    },
    status: () => ({ feedback: sender.status() }),
    start: () => sender.start(),
    // A POST in flight is let finish within the shutdown grace, so a clean stop sends nothing twice.
    stop: () => sender.stop(ctx.cfg().smtp.shutdownGraceMs),
  };
}
