// One SMTP connection to PowerMTA's injection listener, built for exactly that
// job: plain TCP on loopback, EHLO once, then transaction after transaction.
// The envelope goes in one write when PowerMTA offers PIPELINING (RFC 2920),
// the message in as few writes as its size allows, and no RSET follows a
// transaction that succeeded (RFC 5321 4.1.4 lets MAIL start the next one).
import net from 'node:net';
import { DataEncoder } from './data-encoder.js';
import { ReplyParser, type Reply } from './smtp-reply.js';

export interface ConnectionOptions {
  host: string;
  port: number;
  /** Name announced in EHLO. */
  clientName: string;
  connectTimeoutMs: number;
  /** Longest silence on the socket while a reply or the message's next bytes are awaited. */
  replyTimeoutMs: number;
}

/** What PowerMTA's EHLO offered that the client uses. */
export interface Extensions {
  pipelining: boolean;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  /** SIZE's limit in bytes, 0 for none given, null when SIZE is not offered. */
  size: number | null;
}

export type SmtpCommand = 'CONN' | 'EHLO' | 'HELO' | 'RSET' | 'MAIL FROM' | 'RCPT TO' | 'DATA';

/**
 * A failed step, shaped as nodemailer reported one (code, command, responseCode,
 * response), so the forwarder classifies it as before.
 */
export class SmtpError extends Error {
  readonly responseCode?: number;
  readonly response?: string;
  /** Set on a timeout that fired while the message's own bytes were awaited (the client's upload, the journal), not a reply. */
  stalledBody = false;

  constructor(
    message: string,
    readonly code: string,
    readonly command: SmtpCommand,
    reply?: Reply,
  ) {
    super(reply ? `${message}: ${reply.text}` : message);
    if (reply) {
      this.responseCode = reply.code;
      this.response = reply.text;
    }
  }
}

/**
 * The message's final dot went out and PowerMTA's reply to it never came (reply
 * timeout, connection dropped, our own abort): PowerMTA may have taken the
 * message. `cause` is the failure that cut the wait.
 */
export class ReplyLost extends Error {
  constructor(override readonly cause: Error) {
    super(`reply lost after the final dot (${(cause as NodeJS.ErrnoException).code ?? 'error'}: ${cause.message})`);
  }
}

/** The message's bytes (before dot-stuffing), pushed by their owner into the connection. */
export interface BodySource {
  start(sink: BodySink): void;
  /** Backpressure: PowerMTA's socket is full. */
  pause(): void;
  resume(): void;
  /** The transaction is over or failed: push nothing more. */
  stop(): void;
}

export interface BodySink {
  chunk(b: Buffer): void;
  end(): void;
  /** The message cannot be sent whole (a local failure): the connection is dropped before the final dot. */
  fail(err: Error): void;
}

export interface Envelope {
  from: string;
  to: readonly string[];
  /** MAIL FROM parameters with their leading space (" BODY=8BITMIME"), or ''. */
  params: string;
}

export interface Sent {
  /** PowerMTA's reply to the message. */
  response: string;
  accepted: string[];
  rejected: Array<{ rcpt: string; code: number; response: string }>;
}

/** Pending bytes of the message are written at once when they reach this size. */
const FLUSH_BYTES = 64 * 1024;

const isOk = (r: Reply): boolean => r.code >= 200 && r.code < 300;

export class SmtpConnection implements BodySink {
  extensions: Extensions = { pipelining: false, eightBitMime: false, smtpUtf8: false, size: null };
  /** Transactions started on this connection. */
  messages = 0;
  /** Closed or broken: never used again. */
  dead = false;
  private readonly socket: net.Socket;
  private readonly parser = new ReplyParser();
  private waiting: { n: number; got: Reply[]; resolve: (r: Reply[]) => void; reject: (e: Error) => void } | null = null;
  private early: Reply[] = [];
  private failure: Error | null = null;
  private busy = false;
  /** The last transaction did not end in a success: RSET goes first on the next one. */
  private needsReset = false;
  // The message being sent.
  private body: { source: BodySource; encoder: DataEncoder; resolve: () => void; reject: (e: Error) => void } | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The source paused while PowerMTA's socket is full. */
  private paused: BodySource | null = null;
  private flushScheduled = false;
  private goneNotified = false;
  /** Bytes written but not yet handed to the kernel when the connection was dropped. */
  private unsentAtKill = 0;

