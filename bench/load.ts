// The load generator: SMTP clients as MailWizz runs them, with nodemailer.
//
// The same code drives the simulator directly (a) and the agent (b); only the
// port, AUTH and the message headers differ, so the ratio b/a is the agent's
// cost and nothing else.
import nodemailer, { type Transporter } from 'nodemailer';

/** Target size of a whole message, headers included: the issue's "10 KB". */
export const MESSAGE_BYTES = 10 * 1024;

const BODY_LINE = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.';

/**
 * One body for every message, built once: the bench measures SMTP handling,
 * and building 10 KB of text per message in the load generator would only
 * take CPU from the children on a 2-core machine.
 */
function makeBody(bytes: number): string {
  const boundary = 'bench-boundary-0001';
  const head = [
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
  ].join('\r\n');
  const mid = ['', `--${boundary}`, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 7bit', '', ''].join('\r\n');
  const tail = `\r\n--${boundary}--\r\n`;
  const half = Math.max(0, Math.floor((bytes - head.length - mid.length - tail.length) / 2));
  const fill = (n: number, wrap: (s: string) => string) => {
    const lines: string[] = [];
    let size = 0;
    while (size < n) {
      const line = wrap(BODY_LINE);
      lines.push(line);
      size += line.length + 2;
    }
    return lines.join('\r\n');
  };
  return `${head}\r\n${fill(half, (s) => s)}${mid}${fill(half, (s) => `<p>${s}</p>`)}${tail}`;
}

export interface MessageFactory {
  /** The raw message number `n` (unique Message-ID and Feedback-ID). */
  (n: number): string;
}

export interface MessageShape {
  domain: string;
  /** Extra header lines, e.g. the X-Virtual-MTA that the simulator requires when it is sent to directly. */
  extraHeaders?: (n: number) => string[];
}

/** MailWizz-like campaign messages of about MESSAGE_BYTES each, CRLF line ends. */
export function messageFactory(shape: MessageShape): MessageFactory {
  // Sized without the extra headers: a direct message is then the agent's
  // message plus what the agent would stamp, so PowerMTA gets the same bytes.
  const body = makeBody(MESSAGE_BYTES - headersFor({ domain: shape.domain }, 0).length - 4);
  return (n) => `${headersFor(shape, n)}\r\n\r\n${body}`;
}

function headersFor(shape: MessageShape, n: number): string {
  const id = n.toString(36).padStart(8, '0');
  return [
    ...(shape.extraHeaders?.(n) ?? []),
    `From: Bench News <news@${shape.domain}>`,
    `To: <subscriber-${id}@example.net>`,
    `Subject: Bench campaign message ${id}`,
    `Date: Wed, 25 Nov 2026 10:00:00 +0000`,
    `Message-ID: <bench-${id}-${process.pid}@${shape.domain}>`,
    // Same form as MailWizz: campaign:subscriber:list:customer.
    `Feedback-ID: cmp${n % 7}:sub${id}:list1:bench`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="bench-boundary-0001"',
  ].join('\r\n');
}

export interface LoadOptions {
  port: number;
  auth?: { user: string; pass: string };
  from: string;
  /** Messages in all. */
  total: number;
  /** Messages sent on one connection before it is closed: 1 is MailWizz's default. */
  perConnection: number;
  /** Sessions open at once. */
  concurrency: number;
  message: MessageFactory;
  /** First message number, so every message of a bench has its own Message-ID. */
  firstNumber: number;
  /** A reply that is a 250 but not the one expected (e.g. "Queued" on the fast path) counts as unexpected. */
  expectReply?: (response: string) => boolean;
}

export interface LoadResult {
  messages: number;
  ok: number;
  failed: number;
  unexpected: number;
  seconds: number;
  /** Messages answered with a 250 per second. */
  rate: number;
  /** The first few failures and unexpected replies, for the report. */
  samples: string[];
}

// Generous, so a stuck child fails the run instead of hanging the bench, and
// never reached by a healthy one.
const TIMEOUTS = { connectionTimeout: 30_000, greetingTimeout: 30_000, socketTimeout: 60_000 };

/**
 * Sends `total` messages over `concurrency` parallel sessions. The work is a
 * queue of connections of `perConnection` messages each; every worker takes
 * the next connection when it closed its last one, as MailWizz's parallel
 * senders do. Messages on one connection go one after another, waiting for
 * each reply (no pipelining), like a real SMTP client.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const connections = Math.ceil(opts.total / opts.perConnection);
  let nextConnection = 0;
  const result = { ok: 0, failed: 0, unexpected: 0, samples: [] as string[] };
  const sample = (s: string) => {
    if (result.samples.length < 5) result.samples.push(s);
  };

  const sendOne = async (transport: Transporter, n: number): Promise<void> => {
    try {
      const info = (await transport.sendMail({
        envelope: { from: opts.from, to: `subscriber-${n.toString(36)}@example.net` },
        raw: opts.message(n),
      })) as { response?: string };
      const response = info.response ?? '';
      if (opts.expectReply && !opts.expectReply(response)) {
        result.unexpected++;
        sample(`unexpected reply: ${response}`);
      } else result.ok++;
    } catch (err) {
      result.failed++;
      const e = err as { response?: string; code?: string; message: string };
      sample(`failed: ${e.response ?? `${e.code ?? ''} ${e.message}`.trim()}`);
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const c = nextConnection++;
      if (c >= connections) return;
      const first = c * opts.perConnection;
      const count = Math.min(opts.perConnection, opts.total - first);
      // One message per connection: a plain transport opens a connection for
      // its one sendMail. Several: a pool of exactly one connection that closes
      // after `perConnection` messages, so the session count stays `concurrency`.
      const transport =
        opts.perConnection === 1
          ? nodemailer.createTransport({ host: '127.0.0.1', port: opts.port, secure: false, ignoreTLS: true, auth: opts.auth, logger: false, ...TIMEOUTS })
          : nodemailer.createTransport({
              pool: true,
              maxConnections: 1,
              maxMessages: opts.perConnection,
              host: '127.0.0.1',
              port: opts.port,
              secure: false,
              ignoreTLS: true,
              auth: opts.auth,
              logger: false,
              ...TIMEOUTS,
            });
      try {
        for (let i = 0; i < count; i++) await sendOne(transport, opts.firstNumber + first + i);
      } finally {
        transport.close();
      }
    }
  };

  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, connections) }, () => worker()));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // Accepted messages per second: a failed send is not throughput.
  return { messages: opts.total, ...result, seconds, rate: (result.ok + result.unexpected) / seconds };
}
