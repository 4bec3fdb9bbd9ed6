// One JSON object per line on stdout: journald keeps each line as one entry and
// `jq` reads them. Lines go through pino, whose destination buffers while a
// write is in flight and writes the next batch in one syscall: a synchronous
// write per line was ~9% of the agent's CPU under relay load (issue 17).
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
 * Field names whose values never reach a log line, at the top or nested up to
 * two levels (`{ user: { password } }`, `{ request: { headers: { authorization } } }`).
 * Callers do not pass secrets; this is the net under a mistake.
 */
const SECRET_FIELDS = ['password', 'pass', 'passwordHash', 'token', 'apiToken', 'botToken', 'secret', 'key', 'privateKey', 'apiKey', 'authorization', 'cookie'];
export const REDACTED = '[redacted]';
export const redactPaths = SECRET_FIELDS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  level?: Level;
  /** Receives each line without its newline, synchronously (tests collect lines this way). */
  write?: (line: string) => void;
  now?: () => Date;
  /**
   * Bytes the stdout destination gathers before it writes (0: write as soon as
   * no write is in flight). Only for the benchmark; the daemon uses the default.
   */
  minLength?: number;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const now = opts.now ?? (() => new Date());
  const stdout = opts.write ? null : pino.destination({ dest: 1, sync: false, minLength: opts.minLength ?? 0 });
  const destination: DestinationStream = stdout ?? lineWriter(opts.write!);
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
  const flush = stdout ? () => flushStdout(stdout) : () => Promise.resolve();
  return wrap(root, flush);
}

function wrap(p: PinoLogger, flush: () => Promise<void>): Logger {
  return {
    debug: (event, fields) => (fields ? p.debug(fields, event) : p.debug(event)),
    info: (event, fields) => (fields ? p.info(fields, event) : p.info(event)),
    warn: (event, fields) => (fields ? p.warn(fields, event) : p.warn(event)),
    error: (event, fields) => (fields ? p.error(fields, event) : p.error(event)),
    child: (bindings) => wrap(p.child(bindings), flush),
    flush,
  };
}

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Waits for the write in flight (it is on libuv's thread pool), then writes the
 * rest synchronously, so lines reach the descriptor in order. pino itself also
 * writes the buffer synchronously on process exit; a SIGKILL loses at most the
 * lines gathered during one write in flight.
 */
async function flushStdout(dest: SonicBoom): Promise<void> {
  if ((dest as unknown as { _writing: boolean })._writing) await new Promise((resolve) => dest.once('drain', resolve));
  try {
    dest.flushSync();
  } catch {
    // Destroyed (stdout closed, EPIPE): there is nowhere left to write.
  }
}

function lineWriter(write: (line: string) => void): DestinationStream {
  return { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) };
}

/** An Error keeps what a person reads (message, errno code); the stack stays out of the journal. */
function errorFields(value: unknown): unknown {
  if (value instanceof Error) return { message: value.message, code: (value as NodeJS.ErrnoException).code };
  return value;
}

export const silentLogger: Logger = wrap(pino({ level: 'silent' }), () => Promise.resolve());
