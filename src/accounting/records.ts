// PowerMTA accounting records, read by the columns the file's own header line
// names (operators add `header_*` and other fields, and the order is theirs).
// Pure: fields in, a typed record out.
import { CsvHeader } from './csv.js';

/** PowerMTA bounce categories that MailWizz also treats as hard: suppress the address. */
export const HARD_BOUNCE_CATEGORIES: ReadonlySet<string> = new Set(['bad-mailbox', 'inactive-mailbox', 'bad-domain']);
/** Worth a retry later; they count toward soft limits. */
export const SOFT_BOUNCE_CATEGORIES: ReadonlySet<string> = new Set([
  'quota-issues',
  'no-answer-from-host',
  'relaying-issues',
  'routing-errors',
]);

/** hard: the address is gone; soft: try later; other: policy, spam, content, expiry and the rest. */
export type BounceClass = 'hard' | 'soft' | 'other';

export function bounceClass(bounceCat: string): BounceClass {
  if (HARD_BOUNCE_CATEGORIES.has(bounceCat)) return 'hard';
  if (SOFT_BOUNCE_CATEGORIES.has(bounceCat)) return 'soft';
  return 'other';
}

interface RecordBase {
  /** The record type letter(s) as logged: `d`, `b`, `rb`, `t`, `tq`, `f`, ... */
  type: string;
  /** Read-only: consecutive records with the same time share one Date. */
  readonly timeLogged: Date;
  /** The line of the file (or the position in a pushed body) the record came from, for the logs. */
  line: number;
  vmta: string;
  dlvSourceIp: string;
  /**
   * Lower-cased. Empty for queue-level records (`tq`), and possibly for `f`
   * and `rb`, which come from a provider's report: Hotmail's JMRP redacts it.
   * Attribution then takes it from the sent-message index.
   */
  rcpt: string;
  orig: string;
  jobId: string;
  /** `header_Message-Id` when the file logs it, else ''. */
  messageId: string;
}

export interface DeliveredRecord extends RecordBase {
  kind: 'delivered';
  dsnStatus: string;
}

export interface BounceRecord extends RecordBase {
  kind: 'bounce';
  /** `rb`: an asynchronous bounce that came back after a `d`. */
  remote: boolean;
  bounceCat: string;
  bounceClass: BounceClass;
  dsnStatus: string;
  dsnDiag: string;
}

export interface DeferredRecord extends RecordBase {
  kind: 'deferred';
  /** `tq`: a whole queue was deferred, not one recipient. */
  queueLevel: boolean;
  dsnStatus: string;
  dsnDiag: string;
}

export interface ComplaintRecord extends RecordBase {
  kind: 'complaint';
  feedbackType: string;
  /**
   * The IP the complaint is about: the address of our MTA that sent the
   * reported message. (`dlvSourceIp` in an `f` record is the address the
   * report came from, powermta.md §3.6.)
   */
  repSourceIp: string;
}

/** Record types the agent does not act on (`r` receipts, `rs` remote status, ...). */
export interface OtherRecord extends RecordBase {
  kind: 'other';
  /** `rs` only: MailWizz takes an `rs` with a bounceCat as a bounce (feedback); the stats do not count it. */
  bounceCat?: string;
  dsnStatus?: string;
  dsnDiag?: string;
}

export type AcctRecord = DeliveredRecord | BounceRecord | DeferredRecord | ComplaintRecord | OtherRecord;

export interface Malformed {
  malformed: string;
}

/** The column positions parseRecord needs, resolved once per header line. */
export class AcctHeader extends CsvHeader {
  readonly col: {
    type: number;
    /** timeLogged, or timeQueued when the file does not log timeLogged; -1 when it logs neither. */
    time: number;
    orig: number;
    rcpt: number;
    vmta: number;
    dlvSourceIp: number;
    repSourceIp: number;
    jobId: number;
    bounceCat: number;
    dsnStatus: number;
    dsnDiag: number;
    messageId: number;
    feedbackType: number;
  };
  /**
   * Which column dates the records: PowerMTA's `timeLogged`, else (a
   * `record-fields` list without it) `timeQueued`, else none: the records are
   * dated when they are read.
   */
  readonly timeSource: 'timeLogged' | 'timeQueued' | 'read-time';
  /** 1 for each column parseRecord reads: the mask for splitCsvLineInto. */
  readonly wanted: Uint8Array;

