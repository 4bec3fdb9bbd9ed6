// The value syntaxes of the PowerMTA v5.0 User's Guide (§3.2 and the entries
// of §3.3), as checks: each returns null for a good value, else the reason.
// Names follow shared/reference/powermta-directives.md §0.
import { commaList, words } from './syntax.js';

export interface ValueSyntax {
  /** How the table and the error messages name it: `BOOL`, `TIME-INTERVAL`... */
  readonly syntax: string;
  check(value: string): string | null;
}

function syntax(name: string, check: (v: string) => string | null): ValueSyntax {
  return { syntax: name, check };
}

const re = (name: string, pattern: RegExp, what: string): ValueSyntax =>
  syntax(name, (v) => (pattern.test(v) ? null : `${JSON.stringify(v)} is not ${what}`));

const IPV4 = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}';
const IPV6 = '[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*';
const IP_RE = new RegExp(`^(?:${IPV4}|${IPV6})$`);
// `0/0` is the guide's own way to say every address (§3.3.7).
const CIDR_RE = new RegExp(`^(?:(?:${IPV4}|${IPV6})(?:/\\d{1,3})?|0/0)$`);
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})+$`);
const RATE_UNIT = '(?:d|day|h|hr|m|min|s|sec)';

export const BOOL = re('BOOL', /^(?:yes|no|true|false)$/i, 'yes, no, true or false (§3.2)');
/** §3.2: `1w2d12h`, `300s`. */
export const TIME_INTERVAL = re('TIME-INTERVAL', /^(?:\d+[wdhms])+$/, 'a time interval such as 1h or 1w2d12h (§3.2)');
export const TIME_LIST = syntax('TIME-INTERVAL-LIST', (v) => {
  const items = commaList(v);
  if (items.length > 30) return 'at most 30 intervals (§10.15)';
  const bad = items.find((i) => TIME_INTERVAL.check(i) !== null);
  return bad === undefined ? null : `${JSON.stringify(bad)} is not a time interval (§3.2)`;
});
/** §3.3.10.33: `unlimited`, `0`, or N/[M]UNIT with the multiplier new in v5. */
export const RATE = re('RATE', new RegExp(`^(?:unlimited|0|\\d+/\\d*${RATE_UNIT})$`), 'a rate such as 500/h, 83/10m or unlimited (§3.3.10.33)');
/** §3.3.10.37: a rate whose count may carry a size unit. */
export const VOLUME_RATE = re('VOLUME-RATE', new RegExp(`^(?:unlimited|0|\\d+[bkmgt]?/\\d*${RATE_UNIT})$`, 'i'), 'a volume rate such as 12M/m (§3.3.10.37)');
export const SIZE = re('SIZE', /^\d+[bkmgt]$/i, 'a size such as 50M or 1G');
export const MESSAGE_SIZE = re('SIZE', /^(?:\d+[bkmgt]|0|unlimited)$/i, 'a size such as 50M, 0 or unlimited (§3.3.7.34)');
export const COUNT = re('N', /^\d{1,9}$/, 'a whole number');
export const DAYS_OR_NEVER = re('Nd|never', /^(?:\d+d|never)$/, 'a number of days such as 8d, or never (§3.3.11.1)');
export const ABS_PATH = re('FILE', /^\/[^\s"<>,]*$/, 'an absolute path without spaces, commas, quotes or < > (§3.3.1.37.2)');
export const NAME = re('NAME', /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a name of letters, digits, ".", "_" and "-"');
export const HEADER_NAME = re('HEADER', /^[!-9;-~]+$/, 'a header field name (printable characters without ":")');
export const EMAIL = re('EMAIL', /^[^\s@<>",]+@[^\s@<>",]+\.[^\s@<>",]+$/, 'an email address');
export const IP = re('IP', IP_RE, 'an IP address');
export const CIDR = re('CIDR', CIDR_RE, 'an IP address or CIDR range');
export const HOSTNAME = re('HOSTNAME', HOSTNAME_RE, 'a fully qualified host name');
export const ANY = syntax('STRING', (v) => (v === '' ? 'a value is missing' : null));
export const NONE = syntax('(none)', (v) => (v === '' ? null : `takes no argument, got ${JSON.stringify(v)}`));

export function oneOf(...choices: string[]): ValueSyntax {
  return syntax(choices.join('|'), (v) => (choices.includes(v.toLowerCase()) ? null : `${JSON.stringify(v)} is not one of ${choices.join(', ')}`));
}

/** A comma list of items of one syntax (§3.3.7.8 remove-header, §3.3.1.39 use-proxy...). */
export function listOf(item: ValueSyntax): ValueSyntax {
  return syntax(`${item.syntax}[,...]`, (v) => {
    for (const i of commaList(v)) {
      if (i === '') return 'an empty item in the list';
      const why = item.check(i);
      if (why !== null) return why;
    }
    return null;
  });
}

/** `A B`: exactly the given words, each with its own syntax. */
export function wordsOf(...parts: ValueSyntax[]): ValueSyntax {
  return syntax(parts.map((p) => p.syntax).join(' '), (v) => {
    const ws = words(v);
    if (ws.length !== parts.length) return `expects ${parts.length} argument(s) (${parts.map((p) => p.syntax).join(' ')}), got ${ws.length}`;
    for (let i = 0; i < parts.length; i++) {
      const why = parts[i]!.check(ws[i]!);
      if (why !== null) return why;
    }
    return null;
  });
}

/** `<domain PATTERN>` (§3.2, §3.3.10): one pattern; reserved `{name}` queues and `$macro` forms too. */
export const DOMAIN_PATTERN = syntax('DOMAIN-PATTERN', (v) => {
  if (words(v).length !== 1) return `one domain pattern per <domain> tag (§3.3.10: use one block per domain, or domain-macro), got ${JSON.stringify(v)}`;
  if (v === '*' || /^\{[A-Za-z0-9_-]+\}$/.test(v) || /^\[[0-9a-fA-F.:]+(?:\/\d{1,3})?\]$/.test(v)) return null;
  const name = v.replace(/^\*\./, '').replace(/^\[\*\.\]/, '');
  const labels = name.split('.');
  const ok = labels.length >= 1 && labels.every((l) => /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?|\$[A-Za-z0-9_]+|[^\x00-\x7f\s#<>]+)$/.test(l));
  return ok ? null : `${JSON.stringify(v)} is not a domain pattern (*, name, *.name, [*.]name or [ip/mask], §3.2)`;
});

/** `SELECTOR,DOMAIN|*,FILE` (§3.3.1.33.1); spaces after the commas are tolerated. */
export const DOMAIN_KEY = syntax('SELECTOR,DOMAIN,FILE', (v) => {
  const parts = commaList(v);
  if (parts.length !== 3) return `expects SELECTOR,DOMAIN,FILE (three comma-separated fields, §3.3.1.33.1), got ${parts.length}`;
  const [selector, domain, file] = parts as [string, string, string];
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(selector)) return `${JSON.stringify(selector)} is not a DKIM selector`;
  if (domain !== '*' && !/^(?:\$[A-Za-z0-9_]+|[A-Za-z0-9_.-]+)$/.test(domain)) return `${JSON.stringify(domain)} is not a domain or *`;
  return ABS_PATH.check(file) === null || /^[^\s"<>,]+$/.test(file) ? null : `${JSON.stringify(file)} is not a key file path`;
});

/** `IP HOSTNAME` or `CIDR HOSTNAME`: the address first (§3.3.1.16). */
export const SOURCE_HOST = wordsOf(CIDR, HOSTNAME);

/** `NAME LIST` (§3.3.1.33.4): a macro name, then domains or `$other` macros. */
export const DOMAIN_MACRO = syntax('NAME LIST', (v) => {
  const m = /^([A-Za-z0-9_]+)\s+(.+)$/.exec(v);
  if (!m) return 'expects a macro name (letters, digits, _) and a comma list (§3.3.1.33.4)';
  for (const item of commaList(m[2]!)) {
    if (!/^(?:\$[A-Za-z0-9_]+|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)$/.test(item)) return `${JSON.stringify(item)} is not a domain part or $macro`;
  }
  return null;
});

/** A `/REGEX/` (§3.2); a `#` in it would start a comment, so the guide spells it \x23 (§3.3.15). */
export const REGEX = re('/REGEX/', /^\/.*\/$/, 'a /regex/');

