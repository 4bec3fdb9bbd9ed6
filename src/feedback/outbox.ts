// The one way into the feedback outbox (`feedback_outbox`, drained by
// FeedbackSender): accounting batches and refusals of spooled mail both queue
// here, inside their own transactions, dated by the caller's clock.
import type { Statement } from 'better-sqlite3';
import type { FeedbackSink } from '../accounting/effects.js';
import type { Db } from '../store/db.js';
import type { Clock } from '../types.js';
import { feedbackLine } from './record.js';
import type { FeedbackTargets } from './targets.js';

const inserts = new WeakMap<Db, Statement<[number, string, string]>>();

/** Queues one JSON record for a tenant's MailWizz. Run it inside the transaction that decided it. */
export function enqueueFeedback(db: Db, tenantId: number, body: string, at: Date): void {
  let stmt = inserts.get(db);
  if (stmt === undefined) {
    stmt = db.prepare('INSERT INTO feedback_outbox (tenant_id, body, created_at) VALUES (?, ?, ?)');
    inserts.set(db, stmt);
  }
  stmt.run(tenantId, body, at.toISOString());
}

/** Accounting's FeedbackSink: records of tenants with a MailWizz URL, as /dswh/pmta takes them, into the outbox. */
export function feedbackSink(db: Db, targets: Pick<FeedbackTargets, 'enabled'>, clock: Clock): FeedbackSink {
  return {
    enabled: (tenantId) => targets.enabled(tenantId),
    body: feedbackLine,
    enqueue: (tenantId, body) => enqueueFeedback(db, tenantId, body, clock.now()),
  };
}