  constructor(names: readonly string[]) {
    super(names);
    const logged = this.indexOf('timeLogged');
    const queued = this.indexOf('timeQueued');
    this.timeSource = logged >= 0 ? 'timeLogged' : queued >= 0 ? 'timeQueued' : 'read-time';
    this.col = {
      type: this.indexOf('type'),
      time: logged >= 0 ? logged : queued,
      orig: this.indexOf('orig'),
      rcpt: this.indexOf('rcpt'),
      vmta: this.indexOf('vmta'),
      dlvSourceIp: this.indexOf('dlvSourceIp'),
      repSourceIp: this.indexOf('repSourceIp'),
      jobId: this.indexOf('jobId'),
      bounceCat: this.indexOf('bounceCat'),
      dsnStatus: this.indexOf('dsnStatus'),
      dsnDiag: this.indexOf('dsnDiag'),
      messageId: this.indexOf('header_Message-Id'),
      feedbackType: this.indexOf('feedbackType'),
    };
    // Column 0 stays wanted whatever it holds: it tells a header line from a record.
    this.wanted = new Uint8Array(this.size + 1);
    this.wanted[0] = 1;
    for (const i of Object.values(this.col)) if (i >= 0) this.wanted[i] = 1;
  }
}

/** A line whose first field is `type` is a header: PowerMTA starts each file with one, and a file may hold several. */
export function isHeaderFields(fields: readonly string[]): boolean {
  const f = fields[0];
  return f !== undefined && f.length === 4 && f.toLowerCase() === 'type';
}

/** Record types PowerMTA logs that carry nothing the agent counts. */
const IGNORED_TYPES: ReadonlySet<string> = new Set(['r', 'rs', 'rp']);

/**
 * Reads one record line (already split) by its header. `readAt` dates the
 * record when the header has no time column; `line` is kept for the logs.
 */
export function parseRecord(fields: readonly string[], header: AcctHeader, line = 0, readAt?: Date): AcctRecord | Malformed {
  const r = readRecord(fields, header, line, readAt);
  return typeof r === 'string' ? { malformed: r } : r;
}

// Neighbouring records mostly share their second: parse the time once, and
// share the (read-only) Date between them.
let lastTime = '';
let lastDate = new Date(NaN);

/**
 * parseRecord for the hot path: the reason as a plain string when the line is malformed.
 * A row shorter than its header is read with the missing trailing fields empty:
 * PowerMTA leaves empty trailing fields out.
 */
