import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

// smtp-server finds the end of DATA (CRLF . CRLF) and the dot-stuffing escapes
// by looking at every byte of the message in a JavaScript loop: for a 10 KiB
// message, 10 240 turns of it, about 1% of the agent's CPU at 100 messages per
// connection (issue 15), and MailWizz's HTML campaigns are larger. A dot can only
// matter at the start of a line, so the replacement asks Buffer.indexOf (native)
// for the next "\n." and does, for each one it finds, exactly what the loop does
// at that byte; everything else in the method is the library's own code.
//
// The method is replaced only if it is, token for token, the one this was written
// against (smtp-server 3.21; the SHA-256 of its tokens below); otherwise
// scanDataNatively() returns false and test/ingress/data-scan.test.ts fails on the
// upgrade that changed it. The end of DATA is what keeps a client from smuggling
// commands into a message, so the test sends messages split at every byte.

const EXPECTED_SHA256 = '3e33ac82183c0997ee82ae09f86282ff44a52df878e15e137db001501588bcf4';

const END_SEQUENCE = Buffer.from('\r\n.\r\n');
const DOT_LINE = Buffer.from('.\r\n');
const LF_DOT = Buffer.from('\n.');

interface StreamInternals {
  _dataStream: Writable;
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _countDataBytes(len: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, done: () => void): void;
  _feedDataStream(chunk: Buffer, done: () => void): void;
}

const tokens = (source: string) => source.replace(/\/\/[^\n]*\n/g, '').replace(/\s+/g, '');

let patched: boolean | null = null;

function feedDataStream(this: StreamInternals, input: Buffer, done: () => void): void {
  const dataStream = this._dataStream;
  let chunk = input;
  if (this._lastBytes && this._lastBytes.length) {
    chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
    this._lastBytes = false;
  }
  let len = chunk.length;
  if (this._atDataStart && len >= 3 && Buffer.compare(chunk.subarray(0, 3), DOT_LINE) === 0) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
    chunk = chunk.subarray(1);
    len--;
    this._atDataStart = false;
  }
  // The library's loop visits i = 2 .. len - 3 and acts where chunk[i] is a dot after a LF:
  // those are the "\n." found at i - 1 >= 1 with i < len - 2.
  for (let lf = chunk.indexOf(LF_DOT, 1); lf !== -1 && lf + 1 < len - 2; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const i = lf + 1;
    if (Buffer.compare(chunk.subarray(i - 2, i + 3), END_SEQUENCE) === 0) {
      const buf = chunk.subarray(0, i);
      this._countDataBytes(buf.length);
      this._endDataMode(buf, chunk.subarray(i + 3), done);
      return;
    }
    if (chunk[i + 1] === 0x2e) {
      const buf = chunk.subarray(0, i);
      this._lastBytes = false;
      this._countDataBytes(buf.length);
      if (dataStream.writable) dataStream.write(buf);
      const rest = chunk.subarray(i + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length < chunk.length) {
    const buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
    this._countDataBytes(buf.length);
    if (dataStream.writable) {
      const handled = dataStream.write(buf);
      if (!handled && !dataStream.destroyed) {
        const onDrain = () => {
          dataStream.removeListener('drain', onDrain);
          dataStream.removeListener('close', onDrain);
          done();
        };
        dataStream.once('drain', onDrain);
        dataStream.once('close', onDrain);
      } else {
        return done();
      }
    } else {
      return done();
    }
  } else {
    return done();
  }
}

/**
 * Every smtp-server in this process (the agent's listener and the PowerMTA
 * simulator alike: the scan is the same, only faster) finds the end of DATA with
 * Buffer.indexOf. False when the installed smtp-server is not the one this patch knows.
 */
export function scanDataNatively(): boolean {
  if (patched !== null) return patched;
  const proto = SMTPStream.prototype as unknown as StreamInternals;
  const original = proto._feedDataStream;
  patched =
    typeof original === 'function' &&
    createHash('sha256').update(tokens(original.toString())).digest('hex') === EXPECTED_SHA256 &&
    typeof proto._countDataBytes === 'function' &&
    typeof proto._endDataMode === 'function';
  if (patched) proto._feedDataStream = feedDataStream;
  return patched;
}
