// Header-block handling for messages relayed from MailWizz to PowerMTA.
//
// MailWizz may already have DKIM-signed the message (mailwizz.md §1.3): the
// Swift signer covers every header except Return-Path and Sender, so
// rewriting any existing header or a single body byte would break the
// signature. We therefore only ADD lines at the top of the header block, and
// the only lines we drop are X-Virtual-MTA, which PowerMTA consumes and
// strips itself anyway (mailwizz.md §5). Message-ID is MailWizz's bounce/FBL
// join key from 2.1 on and is never touched.

export interface HeaderInfo {
  /** As written, angle brackets included. */
  messageId: string | null;
  xJob: string | null;
  campaignUid: string | null;
  feedbackId: string | null;
  from: string | null;
}

export interface HeaderSplit {
  /** End of the header block: the offset where the empty line starts. */
  headerEnd: number;
  /** First byte after the empty line. */
  bodyStart: number;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Incremental search for the empty line that ends the header block
 * (CRLFCRLF or LFLF, whichever comes first; an empty first line means no
 * headers at all). Offsets are absolute over everything fed so far. Only the
 * last three bytes are remembered, so a chunked stream finds exactly the
 * split that a single buffer would: a match completes in the order the
 * matches start, so "first found" is "first in the message".
 */
export class HeaderEndFinder {
  private seen = 0;
  // Previous bytes: p1 is the byte just before the current chunk.
  private p1 = -1;
  private p2 = -1;
  private p3 = -1;

  /** Bytes fed so far. */
  get fed(): number {
    return this.seen;
  }

  feed(chunk: Uint8Array): HeaderSplit | null {
    const base = this.seen;
    const at = (i: number): number =>
      i >= 0 ? (chunk[i] ?? -1) : i === -1 ? this.p1 : i === -2 ? this.p2 : i === -3 ? this.p3 : -1;
    let found: HeaderSplit | null = null;
    // Only line feeds can complete a match, so jump between them natively.
    let i = indexOfLf(chunk, 0);
    while (i !== -1) {
      const pos = base + i;
      const b1 = at(i - 1);
      if (pos === 0) {
        found = { headerEnd: 0, bodyStart: 1 };
      } else if (pos === 1 && b1 === CR) {
        found = { headerEnd: 0, bodyStart: 2 };
      } else if (b1 === LF) {
        found = { headerEnd: pos, bodyStart: pos + 1 };
      } else if (b1 === CR && at(i - 2) === LF && at(i - 3) === CR) {
        found = { headerEnd: pos - 1, bodyStart: pos + 1 };
      }
      if (found !== null) break;
      i = indexOfLf(chunk, i + 1);
    }
    const n = chunk.length;
    if (n >= 3) {
      this.p3 = chunk[n - 3] ?? -1;
      this.p2 = chunk[n - 2] ?? -1;
      this.p1 = chunk[n - 1] ?? -1;
    } else if (n === 2) {
      this.p3 = this.p1;
      this.p2 = chunk[0] ?? -1;
      this.p1 = chunk[1] ?? -1;
    } else if (n === 1) {
      this.p3 = this.p2;
      this.p2 = this.p1;
      this.p1 = chunk[0] ?? -1;
    }
    this.seen += n;
    return found;
  }
}

function indexOfLf(chunk: Uint8Array, from: number): number {
  return chunk.indexOf(LF, from);
}

/**
 * Where the header block ends in a whole message: `buf[0, headerEnd)` is the
 * header block (with its last line's terminator), `[headerEnd, bodyStart)`
 * the empty line. Null if there is no empty line.
 */
export function splitHeaderBlock(buf: Buffer): HeaderSplit | null {
  return new HeaderEndFinder().feed(buf);
}

const WANTED = new Set([
  'message-id',
  'x-job',
  'x-mw-campaign-uid',
  'x-campaign-uid',
  'feedback-id',
  'from',
]);

/**
 * The fields the daemon cares about. Names are case-insensitive, folded
 * lines are unfolded, values trimmed; the first occurrence of a field wins.
 */
export function parseHeaders(block: string): HeaderInfo {
  const fields = new Map<string, string>();
  let current: string | null = null;
  let value = '';
  const finish = (): void => {
    if (current !== null && !fields.has(current)) fields.set(current, value.trim());
    current = null;
  };
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // RFC 5322 unfolding: drop the line break, keep the whitespace.
      if (current !== null) value += line;
      continue;
    }
    finish();
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!WANTED.has(name)) continue;
    current = name;
    value = line.slice(colon + 1);
  }
  finish();
  const get = (name: string): string | null => fields.get(name) ?? null;
  const nonEmpty = (v: string | null): string | null => (v === null || v === '' ? null : v);
  return {
    messageId: get('message-id'),
    xJob: get('x-job'),
    // X-Mw- is the legacy MailWizz prefix; installs from 2.1 on use plain X-
    // (mailwizz.md §2.2). Since 2.1 neither is sent unless the delivery
    // server adds it as an additional header, e.g. `X-Mw-Campaign-Uid: [CAMPAIGN_UID]`.
    campaignUid: nonEmpty(get('x-mw-campaign-uid')) ?? nonEmpty(get('x-campaign-uid')),
    feedbackId: get('feedback-id'),
    from: get('from'),
  };
}

