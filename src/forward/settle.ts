import type { ForwardOutcome } from './forwarder.js';

/** A recipient handed to PowerMTA and the units it holds. */
export interface Held<G> {
  rcpt: string;
  grant: G;
}

/** A recipient PowerMTA refused for good. */
export interface Refused {
  rcpt: string;
  code: number;
  response: string;
}

/** What PowerMTA's answer says about PowerMTA itself (the health check reads it). */
export type PmtaVerdict = { kind: 'answered' } | { kind: 'failed'; reason: string } | { kind: 'not-tried' };

/**
 * What to do after one hand-off, for the fast path and the dispatcher alike:
 * whose units count as sent, whose go back, which recipients wait in the spool
 * and which PowerMTA refused for good.
 */
export interface Settlement<G> {
  commit: G[];
  release: G[];
  /** Recipients PowerMTA took. */
  forwarded: string[];
  /** Recipients PowerMTA did not take now: they wait in the spool. */
  spool: string[];
  /** Why they wait, when some do. */
  spoolReason: string | null;
  /**
   * PowerMTA's reply was lost after the final dot: the recipients in `spool`
   * may have been taken, so their units are in `commit` and their spooled copy
   * waits for accounting (SpoolMeta.fateUnknownSince) before it goes again.
   */
  fateUnknown: boolean;
  /** Recipients PowerMTA refused with a 5xx. */
  refused: Refused[];
  /** Set when PowerMTA refused the message as a whole (at MAIL FROM, RCPT TO of every recipient, or DATA). */
  wholeRefusal: { code: number; response: string } | null;
  /** PowerMTA's reply when it took the message for some recipients. */
  response: string | null;
  pmta: PmtaVerdict;
}

// PowerMTA refuses a message whose X-Virtual-MTA names a VMTA it does not
// know (reject-invalid-virtual-mta, shared/reference/powermta.md). That happens
// for a moment when a reload removed or renamed the VMTA before the agent's new
// config is in: the agent picks a VMTA that exists again on the next try, so it
// is retried from the spool, never a bounce.
const VMTA_MISSING = /virtual ?mta\b.*\b(does not exist|not found|unknown|invalid)|\b(unknown|invalid) virtual ?mta/i;

export function vmtaMissing(response: string): boolean {
  return VMTA_MISSING.test(response);
}

/** The hand-off failed on our side (a stalled upload, the journal, our shutdown), not PowerMTA's: its health is not blamed. */
export function localFailure(outcome: ForwardOutcome | null): boolean {
  return (outcome?.kind === 'unavailable' || outcome?.kind === 'unknown') && outcome.local === true;
}

/**
 * Settles one hand-off from PowerMTA's answer. `outcome` null means it was not
 * tried (PowerMTA is marked down): `notTried` says why. Units go back only where
 * PowerMTA provably did not take the mail: a recipient neither accepted nor
 * refused (which the SMTP client never reports) counts as sent and is not
 * sent again, and a reply lost after the final dot counts every unit as sent.
 */
export function settle<G>(held: ReadonlyArray<Held<G>>, outcome: ForwardOutcome | null, notTried = 'PowerMTA unavailable'): Settlement<G> {
  const s: Settlement<G> = {
    commit: [],
    release: [],
    forwarded: [],
    spool: [],
    spoolReason: null,
    fateUnknown: false,
    refused: [],
    wholeRefusal: null,
    response: null,
    pmta: outcome ? { kind: 'answered' } : { kind: 'not-tried' },
  };
  if (held.length === 0) return s;
  const spoolAll = (reason: string) => {
    for (const h of held) {
      s.release.push(h.grant);
      s.spool.push(h.rcpt);
    }
    s.spoolReason = reason;
    return s;
  };
  if (!outcome) return spoolAll(notTried);
  switch (outcome.kind) {
    case 'unavailable':
      // A 4xx to every RCPT TO is PowerMTA answering about these recipients: it is up,
      // and other mail must not be held back as if it were down.
      s.pmta = outcome.everyRcpt ? { kind: 'answered' } : { kind: 'failed', reason: outcome.reason };
      return spoolAll(outcome.reason);
    case 'unknown':
      // Rule 1: a unit whose fate is unknown counts as sent.
      for (const h of held) {
        s.commit.push(h.grant);
        s.spool.push(h.rcpt);
      }
      s.spoolReason = outcome.reason;
      s.fateUnknown = true;
      s.pmta = { kind: 'failed', reason: outcome.reason };
      return s;
    case 'refused':
      if (vmtaMissing(outcome.response)) return spoolAll(`PowerMTA does not know the VMTA yet (${outcome.response})`);
      for (const h of held) {
        s.release.push(h.grant);
        s.refused.push({ rcpt: h.rcpt, code: outcome.code, response: outcome.response });
      }
      s.wholeRefusal = { code: outcome.code, response: outcome.response };
      return s;
    case 'accepted': {
      s.response = outcome.response;
      const accepted = new Set(outcome.accepted.map((a) => a.toLowerCase()));
      const rejected = new Map(outcome.rejected.map((r) => [r.rcpt.toLowerCase(), r]));
      const deferred: string[] = [];
      for (const h of held) {
        const key = h.rcpt.toLowerCase();
        const r = rejected.get(key);
        if (accepted.has(key) || !r) {
          s.commit.push(h.grant);
          s.forwarded.push(h.rcpt);
        } else if (r.code < 500 || vmtaMissing(r.response)) {
          // PowerMTA will take it later: it waits in the spool.
          s.release.push(h.grant);
          s.spool.push(h.rcpt);
          deferred.push(`${h.rcpt}: ${r.response}`);
        } else {
          s.release.push(h.grant);
          s.refused.push({ rcpt: h.rcpt, code: r.code, response: r.response });
        }
      }
      if (deferred.length) s.spoolReason = `PowerMTA deferred ${deferred.length} recipient(s) (${deferred[0]})`;
      return s;
    }
  }
}
