// CSV as PowerMTA writes its accounting files: RFC 4180 quoting (a field with a
// comma or a quote is wrapped in quotes, inner quotes doubled), one record per
// line. Runs once per accounting line, so it scans with indexOf rather than
// character by character or with a regular expression.

const QUOTE = 34; // "
const COMMA = 44;

/** splitCsvRange's answer when a quoted field is still open at the end of the range: it may go on past a newline. */
export const UNCLOSED_QUOTE = -1;
/** splitCsvRange's answer when a closing quote is followed by something other than a comma. */
export const BAD_QUOTE = -2;

/**
 * Splits one line (without its newline) into `out`, reusing the array, and
 * returns the number of fields, or UNCLOSED_QUOTE / BAD_QUOTE (both negative).
 *
 * With `wanted`, only the columns whose entry is 1 are copied out; the others
 * are still delimited (so the count is right) but left as ''. A record line
 * has some thirty columns and the agent reads about ten.
 */
export function splitCsvLineInto(line: string, out: string[], wanted?: Uint8Array): number {
  return splitCsvRange(line, 0, line.length, out, wanted);
}

/** splitCsvLineInto for the line text[start, end), without cutting the line out first. */
export function splitCsvRange(text: string, start: number, end: number, out: string[], wanted?: Uint8Array): number {
  let n = 0;
  let pos = start;
  for (;;) {
    const keep = wanted === undefined || wanted[n] === 1;
    if (pos < end && text.charCodeAt(pos) === QUOTE) {
      // Quoted field: runs to the next quote that is not doubled.
      let value = '';
      let from = pos + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0 || q >= end) return UNCLOSED_QUOTE;
        if (q + 1 < end && text.charCodeAt(q + 1) === QUOTE) {
          if (keep) value += text.slice(from, q + 1);
          from = q + 2;
          continue;
        }
        if (keep) value += text.slice(from, q);
        pos = q + 1;
        break;
      }
      out[n++] = value;
      if (pos === end) break;
      if (text.charCodeAt(pos) !== COMMA) return BAD_QUOTE;
      pos++;
    } else {
      const c = text.indexOf(',', pos);
      if (c < 0 || c >= end) {
        out[n++] = keep ? text.slice(pos, end) : '';
        break;
      }
      out[n++] = keep ? text.slice(pos, c) : '';
      pos = c + 1;
    }
  }
  return n;
}

/** Splits one line into a new array; null when the quoting is broken. */
export function splitCsvLine(line: string): string[] | null {
  const out: string[] = [];
  const n = splitCsvLineInto(line, out);
  if (n < 0) return null;
  out.length = n;
  return out;
}

/** RFC 4180: quote only when needed, double inner quotes. */
export function csvField(v: string): string {
  return v.includes('"') || v.includes(',') || v.includes('\n') || v.includes('\r') ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsvLine(fields: readonly string[]): string {
  return fields.map(csvField).join(',');
}

/**
 * A header line: column names in file order, and each name's index. Names are
 * matched without regard to case: `record-fields` keeps the case the operator
 * wrote (`header_message-id` as well as `header_Message-Id`, powermta.md §3.5).
 */
export class CsvHeader {
  readonly names: readonly string[];
  private readonly index = new Map<string, number>();

  constructor(names: readonly string[]) {
    this.names = names.slice();
    // A repeated name keeps its first position.
    names.forEach((name, i) => {
      const k = name.trim().toLowerCase();
      if (!this.index.has(k)) this.index.set(k, i);
    });
  }

  get size(): number {
    return this.names.length;
  }

  /** The column's index, or -1 when the file does not log it. */
  indexOf(name: string): number {
    return this.index.get(name.toLowerCase()) ?? -1;
  }
}
