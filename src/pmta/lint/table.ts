// The directives and blocks the agent may emit, with where they may stand,
// their value syntax and the guide section that says so (PowerMTA v5.0 User's
// Guide; shared/reference/powermta-directives.md §2 restates it). A directive
// missing here is refused by the linter: add its row, with its section, before
// a template uses it.
import {
  ABS_PATH,
  ACCT_TARGET,
  ADDRESS,
  ANY,
  BOOL,
  CIDR,
  COUNT,
  DAYS_OR_NEVER,
  DOMAIN_KEY,
  DOMAIN_MACRO,
  DOMAIN_PATTERN,
  EMAIL,
  HEADER_NAME,
  HOSTNAME,
  LISTENER,
  listOf,
  MESSAGE_SIZE,
  NAME,
  NONE,
  oneOf,
  RATE,
  SIZE,
  SOURCE_ARG,
  SOURCE_HOST,
  TIME_INTERVAL,
  TIME_LIST,
  VOLUME_RATE,
  wordsOf,
  type ValueSyntax,
} from './values.js';

/** Where a line stands: `global` is the top of the file, the rest are block names. */
export type Scope =
  | 'global'
  | 'source'
  | 'virtual-mta'
  | 'virtual-mta-pool'
  | 'domain'
  | 'acct-file'
  | 'bounce-processor'
  | 'feedback-loop-processor'
  | 'address-list'
  | 'smtp-listener';

export interface DirectiveSpec {
  name: string;
  scopes: readonly Scope[];
  value: ValueSyntax;
  /** May appear more than once in one block. */
  repeatable: boolean;
  /** Guide section(s), v5.0 numbering. */
  section: string;
}

export interface BlockSpec {
  name: Scope;
  parents: readonly Scope[];
  arg: ValueSyntax;
  /** At most one per parent (processors, §3.3.3-4). */
  single: boolean;
  section: string;
}

const d = (name: string, scopes: Scope[], value: ValueSyntax, section: string, repeatable = false): DirectiveSpec => ({ name, scopes, value, repeatable, section });

const RECORD_TYPE = oneOf('d', 'b', 't', 'tq', 'r', 'f', 'rb', 'rs');
const FLP_BP: Scope[] = ['bounce-processor', 'feedback-loop-processor'];