  private constructor(
    private readonly opts: ConnectionOptions,
    private readonly onGone: (c: SmtpConnection) => void,
  ) {
    this.socket = net.connect({ host: opts.host, port: opts.port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.feed(chunk, this.onReply);
      } catch (err) {
        this.kill(new SmtpError((err as Error).message, 'EPROTOCOL', 'CONN'));
      }
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.kill(Object.assign(new SmtpError(err.message, err.code ?? 'ECONNECTION', 'CONN'), { cause: err })));
    this.socket.on('close', () => this.kill(new SmtpError('Connection closed unexpectedly', 'ECONNECTION', 'CONN')));
    this.socket.on('drain', this.onDrain);
    this.socket.on('timeout', this.onTimeout);
  }

  /** Connects, reads the greeting, sends EHLO (HELO if EHLO is refused). `onGone` is called once when the connection ends. */
  static async open(opts: ConnectionOptions, onGone: (c: SmtpConnection) => void): Promise<SmtpConnection> {
    const c = new SmtpConnection(opts, onGone);
    try {
      await c.connected();
      c.socket.setTimeout(opts.replyTimeoutMs);
      c.busy = true;
      const [greeting] = await c.read(1);
      if (greeting!.code !== 220) throw new SmtpError('Invalid greeting', 'EPROTOCOL', 'CONN', greeting);
      c.socket.write(`EHLO ${opts.clientName}\r\n`);
      const [ehlo] = await c.read(1);
      if (ehlo!.code === 421) throw new SmtpError('Server terminates connection', 'ECONNECTION', 'EHLO', ehlo);
      if (isOk(ehlo!)) c.extensions = parseExtensions(ehlo!.text);
      else {
        c.socket.write(`HELO ${opts.clientName}\r\n`);
        const [helo] = await c.read(1);
        if (!isOk(helo!)) throw new SmtpError('Invalid HELO', 'EPROTOCOL', 'HELO', helo);
      }
      c.busy = false;
      return c;
    } catch (err) {
      c.kill(err as Error);
      throw err;
    }
  }

  /**
   * One transaction. Throws SmtpError when PowerMTA did not take the message
   * (with its reply when it gave one), or the body's own failure.
   */
  async send(env: Envelope, body: BodySource): Promise<Sent> {
    if (this.dead) throw this.failure ?? new SmtpError('Connection closed', 'ECONNECTION', 'CONN');
    this.busy = true;
    this.messages++;
    const reset = this.needsReset;
    this.needsReset = true; // until this transaction succeeds
    try {
      const { accepted, rejected } = this.extensions.pipelining ? await this.pipelinedEnvelope(env, reset) : await this.stepwiseEnvelope(env, reset);
      await this.sendBody(body);
      let final: Reply | undefined;
      try {
        [final] = await this.read(1);
      } catch (err) {
        // The dot still in our own buffer never reached PowerMTA: it cannot have taken the message.
        throw this.unsentAtKill > 0 ? err : new ReplyLost(err as Error);
      }
      if (!isOk(final!)) throw new SmtpError('Message failed', 'EMESSAGE', 'DATA', final);
      this.needsReset = false;
      return { response: final!.text, accepted, rejected };
    } finally {
      this.busy = false;
    }
  }

  /** Ends the connection (QUIT), which is never used again. */
  quit(): void {
    if (this.dead) return;
    this.dead = true;
    if (!this.socket.destroyed) this.socket.end('QUIT\r\n');
    this.notifyGone();
  }

  /** Drops the connection at once; a transaction on it fails with `err`. */
  kill(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.dead = true;
    this.unsentAtKill = this.socket.writableLength;
    this.socket.destroy();
    this.pending = [];
    this.pendingBytes = 0;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
    const b = this.body;
    this.body = null;
    if (b) {
      b.source.stop();
      b.reject(err);
    }
    this.notifyGone();
  }

  // --- envelope

