import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Stamping } from '../stamp/stamper.js';
import { jobIdFor, type HeaderInfo } from '../stamp/headers.js';
import { ReplyLost, SmtpError, type BodySink, type BodySource, type Extensions, type SmtpConnection } from './smtp-client.js';
import { SmtpPool } from './smtp-pool.js';

export interface PmtaTarget {
  host: string;
  port: number;
  maxConnections: number;
  maxMessagesPerConnection: number;
  connectTimeoutMs: number;
  replyTimeoutMs: number;
  /** Name we announce in EHLO to PowerMTA. */
  clientName: string;
}

/** MAIL FROM parameters the client gave us, passed on when PowerMTA offers them. */
export interface MailParams {
  body?: '7BIT' | '8BITMIME';
  smtputf8?: boolean;
}

export interface ForwardRequest {
  mailFrom: string;
  rcptTo: string[];
  vmta: string;
  /** X-Job when the message names no campaign (tenant slug and date). */
  jobFallback: string;
  mailParams?: MailParams;
  /**
   * Called once the headers are known and before any byte of the message goes
   * to PowerMTA (the journal row is written here); a returned promise is
   * awaited before the first byte. A throw or a rejection stops the hand-off
   * as a local failure.
   */
  beforeBody?: (info: HeaderInfo, job: string) => void | Promise<void>;
}

export type ForwardOutcome =
  | { kind: 'accepted'; response: string; accepted: string[]; rejected: Array<{ rcpt: string; code: number; response: string }> }
  | { kind: 'refused'; code: number; response: string }
  /**
   * `local`: the failure was on our side (the client's upload stalled, the journal could not be written), not PowerMTA's.
   * `everyRcpt`: PowerMTA answered a 4xx to every RCPT TO (about these recipients, not about PowerMTA being able to take mail).
   */
  | { kind: 'unavailable'; reason: string; code?: number; local?: boolean; everyRcpt?: boolean }
  /**
   * The final dot went out and PowerMTA's reply never came: it may have the
   * message. `local`: our own abort (shutdown) cut the wait, not PowerMTA.
   */
  | { kind: 'unknown'; reason: string; local?: boolean };

/**
 * The one way a message reaches PowerMTA, used by the fast path and the spool
 * dispatcher alike: the stored message is streamed from disk through the header
 * stamper into a pooled SMTP connection, never held in memory.
 */
export class Forwarder {
  private readonly pool: SmtpPool;
  /** Bumped by abortInFlight: a hand-off that started before it is given up. */
  private generation = 0;

  constructor(target: PmtaTarget) {
    this.pool = new SmtpPool({
      host: target.host,
      port: target.port,
      clientName: target.clientName,
      connectTimeoutMs: target.connectTimeoutMs,
      replyTimeoutMs: target.replyTimeoutMs,
      maxConnections: target.maxConnections,
      maxMessagesPerConnection: target.maxMessagesPerConnection,
    });
  }

  /** A message already on disk (the spool). */
  async forwardFile(req: ForwardRequest, file: string): Promise<ForwardOutcome> {
    const source = createReadStream(file);
    try {
      return await this.forward(req, source);
    } finally {
      source.destroy();
    }
  }

  /** A message as it streams in (the fast path), or from disk. */
  async forward(req: ForwardRequest, source: Readable): Promise<ForwardOutcome> {
    const generation = this.generation;
    const body = new StampedBody(req, source);
    try {
      let conn: SmtpConnection;
      try {
        conn = await this.pool.acquire();
      } catch (err) {
        return body.outcome(err as Error);
      }
      try {
        if (generation !== this.generation) return body.outcome(shuttingDown());
        const params = mailParams(req.mailParams, conn.extensions);
        if (typeof params !== 'string') return { kind: 'unavailable', reason: params.problem, local: true };
        const sent = await conn.send({ from: req.mailFrom, to: req.rcptTo, params }, body);
        // A recipient deferred by PowerMTA (4xx at RCPT) was not taken: it is reported so the caller spools it.
        return { kind: 'accepted', response: sent.response, accepted: sent.accepted, rejected: sent.rejected };
      } catch (err) {
        return body.outcome(err as Error);
      } finally {
        this.pool.release(conn);
      }
    } finally {
      body.stop();
    }
  }

  /**
   * Give up on every hand-off in progress (shutdown grace is over): they come
   * back as unavailable and are spooled, or as unknown when their final dot had
   * gone out.
   */
  abortInFlight(): void {
    this.generation++;
    this.pool.abortAll(shuttingDown());
  }

  close(): void {
    this.pool.close();
  }
}

const shuttingDown = (): Error => Object.assign(new Error('agent shutting down'), { code: 'EABORT' });

/**
 * MAIL FROM's parameters as far as PowerMTA offers them: BODY=8BITMIME without
 * 8BITMIME is sent without it (PowerMTA takes 8-bit data anyway); SMTPUTF8 mail
 * cannot be passed on without SMTPUTF8, so it waits in the spool, saying why.
 */
function mailParams(p: MailParams | undefined, ext: Extensions): string | { problem: string } {
  if (!p) return '';
  let s = '';
  if (p.body && ext.eightBitMime) s += ` BODY=${p.body}`;
  if (p.smtputf8) {
    if (!ext.smtpUtf8) return { problem: 'not handed to PowerMTA: the message needs SMTPUTF8 and PowerMTA does not offer it (EHLO)' };
    s += ' SMTPUTF8';
  }
  return s;
}

