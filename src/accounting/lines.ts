// Turns a run of whole accounting lines into records. Pure: the tailer hands
// in decoded text and the state the file was left in (header in force, line
// number), and gets records and the malformed lines back.
import { splitCsvLineInto, splitCsvRange } from './csv.js';
import { AcctHeader, isHeaderFields, readRecord, type AcctRecord } from './records.js';

export interface LineState {
  header: AcctHeader | null;
  /** The header line as written, kept with the checkpoint. */
  headerText: string | null;
  /** Lines consumed so far; the next line is `line + 1`. */
  line: number;
}

export interface MalformedLine {
  line: number;
  reason: string;
  /** The start of the line, for the log. */
  text: string;
}

export interface ParsedLines {
  records: AcctRecord[];
  malformed: MalformedLine[];
}

const SNIPPET = 160;

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
  let header = state.header;
  let lineNo = state.line;
  let start = 0;
  const len = text.length;
  while (start < len) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = len;
    let end = nl;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    const from = start;
    start = nl + 1;
    lineNo++;
    if (end === from) continue;
    // Only the columns records are read by; a header line is split again in full.
    const n = splitCsvRange(text, from, end, fields, header?.wanted);
    if (n < 0) {
      malformed.push({ line: lineNo, reason: 'unbalanced quotes', text: text.slice(from, Math.min(end, from + SNIPPET)) });
      continue;
    }
    if (fields.length !== n) fields.length = n;
    if (isHeaderFields(fields)) {
      const line = text.slice(from, end);
      if (header !== null) fields.length = splitCsvLineInto(line, fields);
      header = new AcctHeader(fields);
      state.header = header;
      state.headerText = line;
      continue;
    }
    if (header === null) {
      malformed.push({ line: lineNo, reason: 'record before any header line', text: text.slice(from, Math.min(end, from + SNIPPET)) });
      continue;
    }
    const rec = readRecord(fields, header);
    if (typeof rec === 'string') malformed.push({ line: lineNo, reason: rec, text: text.slice(from, Math.min(end, from + SNIPPET)) });
    else records.push(rec);
  }
  state.line = lineNo;
  return out;
}
