import type { Readable } from 'node:stream';
import type { AuthCache } from '../auth/password.js';
import type { Gate } from '../gate/gate.js';
import type { SuppressionCheck } from '../forward/dispatcher.js';
import type { MailParams } from '../forward/forwarder.js';
import { forwardPlan, handOff, type HandOffDeps, type HandOffResult } from '../forward/handoff.js';
import { releaseGrant, reservationsOf, type Grant } from '../ledger/grant.js';
import { Spool } from '../forward/spool.js';
import { discardHeld } from '../forward/held.js';
import { tee } from '../forward/tee.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import { withAsciiDomain } from './address.js';
import { replies, type Reply } from './replies.js';

export type { SuppressionCheck };

export interface ReceptionDeps extends HandOffDeps {
  registry: Registry;
  gate: Gate;
  ledger: QuotaLedger;
  authCache: AuthCache;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  suppression?: SuppressionCheck;
}

/** Envelope state of one mail transaction. */
export interface Transaction {
  tenant: TenantRecord;
  mailFrom: string;
  /** MAIL FROM's BODY= and SMTPUTF8, for PowerMTA. */
  mailParams: MailParams;
  granted: Array<{ rcpt: string; grant: Grant }>;
  deferred: string[];
  deferReason: string;
  /** Lines about this transaction carry its tenant (and its SMTP session, when there is one). */
  log: Logger;
}

export type Step<T> = { ok: true; value: T } | { ok: false; reply: Reply };

/** What receiving one message came to: the reply for the client and what became of the message. */
export interface ReceiveOutcome {
  reply: Reply;
  result: HandOffResult | null;
  messageId: string | null;
  size: number;
}

/**
 * The gate as a mail transaction sees it, the same for SMTP sessions and for
 * messages the API composes: sender check, suppression and quota per recipient,
 * then the message streamed to PowerMTA and to disk, settled or spooled.
 */
export class Reception {
  private readonly tenantLogs = new Map<string, Logger>();

  constructor(private readonly deps: ReceptionDeps) {}

  /** `log` already bound to the tenant (an SMTP session's after AUTH); else the tenant's own. */
  begin(tenant: TenantRecord, sentMailFrom: string, log?: Logger, mailParams: MailParams = {}): Step<Transaction> {
    const txLog = log ?? this.tenantLog(tenant);
    const mailFrom = withAsciiDomain(sentMailFrom);
    if (mailFrom === null) {
      txLog.warn('smtp.sender_refused', { mailFrom: sentMailFrom, why: 'domain has no A-label form' });
      this.deps.metrics.smtpReplies.inc({ stage: 'mail', class: '5xx' });
      return { ok: false, reply: replies.senderDomainNotAscii(sentMailFrom) };
    }
    // The config holds hostnames, so an IDN tenant domain is configured as its A-label.
    const domain = mailFrom.split('@').pop()?.toLowerCase() ?? '';
    if (!tenant.domains.has(domain)) {
      txLog.warn('smtp.sender_refused', { mailFrom });
      this.deps.metrics.smtpReplies.inc({ stage: 'mail', class: '5xx' });
      return { ok: false, reply: replies.senderNotAllowed(domain) };
    }
    return { ok: true, value: { tenant, mailFrom, mailParams, granted: [], deferred: [], deferReason: '', log: txLog } };
  }

  private tenantLog(tenant: TenantRecord): Logger {
    let log = this.tenantLogs.get(tenant.slug);
    if (!log) this.tenantLogs.set(tenant.slug, (log = this.deps.log.child({ tenant: tenant.slug })));
    return log;
  }