const MAX_JOB_CHARS = 128;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;
const HAS_CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

function cleanJob(v: string | null | undefined): string {
  if (v === null || v === undefined) return '';
  const clean = v.replace(CONTROL_CHARS, '').trim();
  // Count code points so the cap never splits a surrogate pair.
  const chars = Array.from(clean);
  return chars.length > MAX_JOB_CHARS ? chars.slice(0, MAX_JOB_CHARS).join('') : clean;
}

/**
 * The PowerMTA job id for a message: X-Job if MailWizz already set one, else
 * the campaign UID header, else Feedback-ID's first field (MailWizz's default
 * format puts the campaign UID first, mailwizz.md §2.1), else `fallback`.
 * Control characters are stripped (a CR/LF would inject a header) and the
 * result is capped at 128 characters.
 */
export function jobIdFor(info: HeaderInfo, fallback: string): string {
  const candidates = [info.xJob, info.campaignUid, info.feedbackId?.split(':')[0], fallback];
  for (const c of candidates) {
    const clean = cleanJob(c);
    if (clean !== '') return clean;
  }
  return '';
}

const X_VIRTUAL_MTA = /^x-virtual-mta[ \t]*:/i;

/** Every X-Virtual-MTA field, with its folded continuation lines, removed. */
function withoutVirtualMta(block: string): string {
  const lines = block.match(/[^\n]*\n|[^\n]+$/g);
  if (lines === null) return block;
  let out = '';
  let dropping = false;
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!dropping) out += line;
      continue;
    }
    dropping = X_VIRTUAL_MTA.test(line);
    if (!dropping) out += line;
  }
  return out;
}

function assertHeaderValue(what: string, v: string): void {
  if (HAS_CONTROL_CHAR.test(v)) {
    throw new TypeError(`${what} contains a control character: ${JSON.stringify(v)}`);
  }
}

/**
 * Adds `X-Virtual-MTA: <vmta>` and, unless the message already has an X-Job
 * (left untouched so MailWizz's own value wins), `X-Job: <job>` at the top of
 * the block, after removing any X-Virtual-MTA MailWizz set, so PowerMTA sees
 * exactly one routing decision: ours. Every other byte is kept as is.
 * New lines use the block's own line ending unless `eol` is given (for an
 * empty block, whose ending is only known from the separator line). An empty
 * `job` adds no X-Job.
 */
export function stampHeaderBlock(
  block: string,
  stamp: { vmta: string; job: string },
  hasXJob: boolean,
  eol?: '\r\n' | '\n',
): string {
  assertHeaderValue('vmta', stamp.vmta);
  assertHeaderValue('job', stamp.job);
  if (stamp.vmta.trim() === '') throw new TypeError('vmta is empty');
  const nl = eol ?? (block.includes('\r\n') ? '\r\n' : '\n');
  let top = `X-Virtual-MTA: ${stamp.vmta}${nl}`;
  if (!hasXJob && stamp.job !== '') top += `X-Job: ${stamp.job}${nl}`;
  return top + withoutVirtualMta(block);
}
