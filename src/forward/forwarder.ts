import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { HeaderStamper } from '../stamp/stamper.js';
import { jobIdFor, type HeaderInfo } from '../stamp/headers.js';

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

export interface ForwardRequest {
  mailFrom: string;
  rcptTo: string[];
  vmta: string;
  /** X-Job when the message names no campaign (tenant slug and date). */
  jobFallback: string;
  /**
   * Called once the headers are known and before any byte of the message goes
   * to PowerMTA (the journal row is written here). Throwing stops the hand-off.
   */
  beforeBody?: (info: HeaderInfo, job: string) => void;
}

export type ForwardOutcome =
  | { kind: 'accepted'; response: string; accepted: string[]; rejected: Array<{ rcpt: string; code: number; response: string }> }
  | { kind: 'refused'; code: number; response: string }
  /** `local`: the failure was on our side (the client's upload stalled, the journal could not be written), not PowerMTA's. */
  | { kind: 'unavailable'; reason: string; code?: number; local?: boolean };

/**
 * The one way a message reaches PowerMTA, used by the fast path and the spool
 * dispatcher alike: the stored message is streamed from disk through the header
 * stamper into a pooled SMTP connection (nodemailer), never held in memory.
 */
export class Forwarder {
  private transport: Transporter;
  private abort = Forwarder.controller();

  // One signal is shared by every hand-off in flight, each adding a listener.
  private static controller(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }

  constructor(private readonly target: PmtaTarget) {
    const options = {
      pool: true,
      host: target.host,
      port: target.port,
      secure: false,
      ignoreTLS: true, // loopback injection; PowerMTA's <source> decides what is allowed
      name: target.clientName,
      maxConnections: target.maxConnections,
      maxMessages: target.maxMessagesPerConnection,
      connectionTimeout: target.connectTimeoutMs,
      greetingTimeout: target.replyTimeoutMs,
      socketTimeout: target.replyTimeoutMs,
      logger: false,
      // The pool would resend a message whose connection dropped, from a stream
      // already consumed: a truncated copy. Retrying is the spool's job.
      maxRequeues: 0,
    };
    this.transport = nodemailer.createTransport(options);
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
    let localError: Error | null = null;
    let sourceEnded = false;
    const stamper = new HeaderStamper((info) => {
      const job = jobIdFor(info, req.jobFallback);
      try {
        req.beforeBody?.(info, job);
      } catch (err) {
        localError = err as Error;
        throw err;
      }
      return { vmta: req.vmta, job };
    });
    source.on('error', (err) => {
      localError ??= err;
      stamper.destroy(err);
    });
    // A header block the stamper refuses is the message's fault, not PowerMTA's.
    stamper.on('error', (err) => (localError ??= err));
    source.once('end', () => (sourceEnded = true));
    const raw = source.pipe(stamper);
    try {
      const mail = { envelope: { from: req.mailFrom, to: req.rcptTo }, raw, signal: this.abort.signal };
      const info = (await this.transport.sendMail(mail as Parameters<Transporter['sendMail']>[0])) as {
        response?: string;
        accepted?: Array<string | { address: string }>;
        rejected?: Array<string | { address: string }>;
        rejectedErrors?: Array<{ recipient?: string; responseCode?: number; response?: string }>;
      };
      const rejected = (info.rejectedErrors ?? []).map((e) => ({
        rcpt: e.recipient ?? '',
        code: e.responseCode ?? 550,
        response: e.response ?? '',
      }));
      // A recipient deferred by PowerMTA (4xx at RCPT) was not taken: report it so the caller spools it.
      return {
        kind: 'accepted',
        response: info.response ?? '250 OK',
        accepted: (info.accepted ?? []).map(addr),
        rejected,
      };
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { responseCode?: number; response?: string; command?: string };
      if (localError) return { kind: 'unavailable', reason: `not handed to PowerMTA: ${(localError as Error).message}`, local: true };
      // PowerMTA's socket idled because the client had not finished its upload: the client is slow, not PowerMTA.
      if (!sourceEnded && err.code === 'ETIMEDOUT') return { kind: 'unavailable', reason: 'the client upload stalled past pmta.replyTimeoutMs', local: true };
      return classify(err);
    } finally {
      source.unpipe(stamper);
      stamper.destroy();
    }
  }

  /** Give up on every hand-off in progress (shutdown grace is over): they come back as unavailable and are spooled. */
  abortInFlight(): void {
    const old = this.abort;
    this.abort = Forwarder.controller();
    old.abort(new Error('agent shutting down'));
  }

  close(): void {
    this.transport.close();
  }
}

function addr(a: string | { address: string }): string {
  return typeof a === 'string' ? a : a.address;
}

/**
 * Only a 5xx about this message (its sender, recipients or content) is a real
 * refusal to pass on; anything else (connection refused, timeout, a 4xx, a 5xx
 * greeting) means PowerMTA cannot take it now, and the message is spooled.
 */
function classify(err: NodeJS.ErrnoException & { responseCode?: number; response?: string; command?: string }): ForwardOutcome {
  const code = err.responseCode;
  const aboutMessage = err.command === 'MAIL FROM' || err.command === 'RCPT TO' || err.command === 'DATA';
  if (code && code >= 500 && aboutMessage) return { kind: 'refused', code, response: err.response ?? err.message };
  const reason = code ? `PowerMTA answered ${err.response ?? code}` : `PowerMTA unreachable (${err.code ?? 'error'}: ${err.message})`;
  return code ? { kind: 'unavailable', reason, code } : { kind: 'unavailable', reason };
}