export const DIRECTIVES: readonly DirectiveSpec[] = [
  // Global (§3.3.1)
  d('include', ['global', 'source', 'domain', 'virtual-mta'], ABS_PATH, '3.3.1.31', true),
  d('postmaster', ['global'], EMAIL, '3.3.1.3', true),
  d('host-name', ['global', 'virtual-mta'], HOSTNAME, '3.3.1.25, 3.3.12.5', true),
  d('smtp-source-host', ['global', 'virtual-mta'], SOURCE_HOST, '3.3.1.16, 8.2', true),
  d('relay-domain', ['global'], DOMAIN_PATTERN, '3.3.1.32.2', true),
  d('relay-address', ['global'], ADDRESS, '3.3.1.32.3', true),
  d('domain-key', ['global', 'virtual-mta', 'virtual-mta-pool'], DOMAIN_KEY, '3.3.1.33.1, 3.3.12.6, 3.3.13.3', true),
  d('domain-macro', ['global'], DOMAIN_MACRO, '3.3.1.33.4', true),
  d('invalid-virtual-mta-fallback', ['global'], NAME, '3.3.1.33.2'),
  d('include-headers-from', ['global', 'virtual-mta', 'virtual-mta-pool'], ABS_PATH, '3.3.1.33.3'),
  // <source> (§3.3.7)
  d('always-allow-relaying', ['source'], BOOL, '3.3.1.32.1'),
  d('smtp-service', ['source'], BOOL, '3.3.7.59'),
  d('process-x-virtual-mta', ['source'], BOOL, '3.3.7.48'),
  d('retain-x-virtual-mta', ['source'], BOOL, '3.3.7.49'),
  d('reject-invalid-virtual-mta', ['source'], BOOL, '3.3.7.31'),
  d('allow-empty-x-virtual-mta', ['source'], BOOL, '3.3.7.63'),
  d('add-x-virtual-mta-header', ['source'], BOOL, '3.3.7.50'),
  d('default-virtual-mta', ['source'], NAME, '3.3.7.29'),
  d('process-x-job', ['source'], BOOL, '3.3.7.45'),
  d('retain-x-job', ['source'], BOOL, '3.3.7.47'),
  d('jobid-header', ['source'], HEADER_NAME, '3.3.7.46'),
  d('process-x-envid', ['source'], BOOL, '3.3.7.40'),
  d('add-received-header', ['source'], BOOL, '3.3.7.5'),
  d('hide-message-source', ['source'], BOOL, '3.3.7.33'),
  d('require-auth', ['source'], BOOL, '3.3.7.9'),
  d('max-message-size', ['source'], MESSAGE_SIZE, '3.3.7.34'),
  d('log-connections', ['source', 'domain'], BOOL, '3.3.7.60'),
  d('log-commands', ['source', 'domain'], BOOL, '3.3.7.61'),
  d('log-data', ['source', 'domain'], BOOL, '3.3.7.62'),
  d('remove-header', ['source', 'domain'], listOf(HEADER_NAME), '3.3.7.8'),
  // <acct-file> (§3.3.11)
  d('records', ['acct-file'], listOf(RECORD_TYPE), '3.3.11.11'),
  d('record-fields', ['acct-file'], wordsOf(RECORD_TYPE, ANY), '3.3.11.12', true),
  d('map-header-to-field', ['acct-file'], wordsOf(oneOf('d', 'b', 't', 'r', 'f', 'rb', 'rs'), HEADER_NAME, NAME), '3.3.11.10', true),
  d('move-to', ['acct-file'], ABS_PATH, '3.3.11.2'),
  d('move-interval', ['acct-file'], TIME_INTERVAL, '3.3.11.3'),
  d('max-size', ['acct-file'], SIZE, '3.3.11.4'),
  d('delete-after', ['acct-file'], DAYS_OR_NEVER, '3.3.11.1'),
  d('world-readable', ['acct-file'], BOOL, '3.3.11.13'),
  d('sync', ['acct-file'], BOOL, '3.3.11.15'),
  d('iso-times', ['acct-file'], BOOL, '3.3.11.7'),
  d('write-timeout', ['acct-file'], TIME_INTERVAL, '3.3.11.9'),
  d('retry-interval', ['acct-file'], TIME_INTERVAL, '3.3.11.6'),
  // <virtual-mta>, <virtual-mta-pool> (§3.3.12-13)
  d('virtual-mta', ['virtual-mta-pool'], NAME, '3.3.13.1', true),
  d('max-smtp-msg-rate', ['virtual-mta', 'virtual-mta-pool'], RATE, '3.3.12.2, 3.3.13.5'),
  d('max-smtp-data-volume-rate', ['virtual-mta', 'virtual-mta-pool'], VOLUME_RATE, '3.3.12.3, 3.3.13.8'),
  d('cold-virtual-mta', ['virtual-mta', 'virtual-mta-pool'], NAME, '3.3.12.4', true),
  // <domain> (§3.3.10); max-smtp-out also caps a whole VMTA or pool (§3.3.12.8)
  d('max-smtp-out', ['domain', 'virtual-mta', 'virtual-mta-pool'], COUNT, '3.3.10.74, 3.3.12.8'),
  d('backoff-max-smtp-out', ['domain'], COUNT, '3.3.10.75'),
  d('max-msg-rate', ['domain'], RATE, '3.3.10.33'),
  d('backoff-max-msg-rate', ['domain'], RATE, '3.3.10.34'),
  d('max-connect-rate', ['domain'], RATE, '3.3.10.79'),
  d('max-data-volume-rate', ['domain'], VOLUME_RATE, '3.3.10.37'),
  d('max-msg-per-connection', ['domain'], COUNT, '3.3.10.71'),
  d('max-rcpt-per-transaction', ['domain'], COUNT, '3.3.10.72'),
  d('max-cold-virtual-mta-msg', ['domain'], listOf(oneOfPattern()), '3.3.10.48'),
  d('retry-after', ['domain'], TIME_LIST, '3.3.10.39'),
  d('backoff-retry-after', ['domain'], TIME_LIST, '3.3.10.40'),
  d('bounce-after', ['domain'], TIME_INTERVAL, '3.3.10.11'),
  d('dkim-sign', ['domain'], oneOf('yes', 'no', 'true', 'false', 'if-x-dkim-options-present'), '3.3.10.19'),
  d('dkim-algorithm', ['domain'], oneOf('rsa-sha1', 'rsa-sha256'), '3.3.10.22'),
  d('use-starttls', ['domain'], BOOL, '3.3.10.94.1'),
  d('require-starttls', ['domain'], BOOL, '3.3.10.94.2'),
  d('smtp-pattern-list', ['domain'], NAME, '3.3.10.90'),
  d('type', ['domain'], oneOf('smtp', 'pipe', 'file', 'discard', 'http-delivery'), '3.3.10.51'),
  d('queue-priority', ['domain'], COUNT, '3.3.10.15'),
  d('reroute-to-virtual-mta', ['domain'], NAME, '3.3.10.49'),
  d('backoff-reroute-to-virtual-mta', ['domain'], NAME, '3.3.10.50'),
  d('backoff-max-connect-rate', ['domain'], RATE, '3.3.10.84'),
  d('retry-recipients-after', ['domain'], TIME_INTERVAL, '3.3.10.41'),
  d('backoff-to-normal-after', ['domain'], syntaxOr(TIME_INTERVAL, 'never'), '3.3.10.44'),
  d('backoff-to-normal-after-delivery', ['domain'], BOOL, '3.3.10.45'),
  d('backoff-upon-all-sources-disabled', ['domain'], BOOL, '3.3.10.46'),
  d('reenable-source-ip-after', ['domain'], syntaxOr(TIME_INTERVAL, 'never'), '3.3.10.47'),
  d('backoff-notify', ['domain'], listOf(EMAIL), '3.3.10.42'),
  d('dkim-identity', ['domain'], ANY, '3.3.10.28'),
  d('dkim-body-canon', ['domain'], oneOf('simple', 'relaxed'), '3.3.10.23'),
  d('dkim-headers-canon', ['domain'], oneOf('simple', 'relaxed'), '3.3.10.24'),
  d('connection-idle-timeout', ['domain'], TIME_INTERVAL, '3.3.10.81'),
  d('smtp-out-rampup-interval', ['domain'], TIME_INTERVAL, '3.3.10.78'),
  d('disable-mx-rollup', ['domain'], BOOL, '3.3.10.92'),
  d('disable-acct-records', ['domain'], listOf(oneOf('d', 'b', 't', 'tq')), '3.3.10.9'),
  d('bounce-upon-no-mx', ['domain'], syntaxOr(TIME_INTERVAL, 'true', 'false', 'never'), '3.3.10.60'),
  d('queue-to', ['domain'], ANY, '3.3.10.31'),
  d('smtp-hosts', ['domain'], ANY, '3.3.10.89'),
  d('source-ip-max-msg-rate', ['domain'], wordsOf(CIDR, RATE), '3.3.10.32', true),
  d('source-ip-max-connect-rate', ['domain'], wordsOf(CIDR, RATE), '3.3.10.80', true),
  d('source-ip-max-smtp-out', ['domain'], wordsOf(CIDR, COUNT), '3.3.10.77', true),
  d('use-proxy', ['global', 'virtual-mta'], listOf(NAME), '3.3.1.39, 3.3.12.1'),
  d('rewrite-list', ['virtual-mta', 'virtual-mta-pool'], NAME, '3.3.12.9, 3.3.13.7'),
  d('jobid-prefix', ['source'], ANY, '3.3.7.44'),
  d('pattern-list', ['source'], NAME, '3.3.7.39'),
  d('suppression-lists', ['source'], listOf(NAME), '3.3.7.38'),
  d('allow-mailmerge', ['source'], BOOL, '3.3.7.10'),
  d('user-string', ['acct-file'], ANY, '3.3.11.8'),
  d('queue-filter', ['acct-file'], ANY, '3.3.11.5'),
  d('count-moved-records', ['acct-file'], BOOL, '3.3.11.14'),
  d('privacy-policy', ['acct-file'], ANY, '3.3.11.16'),
  // <bounce-processor>, <feedback-loop-processor>, <address-list> (§3.3.3-5)
  d('deliver-unmatched-email', FLP_BP, BOOL, '3.3.3.1, 3.3.4.1'),
  d('deliver-matched-email', FLP_BP, BOOL, '3.3.3.2, 3.3.4.2'),
  d('forward-unmatched-to', FLP_BP, EMAIL, '3.3.3.4, 3.3.4.4, 12.7', true),
  d('forward-errors-to', FLP_BP, EMAIL, '3.3.3.5, 3.3.4.5, 12.7', true),
  d('address', ['address-list'], ADDRESS, '3.3.5, 10.16', true),
  d('domain', ['address-list'], DOMAIN_PATTERN, '3.3.5, 12.6', true),
  // The line form of a listener (§3.3.1.20); the block form is below.
  d('smtp-listener', ['global'], wordsOrListener(), '3.3.1.20', true),
  d('source', ['smtp-listener'], NAME, '3.3.17'),
];

