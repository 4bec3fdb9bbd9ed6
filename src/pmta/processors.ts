// The inbound side of the agent's PowerMTA config: which addresses PowerMTA
// inspects for complaints (feedback-loop reports, guide §12.7) and remote
// bounces (§12.6), derived from the tenants' domains. Pure.
import { PmtaModelError, validateDomain } from './names.js';

export interface ProcessorOptions {
  /** Complaints arrive at `<localPart>@<subdomain>.<tenant domain>`, the address registered with each FBL. */
  feedbackLoop: { enabled: boolean; subdomain: string; localPart: string };
  /** Remote bounces arrive at any address of `<subdomain>.<tenant domain>`, the Return-Path domain MailWizz sends with. */
  bounce: { enabled: boolean; subdomain: string };
  /** Reports PowerMTA cannot read go here (forward-unmatched-to, forward-errors-to); null drops them. */
  forwardTo: string | null;
}

export const PROCESSORS_OFF: ProcessorOptions = Object.freeze({
  feedbackLoop: Object.freeze({ enabled: false, subdomain: 'fbl', localPart: 'fbl' }),
  bounce: Object.freeze({ enabled: false, subdomain: 'bounce' }),
  forwardTo: null,
}) as ProcessorOptions;

export interface ProcessorsModel {
  /** `fbl@fbl.a.example`, one per tenant domain; null when FBL processing is off. */
  feedbackLoop: { addresses: string[] } | null;
  /** `bounce.a.example`, one per tenant domain; null when bounce processing is off. */
  bounce: { domains: string[] } | null;
  forwardTo: string | null;
  /**
   * Every domain PowerMTA must receive for: `relay-domain` (§3.3.1.32.2) and a
   * `<domain X> type discard` (§12.4) so what the processors pass on (a
   * failed or unmatched report always goes on to delivery, §12.7) is not
   * sent to the MX, which is PowerMTA itself, in a loop.
   */
  inboundDomains: string[];
}

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_RE = /^[a-z0-9]([a-z0-9._+-]{0,62}[a-z0-9])?$/;
const EMAIL_RE = /^[^\s@<>",#]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;

export function processorsModel(tenantDomains: readonly string[], opts: ProcessorOptions = PROCESSORS_OFF): ProcessorsModel {
  const fbl = opts.feedbackLoop;
  const bounce = opts.bounce;
  if (fbl.enabled && !LABEL_RE.test(fbl.subdomain)) throw new PmtaModelError('processors.feedbackLoop.subdomain', 'must be one DNS label');
  if (fbl.enabled && !LOCAL_RE.test(fbl.localPart)) throw new PmtaModelError('processors.feedbackLoop.localPart', 'must be a plain local part (letters, digits, . _ + -)');
  if (bounce.enabled && !LABEL_RE.test(bounce.subdomain)) throw new PmtaModelError('processors.bounce.subdomain', 'must be one DNS label');
  if (fbl.enabled && bounce.enabled && fbl.subdomain === bounce.subdomain) {
    throw new PmtaModelError('processors.bounce.subdomain', 'must differ from processors.feedbackLoop.subdomain');
  }
  if (opts.forwardTo !== null && !EMAIL_RE.test(opts.forwardTo)) throw new PmtaModelError('processors.forwardTo', 'must be an email address');

  const domains = [...new Set(tenantDomains)].sort();
  const under = (sub: string) => domains.map((d) => validateDomain(`${sub}.${d}`, `processors (${sub}.${d})`));
  const fblDomains = fbl.enabled ? under(fbl.subdomain) : [];
  const bounceDomains = bounce.enabled ? under(bounce.subdomain) : [];
  return {
    feedbackLoop: fbl.enabled && fblDomains.length > 0 ? { addresses: fblDomains.map((d) => `${fbl.localPart}@${d}`) } : null,
    bounce: bounce.enabled && bounceDomains.length > 0 ? { domains: bounceDomains } : null,
    forwardTo: opts.forwardTo,
    inboundDomains: [...fblDomains, ...bounceDomains].sort(),
  };
}
