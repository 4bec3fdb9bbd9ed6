// Ingress: the SMTP listener MailWizz talks to, and the same transaction steps
// for messages the API composes.
import { AuthCache } from '../auth/password.js';
import type { Config } from '../config/schema.js';
import { createIngress, type Ingress } from '../ingress/smtp.js';
import { createSubmit } from '../ingress/submit.js';
import type { SubmitFn } from '../templates/submit.js';
import type { PartContext } from './context.js';
import type { ForwardingPart } from './forwarding.js';
import type { QuotaPart } from './quota.js';
import type { StorePart } from './store.js';

export interface IngressPart {
  ingress: Ingress;
  submit: SubmitFn;
  reload(next: Config): void;
}

export function ingressPart(
  ctx: PartContext,
  store: StorePart,
  quota: QuotaPart,
  forwarding: ForwardingPart,
): IngressPart {
  const cfg = ctx.cfg();
  const authCache = new AuthCache(cfg.smtp.authCacheTtlMs);
  // A deleted user or a reset password must stop working now, not when its cache entry ages out.
  store.admin.onChange((kind) => kind === 'user' && authCache.clear());
  const ingress = createIngress(
    cfg.smtp,
    {
      registry: store.registry,
      gate: quota.gate,
      ledger: quota.ledger,
      forwarder: forwarding.forwarder,
      spool: forwarding.spool,
      health: forwarding.health,
      settler: forwarding.settler,
      clock: ctx.clock,
      log: ctx.log,
      metrics: ctx.metrics,
      suppression: store.suppression,
      authCache,
      spoolLimits: forwarding.spoolLimits,
      jobFallback: forwarding.jobFallback,
    },
    () => ctx.cfg().smtp,
  );
  return {
    ingress,
    submit: createSubmit(ingress.reception, store.registry),
    reload() {
      // A changed password must stop working now, not when its cache entry ages out.
      authCache.clear();
    },
  };
}
