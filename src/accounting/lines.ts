// Turns a run of whole accounting lines into records. Pure: the tailer hands
// in decoded text and the state the file was left in (header in force, line
// number), and gets records, malformed lines and notes back.
//
// What real files hold besides one record per line (powermta.md §3):
// - a UTF-8 byte-order mark before the first header;
// - more than one header line: a restart of PowerMTA (or of a pipe program)
//   starts a new section, and may follow a last line PowerMTA never finished,
//   with no newline in between: the header is found inside that line;
// - a quoted field (`dsnDiag`) with a newline in it (RFC 4180).
import { BAD_QUOTE, UNCLOSED_QUOTE, splitCsvLineInto, splitCsvRange } from './csv.js';
import { AcctHeader, isHeaderFields, readRecord, type AcctRecord } from './records.js';

export interface LineState {
  header: AcctHeader | null;
  /** The header line as written, kept with the checkpoint. */
  headerText: string | null;
  /** Lines consumed so far; the next line is `line + 1`. */
  line: number;
  /** Dates records whose header has no time column (see AcctHeader.timeSource). */
  readAt?: Date;
}

export interface MalformedLine {
  line: number;
  reason: string;
  /** The start of the line, for the log. */
  text: string;
}

/** Something a person should know about the file that is not an error, e.g. a header without timeLogged. */
export interface LineNote {
  line: number;
  note: string;
}

export interface ParsedLines {
  records: AcctRecord[];
  malformed: MalformedLine[];
  notes?: LineNote[];
  /**
   * Characters at the end of the text not consumed: a record whose quoted
   * field runs past the last newline given. Hand them in again with what follows.
   */
  rest?: number;
}

const SNIPPET = 160;
const BOM = 0xfeff;
/** A quoted field may span this many lines at most; an open quote beyond that is a broken line. */
export const MAX_QUOTED_LINES = 16;
/** The start of a line PowerMTA writes: a header, or a record type and its comma. */
const LINE_START = /^(?:type|d|b|t|tq|r|f|rb|rs|rp),/i;
/** Column names in a header: letters, digits, `_` and `-` (`header_Message-Id`, `arf_*`). */
const COLUMN_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** A header glued after a cut line must name a column every PowerMTA header has besides `type`. */
const KNOWN_COLUMNS: ReadonlySet<string> = new Set(['timelogged', 'timequeued', 'orig', 'rcpt', 'vmta', 'dsnstatus', 'bouncecat', 'dlvsourceip', 'repsourceip']);

/** Starts a state from a stored header line (or none). */
export function lineState(headerText: string | null, line: number): LineState {
  let header: AcctHeader | null = null;
  if (headerText !== null) {
    const fields: string[] = [];
    const n = splitCsvLineInto(headerText, fields);
    if (n > 0) {
      fields.length = n;
      header = new AcctHeader(fields);
    }
  }
  return { header, headerText: header === null ? null : headerText, line };
}

// One array reused for every line: parseLines is synchronous.
const fields: string[] = [];

/**
 * `text` holds whole lines, each ending in `\n` (a trailing `\r` is dropped).
 * A line whose first field is `type` becomes the header for what follows.
 * Empty lines count as lines but are not records. With `into`, appends to it.
 */
