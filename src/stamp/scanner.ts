// Reads the headers of a message stream without changing a byte of it, for
// paths that must not alter a (possibly DKIM-signed) message but still need
// its Message-ID or job for logging.
import { Transform, type TransformCallback } from 'node:stream';
import { DEFAULT_MAX_HEADER_BYTES, HeaderCollector, type CollectedHeader } from './collect.js';
import { parseHeaders, type HeaderInfo } from './headers.js';

export interface HeaderScannerOptions {
  /** Largest header block held in memory; default 1 MiB. */
  maxHeaderBytes?: number;
}

/** Emits `'headers'` (with the HeaderInfo) once, as soon as the header block is known. */
export class HeaderScanner extends Transform {
  /** The parsed headers, once the header block has been seen. */
  info: HeaderInfo | null = null;
  private readonly collector: HeaderCollector;

  constructor(opts: HeaderScannerOptions = {}) {
    super();
    this.collector = new HeaderCollector(opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (this.info === null) {
        const header = this.collector.push(chunk);
        if (header !== null) this.publish(header);
      }
    } catch (err) {
      // A throwing 'headers' listener fails the stream rather than the process.
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    // No empty line within the stream (or within maxHeaderBytes): parse what
    // was held; the collector never keeps more than that.
    try {
      if (this.info === null) {
        const header = this.collector.end();
        if (header !== null) this.publish(header);
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  private publish(header: CollectedHeader): void {
    this.info = parseHeaders(header.block.toString('utf8'));
    this.emit('headers', this.info);
  }
}
