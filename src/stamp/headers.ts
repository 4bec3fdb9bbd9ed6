// Header-block handling for messages relayed from MailWizz to PowerMTA.
//
// MailWizz may already have DKIM-signed the message (mailwizz.md §1.3): the
// Swift signer covers every header except Return-Path and Sender, so
// rewriting any existing header or a single body byte would break the
// signature. We therefore only ADD lines at the top of the header block, and
// the only lines we drop are X-Virtual-MTA, which PowerMTA consumes and
// strips itself anyway (mailwizz.md §5), and X-Job when there is more than
// one or it is no valid job id. Message-ID is MailWizz's bounce/FBL join key
// from 2.1 on and is never touched.
import { isPmtaJobId, pmtaJobId } from '../pmta/jobid.js';

export interface HeaderInfo {
  /** As written, angle brackets included. */
  messageId: string | null;
  xJob: string | null;
  /** How many X-Job fields the header block has (PowerMTA takes at most one). */
  xJobCount: number;
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
 * Incremental search for the empty line that ends the header block as
 * PowerMTA will see it: on the wire each of CRLF, CR and LF ends a line (see
 * headerLines), so LFLF, CRLFCRLF, but also a bare CR after a line end
 * (LF CR, CR CR) make an empty line; an empty first line means no headers at
 * all. Offsets are absolute over everything fed so far. Only the last three
 * bytes are remembered, so a chunked stream finds exactly the split that a
 * single buffer would: a match completes in the order the matches start, so
 * "first found" is "first in the message". For the rare bare-CR forms the
 * split may fall one byte early in the empty line; the bytes pass unchanged.
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
    let found: HeaderSplit | null = null;
    // The two bytes before position i, rolled along (no lookups per byte: this runs over every header byte).
    let b1 = this.p1;
    let b2 = this.p2;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const pos = base + i;
      if (c === LF) {
        if (pos === 0) found = { headerEnd: 0, bodyStart: 1 };
        else if (pos === 1 && b1 === CR) found = { headerEnd: 0, bodyStart: 2 };
        else if (b1 === LF) found = { headerEnd: pos, bodyStart: pos + 1 };
        else if (b1 === CR && b2 === LF) found = { headerEnd: pos - 1, bodyStart: pos + 1 };
      } else if (c === CR) {
        // CR CR: a bare CR ended a line (or was the empty first line), and this one starts the empty line.
        if (pos === 1 && b1 === CR) found = { headerEnd: 0, bodyStart: 1 };
        else if (b1 === CR) found = { headerEnd: pos, bodyStart: pos + 1 };
      } else if (b1 === CR && (pos === 1 || b2 === LF)) {
        // A bare CR as the first line, or right after a line end: an empty line.
        found = { headerEnd: pos - 1, bodyStart: pos };
      }
      if (found !== null) break;
      b2 = b1;
      b1 = c;
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

// On the wire to PowerMTA the SMTP client turns a bare CR and a bare LF into
// CRLF (src/forward/data-encoder.ts), so PowerMTA sees a line end at
// each of CRLF, CR and LF. Every header decision here reads the block the same
// way, or a tenant could hide a field behind a bare CR
// (`Feedback-ID: x\rX-Virtual-MTA: <another tenant's VMTA>`).
const LINE = /[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g;

export interface HeaderLines {
  lines: string[];
  /** What follows the first empty line. */
  rest: string;
}

/** The header lines as PowerMTA will see them, each with its own terminator, up to (not including) the first empty line. */
export function headerLines(block: string): HeaderLines {
  const lines: string[] = [];
  let at = 0;
  for (const line of block.match(LINE) ?? []) {
    if (line === '\r\n' || line === '\r' || line === '\n') break; // the end of the header block for PowerMTA
    lines.push(line);
    at += line.length;
  }
  return { lines, rest: block.slice(at) };
}

const isContinuation = (line: string): boolean => line.startsWith(' ') || line.startsWith('\t');

/** A field line's name, lower-cased, as a lenient reader takes it (`X-Virtual-MTA :` too); null for a continuation, '' for a line that is no field. */
function fieldName(line: string): string | null {
  if (isContinuation(line)) return null;
  const colon = line.indexOf(':');
  return colon <= 0 ? '' : line.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
}

/**
 * The fields the daemon cares about. Names are case-insensitive, folded
 * lines are unfolded, values trimmed; the first occurrence of a field wins.
 */
export function parseHeaders(block: string): HeaderInfo {
  const fields = new Map<string, string>();
  let current: string | null = null;
  let value = '';
  let xJobCount = 0;
  const finish = (): void => {
    if (current !== null && !fields.has(current)) fields.set(current, value.trim());
    current = null;
  };
  for (const raw of headerLines(block).lines) {
    const line = raw.replace(/(?:\r\n|\r|\n)$/, '');
    const name = fieldName(line);
    if (name === null) {
      // RFC 5322 unfolding: drop the line break, keep the whitespace.
      if (current !== null) value += line;
      continue;
    }
    finish();
    if (name === 'x-job') xJobCount++;
    if (!WANTED.has(name)) continue;
    current = name;
    value = line.slice(line.indexOf(':') + 1);
  }
  finish();
  const get = (name: string): string | null => fields.get(name) ?? null;
  const nonEmpty = (v: string | null): string | null => (v === null || v === '' ? null : v);
  return {
    messageId: get('message-id'),
    xJob: get('x-job'),
    xJobCount,
    // X-Mw- is the legacy MailWizz prefix; installs from 2.1 on use plain X-
    // (mailwizz.md §2.2). Since 2.1 neither is sent unless the delivery
    // server adds it as an additional header, e.g. `X-Mw-Campaign-Uid: [CAMPAIGN_UID]`.
    campaignUid: nonEmpty(get('x-mw-campaign-uid')) ?? nonEmpty(get('x-campaign-uid')),
    feedbackId: get('feedback-id'),
    from: get('from'),
  };
}

const HAS_CONTROL_CHAR = /[\u0000-\u001f\u007f]/;

/**
 * The PowerMTA job id for a message: X-Job if MailWizz already set one, else
 * the campaign UID header, else Feedback-ID's first field (MailWizz's default
 * format puts the campaign UID first, mailwizz.md §2.1), else `fallback`; as
 * PowerMTA takes a job id (printable, no white space: pmta/jobid.ts).
 */
export function jobIdFor(info: HeaderInfo, fallback: string): string {
  const candidates = [info.xJob, info.campaignUid, info.feedbackId?.split(':')[0], fallback];
  for (const c of candidates) {
    const clean = pmtaJobId(c);
    if (clean !== '') return clean;
  }
  return '';
}

/** Whether the message's own X-Job can go to PowerMTA untouched: exactly one, and a valid job id. */
export function keepsOwnJob(info: HeaderInfo): boolean {
  return info.xJobCount === 1 && info.xJob !== null && isPmtaJobId(info.xJob);
}

// Control characters other than HTAB have no place in a header block; what a
// NUL or a vertical tab does to PowerMTA's header parsing is not documented,
// so such a message is refused rather than guessed at.
const HEADER_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Why a header block cannot go to PowerMTA as it is, or null. `truncated`: it was longer than the limit. */
export function headerProblem(block: string, truncated: boolean, maxBytes: number, lines = headerLines(block)): string | null {
  if (truncated) return `header block longer than ${maxBytes} bytes`;
  // The lines are the block up to its first empty line: one test over that span, not one per line.
  if (HEADER_CONTROL.test(block.slice(0, block.length - lines.rest.length))) return 'control character (NUL or similar) in the header block';
  return null;
}

/**
 * The header block without the named fields (their folded continuation lines
 * too). A continuation line with no field before it is dropped as well: a
 * reader could take it for a field. Lines after the block's end (an empty line
 * in PowerMTA's view) are body and pass untouched.
 */
function withoutFields({ lines, rest }: HeaderLines, names: ReadonlySet<string>): string {
  let out = '';
  let dropping = true; // a continuation at the very top continues nothing
  for (const line of lines) {
    const name = fieldName(line);
    if (name !== null) dropping = names.has(name);
    if (!dropping) out += line;
  }
  return out + rest;
}

const ONLY_VMTA = new Set(['x-virtual-mta']);
const VMTA_AND_JOB = new Set(['x-virtual-mta', 'x-job']);

function assertHeaderValue(what: string, v: string): void {
  if (HAS_CONTROL_CHAR.test(v)) {
    throw new TypeError(`${what} contains a control character: ${JSON.stringify(v)}`);
  }
}

/**
 * Adds `X-Virtual-MTA: <vmta>` and, unless the message keeps its own X-Job
 * (exactly one and valid: left untouched so MailWizz's own value and DKIM
 * signature stay), `X-Job: <job>` at the top of the block, after removing
 * every X-Virtual-MTA (and, when not kept, every X-Job) the message carried, so
 * PowerMTA sees exactly one routing decision, ours, and at most one job id.
 * Every other byte is kept as is.
 * New lines use the block's own line ending unless `eol` is given (for an
 * empty block, whose ending is only known from the separator line). An empty
 * `job` adds no X-Job. `lines`: the block's headerLines, when the caller has them already.
 */
export function stampHeaderBlock(
  block: string,
  stamp: { vmta: string; job: string },
  keepOwnJob: boolean,
  eol?: '\r\n' | '\n',
  lines: HeaderLines = headerLines(block),
): string {
  assertHeaderValue('vmta', stamp.vmta);
  assertHeaderValue('job', stamp.job);
  if (stamp.vmta.trim() === '') throw new TypeError('vmta is empty');
  const nl = eol ?? (block.includes('\r\n') ? '\r\n' : '\n');
  let top = `X-Virtual-MTA: ${stamp.vmta}${nl}`;
  if (!keepOwnJob && stamp.job !== '') top += `X-Job: ${stamp.job}${nl}`;
  return top + withoutFields(lines, keepOwnJob ? ONLY_VMTA : VMTA_AND_JOB);
}
