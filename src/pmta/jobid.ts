// PowerMTA's job id rules, for whoever writes X-Job. §3.3.7.45: "The job ID
// must not include any non-printable or white space characters"; the API
// (§13, setJobId) says "printable, non-white space characters only".

const MAX_JOB_CHARS = 128;

/**
 * A value PowerMTA accepts as a job id: inner whitespace runs become `_`
 * (`Spring Sale` -> `Spring_Sale`, so distinct campaigns stay distinct),
 * control characters go, anything outside printable ASCII is percent-encoded
 * (`Été` -> `%C3%89t%C3%A9`: printable, and two names never collide), and the
 * result is capped at 128 characters without splitting an escape. '' when
 * nothing is left.
 */
export function pmtaJobId(raw: string | null | undefined): string {
  if (raw === null || raw === undefined) return '';
  const spaced = raw.replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, '').trim().replace(/\s+/g, '_');
  let out = '';
  for (const ch of spaced) {
    const piece = /^[\x21-\x7e]$/.test(ch) ? ch : encodeURIComponent(ch);
    if (out.length + piece.length > MAX_JOB_CHARS) break;
    out += piece;
  }
  return out;
}

/** True when PowerMTA takes `v` as it is. */
export function isPmtaJobId(v: string): boolean {
  return v.length > 0 && v.length <= MAX_JOB_CHARS && /^[\x21-\x7e]+$/.test(v);
}