  private async pipelinedEnvelope(env: Envelope, reset: boolean): Promise<Pick<Sent, 'accepted' | 'rejected'>> {
    let cmds = reset ? 'RSET\r\n' : '';
    cmds += `MAIL FROM:<${env.from}>${env.params}\r\n`;
    for (const rcpt of env.to) cmds += `RCPT TO:<${rcpt}>\r\n`;
    cmds += 'DATA\r\n';
    this.socket.write(cmds);
    const offset = reset ? 1 : 0;
    const replies = await this.read(offset + env.to.length + 2);
    if (reset && !isOk(replies[0]!)) {
      // Out of step with PowerMTA about the session: nothing on it can be trusted.
      const err = new SmtpError('Could not reset session state', 'EPROTOCOL', 'RSET', replies[0]);
      this.kill(err);
      throw err;
    }
    const mail = replies[offset]!;
    const data = replies[replies.length - 1]!;
    const { accepted, rejected } = recipients(env.to, replies, offset + 1);
    if (!isOk(mail)) {
      const err = new SmtpError('Mail command failed', 'EENVELOPE', 'MAIL FROM', mail);
      // DATA taken without a sender: no empty message is sent to a server that confused; it is dropped.
      if (data.code >= 300 && data.code < 400) this.kill(err);
      throw err;
    }
    if (accepted.length === 0) {
      const err = allRejected(rejected);
      if (data.code >= 300 && data.code < 400) {
        // RFC 2920 3.1: PowerMTA should have refused DATA with no recipient; it took it,
        // so the empty message is ended at once (it has nobody to go to).
        this.socket.write('.\r\n');
        await this.read(1);
      }
      throw err;
    }
    if (data.code < 200 || data.code >= 400) throw new SmtpError('Data command failed', 'EENVELOPE', 'DATA', data);
    return { accepted, rejected };
  }

  private async stepwiseEnvelope(env: Envelope, reset: boolean): Promise<Pick<Sent, 'accepted' | 'rejected'>> {
    if (reset) {
      this.socket.write('RSET\r\n');
      const [r] = await this.read(1);
      if (!isOk(r!)) {
        const err = new SmtpError('Could not reset session state', 'EPROTOCOL', 'RSET', r);
        this.kill(err);
        throw err;
      }
    }
    this.socket.write(`MAIL FROM:<${env.from}>${env.params}\r\n`);
    const [mail] = await this.read(1);
    if (!isOk(mail!)) throw new SmtpError('Mail command failed', 'EENVELOPE', 'MAIL FROM', mail);
    const replies: Reply[] = [];
    for (const rcpt of env.to) {
      this.socket.write(`RCPT TO:<${rcpt}>\r\n`);
      replies.push((await this.read(1))[0]!);
    }
    const { accepted, rejected } = recipients(env.to, replies, 0);
    if (accepted.length === 0) throw allRejected(rejected);
    this.socket.write('DATA\r\n');
    const [data] = await this.read(1);
    if (data!.code < 200 || data!.code >= 400) throw new SmtpError('Data command failed', 'EENVELOPE', 'DATA', data);
    return { accepted, rejected };
  }

  // --- body

  private sendBody(source: BodySource): Promise<void> {
    return new Promise((resolve, reject) => {
      // A source paused by the last message's drain is stopped; this one starts unpaused.
      this.paused = null;
      this.body = { source, encoder: new DataEncoder(), resolve, reject };
      source.start(this);
    });
  }