  async addRecipient(tx: Transaction, sentRcpt: string): Promise<Reply | null> {
    const rcpt = withAsciiDomain(sentRcpt);
    if (rcpt === null) {
      this.deps.metrics.smtpReplies.inc({ stage: 'rcpt', class: '5xx' });
      tx.log.info('smtp.rcpt_refused', { rcpt: sentRcpt, why: 'domain has no A-label form' });
      return replies.recipientDomainNotAscii(sentRcpt);
    }
    const suppressed = this.deps.suppression?.check(tx.tenant.id, rcpt);
    if (suppressed) {
      this.deps.metrics.smtpReplies.inc({ stage: 'rcpt', class: '5xx' });
      tx.log.info('smtp.rcpt_suppressed', { rcpt, reason: suppressed.reason });
      return suppressed.reason === 'complaint' ? replies.suppressedComplaint(rcpt) : replies.suppressedBounce(rcpt, suppressed.reason);
    }
    const first = tx.granted[0];
    let grant;
    try {
      grant = await this.deps.gate.reserve(tx.tenant, 1, first?.grant.ip.address);
    } catch (err) {
      // The quota store is unreachable: fail closed. Nothing goes to PowerMTA without
      // a reservation; the message waits in the spool (still a 250 for MailWizz).
      tx.log.error('gate.store_unavailable', { error: err as Error });
      tx.deferred.push(rcpt);
      tx.deferReason ||= `quota store unavailable (${(err as Error).message})`;
      return null;
    }
    if (grant) {
      tx.granted.push({ rcpt, grant });
      return null;
    }
    if (tx.granted.length === 0 && tx.deferred.length === 0) {
      // Checked here, while the client can still be told, not after it sent the body.
      const limit = this.deps.spool.overLimit(tx.tenant.id, 0, this.deps.spoolLimits(tx.tenant));
      if (limit) {
        tx.log.error('spool.limit_reached', { limit });
        this.deps.metrics.smtpReplies.inc({ stage: 'rcpt', class: '4xx' });
        return replies.spoolFull(tx.tenant.slug, limit);
      }
    }
    tx.deferred.push(rcpt);
    tx.deferReason ||= first
      ? `IP ${first.grant.ip.address} has no quota left for more recipients`
      : await this.deps.gate.whyNoQuota(tx.tenant).catch(() => 'no quota information (quota store unavailable)');
    return null;
  }

  async abort(tx: Transaction): Promise<void> {
    const granted = tx.granted.splice(0);
    for (const g of granted) await releaseGrant(this.deps.ledger, g.grant);
  }

  /**
   * A reservation swept while the session lived (the store was unreachable for
   * a whole TTL) may have given its units to someone else: each such recipient
   * reserves again, and waits in the spool if that fails.
   */
  private async confirmGrants(tx: Transaction): Promise<void> {
    const lost = (g: Grant) => this.deps.ledger.lost?.(g.reservation) === true || (g.hourly !== null && this.deps.ledger.lost?.(g.hourly) === true);
    // A store that cannot confirm them keeps the units as they are: the commit still counts what PowerMTA takes.
    await this.deps.ledger.confirm?.(tx.granted.flatMap((g) => reservationsOf(g.grant))).catch(() => undefined);
    if (!tx.granted.some((g) => lost(g.grant))) return;
    const kept: Transaction['granted'] = [];
    for (const g of tx.granted) {
      if (!lost(g.grant)) {
        kept.push(g);
        continue;
      }
      await releaseGrant(this.deps.ledger, g.grant);
      const ip = kept[0]?.grant.ip.address ?? g.grant.ip.address;
      const again = await this.deps.gate.reserve(tx.tenant, 1, ip).catch(() => null);
      tx.log.warn('gate.reservation_renewed', { rcpt: g.rcpt, ip, reserved: again !== null });
      if (again) kept.push({ rcpt: g.rcpt, grant: again });
      else {
        tx.deferred.push(g.rcpt);
        tx.deferReason ||= `the quota held for it on IP ${ip} lapsed and none is left`;
      }
    }
    tx.granted = kept;
  }