/**
 * The message for the SMTP client: the source's chunks through the stamper.
 * The header block is read (and beforeBody called) at once, while the
 * connection and the envelope are under way; the stamped bytes are held until
 * PowerMTA's 354 and while beforeBody's promise is pending, so nothing of the
 * message reaches PowerMTA before it resolved. After the header block the
 * source is read only as PowerMTA takes the bytes.
 */
class StampedBody implements BodySource {
  /** A failure on our side: the source, the header block, beforeBody. */
  private localError: Error | null = null;
  private sink: BodySink | null = null;
  private readonly stamping: Stamping;
  /** beforeBody's promise while it is pending. */
  private gate: Promise<void> | null = null;
  private gateWaited = false;
  /** Stamped bytes not yet given to the sink. */
  private held: Buffer[] = [];
  private ended = false;
  /** Paused after the header block until the sink is there. */
  private readAhead = false;
  private pauses = 0;
  private stopped = false;

  constructor(
    req: ForwardRequest,
    private readonly source: Readable,
  ) {
    this.stamping = new Stamping((info) => {
      const job = jobIdFor(info, req.jobFallback);
      const r = req.beforeBody?.(info, job);
      if (r && typeof (r as Promise<void>).then === 'function') this.gate = r;
      return { vmta: req.vmta, job };
    });
    // Kept after stop(): a source failing once the hand-off is over must not go unhandled.
    source.on('error', this.onError);
    source.on('data', this.onData);
    source.once('end', this.onEnd);
  }

  start(sink: BodySink): void {
    this.sink = sink;
    if (this.localError) {
      sink.fail(this.localError);
      return;
    }
    if (!this.gate) this.release();
    if (this.readAhead) {
      this.readAhead = false;
      this.resume();
    }
  }

  pause(): void {
    if (this.pauses++ === 0) this.source.pause();
  }

  resume(): void {
    if (--this.pauses === 0 && !this.stopped) this.source.resume();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.held = [];
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    // What is still coming is not ours to read: let it flow away.
    if (!this.source.destroyed) this.source.resume();
  }

  /** The hand-off's outcome for a failure: ours, or PowerMTA's. */
  outcome(err: Error): ForwardOutcome {
    if (err instanceof ReplyLost) {
      const local = (err.cause as NodeJS.ErrnoException).code === 'EABORT';
      return local ? { kind: 'unknown', reason: `fate unknown: ${err.message}`, local: true } : { kind: 'unknown', reason: `fate unknown: PowerMTA's ${err.message}` };
    }
    if (this.localError) return { kind: 'unavailable', reason: `not handed to PowerMTA: ${this.localError.message}`, local: true };
    if ((err as NodeJS.ErrnoException).code === 'EABORT') return { kind: 'unavailable', reason: `not handed to PowerMTA: ${err.message}`, local: true };
    // PowerMTA's socket idled because the client had not finished its upload: the client is slow, not PowerMTA.
    if (err instanceof SmtpError && err.stalledBody) return { kind: 'unavailable', reason: 'the client upload stalled past pmta.replyTimeoutMs', local: true };
    return classify(err as SmtpError);
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.stamping.push(chunk, this.emit);
    } catch (err) {
      this.failLocal(err as Error);
      return;
    }
    if (this.sink === null && !this.readAhead && this.stamping.info !== null) {
      this.readAhead = true;
      this.pause();
    }
    this.waitForGate();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    try {
      this.stamping.end(this.emit);
    } catch (err) {
      this.failLocal(err as Error);
      return;
    }
    if (this.gate) this.waitForGate();
    else if (this.sink) this.sink.end();
  };

  private readonly onError = (err: Error): void => {
    this.failLocal(err);
  };

  private readonly emit = (b: Buffer): void => {
    if (this.gate || !this.sink) this.held.push(b);
    else this.sink.chunk(b);
  };

  /** Gives the sink what was held, and the end if it came. */
  private release(): void {
    const sink = this.sink!;
    const held = this.held;
    this.held = [];
    for (const b of held) sink.chunk(b);
    if (this.ended) sink.end();
  }

  private waitForGate(): void {
    const gate = this.gate;
    if (!gate || this.gateWaited) return;
    this.gateWaited = true;
    this.pause();
    gate.then(
      () => {
        if (this.stopped) return;
        this.gate = null;
        if (this.sink) this.release();
        this.resume();
      },
      (err: unknown) => this.failLocal(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private failLocal(err: Error): void {
    this.localError ??= err;
    if (this.stopped) return;
    this.sink?.fail(err);
  }
}

/**
 * Only a 5xx about this message (its sender, recipients or content) is a real
 * refusal to pass on; anything else (connection refused, timeout, a 4xx, a 5xx
 * greeting) means PowerMTA cannot take it now, and the message is spooled.
 */
function classify(err: Partial<SmtpError> & Error): ForwardOutcome {
  const code = err.responseCode;
  const aboutMessage = err.command === 'MAIL FROM' || err.command === 'RCPT TO' || err.command === 'DATA';
  if (code && code >= 500 && aboutMessage) return { kind: 'refused', code, response: err.response ?? err.message };
  const reason = code ? `PowerMTA answered ${err.response ?? code}` : `PowerMTA unreachable (${err.code ?? 'error'}: ${err.message})`;
  if (code && err.command === 'RCPT TO') return { kind: 'unavailable', reason, code, everyRcpt: true };
  return code ? { kind: 'unavailable', reason, code } : { kind: 'unavailable', reason };
}
