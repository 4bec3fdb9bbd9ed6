// PowerMTA accounting CSV, as written by the simulator. Readers must go by the
// header line, so the column order here only has to match PowerMTA's defaults.

/** Default delivery columns, then the feedback-loop ones, then the `header_*` extras. */
export const ACCT_COLUMNS: string[] = [
  'type', 'timeLogged', 'timeQueued', 'orig', 'rcpt', 'orcpt',
  'dsnAction', 'dsnStatus', 'dsnDiag', 'dsnMta', 'bounceCat',
  'srcType', 'srcMta', 'dlvType', 'dlvSourceIp', 'dlvDestinationIp',
  'dlvEsmtpAvailable', 'dlvSize', 'vmta', 'jobId', 'envId', 'queue', 'vmtaPool',
  'feedbackType', 'format', 'userAgent', 'reportingMta', 'reportedDomain',
  'header_Message-Id', 'header_X-Job',
];

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