/** `syntax` or one of the keywords (`1h` or `never`). */
function syntaxOr(base: ValueSyntax, ...keywords: string[]): ValueSyntax {
  return {
    syntax: [base.syntax, ...keywords].join('|'),
    check: (v) => (keywords.includes(v.toLowerCase()) ? null : base.check(v) === null ? null : `${JSON.stringify(v)} is not ${[base.syntax, ...keywords].join(' or ')}`),
  };
}

function oneOfPattern(): ValueSyntax {
  return { syntax: 'N/d', check: (v) => (/^\d+\/(?:d|day)$/.test(v) ? null : `${JSON.stringify(v)} is not N/d (§3.3.10.48)`) };
}

function wordsOrListener(): ValueSyntax {
  return {
    syntax: 'CIDR:PORT [source=NAME]',
    check: (v) => {
      const [addr, extra, ...rest] = v.split(/\s+/);
      if (rest.length > 0 || addr === undefined) return 'expects CIDR:PORT [source=NAME] (§3.3.1.20)';
      if (LISTENER.check(addr) !== null) return LISTENER.check(addr);
      return extra === undefined || /^source=[A-Za-z0-9._{}-]+$/.test(extra) ? null : `${JSON.stringify(extra)} is not source=NAME`;
    },
  };
}