  /**
   * Receives the message: at once to PowerMTA (when it holds quota) and into
   * memory or a temp file; then commits, releases or spools. `tooBig` is read after the stream ended.
   */
  async receive(tx: Transaction, stream: Readable, opts: { tooBig?: () => boolean; maxBytes?: number } = {}): Promise<ReceiveOutcome> {
    const deps = this.deps;
    await this.confirmGrants(tx);
    const arrivedAt = deps.clock.now();
    const id = Spool.newId(arrivedAt);
    const plan = forwardPlan(deps, tx.tenant, tx.mailFrom, tx.granted, tx.mailParams);
    // PowerMTA's part only: from the end of the client's upload to PowerMTA's answer.
    let uploaded = process.hrtime.bigint();
    stream.once('end', () => (uploaded = process.hrtime.bigint()));
    const timedForward = plan
      ? async (s: Readable) => {
          const outcome = await deps.forwarder.forward(plan.req, s);
          deps.metrics.forwardSeconds.observe(Math.max(0, Number(process.hrtime.bigint() - uploaded)) / 1e9);
          return outcome;
        }
      : null;
    let teed;
    try {
      teed = await tee(stream, deps.spool.sink(id), timedForward);
    } catch (err) {
      await this.abort(tx);
      tx.log.error('smtp.data_failed', { error: err as Error });
      return { reply: replies.localError(), result: null, messageId: null, size: 0 };
    }
    if (opts.tooBig?.()) {
      // Too big for us means too big for PowerMTA's limit too; whatever it said, it is refused.
      await discardHeld(teed.held);
      await this.abort(tx);
      return { reply: replies.tooBig(opts.maxBytes ?? 0), result: null, messageId: teed.info?.messageId ?? null, size: teed.size };
    }
    if (teed.headerProblem) {
      // The stamper refused it too, so nothing reached PowerMTA: MailWizz hears why.
      await discardHeld(teed.held);
      await this.abort(tx);
      tx.log.warn('smtp.header_refused', { problem: teed.headerProblem, messageId: teed.info?.messageId ?? null });
      deps.metrics.smtpReplies.inc({ stage: 'data', class: '5xx' });
      return { reply: replies.badHeader(teed.headerProblem), result: null, messageId: teed.info?.messageId ?? null, size: teed.size };
    }
    const messageId = teed.info?.messageId ?? null;
    const granted = tx.granted.splice(0);
    const result = await handOff(
      deps,
      { id, tenant: tx.tenant, body: teed.held, size: teed.size, mailFrom: tx.mailFrom, mailParams: tx.mailParams, messageId, granted, deferred: tx.deferred, deferReason: tx.deferReason, arrivedAt },
      teed.outcome,
      plan,
    );
    const reply = replyFor(result, tx.tenant.slug);
    deps.metrics.smtpReplies.inc({ stage: 'data', class: `${String(reply.code)[0]}xx` });
    deps.metrics.messages.inc({ tenant: tx.tenant.slug, path: result.kind });
    for (const outcome of ['forwarded', 'spooled', 'refused'] as const)
      if (result[outcome]) deps.metrics.rcptOutcomes.inc({ tenant: tx.tenant.slug, outcome }, result[outcome]);
    tx.log.info('smtp.message', {
      messageId,
      rcpts: [...granted.map((g) => g.rcpt), ...tx.deferred],
      size: teed.size,
      path: result.kind,
      forwarded: result.forwarded,
      spooled: result.spooled,
      refused: result.refused,
      ip: granted[0]?.grant.ip.address ?? null,
      vmta: result.kind === 'forwarded' ? result.vmta : null,
      reason: result.kind === 'spooled' ? result.reason : undefined,
      reply: `${reply.code} ${reply.text}`,
    });
    return { reply, result, messageId, size: teed.size };
  }
}

function replyFor(result: HandOffResult, tenant: string): Reply {
  switch (result.kind) {
    case 'forwarded':
      return replies.forwarded(result.response);
    case 'spooled':
      return replies.queued(result.id, result.reason);
    case 'refused':
      return replies.pmtaRefused(result.code, result.response);
    case 'spool-full':
      return replies.spoolFull(tenant, result.limit);
  }
}
