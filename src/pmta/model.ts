// The PowerMTA config the agent owns, as data. Pure: plain state in, a sorted
// render model out, so the same state always renders the same bytes.
import type { IpState } from '../types.js';
import { poolName, vmtaName } from '../types.js';
import {
  compareAddresses,
  compareStrings,
  isIpAddress,
  isIpv4,
  PmtaModelError,
  validateDomain,
  validateSelector,
} from './names.js';
import { processorsModel, type ProcessorOptions, type ProcessorsModel } from './processors.js';
import { checkThrottles, DEFAULT_THROTTLES, warmupThrottles, type DomainThrottle, type ThrottleOptions } from './throttles.js';

export { PmtaModelError } from './names.js';

/**
 * What the accounting tailer reads (powermta.md "Accounting files"): the `*`
 * default set carries vmta, jobId, dlvSourceIp, bounceCat, dsnDiag; the
 * Message-ID is how MailWizz matches a bounce or complaint (mailwizz.md §4.2).
 * One `record-fields` line per type (§3.3.11.12 takes one RECORD-TYPE); tq
 * records cannot carry headers (§11.2.5), so they keep the default `*` and get
 * no line. No `header_X-Job`: PowerMTA removes X-Job at injection
 * (process-x-job, §3.3.7.45) and logs its value as `jobId`.
 */
export const ACCT_RECORDS = ['d', 'b', 't', 'tq', 'f', 'rb', 'rs'] as const;
export const ACCT_RECORD_FIELDS: ReadonlyArray<{ type: string; fields: readonly string[] }> = ['d', 'b', 't', 'f', 'rb', 'rs'].map((type) => ({
  type,
  fields: ['*', 'header_Message-Id'],
}));
/**
 * Hotmail's JMRP reports carry the complaining recipient only in this header
 * of the returned message; without the mapping `rcpt` stays empty (§12.7.1).
 */
export const ACCT_HEADER_MAPS: ReadonlyArray<{ type: string; header: string; field: string }> = [
  { type: 'f', header: 'header_X-HmXmrOriginalRecipient', field: 'rcpt' },
];

export interface PmtaIpInput {
  address: string;
  hostname: string;
  state: IpState;
  /** From warmup/schedule.ts capFor: `week_2`, `active`, `paused`... */
  phase: string;
  /** Today's cap from capFor. */
  dailyCap: number;
  /**
   * Retired, but PowerMTA may still hold mail for its VMTA: keep the VMTA
   * defined (out of the pool, queues running) so that mail is delivered, not
   * bounced (§8.5.2). The service decides how long (pmta.retireDrainHours).
   */
  draining?: boolean;
}

export interface PmtaTenantInput {
  slug: string;
  name: string;
  domains: readonly string[];
  ips: readonly PmtaIpInput[];
}

export interface PmtaDkimInput {
  domain: string;
  selector: string;
  keyPath: string;
}

export interface PmtaStateInput {
  tenants: readonly PmtaTenantInput[];
  /** The address the agent injects from (`<source ...>`); an IP or a CIDR range. */
  source: { host: string };
  /** The live accounting file, e.g. `/var/log/pmta/pmta-agent/acct.csv`. */
  acctFile: string;
  /**
   * Instead of the file: a program PowerMTA pipes the records to (§11.3),
   * as its argv. Rendered quoted as `"|argv..."`; each word a plain token.
   */
  acctPipe?: readonly string[] | null;
  dkim: readonly PmtaDkimInput[];
  throttles?: ThrottleOptions;
  /** Feedback-loop and bounce processors; off when absent. */
  processors?: ProcessorOptions;
}

export interface DomainKey {
  selector: string;
  domain: string;
  keyPath: string;
}

export interface VmtaModel {
  name: string;
  address: string;
  hostname: string;
  /**
   * warming/active: in the pool. paused: defined but out of the pool; the
   * service pauses its queues. draining: a retired IP kept defined, out of the
   * pool, so the mail PowerMTA holds for it is delivered.
   */
  state: 'warming' | 'active' | 'paused' | 'draining';
  phase: string;
  dailyCap: number;
  domainKeys: DomainKey[];
  /**
   * The VMTA's `<domain>` blocks, one pattern each (§3.3.10 takes one per
   * tag): a warming IP's per-destination limits with the catch-all `*` last;
   * an active IP with DKIM keys gets a bare `*` block to sign; otherwise none.
   */
  domains: VmtaDomainModel[];
}

export interface VmtaDomainModel {
  /** `gmail.com`, or `*`. */
  pattern: string;
  /** The throttle group it belongs to, for a comment; null for the signing-only block. */
  label: string | null;
  /** e.g. `20/h`; null when the block only signs. */
  maxMsgRate: string | null;
  /**
   * `dkim-sign yes`: off by default (§3.3.10.19), so without it the
   * domain-key lines sign nothing. Set in every block of a VMTA that has keys,
   * not only in `*`, so no merge rule decides whether mail is signed.
   */
  dkimSign: boolean;
}

