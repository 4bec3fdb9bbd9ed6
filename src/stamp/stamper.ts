// Stamps routing headers onto a message on its way to PowerMTA.
//
// Only the header block is buffered (bounded by maxHeaderBytes); once it is
// stamped, every later chunk is passed on as received, so the body of a
// message MailWizz DKIM-signed reaches PowerMTA byte for byte.
import { Transform, type TransformCallback } from 'node:stream';
import { DEFAULT_MAX_HEADER_BYTES, HeaderCollector, type CollectedHeader } from './collect.js';
import { headerLines, headerProblem, keepsOwnJob, parseHeaders, stampHeaderBlock, type HeaderInfo } from './headers.js';

export type MakeStamp = (info: HeaderInfo) => { vmta: string; job: string };

export interface HeaderStamperOptions {
  /** Largest header block held in memory; default 1 MiB. */
  maxHeaderBytes?: number;
}

/** A header block that cannot go to PowerMTA as it is (see headerProblem): the message is refused, not retried. */
export class HeaderRefused extends Error {
  constructor(readonly problem: string) {
    super(`header block refused: ${problem}`);
  }
}

/**
 * The stamping without a stream around it, for a caller that moves the bytes
 * itself (the SMTP client to PowerMTA): chunks in, the bytes to pass on out
 * through `emit`, in order. Throws HeaderRefused.
 */
export class Stamping {
  /** The parsed headers, once the header block has been seen. */
  info: HeaderInfo | null = null;
  private readonly collector: HeaderCollector;
  private passing = false;

  constructor(
    private readonly makeStamp: MakeStamp,
    opts: HeaderStamperOptions = {},
  ) {
    this.collector = new HeaderCollector(opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  }

  push(chunk: Buffer, emit: (b: Buffer) => void): void {
    if (this.passing) {
      emit(chunk);
      return;
    }
    const header = this.collector.push(chunk);
    if (header !== null) this.emitStamped(header, emit);
  }

  end(emit: (b: Buffer) => void): void {
    // The stream ended with no empty line (or it was never reached): the
    // whole message is header block without a body. It still gets stamped,
    // since PowerMTA routes it like any other.
    const header = this.passing ? null : this.collector.end();
    if (header !== null) this.emitStamped(header, emit);
  }

  private emitStamped(header: CollectedHeader, emit: (b: Buffer) => void): void {
    this.passing = true;
    // latin1 maps each byte to one char and back, so header bytes that are
    // not valid UTF-8 survive the string round trip unchanged; the values
    // we add are encoded as UTF-8 bytes.
    const block = header.block.toString('latin1');
    const lines = headerLines(block);
    const problem = headerProblem(block, header.truncated, this.collector.maxBytes, lines);
    if (problem) throw new HeaderRefused(problem);
    const info = parseHeaders(header.block.toString('utf8'));
    this.info = info;
    const stamp = this.makeStamp(info);
    const eol = block.includes('\n') ? undefined : (header.eol ?? '\r\n');
    const stamped = stampHeaderBlock(
      block,
      { vmta: utf8AsLatin1(stamp.vmta), job: utf8AsLatin1(stamp.job) },
      keepsOwnJob(info),
      eol,
      lines,
    );
    emit(Buffer.from(stamped, 'latin1'));
    for (const b of header.rest) emit(b);
  }
}

/** Stamping as a Transform stream. */
export class HeaderStamper extends Transform {
  private readonly stamping: Stamping;
  private readonly out = (b: Buffer): void => {
    this.push(b);
  };

  constructor(makeStamp: MakeStamp, opts: HeaderStamperOptions = {}) {
    super();
    this.stamping = new Stamping(makeStamp, opts);
  }

  /** The parsed headers, once the header block has been seen. */
  get info(): HeaderInfo | null {
    return this.stamping.info;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.stamping.push(chunk, this.out);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.stamping.end(this.out);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

function utf8AsLatin1(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}