export const BLOCKS: readonly BlockSpec[] = [
  { name: 'source', parents: ['global'], arg: SOURCE_ARG, single: false, section: '3.3.7' },
  { name: 'virtual-mta', parents: ['global'], arg: NAME, single: false, section: '3.3.12' },
  { name: 'virtual-mta-pool', parents: ['global'], arg: NAME, single: false, section: '3.3.13' },
  { name: 'domain', parents: ['global', 'virtual-mta', 'virtual-mta-pool'], arg: DOMAIN_PATTERN, single: false, section: '3.3.10, 3.3.12, 3.3.13.2' },
  { name: 'acct-file', parents: ['global'], arg: ACCT_TARGET, single: false, section: '3.3.11, 11.3' },
  { name: 'bounce-processor', parents: ['global'], arg: NONE, single: true, section: '3.3.3, 12.6' },
  { name: 'feedback-loop-processor', parents: ['global'], arg: NONE, single: true, section: '3.3.4, 12.7' },
  // Unnamed inside a processor (r5 and §12.6-12.7 examples); the v5.0 text names one in §3.3.4, so a name is allowed.
  { name: 'address-list', parents: FLP_BP, arg: { syntax: '[NAME]', check: (v) => (v === '' ? null : NAME.check(v)) }, single: true, section: '3.3.5, 12.6, 12.7' },
  { name: 'smtp-listener', parents: ['global'], arg: LISTENER, single: false, section: '3.3.17' },
];

