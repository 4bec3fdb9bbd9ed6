import { promises as fsp } from 'node:fs';
import { commitGrant, releaseGrant, type Granted } from '../gate/gate.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import type { ForwardOutcome, ForwardRequest, Forwarder } from './forwarder.js';
import type { PmtaHealth } from './pmta-health.js';
import type { Spool, SpoolMeta } from './spool.js';

/** A message fully received and written to a temp file, with what the gate decided per recipient. */
export interface Received {
  id: string;
  tenant: TenantRecord;
  /** The message as received, complete on disk. */
  file: string;
  size: number;
  mailFrom: string;
  messageId: string | null;
  /** Recipients holding a reservation, all on one IP. */
  granted: Array<{ rcpt: string; grant: Granted }>;
  /** Recipients without quota now, and why. */
  deferred: string[];
  deferReason: string;
  arrivedAt: Date;
}

export type HandOffResult =
  | { kind: 'forwarded'; response: string; vmta: string; spooled: number }
  | { kind: 'spooled'; id: string; reason: string }
  | { kind: 'refused'; code: number; response: string }
  | { kind: 'spool-full'; limit: string };

export interface HandOffDeps {
  forwarder: Forwarder;
  spool: Spool;
  ledger: QuotaLedger;
  health: PmtaHealth;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  /** PowerMTA took n recipients from this IP (daily stats: "accepted"). */
  accepted?: (tenant: TenantRecord, ip: string, n: number) => void;
  spoolLimits(tenant: TenantRecord): { maxMessages: number; maxBytes: number };
  jobFallback(tenant: TenantRecord): string;
}

/** Whether the fast path should try PowerMTA for this transaction, and how. */
export function forwardPlan(deps: HandOffDeps, tenant: TenantRecord, mailFrom: string, granted: Received['granted']): ForwardRequest | null {
  const first = granted[0];
  if (!first || deps.health.isDown()) return null;
  return { mailFrom, rcptTo: granted.map((g) => g.rcpt), vmta: first.grant.ip.vmta, jobFallback: deps.jobFallback(tenant) };
}

/**
 * The fast path after DATA: settle the quota by what PowerMTA answered
 * (committed only on its 250, released on every other outcome) and spool what
 * had no quota or what PowerMTA could not take now.
 */
export async function handOff(deps: HandOffDeps, msg: Received, outcome: ForwardOutcome | null): Promise<HandOffResult> {
  const toSpool = [...msg.deferred];
  let reason = msg.deferReason;
  let forwarded: { response: string; vmta: string } | null = null;

  const first = msg.granted[0];
  if (first && !outcome) {
    for (const g of msg.granted) await releaseGrant(deps.ledger, g.grant);
    toSpool.push(...msg.granted.map((g) => g.rcpt));
    reason = `PowerMTA unavailable (${deps.health.lastError ?? 'recent failure'})`;
  } else if (first && outcome) {
    const vmta = first.grant.ip.vmta;
    switch (outcome.kind) {
      case 'accepted': {
        deps.health.succeeded();
        const accepted = new Set(outcome.accepted.map((a) => a.toLowerCase()));
        let taken = 0;
        for (const g of msg.granted) {
          if (accepted.has(g.rcpt.toLowerCase())) {
            await commitGrant(deps.ledger, g.grant);
            taken++;
          } else await releaseGrant(deps.ledger, g.grant);
        }
        if (taken) deps.accepted?.(msg.tenant, first.grant.ip.address, taken);
        for (const r of outcome.rejected) {
          // A 4xx for one recipient: PowerMTA will take it later, so it waits in the spool.
          if (r.code < 500) toSpool.push(r.rcpt);
          else deps.log.warn('forward.rcpt_refused', { tenant: msg.tenant.slug, messageId: msg.messageId, rcpt: r.rcpt, reply: r.response });
        }
        if (outcome.rejected.some((r) => r.code < 500)) reason = 'PowerMTA deferred some recipients';
        forwarded = { response: outcome.response, vmta };
        break;
      }
      case 'refused':
        for (const g of msg.granted) await releaseGrant(deps.ledger, g.grant);
        if (toSpool.length === 0) {
          await fsp.unlink(msg.file);
          return { kind: 'refused', code: outcome.code, response: outcome.response };
        }
        deps.log.warn('forward.refused', { tenant: msg.tenant.slug, messageId: msg.messageId, reply: outcome.response });
        break;
      case 'unavailable':
        deps.health.failed(outcome.reason);
        deps.metrics?.pmtaErrors.inc({ path: 'fast' });
        for (const g of msg.granted) await releaseGrant(deps.ledger, g.grant);
        toSpool.push(...msg.granted.map((g) => g.rcpt));
        reason = outcome.reason;
        break;
    }
  }

  if (toSpool.length === 0) {
    await fsp.unlink(msg.file);
    return { kind: 'forwarded', response: forwarded!.response, vmta: forwarded!.vmta, spooled: 0 };
  }
  const meta: SpoolMeta = {
    id: msg.id,
    tenant: msg.tenant.slug,
    mailFrom: msg.mailFrom,
    rcptTo: toSpool,
    arrivedAt: msg.arrivedAt.toISOString(),
    reason,
    messageId: msg.messageId,
    size: msg.size,
    attempts: 0,
    lastError: null,
  };
  if (!forwarded) {
    // Nothing reached PowerMTA yet, so the limit can still refuse the whole message.
    const limit = deps.spool.overLimit(msg.tenant.slug, msg.size, deps.spoolLimits(msg.tenant));
    if (limit) {
      await fsp.unlink(msg.file);
      return { kind: 'spool-full', limit };
    }
  }
  await deps.spool.admit(msg.file, meta);
  deps.metrics?.spoolEvents.inc({ event: 'queued' });
  if (forwarded) return { kind: 'forwarded', response: forwarded.response, vmta: forwarded.vmta, spooled: toSpool.length };
  return { kind: 'spooled', id: msg.id, reason };
}
