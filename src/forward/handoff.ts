import type { Grant } from '../ledger/grant.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import type { ForwardOutcome, ForwardRequest, Forwarder, MailParams } from './forwarder.js';
import { discardHeld, type Held } from './held.js';
import type { PmtaHealth } from './pmta-health.js';
import { localFailure, settle } from './settle.js';
import type { Settler } from './settler.js';
import type { Spool, SpoolMeta } from './spool.js';

/** A message fully received (in memory or a temp file), with what the gate decided per recipient. */
export interface ReceivedMessage {
  id: string;
  tenant: TenantRecord;
  /** The message as received, complete. */
  body: Held;
  size: number;
  mailFrom: string;
  /** MAIL FROM's BODY= and SMTPUTF8 as the client sent them. */
  mailParams?: MailParams;
  messageId: string | null;
  /** Recipients holding a reservation, all on one IP. */
  granted: Array<{ rcpt: string; grant: Grant }>;
  /** Recipients without quota now, and why. */
  deferred: string[];
  deferReason: string;
  arrivedAt: Date;
}

/** How many recipients of a message went where. */
export interface RcptCounts {
  forwarded: number;
  spooled: number;
  refused: number;
}

export type HandOffResult =
  | ({ kind: 'forwarded'; response: string; vmta: string } & RcptCounts)
  | ({ kind: 'spooled'; id: string; reason: string } & RcptCounts)
  | ({ kind: 'refused'; code: number; response: string } & RcptCounts)
  | ({ kind: 'spool-full'; limit: string } & RcptCounts);

export interface HandOffDeps {
  forwarder: Forwarder;
  spool: Spool;
  health: PmtaHealth;
  settler: Settler;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  spoolLimits(tenant: TenantRecord): { maxMessages: number; maxBytes: number };
  jobFallback(tenant: TenantRecord): string;
}

/** A fast-path hand-off about to start, and its journal row once the headers were seen. */
export interface ForwardPlan {
  req: ForwardRequest;
  journalId: number | null;
}

/** Whether the fast path should try PowerMTA for this transaction, and how. */
export function forwardPlan(
  deps: HandOffDeps,
  tenant: TenantRecord,
  mailFrom: string,
  granted: ReceivedMessage['granted'],
  mailParams?: MailParams,
): ForwardPlan | null {
  const first = granted[0];
  if (!first || deps.health.isDown()) return null;
  const ip = first.grant.ip;
  const plan: ForwardPlan = {
    journalId: null,
    req: {
      mailFrom,
      rcptTo: granted.map((g) => g.rcpt),
      vmta: ip.vmta,
      jobFallback: deps.jobFallback(tenant),
      ...(hasMailParams(mailParams) ? { mailParams } : {}),
      // The row goes with the turn's group commit; the forwarder holds the message's first byte until it committed.
      beforeBody: async (info, job) => {
        const h = { tenantId: tenant.id, spoolId: null, messageId: info.messageId, jobId: job || null, ip: ip.address, vmta: ip.vmta, day: first.grant.reservation.day };
        plan.journalId = await deps.settler.beginQueued(h, granted);
      },
    },
  };
  return plan;
}

/** Only what the client asked for goes on: an empty set leaves requests and spool files as they were. */
export function hasMailParams(p: MailParams | undefined): p is MailParams {
  return p !== undefined && (p.body !== undefined || p.smtputf8 === true);
}

/**
 * The fast path after DATA: settle PowerMTA's answer (units count only for
 * what it took), and spool what had no quota or what PowerMTA could not take now.
 */
export async function handOff(deps: HandOffDeps, msg: ReceivedMessage, outcome: ForwardOutcome | null, plan: ForwardPlan | null): Promise<HandOffResult> {
  const s = settle(msg.granted, outcome, `PowerMTA unavailable (${deps.health.lastError ?? 'recent failure'})`);
  const first = msg.granted[0];
  const vmta = first?.grant.ip.vmta ?? '';
  const ctx = {
    tenant: msg.tenant,
    path: 'fast' as const,
    journalId: plan?.journalId ?? null,
    spoolId: msg.id,
    mailFrom: msg.mailFrom,
    messageId: msg.messageId,
    vmta,
    ip: first?.grant.ip.address ?? '',
  };
  await deps.settler.apply(ctx, s, { blamePmta: !localFailure(outcome) });

  const toSpool = [...msg.deferred, ...s.spool];
  const counts: RcptCounts = { forwarded: s.forwarded.length, spooled: toSpool.length, refused: s.refused.length };
  if (s.wholeRefusal && toSpool.length === 0) {
    // MailWizz hears PowerMTA's refusal itself and treats the subscriber by it.
    await discardHeld(msg.body);
    return { kind: 'refused', code: s.wholeRefusal.code, response: s.wholeRefusal.response, ...counts };
  }
  const reason = s.spoolReason ?? msg.deferReason;
  if (toSpool.length === 0) {
    await discardHeld(msg.body);
    deps.settler.refusedAfterAck(ctx, s.refused);
    return { kind: 'forwarded', response: s.response!, vmta, ...counts };
  }
  if (s.forwarded.length === 0 && !s.fateUnknown) {
    // Nothing reached PowerMTA, so the limit can still refuse the whole message
    // (not one PowerMTA may have: MailWizz's retry would be a duplicate).
    const limit = deps.spool.overLimit(msg.tenant.id, msg.size, deps.spoolLimits(msg.tenant));
    if (limit) {
      await discardHeld(msg.body);
      return { kind: 'spool-full', limit, forwarded: 0, spooled: 0, refused: counts.refused };
    }
  }
  const meta: SpoolMeta = {
    id: msg.id,
    tenantId: msg.tenant.id,
    mailFrom: msg.mailFrom,
    ...(hasMailParams(msg.mailParams) ? { mailParams: msg.mailParams } : {}),
    rcptTo: toSpool,
    arrivedAt: msg.arrivedAt.toISOString(),
    reason,
    messageId: msg.messageId,
    size: msg.size,
    attempts: 0,
    lastError: null,
    // PowerMTA may have it: the dispatcher waits for accounting before sending it again.
    ...(s.fateUnknown ? { fateUnknownSince: deps.clock.now().toISOString() } : {}),
  };
  await deps.spool.admit(msg.body, meta);
  deps.metrics?.spoolEvents.inc({ event: 'queued' });
  deps.settler.refusedAfterAck(ctx, s.refused);
  if (s.forwarded.length) return { kind: 'forwarded', response: s.response!, vmta, ...counts };
  return { kind: 'spooled', id: msg.id, reason, ...counts };
}