export const DIRECTIVE_BY_NAME: ReadonlyMap<string, DirectiveSpec> = new Map(DIRECTIVES.map((s) => [s.name, s]));
export const BLOCK_BY_NAME: ReadonlyMap<string, BlockSpec> = new Map(BLOCKS.map((s) => [s.name, s]));

/**
 * Fields per record type (§11.2.2-11.2.8), for `record-fields`. `header_NAME`
 * is accepted where the guide lists it; tq has none (§11.2.5), f also takes
 * `arf_NAME` (§11.2.8).
 */
const DBT = [
  'type', 'timeLogged', 'timeQueued', 'totalSecondsQueued', 'orig', 'rcpt', 'orcpt', 'dsnAction', 'dsnStatus', 'dsnDiag', 'dsnMta',
  'bounceCat', 'srcType', 'srcMta', 'dlvType', 'dlvSourceIp', 'dlvDestinationIp', 'dlvEsmtpAvailable', 'dlvSize', 'vmta', 'jobId',
  'envId', 'queue', 'vmtaPool', 'userString', 'dlvTlsProtocol', 'dlvTlsCipher', 'rcvSmtpUser',
];
export const RECORD_FIELDS: Readonly<Record<string, { fields: readonly string[]; headers: boolean; arf: boolean }>> = {
  d: { fields: DBT, headers: true, arf: false },
  b: { fields: DBT, headers: true, arf: false },
  t: { fields: DBT, headers: true, arf: false },
  tq: { fields: ['type', 'timeLogged', 'queue', 'vmta', 'dsnStatus', 'dsnDiag', 'dsnMta', 'dlvType', 'dlvSourceIp', 'dlvDestinationIp', 'userString'], headers: false, arf: false },
  r: { fields: ['type', 'timeLogged', 'orig', 'rcpt', 'orcpt', 'srcType', 'srcMta', 'rcvSourceIp', 'rcvDestinationIp', 'vmta', 'vmtaPool', 'jobId', 'envId', 'userString', 'rcvSmtpUser'], headers: true, arf: false },
  rb: { fields: ['type', 'timeLogged', 'orig', 'rcpt', 'orcpt', 'dsnStatus', 'dsnDiag', 'dsnMta', 'dsnReportingMta', 'bounceCat', 'srcType', 'srcMta', 'envId', 'format'], headers: true, arf: false },
  rs: { fields: ['type', 'timeLogged', 'orig', 'rcpt', 'orcpt', 'dsnAction', 'dsnStatus', 'dsnDiag', 'dsnMta', 'bounceCat', 'srcType', 'srcMta', 'envId', 'format'], headers: true, arf: false },
  f: { fields: ['type', 'timeLogged', 'repSourceIp', 'feedbackType', 'format', 'userAgent', 'envId', 'orig', 'rcpt', 'reportingMta', 'dlvSourceIp', 'reportedDomain'], headers: true, arf: true },
};

/** Scope of a block name, or null for a block the agent does not emit. */
export function scopeOf(blockName: string): Scope | null {
  return BLOCK_BY_NAME.has(blockName) ? (blockName as Scope) : null;
}

export { CIDR };