  chunk(b: Buffer): void {
    const body = this.body;
    if (!body) return;
    const e = body.encoder.encode(b);
    if (e.length === 0) return;
    this.pending.push(e);
    this.pendingBytes += e.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      // Later in this turn of the event loop: the stamped header, the rest of the
      // chunk and, for a message that came in one piece, its end go in one write;
      // a slow upload still reaches PowerMTA as it comes.
      this.flushScheduled = true;
      setImmediate(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    if (this.pending.length > 0 && this.body) this.flush();
  };

  end(): void {
    const body = this.body;
    if (!body) return;
    const end = body.encoder.end();
    this.pending.push(end);
    this.pendingBytes += end.length;
    this.flush();
    this.body = null;
    body.source.stop();
    body.resolve();
  }

  fail(err: Error): void {
    this.kill(err);
  }

  /** Writes what is pending in one go; pauses the source while PowerMTA's socket is full. */
  private flush(): void {
    const parts = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes));
    if (this.socket.writableNeedDrain && this.body && this.paused === null) {
      this.paused = this.body.source;
      this.paused.pause();
    }
  }

  private readonly onDrain = (): void => {
    const p = this.paused;
    this.paused = null;
    p?.resume();
  };

  // --- replies

  private read(n: number): Promise<Reply[]> {
    if (this.failure) return Promise.reject(this.failure);
    const got = this.early.length ? this.early.splice(0, n) : [];
    if (got.length === n) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      this.waiting = { n, got, resolve, reject };
    });
  }

  private readonly onReply = (r: Reply): void => {
    const w = this.waiting;
    if (w) {
      w.got.push(r);
      if (w.got.length === w.n) {
        this.waiting = null;
        w.resolve(w.got);
      }
      return;
    }
    if (this.busy && this.body === null) {
      // A reply that came before its reader was set up.
      this.early.push(r);
      return;
    }
    if (this.body) {
      // PowerMTA answered before the end of the message (too big, shutting
      // down): that is its answer to the message, and the session is out of step.
      this.kill(new SmtpError('Message failed', 'EMESSAGE', 'DATA', r));
      return;
    }
    // Unasked for, between transactions (a 421 before closing an idle session).
    this.kill(new SmtpError('Unexpected reply', 'EPROTOCOL', 'CONN', r));
  };

  private readonly onTimeout = (): void => {
    if (!this.busy) {
      // Idle past the reply timeout: a pooled connection nobody needed.
      if (this.dead) this.socket.destroy();
      else this.quit();
      return;
    }
    const err = new SmtpError(`Timeout: no activity for ${this.opts.replyTimeoutMs} ms`, 'ETIMEDOUT', 'CONN');
    // Waiting on the message's own bytes, not on PowerMTA: its socket was not full.
    err.stalledBody = this.body !== null && this.paused === null && this.waiting === null;
    this.kill(err);
  };

  private connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new SmtpError(`Connection timeout after ${this.opts.connectTimeoutMs} ms`, 'ETIMEDOUT', 'CONN');
        this.kill(err);
        reject(err);
      }, this.opts.connectTimeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.socket.off('connect', ok);
        this.socket.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const ok = (): void => done();
      const closed = (): void => done(this.failure ?? new SmtpError('Connection closed', 'ECONNECTION', 'CONN'));
      this.socket.once('connect', ok);
      this.socket.once('close', closed);
    });
  }

  private notifyGone(): void {
    if (this.goneNotified) return;
    this.goneNotified = true;
    this.onGone(this);
  }
}

function recipients(to: readonly string[], replies: Reply[], first: number): Pick<Sent, 'accepted' | 'rejected'> {
  const accepted: string[] = [];
  const rejected: Sent['rejected'] = [];
  for (let i = 0; i < to.length; i++) {
    const r = replies[first + i]!;
    if (isOk(r)) accepted.push(to[i]!);
    else rejected.push({ rcpt: to[i]!, code: r.code, response: r.text });
  }
  return { accepted, rejected };
}

/**
 * No recipient was taken. The error carries a temporary refusal when there was
 * one, so a message only deferred for some is not taken for refused (as nodemailer).
 */
function allRejected(rejected: Sent['rejected']): SmtpError {
  const pick = rejected.find((r) => r.code < 500) ?? rejected[rejected.length - 1]!;
  return new SmtpError("Can't send mail - all recipients were rejected", 'EENVELOPE', 'RCPT TO', { code: pick.code, text: pick.response });
}

function parseExtensions(text: string): Extensions {
  const ext: Extensions = { pipelining: false, eightBitMime: false, smtpUtf8: false, size: null };
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const [kw, arg] = lines[i]!.slice(4).trim().toUpperCase().split(/\s+/);
    if (kw === 'PIPELINING') ext.pipelining = true;
    else if (kw === '8BITMIME') ext.eightBitMime = true;
    else if (kw === 'SMTPUTF8') ext.smtpUtf8 = true;
    else if (kw === 'SIZE') ext.size = Number(arg) || 0;
  }
  return ext;
}
