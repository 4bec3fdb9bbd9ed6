// Shared by HeaderStamper and HeaderScanner: gathers the header block from a
// chunked stream, holding at most `maxBytes` of it, never the body.
import { HeaderEndFinder } from './headers.js';

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

export interface CollectedHeader {
  /** The header block bytes, without the empty line. */
  block: Buffer;
  /** Bytes after the block, in stream order (empty line, then body). */
  rest: Buffer[];
  /** Line ending of the empty line, when one was found. */
  eol: '\r\n' | '\n' | null;
  /** False when the block was cut at maxBytes or the stream ended first. */
  complete: boolean;
  /** True when it was cut at maxBytes: the header block is longer than the limit. */
  truncated: boolean;
}

export class HeaderCollector {
  private readonly finder = new HeaderEndFinder();
  private parts: Buffer[] = [];
  private len = 0;
  private done = false;

  constructor(readonly maxBytes: number = DEFAULT_MAX_HEADER_BYTES) {
    if (!(maxBytes >= 1) || !Number.isInteger(maxBytes)) {
      throw new RangeError(`maxHeaderBytes must be a positive integer, got ${maxBytes}`);
    }
  }

  /** Feeds a chunk; returns the header once it is known, then never again. */
  push(chunk: Buffer): CollectedHeader | null {
    if (this.done) return null;
    // Only an empty line ending within the first maxBytes counts, so the
    // outcome does not depend on how the stream was chunked, and a huge
    // chunk is never scanned past the limit.
    const room = this.maxBytes - this.finder.fed;
    const split = this.finder.feed(chunk.length > room ? chunk.subarray(0, room) : chunk);
    if (split !== null) {
      const [block, rest] = this.cut(chunk, split.headerEnd);
      const eol = split.bodyStart - split.headerEnd === 2 ? '\r\n' : '\n';
      return { block, rest, eol, complete: true, truncated: false };
    }
    if (this.finder.fed >= this.maxBytes) {
      // No empty line within maxBytes: cut after the last complete line and
      // report it truncated. Holding it all would let one message exhaust
      // memory, and passing the rest on unread could pass an X-Virtual-MTA
      // beyond the cut: such a message is refused (headerProblem).
      const [region, tail] = this.cut(chunk, this.maxBytes);
      const lineEnd = region.lastIndexOf(0x0a) + 1;
      const rest = [region.subarray(lineEnd), ...tail].filter((b) => b.length > 0);
      return { block: region.subarray(0, lineEnd), rest, eol: null, complete: false, truncated: true };
    }
    this.parts.push(chunk);
    this.len += chunk.length;
    return null;
  }

  /** At end of stream without an empty line: everything held is the header block. */
  end(): CollectedHeader | null {
    if (this.done) return null;
    this.done = true;
    const block = Buffer.concat(this.parts, this.len);
    this.parts = [];
    return { block, rest: [], eol: null, complete: false, truncated: false };
  }

  /**
   * Splits held bytes + `chunk` at absolute offset `at`, copying only the
   * part before it, and stops collecting.
   */
  private cut(chunk: Buffer, at: number): [Buffer, Buffer[]] {
    this.done = true;
    const held = Buffer.concat(this.parts, this.len);
    this.parts = [];
    if (at <= held.length) {
      return [held.subarray(0, at), [held.subarray(at), chunk].filter((b) => b.length > 0)];
    }
    const inChunk = at - held.length;
    const head = Buffer.concat([held, chunk.subarray(0, inChunk)]);
    const tail = chunk.subarray(inChunk);
    return [head, tail.length > 0 ? [tail] : []];
  }
}
