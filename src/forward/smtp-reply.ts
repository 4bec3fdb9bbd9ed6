// SMTP replies read off a byte stream (RFC 5321 4.2): "250-..." lines continue
// a reply, "250 ..." ends it.

export interface Reply {
  code: number;
  /** Every line of the reply without its line end, joined by '\n': the form nodemailer reported, and MailWizz hears. */
  text: string;
}

/** Longer than any real reply; a peer that never finishes one is dropped instead of buffered without end. */
const MAX_REPLY_BYTES = 64 * 1024;

export class ReplyParser {
  private partial: Buffer | null = null;
  private lines: string[] = [];

  /** Feeds bytes; calls `onReply` for each complete reply, in order. Throws on a reply that is not SMTP. */
  feed(chunk: Buffer, onReply: (r: Reply) => void): void {
    let buf = chunk;
    if (this.partial) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = null;
    }
    let from = 0;
    for (let lf = buf.indexOf(0x0a); lf !== -1; lf = buf.indexOf(0x0a, from)) {
      const end = lf > from && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const line = buf.toString('utf8', from, end);
      from = lf + 1;
      this.lines.push(line);
      const code = replyCode(line);
      if (code === null) throw new Error(`not an SMTP reply: ${JSON.stringify(line.slice(0, 200))}`);
      if (line.charCodeAt(3) === 0x2d /* '-' */) {
        if (this.lines.length > 1000) throw new Error('SMTP reply of more than 1000 lines');
        continue;
      }
      const text = this.lines.length === 1 ? line : this.lines.join('\n');
      this.lines = [];
      onReply({ code, text });
    }
    if (from < buf.length) {
      if (buf.length - from > MAX_REPLY_BYTES) throw new Error(`SMTP reply line longer than ${MAX_REPLY_BYTES} bytes`);
      this.partial = buf.subarray(from);
    }
  }
}

function replyCode(line: string): number | null {
  if (line.length < 3) return null;
  const a = line.charCodeAt(0) - 48;
  const b = line.charCodeAt(1) - 48;
  const c = line.charCodeAt(2) - 48;
  if (a < 2 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return null;
  const sep = line.charCodeAt(3);
  if (line.length > 3 && sep !== 0x20 && sep !== 0x2d) return null;
  return a * 100 + b * 10 + c;
}
