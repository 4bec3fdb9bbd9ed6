// Picks the header block off the front of a streamed message without holding
// the body: only bytes up to the first empty line (CRLF or bare LF) are kept.

/** Past this the block is cut: a header that long is broken input, not mail. */
const MAX_HEADER_BYTES = 1024 * 1024;

export class HeaderBlockReader {
  private acc: Buffer = Buffer.alloc(0);
  private scanned = 0;
  private block: Buffer | null = null;

  get complete(): boolean {
    return this.block !== null;
  }

  push(chunk: Buffer): void {
    if (this.block) return;
    this.acc = this.acc.length ? Buffer.concat([this.acc, chunk]) : chunk;
    const end = findHeaderEnd(this.acc, this.scanned);
    if (end >= 0) {
      this.block = this.acc.subarray(0, end);
    } else if (this.acc.length > MAX_HEADER_BYTES) {
      this.block = this.acc.subarray(0, this.acc.lastIndexOf(0x0a) + 1);
    } else {
      // A boundary can straddle chunks: rescan the last two bytes next time.
      this.scanned = Math.max(0, this.acc.length - 2);
      return;
    }
    this.acc = Buffer.alloc(0);
  }

  /** Header lines in order; a message with no empty line is all header. */
  headers(): Array<[name: string, value: string]> {
    const block = this.block ?? this.acc;
    return parseHeaderBlock(block.toString('utf8'));
  }
}

/** Length of the header block (through its last line's LF), or -1 if not seen yet. */
function findHeaderEnd(buf: Buffer, from: number): number {
  if (from === 0) {
    if (buf[0] === 0x0a) return 0;
    if (buf[0] === 0x0d && buf[1] === 0x0a) return 0;
  }
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    const next = buf[i + 1];
    if (next === 0x0a) return i + 1;
    if (next === 0x0d && buf[i + 2] === 0x0a) return i + 1;
  }
  return -1;
}

/** Names lowercased; folded lines unfolded (the line break dropped, the whitespace kept); values trimmed. */
export function parseHeaderBlock(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const last = out[out.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last[1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1)]);
  }
  for (const h of out) h[1] = h[1].trim();
  return out;
}
