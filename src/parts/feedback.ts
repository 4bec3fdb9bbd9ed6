// Feedback to MailWizz: which tenants send it, the outbox sender, and the
// record of a recipient PowerMTA refused for good after MailWizz had its 250.
import { FeedbackSender } from '../feedback/sender.js';
import { recordRefusal } from '../feedback/refusals.js';
import { feedbackTargets } from '../feedback/targets.js';
import type { DispatcherDeps } from '../forward/dispatcher.js';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface FeedbackPart {
  /** Does this tenant send its bounces and complaints to MailWizz? */
  enabled(tenantId: number): boolean;
  /** Suppresses a recipient PowerMTA refused for good and, for feedback tenants, queues the bounce. */
  refused: NonNullable<DispatcherDeps['refused']>;
  status(): Record<string, unknown>;
  start(): void;
  stop(): Promise<void>;
}

export function feedbackPart(ctx: PartContext, store: StorePart): FeedbackPart {
  const { clock, log } = ctx;
  const targets = feedbackTargets(() => ctx.cfg().tenants);
  // Backoff on real time, not the daemon clock: it is plumbing, not business time.
  const sender = new FeedbackSender({ db: store.db, urlFor: targets.urlFor, log, ...ctx.cfg().feedback });
  return {
    enabled: targets.enabled,
    refused: (t, meta, rcpt, code, response, vmta) => {
      try {
        recordRefusal(store.db, store.suppression, targets.enabled, {
          tenantId: t.id,
          mailFrom: meta.mailFrom,
          rcpt,
          messageId: meta.messageId,
          vmta,
          code,
          response,
          at: clock.now(),
        });
      } catch (err) {
        log.error('dispatch.refusal_record_failed', { tenant: t.slug, rcpt, error: err as Error });
      }
    },
    status: () => ({ feedback: sender.status() }),
    start: () => sender.start(),
    stop: () => sender.stop(),
  };
}