export function readRecord(fields: readonly string[], header: AcctHeader, line: number, readAt?: Date): AcctRecord | string {
  if (fields.length > header.size) return `expected at most ${header.size} fields as in the header, got ${fields.length}`;
  const c = header.col;
  const type = fields[c.type] ?? '';
  let timeLogged: Date;
  if (c.time < 0) {
    if (readAt === undefined) return 'no timeLogged or timeQueued column';
    timeLogged = readAt;
  } else {
    const time = fields[c.time] ?? '';
    if (time === lastTime) timeLogged = lastDate;
    else {
      const ms = parsePmtaTime(time);
      if (Number.isNaN(ms)) return `bad ${header.timeSource} ${JSON.stringify(time.slice(0, 40))}`;
      timeLogged = new Date(ms);
      lastTime = time;
      lastDate = timeLogged;
    }
  }
  const rcpt = field(fields, c.rcpt).toLowerCase();
  const vmta = field(fields, c.vmta);
  const dlvSourceIp = field(fields, c.dlvSourceIp);
  const orig = field(fields, c.orig);
  const jobId = field(fields, c.jobId);
  const messageId = field(fields, c.messageId);
  // Object literals, not spreads of a shared base: a spread costs microseconds
  // per record in V8 and this runs a million times for a large file.
  switch (type) {
    case 'd':
      if (rcpt === '') return 'd record without rcpt';
      return { kind: 'delivered', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId, dsnStatus: field(fields, c.dsnStatus) };
    case 'b':
    case 'rb': {
      // An `rb` is parsed from a DSN that came back: its recipient may be missing (the index may know it).
      if (rcpt === '' && type === 'b') return 'b record without rcpt';
      const bounceCat = field(fields, c.bounceCat);
      return {
        kind: 'bounce', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId,
        remote: type === 'rb',
        bounceCat,
        bounceClass: bounceClass(bounceCat),
        dsnStatus: field(fields, c.dsnStatus),
        dsnDiag: field(fields, c.dsnDiag),
      };
    }
    case 't':
    case 'tq':
      if (type === 't' && rcpt === '') return 't record without rcpt';
      return {
        kind: 'deferred', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId,
        queueLevel: type === 'tq',
        dsnStatus: field(fields, c.dsnStatus),
        dsnDiag: field(fields, c.dsnDiag),
      };
    case 'f':
      // Hotmail's JMRP leaves rcpt empty: the Message-ID may still name the subscriber, and the
      // complaint counts against its IP (repSourceIp) either way.
      return {
        kind: 'complaint', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId,
        feedbackType: field(fields, c.feedbackType),
        repSourceIp: field(fields, c.repSourceIp),
      };
    case 'rs':
      return {
        kind: 'other', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId,
        bounceCat: field(fields, c.bounceCat),
        dsnStatus: field(fields, c.dsnStatus),
        dsnDiag: field(fields, c.dsnDiag),
      };
    default:
      if (IGNORED_TYPES.has(type)) return { kind: 'other', type, timeLogged, line, vmta, dlvSourceIp, rcpt, orig, jobId, messageId };
      return `unknown record type ${JSON.stringify(type.slice(0, 20))}`;
  }
}

function field(fields: readonly string[], i: number): string {
  return i < 0 ? '' : (fields[i] ?? '');
}

/**
 * `2026-11-24 12:00:01+0100` (PowerMTA's layout) or epoch seconds
 * (`iso-times no`, powermta.md §3.3) to epoch ms, NaN when it is neither.
 * Also takes a `T` separator, `+01:00`, `Z`; without an offset the time is
 * read as UTC. Hand-rolled: Date.parse does not take `+0100` reliably and
 * this runs once per line.
 */
export function parsePmtaTime(s: string): number {
  if (s.length < 19) {
    // Epoch seconds: ten digits until 2286; fewer only for times before 2001.
    if (s.length === 0 || s.length > 12) return NaN;
    const v = digits(s, 0, s.length);
    return v < 0 ? NaN : v * 1000;
  }
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  const sep = s.charCodeAt(10);
  if (
    y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
    h < 0 || mi < 0 || se < 0 ||
    s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84) ||
    s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58
  ) {
    return NaN;
  }
  let offsetMin = 0;
  let rest = 19;
  // Optional fractional seconds.
  if (s.charCodeAt(rest) === 46) {
    rest++;
    while (rest < s.length && isDigit(s.charCodeAt(rest))) rest++;
  }
  if (rest < s.length && s.charCodeAt(rest) === 32) rest++;
  if (rest < s.length) {
    const sign = s.charCodeAt(rest);
    const tail = s.length - rest;
    if (sign === 90 && tail === 1) {
      offsetMin = 0; // Z
    } else if ((sign === 43 || sign === 45) && (tail === 5 || tail === 6)) {
      const oh = digits(s, rest + 1, 2);
      const om = digits(s, tail === 5 ? rest + 3 : rest + 4, 2);
      if (oh < 0 || om < 0 || oh > 14 || om > 59 || (tail === 6 && s.charCodeAt(rest + 3) !== 58)) return NaN;
      offsetMin = (sign === 45 ? -1 : 1) * (oh * 60 + om);
    } else {
      return NaN;
    }
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, se) - offsetMin * 60_000;
  // Date.UTC rolls 2026-02-30 over to March; reject it instead.
  const back = new Date(ms + offsetMin * 60_000);
  if (back.getUTCDate() !== d) return NaN;
  return ms;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The decimal number in s[at, at+n), or -1 when any character is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}
