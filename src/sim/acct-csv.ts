// PowerMTA accounting CSV, as written by the simulator. Readers must go by the
// header line, so the column order here only has to match PowerMTA's defaults.

/** PowerMTA's default `*` fields of d, b and t records, in its order (powermta.md §3.5). */
export const DELIVERY_FIELDS: readonly string[] = [
  'type', 'timeLogged', 'timeQueued', 'orig', 'rcpt', 'orcpt',
  'dsnAction', 'dsnStatus', 'dsnDiag', 'dsnMta', 'bounceCat',
  'srcType', 'srcMta', 'dlvType', 'dlvSourceIp', 'dlvDestinationIp',
  'dlvEsmtpAvailable', 'dlvSize', 'vmta', 'jobId', 'envId', 'queue', 'vmtaPool',
];

/**
 * `f` (feedback loop): no vmta; `repSourceIp` is our IP the complaint is
 * about, `dlvSourceIp` the MTA the report came from (powermta.md §3.6).
 * `*` also logs these headers of the reported message; X-Job is empty, since
 * PowerMTA removed it at injection (process-x-job).
 */
export const FEEDBACK_FIELDS: readonly string[] = [
  'type', 'timeLogged', 'repSourceIp', 'feedbackType', 'format', 'userAgent', 'envId',
  'orig', 'rcpt', 'reportingMta', 'dlvSourceIp', 'reportedDomain',
  'header_From', 'header_Return-Path', 'header_X-job', 'header_Subject',
];

/** `rb` / `rs` (a DSN received back): no vmta, no dlvSourceIp (powermta.md §3.6). */
export const REMOTE_BOUNCE_FIELDS: readonly string[] = [
  'type', 'timeLogged', 'orig', 'rcpt', 'orcpt', 'dsnAction', 'dsnStatus', 'dsnDiag',
  'dsnMta', 'dsnReportingMta', 'bounceCat', 'srcType', 'srcMta', 'envId', 'format',
];

/** The header the agent's rendered `<acct-file>` adds to every record type (`record-fields X *,header_Message-Id`). */
export const HEADER_FIELDS: readonly string[] = ['header_Message-Id'];

/**
 * One file carrying d, b, t, f and rb records has the union of their columns
 * as its header; a record leaves the others empty (powermta.md §3.1). 38
 * columns with MailWizz's own headers, as an operator logging them has.
 */
export const ACCT_COLUMNS: string[] = union(
  DELIVERY_FIELDS,
  FEEDBACK_FIELDS,
  REMOTE_BOUNCE_FIELDS,
  HEADER_FIELDS,
  ['header_X-Mw-Campaign-Uid', 'header_X-Mw-Subscriber-Uid', 'header_List-Unsubscribe'],
);

function union(...lists: ReadonlyArray<readonly string[]>): string[] {
  const out: string[] = [];
  for (const l of lists) for (const c of l) if (!out.some((x) => x.toLowerCase() === c.toLowerCase())) out.push(c);
  return out;
}

/** The record cut down to the fields PowerMTA logs for its type: nothing else can reach the file. */
export function vendorFields(record: Record<string, string>): Record<string, string> {
  const type = record.type ?? '';
  const own = type === 'f' ? FEEDBACK_FIELDS : type === 'rb' || type === 'rs' ? REMOTE_BOUNCE_FIELDS : DELIVERY_FIELDS;
  const out: Record<string, string> = {};
  for (const c of [...own, ...HEADER_FIELDS]) if (record[c] !== undefined) out[c] = record[c];
  return out;
}

/** RFC 4180: quote only when needed, double inner quotes. */
export function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** One CSV line (no newline); columns missing from the record are left empty. */
export function formatRecord(columns: readonly string[], record: Record<string, string>): string {
  return columns.map((c) => csvField(record[c] ?? '')).join(',');
}

/** `2026-11-24 12:00:01+0000`: PowerMTA's layout, always written in UTC. */
export function formatPmtaTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}+0000`
  );
}
