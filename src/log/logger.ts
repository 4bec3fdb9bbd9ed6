// One JSON object per line on stdout: journald keeps each line as one entry and
// `jq` reads them. Lines are built by pino and written asynchronously, a turn's
// lines at a time, instead of one synchronous write per line (issue 17).
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: Fields): void;
  info(event: string, fields?: Fields): void;
  warn(event: string, fields?: Fields): void;
  error(event: string, fields?: Fields): void;
  /** A logger whose every line also carries these fields (an SMTP session, a tenant). */
  child(bindings: Fields): Logger;
  /** Resolves once every line logged so far has been handed to the file descriptor. */
  flush(): Promise<void>;
}

/**
 * Where secrets could sit in a line: these field names at the top, and inside
 * the objects that could carry them (a config section, request headers).
 * Callers do not pass secrets; this is the net under a mistake. A bare `key`
 * is left alone (lines name config keys and Redis keys with it); a key file's
 * content is caught as `privateKey`, `tls.key` or `dkim.key`. Paths are
 * spelled out: a wildcard path (`*.password`) costs ten times the whole line.
 */
const SECRET_FIELDS = ['password', 'pass', 'passwordHash', 'token', 'apiToken', 'botToken', 'secret', 'privateKey', 'apiKey', 'authorization', 'cookie'];
const HOLDERS = ['user', 'auth', 'headers', 'request.headers', 'config', 'api', 'smtp', 'tls', 'dkim', 'store', 'redis', 'alerts', 'telegram', 'webhook', 'options'];
export const REDACTED = '[redacted]';
export const redactPaths = [...SECRET_FIELDS, ...HOLDERS.flatMap((h) => SECRET_FIELDS.map((k) => `${h}.${k}`)), 'tls.key', 'dkim.key'];

export interface LoggerOptions {
  level?: Level;
  /** Receives each line without its newline, synchronously (tests collect lines this way). */
  write?: (line: string) => void;
  now?: () => Date;
  /**
   * How lines reach stdout. 'turn' (the daemon's): the lines of one event-loop
   * turn are joined and written once when the turn ends. 'pino-async': pino's
   * asynchronous destination fed line by line; only bench/log-cost.ts uses it, to compare.
   */
  stdout?: 'turn' | 'pino-async';
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const now = opts.now ?? (() => new Date());
  let destination: DestinationStream;
  let flush = () => Promise.resolve();
  if (opts.write) destination = lineWriter(opts.write);
  else if (opts.stdout === 'pino-async') {
    const sonic = pino.destination({ dest: 1, sync: false });
    destination = sonic;
    flush = () => new Promise((resolve) => sonic.flush(() => resolve()));
  } else {
    const turn = (stdoutTurn ??= new TurnWriter(pino.destination({ dest: 1, sync: true })));
    destination = turn;
    flush = () => Promise.resolve(turn.drain());
  }
  const root = pino(
    {
      level: opts.level ?? 'info',
      messageKey: 'event',
      base: null,
      timestamp: () => `,"time":"${now().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { error: errorFields, err: errorFields },
      redact: { paths: redactPaths, censor: REDACTED },
    },
    destination,
  );
  return wrap(root, flush);
}

function wrap(p: PinoLogger, flush: () => Promise<void>): Logger {
  return {
    debug: (event, fields) => (fields ? p.debug(fields, event) : p.debug(event)),
    info: (event, fields) => (fields ? p.info(fields, event) : p.info(event)),
    warn: (event, fields) => (fields ? p.warn(fields, event) : p.warn(event)),
    error: (event, fields) => (fields ? p.error(fields, event) : p.error(event)),
    child: (bindings) => bound(p, bindings, flush),
    flush,
  };
}

/**
 * A child is its bindings, put in front of each line's fields when a line is
 * written, not a pino child: every SMTP session has one (and a second once it
 * logs in) and most write a single line or none, while a pino child serializes
 * its bindings when it is made (issue 15: 0.8% of the agent at one message per
 * connection). A line below the level costs nothing.
 */
function bound(p: PinoLogger, bindings: Fields, flush: () => Promise<void>): Logger {
  const line = (level: Level) => (event: string, fields?: Fields) => {
    if (!p.isLevelEnabled(level)) return;
    p[level](fields ? { ...bindings, ...fields } : bindings, event);
  };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    child: (more) => bound(p, { ...bindings, ...more }, flush),
    flush,
  };
}

/**
 * The lines logged during one event-loop turn, written to stdout as one string
 * when the turn ends: a log call never writes, and a busy turn costs one write
 * instead of one per line. Measured in bench/log-cost.ts against a write per
 * line and against pino's asynchronous destination, which appends each line to
 * a growing string and measures that string on every call (more CPU per line
 * than the synchronous write it would replace), and whose writes queue on
 * libuv's thread pool behind the spool's fsyncs.
 * The write itself is synchronous (sonic-boom, which retries EAGAIN and short
 * writes), so nothing is ever in flight: on exit (a clean stop, a crash) the
 * pending lines are written; a SIGKILL loses the lines of the turn it lands in.
 */
class TurnWriter implements DestinationStream {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly sink: ReturnType<typeof pino.destination>) {
    process.on('exit', this.drain);
  }

  write(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  readonly drain = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('');
    this.lines = [];
    try {
      this.sink.write(chunk);
    } catch {
      // stdout is gone (closed, EPIPE): there is nowhere left to write.
    }
  };
}

/** One per process: every stdout logger shares it, so their lines keep their order and one exit handler writes what is left. */
let stdoutTurn: TurnWriter | null = null;

function lineWriter(write: (line: string) => void): DestinationStream {
  return { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) };
}

/** An Error keeps what a person reads (message, errno code); the stack stays out of the journal. */
function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as NodeJS.ErrnoException).code };
  return value;
}

export const silentLogger: Logger = wrap(pino({ level: 'silent' }), () => Promise.resolve());
