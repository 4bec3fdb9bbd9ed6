// The message as SMTP DATA carries it (RFC 5321 4.5.2): a '.' at the start of
// a line doubled, and the terminating <CRLF>.<CRLF>. A bare CR and a bare LF
// each become CRLF on the way, as nodemailer did before us (its
// smtp-connection/data-stream.js): PowerMTA then sees a line end exactly where
// the stamper read one (src/stamp/headers.ts), and no "<LF>.<LF>" or
// "<CR>.<CR>" can end the data early at a lenient reader (SMTP smuggling).
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const TERMINATOR = Buffer.from('.\r\n');
const CR_TERMINATOR = Buffer.from('\n.\r\n');
const EOL_TERMINATOR = Buffer.from('\r\n.\r\n');

export class DataEncoder {
  /** The last byte passed on; a message starts at the start of a line. */
  private last = LF;

  /** The chunk as it goes on the wire; the chunk itself when nothing in it needs changing (the usual case). */
  encode(chunk: Buffer): Buffer {
    const n = chunk.length;
    if (n === 0) return chunk;
    const out = this.clean(chunk) ? chunk : this.rewrite(chunk);
    this.last = chunk[n - 1]!;
    return out;
  }

  /** What ends the data: a CRLF first if the message did not end with one. */
  end(): Buffer {
    if (this.last === LF) return TERMINATOR;
    if (this.last === CR) return CR_TERMINATOR;
    return EOL_TERMINATOR;
  }

  /**
   * True when every CR is followed by LF, every LF preceded by CR and no line
   * starts with '.'. Jumps from line end to line end with indexOf (native),
   * which is several times faster than a byte loop on a CRLF message.
   */
  private clean(chunk: Buffer): boolean {
    const n = chunk.length;
    const first = chunk[0]!;
    let from = 0;
    if (this.last === CR) {
      if (first !== LF) return false;
      if (n > 1 && chunk[1] === DOT) return false;
      from = 1;
    } else if (first === LF || (first === DOT && this.last === LF)) {
      return false;
    }
    let cr = chunk.indexOf(CR, from);
    let lf = chunk.indexOf(LF, from);
    while (cr !== -1) {
      if (cr === n - 1) return lf === -1; // a CR ending the chunk is judged with the next one
      if (lf !== cr + 1) return false;
      if (chunk[lf + 1] === DOT) return false;
      cr = chunk.indexOf(CR, lf + 1);
      lf = chunk.indexOf(LF, lf + 1);
    }
    return lf === -1;
  }

  private rewrite(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    let prev = this.last;
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      let insert: Buffer | null = null;
      if (prev === CR && b !== LF) insert = b === DOT ? LF_DOT : LF_ONLY;
      else if (b === LF && prev !== CR) insert = CR_ONLY;
      else if (b === DOT && prev === LF) insert = DOT_ONLY;
      if (insert) {
        parts.push(chunk.subarray(from, i), insert);
        from = i;
      }
      prev = b;
    }
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }
}

const LF_ONLY = Buffer.from('\n');
const LF_DOT = Buffer.from('\n.');
const CR_ONLY = Buffer.from('\r');
const DOT_ONLY = Buffer.from('.');