/** `address` in an address list (§3.3.5, §10.16): an address, a bare local part, or a /regex/. */
export const ADDRESS = syntax('EMAIL|LOCAL|/REGEX/', (v) =>
  REGEX.check(v) === null || EMAIL.check(v) === null || /^[^\s@<>",]+$/.test(v) ? null : `${JSON.stringify(v)} is not an address, local part or /regex/`,
);

/** `<acct-file FILE>` or `<acct-file |PROGRAM ARGS>`, quoted when it has spaces (§11.3). */
export const ACCT_TARGET = syntax('FILE|"|PROGRAM"', (v) => {
  const ws = words(v);
  if (ws.length !== 1) return `a pipe with arguments must be quoted as one value (§11.3), got ${JSON.stringify(v)}`;
  const t = ws[0]!;
  if (t.startsWith('|')) return t.length > 1 ? null : 'the pipe names no program';
  return ABS_PATH.check(t);
});

/** `<source X>`: an address or range, a name, or a reserved `{auth}`/`{pickup}` (§3.3.7). */
export const SOURCE_ARG = syntax('CIDR|NAME|{auth}|{pickup}', (v) =>
  CIDR.check(v) === null || NAME.check(v) === null || /^\{(?:auth|pickup)\}$/.test(v) ? null : `${JSON.stringify(v)} is not an address, range or source name`,
);

export const LISTENER = re('IP:PORT', /^(?:[0-9.]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+\/\d+):\d{1,5}$/, 'an IP:PORT listener address (§3.3.17)');