export interface TenantModel {
  slug: string;
  name: string;
  /** Null when the tenant has no warming or active IP: an empty pool is not rendered. */
  pool: { name: string; vmtas: string[] } | null;
  /** Every defined VMTA: warming, active, paused and draining. */
  vmtas: VmtaModel[];
  /** Domains of the tenant with no DKIM key yet (mail from them goes out unsigned). */
  unsignedDomains: string[];
}

export interface PmtaRenderModel {
  source: { host: string };
  acct: {
    /** The `<acct-file ...>` argument: the file path, or `"|program args"` (quoted, §11.3). */
    target: string;
    /** The file path, null for a pipe. */
    path: string | null;
    records: string[];
    recordFields: Array<{ type: string; fields: string[] }>;
    headerMaps: Array<{ type: string; header: string; field: string }>;
    /**
     * No move-to/move-interval: move-interval without move-to is ignored
     * (§3.3.11.2), and a file moved out of the directory would leave the
     * tailer. PowerMTA starts a new file in place at max-size and deletes
     * files after delete-after (§3.3.11.1, §3.3.11.4).
     */
    maxSize: string;
    deleteAfter: string;
  };
  tenants: TenantModel[];
  processors: ProcessorsModel;
}

const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
// A value PowerMTA reads as one token: no whitespace, no comment or block
// characters, and no comma (domain-key splits its argument on commas).
const PATH_RE = /^[^\s#<>,"]+$/;

const PIPE_WORD_RE = /^[^\s#<>"\\]+$/;

function checkAcctTarget(file: string, pipe: readonly string[] | null): { target: string; path: string | null } {
  if (pipe !== null) {
    if (pipe.length === 0 || !pipe.every((w) => PIPE_WORD_RE.test(w)) || !pipe[0]!.startsWith('/')) {
      throw new PmtaModelError('acctPipe', 'must be an absolute program path and plain words, without spaces, quotes, # or < >');
    }
    return { target: `"|${pipe.join(' ')}"`, path: null };
  }
  if (!PATH_RE.test(file) || !file.startsWith('/')) {
    throw new PmtaModelError('acctFile', 'must be an absolute path without spaces, commas, quotes, # or < >');
  }
  return { target: file, path: file };
}

function vmtaDomains(throttles: readonly DomainThrottle[], dkimSign: boolean): VmtaDomainModel[] {
  const out: VmtaDomainModel[] = throttles.flatMap((t) => t.domains.map((pattern) => ({ pattern, label: t.label, maxMsgRate: t.maxMsgRate, dkimSign })));
  if (out.length === 0 && dkimSign) out.push({ pattern: '*', label: null, maxMsgRate: null, dkimSign });
  return out;
}

function checkSource(host: string): string {
  const [addr, prefix, ...rest] = host.split('/');
  const okAddr = addr !== undefined && isIpAddress(addr);
  const max = addr !== undefined && isIpv4(addr) ? 32 : 128;
  const okPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
  if (!okAddr || !okPrefix || rest.length > 0) {
    throw new PmtaModelError('source.host', `must be an IP address or CIDR range, got ${JSON.stringify(host)}`);
  }
  return host;
}

/**
 * Builds the render model. Sorted throughout (tenants by slug, IPs by address,
 * domains and keys by name) so the output depends only on the state.
 *
 * Per IP state:
 * - warming: a VMTA with per-destination `max-msg-rate` limits derived from
 *   today's cap, so PowerMTA cannot burst past the warmup even if mail reaches
 *   it by another path; in the pool.
 * - active: a VMTA without warmup limits; in the pool.
 * - paused: a VMTA without warmup limits, out of the pool. Not undefined:
 *   a queued message whose VMTA does not exist at delivery time is bounced
 *   (§8.5.2, 5.3.5), and those bounces would reach MailWizz as dead
 *   subscribers. The gate never names a paused IP; the mail PowerMTA already
 *   holds for it is held by pausing every queue of the VMTA (`pmta pause queue`,
 *   §6.3.23), which the service does around the apply.
 * - retired, draining: the same VMTA out of the pool with its queues running,
 *   until the service judges them drained.
 * - retired: not rendered at all.
 */
export function buildPmtaModel(input: PmtaStateInput): PmtaRenderModel {
  const throttles = checkThrottles(input.throttles ?? DEFAULT_THROTTLES);
  const source = { host: checkSource(input.source.host) };
  const acctTarget = checkAcctTarget(input.acctFile, input.acctPipe ?? null);

  const keysByDomain = new Map<string, DomainKey[]>();
  input.dkim.forEach((k, i) => {
    const domain = validateDomain(k.domain, `dkim[${i}].domain`);
    const selector = validateSelector(k.selector, `dkim[${i}].selector`);
    if (!PATH_RE.test(k.keyPath)) {
      throw new PmtaModelError(`dkim[${i}].keyPath`, 'must be a path without spaces, commas, quotes, # or < >');
    }
    const list = keysByDomain.get(domain) ?? [];
    if (list.some((e) => e.selector === selector)) {
      throw new PmtaModelError(`dkim[${i}]`, `two keys for selector ${selector} of ${domain}`);
    }
    list.push({ selector, domain, keyPath: k.keyPath });
    keysByDomain.set(domain, list);
  });

  const slugs = new Set<string>();
  const ipOwner = new Map<string, string>();
  const domainOwner = new Map<string, string>();

  const tenants = input.tenants.map((t, ti): TenantModel => {
    const at = `tenants[${ti}]`;
    if (!SLUG_RE.test(t.slug)) throw new PmtaModelError(`${at}.slug`, 'must be lowercase letters, digits and dashes');
    if (slugs.has(t.slug)) throw new PmtaModelError(`${at}.slug`, `duplicate tenant slug ${t.slug}`);
    slugs.add(t.slug);

    const domains = [
      ...new Set(
        t.domains.map((d, di) => {
          const name = validateDomain(d, `${at}.domains[${di}]`);
          const owner = domainOwner.get(name);
          if (owner !== undefined && owner !== t.slug) {
            throw new PmtaModelError(`${at}.domains[${di}]`, `${name} already belongs to tenant ${owner}`);
          }
          domainOwner.set(name, t.slug);
          return name;
        }),
      ),
    ].sort(compareStrings);
    const domainKeys = domains
      .flatMap((d) => keysByDomain.get(d) ?? [])
      .sort((a, b) => compareStrings(a.domain, b.domain) || compareStrings(a.selector, b.selector));
    const unsignedDomains = domains.filter((d) => !keysByDomain.has(d));

    const vmtas: VmtaModel[] = [];
    t.ips.forEach((ip, ii) => {
      const ipAt = `${at}.ips[${ii}]`;
      if (!isIpAddress(ip.address)) throw new PmtaModelError(`${ipAt}.address`, `not an IP address: ${JSON.stringify(ip.address)}`);
      const owner = ipOwner.get(ip.address);
      if (owner !== undefined) {
        throw new PmtaModelError(`${ipAt}.address`, `${ip.address} is listed twice (first under tenant ${owner})`);
      }
      ipOwner.set(ip.address, t.slug);
      const hostname = validateDomain(ip.hostname, `${ipAt}.hostname`);
      if (!(Number.isFinite(ip.dailyCap) && ip.dailyCap >= 0)) {
        throw new PmtaModelError(`${ipAt}.dailyCap`, `must be a non-negative number, got ${ip.dailyCap}`);
      }
      if (!/^[A-Za-z0-9_-]{1,40}$/.test(ip.phase)) throw new PmtaModelError(`${ipAt}.phase`, `unexpected phase ${JSON.stringify(ip.phase)}`);
      const name = vmtaName(t.slug, ip.address);
      const vmta = (state: VmtaModel['state']): VmtaModel => ({
        name,
        address: ip.address,
        hostname,
        state,
        phase: ip.phase,
        dailyCap: ip.dailyCap,
        domainKeys: domainKeys.map((k) => ({ ...k })),
        domains: vmtaDomains(state === 'warming' ? warmupThrottles(ip.dailyCap, throttles) : [], domainKeys.length > 0),
      });
      switch (ip.state) {
        case 'retired':
          if (ip.draining === true) vmtas.push(vmta('draining'));
          return;
        case 'paused':
        case 'warming':
        case 'active':
          vmtas.push(vmta(ip.state));
          return;
        default:
          throw new PmtaModelError(`${ipAt}.state`, `unknown IP state ${JSON.stringify(ip.state)}`);
      }
    });
    vmtas.sort((a, b) => compareAddresses(a.address, b.address));
    const pooled = vmtas.filter((v) => v.state === 'warming' || v.state === 'active');

    return {
      slug: t.slug,
      name: t.name,
      pool: pooled.length > 0 ? { name: poolName(t.slug), vmtas: pooled.map((v) => v.name) } : null,
      vmtas,
      unsignedDomains,
    };
  });
  tenants.sort((a, b) => compareStrings(a.slug, b.slug));

  return {
    source,
    acct: {
      ...acctTarget,
      records: [...ACCT_RECORDS],
      recordFields: ACCT_RECORD_FIELDS.map((r) => ({ type: r.type, fields: [...r.fields] })),
      headerMaps: ACCT_HEADER_MAPS.map((m) => ({ ...m })),
      // A size cap the tailer follows in place, and a week of history for a
      // tailer that was down.
      maxSize: '50M',
      deleteAfter: '8d',
    },
    tenants,
    processors: processorsModel([...domainOwner.keys()], input.processors),
  };
}
