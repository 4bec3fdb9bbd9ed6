// What MailWizz's PowerMTA webhook (`{mailwizz}/dswh/pmta`, mailwizz.md §4.2)
// is sent for an accounting record: the record as a PowerMTA JSON accounting
// record, or null when MailWizz would do nothing with it. Pure.
//
// MailWizz acts on
// - bounces: `type` `b`, `rb` or `rs` with a non-empty `bounceCat` (hard
//   categories also blacklist the address; the message is `dsnDiag`);
// - complaints: `type` `f` (its FBL action);
// and matches each by `header_Message-Id` (angle brackets stripped on its side).
import type { AcctRecord } from '../accounting/records.js';

/** The JSON record as posted, one per NDJSON line. */
export interface FeedbackRecord {
  type: string;
  /** PowerMTA's layout, `2026-11-24 12:00:01+0000` (written in UTC). */
  timeLogged: string;
  orig: string;
  rcpt: string;
  bounceCat: string;
  dsnStatus: string;
  dsnDiag: string;
  vmta: string;
  jobId: string;
  /** As logged, angle brackets included. */
  'header_Message-Id': string;
  /** Complaints only. */
  feedbackType?: string;
}

/** Record types MailWizz reads as bounces (with a bounceCat). */
export const FEEDBACK_BOUNCE_TYPES: ReadonlySet<string> = new Set(['b', 'rb', 'rs']);

/** Why a bounce or complaint is not sent. */
export type NotSent = 'no-message-id' | 'no-bounce-category';

/**
 * The bounce fields of a record, wherever the parser put them: a `bounce`
 * record has them; an `rs` record is parsed as kind `other` and carries them
 * only when records.ts copies them onto it (optional fields, read by name).
 */
function bounceFields(rec: AcctRecord): { bounceCat: string; dsnStatus: string; dsnDiag: string } | null {
  if (rec.kind === 'bounce') return rec;
  if (rec.kind !== 'other' || !FEEDBACK_BOUNCE_TYPES.has(rec.type)) return null;
  const o = rec as Partial<Record<'bounceCat' | 'dsnStatus' | 'dsnDiag', unknown>>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return { bounceCat: str(o.bounceCat), dsnStatus: str(o.dsnStatus), dsnDiag: str(o.dsnDiag) };
}

/** Is this a record MailWizz's webhook is about (a bounce type or a complaint)? Cheap; no allocation for the rest. */
export function isFeedbackCandidate(rec: AcctRecord): boolean {
  return rec.kind === 'bounce' || rec.kind === 'complaint' || (rec.kind === 'other' && FEEDBACK_BOUNCE_TYPES.has(rec.type));
}

/**
 * The JSON line for `rec`, or why it is not worth sending: MailWizz cannot
 * match a record without `header_Message-Id`, and ignores a bounce without a
 * `bounceCat`. Null for every other kind of record.
 */
export function feedbackLine(rec: AcctRecord): string | NotSent | null {
  let b: { bounceCat: string; dsnStatus: string; dsnDiag: string } | null = null;
  if (rec.kind !== 'complaint') {
    b = bounceFields(rec);
    if (b === null) return null;
    // An `rs` without a category is a status report, not a bounce; a `b` or `rb` without one is a bounce MailWizz would ignore.
    if (b.bounceCat === '') return rec.kind === 'bounce' ? 'no-bounce-category' : null;
  }
  if (rec.messageId === '') return 'no-message-id';
  const out: FeedbackRecord = {
    type: rec.type,
    timeLogged: formatPmtaTime(rec.timeLogged),
    orig: rec.orig,
    rcpt: rec.rcpt,
    bounceCat: b?.bounceCat ?? '',
    dsnStatus: b?.dsnStatus ?? '',
    dsnDiag: b?.dsnDiag ?? '',
    vmta: rec.vmta,
    jobId: rec.jobId,
    'header_Message-Id': rec.messageId,
  };
  if (rec.kind === 'complaint') out.feedbackType = rec.feedbackType;
  return JSON.stringify(out);
}

/** `2026-11-24 12:00:01+0000`: PowerMTA's layout, in UTC. */
export function formatPmtaTime(d: Date): string {
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}+0000`
  );
}