export function parseLines(text: string, state: LineState, into?: ParsedLines): ParsedLines {
  const out = into ?? { records: [], malformed: [] };
  const { records, malformed } = out;
  out.rest = 0;
  let header = state.header;
  let lineNo = state.line;
  let start = 0;
  const len = text.length;
  const bad = (line: number, reason: string, from: number, end: number): void => {
    malformed.push({ line, reason, text: text.slice(from, Math.min(end, from + SNIPPET)) });
  };
  const adopt = (from: number, end: number): void => {
    const line = text.slice(from, end);
    fields.length = splitCsvLineInto(line, fields);
    header = new AcctHeader(fields.map((f) => f.trim()));
    state.header = header;
    state.headerText = line;
    if (header.timeSource !== 'timeLogged') {
      (out.notes ??= []).push({
        line: lineNo,
        note:
          header.timeSource === 'timeQueued'
            ? 'header has no timeLogged: records are dated by timeQueued'
            : 'header has neither timeLogged nor timeQueued: records are dated when read',
      });
    }
  };
  let nextType = text.indexOf('type,');
  while (start < len) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = len;
    let end = nl;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    let from = start;
    start = nl + 1;
    lineNo++;
    if (end > from && text.charCodeAt(from) === BOM) from++;
    if (end === from) continue;
    // A line cut short by a restart and the new header after it: the header starts a new
    // section. Looked for on every line (a cut line may still read as a short record), with
    // one forward search through the text rather than one per line.
    if (nextType >= 0 && nextType <= from) nextType = text.indexOf('type,', from + 1);
    // (Not in a header line: `feedbacktype,` in a lower-case header is no second header.)
    if (nextType > from && nextType < end && !startsWithType(text, from)) {
      const glued = gluedHeader(text, from, end);
      if (glued >= 0) {
        bad(lineNo, 'line cut short, followed by a header line', from, glued);
        adopt(glued, end);
        continue;
      }
    }
    // Only the columns records are read by; a header line is split again in full.
    let n = splitCsvRange(text, from, end, fields, header?.wanted);
    if (n === UNCLOSED_QUOTE) {
      // A quoted field with a newline in it: take the next lines until the quote closes.
      const span = quotedSpan(text, from, start, header?.wanted);
      if (span === 'more') {
        // Runs past the text given: wait for the rest (the reader hands it in again).
        out.rest = len - from;
        lineNo--;
        break;
      }
      if (span === null) {
        bad(lineNo, 'unbalanced quotes', from, end);
        continue;
      }
      n = span.n;
      lineNo += span.lines;
      start = span.next;
      end = span.end;
    }
    if (n === BAD_QUOTE) {
      bad(lineNo, 'unbalanced quotes', from, end);
      continue;
    }
    if (fields.length !== n) fields.length = n;
    if (isHeaderFields(fields)) {
      adopt(from, end);
      continue;
    }
    const rec = header === null ? 'record before any header line' : readRecord(fields, header, lineNo, state.readAt);
    if (typeof rec === 'string') bad(lineNo, rec, from, end);
    else records.push(rec);
  }
  state.line = lineNo;
  return out;
}

/**
 * The record starting at `from` whose quote is still open at the end of its
 * first line, read on over the following lines (`next` is where the second
 * starts). Null when the quote never closes within MAX_QUOTED_LINES or a line
 * that starts a header or record comes first; 'more' when the text ends first.
 */
function quotedSpan(
  text: string,
  from: number,
  next: number,
  wanted: Uint8Array | undefined,
): { n: number; end: number; next: number; lines: number } | 'more' | null {
  const len = text.length;
  for (let lines = 1; lines < MAX_QUOTED_LINES; lines++) {
    if (next >= len) return 'more';
    if (LINE_START.test(text.slice(next, next + 4))) return null;
    let nl = text.indexOf('\n', next);
    if (nl < 0) return 'more';
    let end = nl;
    if (end > next && text.charCodeAt(end - 1) === 13) end--;
    const n = splitCsvRange(text, from, end, fields, wanted);
    if (n !== UNCLOSED_QUOTE) return { n, end, next: nl + 1, lines };
    next = nl + 1;
  }
  return null;
}

/** Does the line at `from` start with `type,` in any case (a header line)? */
function startsWithType(text: string, from: number): boolean {
  return text.charCodeAt(from + 4) === 44 && text.slice(from, from + 4).toLowerCase() === 'type';
}

/** Where a header line starts inside the line text[from, end), or -1: a `type,...` tail whose fields are all column names. */
function gluedHeader(text: string, from: number, end: number): number {
  const line = text.slice(from, end);
  const lower = line.toLowerCase();
  for (let p = lower.indexOf('type,', 1); p > 0; p = lower.indexOf('type,', p + 1)) {
    const names = line.slice(p).split(',');
    if (names.length < 2 || !names.every((x) => COLUMN_NAME.test(x))) continue;
    if (names.some((x) => KNOWN_COLUMNS.has(x.toLowerCase()))) return from + p;
  }
  return -1;
}
