import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { IpQuotaView } from '../../gate/gate.js';
import type { TenantRecord } from '../../tenants/registry.js';
import { composeMessage } from '../../templates/compose.js';
import { renderMessage, validateTemplate, type TemplateSource } from '../../templates/render.js';
import { InvalidTemplateError, type TemplateStore } from '../../templates/store.js';
import type { SubmitFn, SubmitOutcome } from '../../templates/submit.js';
import type { ApiDeps, Env } from '../context.js';
import { ApiError, body } from '../errors.js';
import { htmlSource, subjectSource, tenantRef, textSource, variablesInput, withTemplateErrors } from './templates.js';

export type MessageRouteDeps = Pick<ApiDeps, 'admin' | 'gate' | 'clock' | 'cfg'>;

const sendInput = z
  .object({
    tenant: tenantRef,
    /** A stored template, by name or id; or subject + html (+ text) inline. */
    template: z.union([z.string().min(1), z.number().int().positive()]).optional(),
    subject: subjectSource.optional(),
    html: htmlSource.optional(),
    text: textSource.optional(),
    to: z.email(),
    variables: variablesInput.default({}),
    from: z.email().optional(),
    from_name: z.string().min(1).max(200).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.template !== undefined) {
      for (const k of ['subject', 'html', 'text'] as const) {
        if (v[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `give a template or ${k} inline, not both` });
      }
      return;
    }
    if (v.subject === undefined) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'give a template, or subject and html' });
    if (v.html === undefined) ctx.addIssue({ code: 'custom', path: ['html'], message: 'give a template, or subject and html' });
  });

// The HTTP status of a refusal (forwarded is 200, spooled 202); the body always says what happened.
const REFUSED_STATUS: Record<Extract<SubmitOutcome, { kind: 'refused' }>['reason'], ContentfulStatusCode> = {
  suppressed: 422,
  sender: 422,
  'no-tenant': 404,
  // Transient: the caller may try again later.
  pmta: 503,
  'spool-full': 503,
};

const usable = (s: IpQuotaView) => s.state === 'warming' || s.state === 'active';

/** The sender: the given address if it is on one of the tenant's domains, else noreply@ the first domain by name. */
function senderFor(tenant: TenantRecord, from: string | undefined): string {
  const domains = [...tenant.domains].map((d) => d.toLowerCase()).sort();
  if (from === undefined) {
    if (domains.length === 0) throw new ApiError(400, 'invalid', `tenant ${tenant.slug} has no sending domain to send from`, 'from');
    return `noreply@${domains[0]}`;
  }
  const domain = from.slice(from.lastIndexOf('@') + 1).toLowerCase();
  if (!domains.includes(domain)) {
    throw new ApiError(400, 'invalid', `${from} is not on a domain of tenant ${tenant.slug} (${domains.join(', ') || 'none'})`, 'from');
  }
  return from;
}

function quotaInfo(snap: IpQuotaView[], ip: string | null) {
  const s = ip === null ? undefined : snap.find((x) => x.ip === ip);
  if (s) return { scope: 'ip' as const, ip: s.ip, daily_quota: s.cap, sent_today: s.committed, remaining_today: s.remaining };
  // No IP took the message (spooled or refused): what the tenant has left today.
  const live = snap.filter(usable);
  return {
    scope: 'tenant' as const,
    ip: null,
    daily_quota: live.reduce((a, x) => a + x.cap, 0),
    sent_today: live.reduce((a, x) => a + x.committed, 0),
    remaining_today: live.reduce((a, x) => a + x.remaining, 0),
  };
}

export function messageRoutes(deps: MessageRouteDeps, store: TemplateStore, submit: SubmitFn) {
  const app = new Hono<Env>();

  /**
   * One transactional message: render, compose, then the same gate as SMTP
   * ingress (suppression, quota, IP choice, stamping, forward or spool). The
   * answer is the seed's send shape with this recipient's outcome.
   */
  app.post('/send', (c) =>
    withTemplateErrors(c, async () => {
      const input = await body(c, sendInput);
      const tenant = deps.admin.tenantOrThrow(input.tenant);
      const stored = input.template === undefined ? null : store.getOrThrow(tenant.id, input.template);
      const source: TemplateSource = stored ?? { subject: input.subject!, html: input.html!, text: input.text };
      if (!stored) {
        const v = validateTemplate(source);
        if (!v.ok) throw new InvalidTemplateError(v.errors);
      }
      const mailFrom = senderFor(tenant, input.from);
      // [EMAIL] and {{ email }} are the recipient unless the caller says otherwise.
      const variables = { email: input.to, ...input.variables };
      const now = deps.clock.now();
      const rendered = renderMessage(source, variables, { now, timeZone: deps.cfg().warmup.timezone });
      const { messageId, message } = composeMessage(
        { from: { address: mailFrom, name: input.from_name }, to: input.to, ...rendered, tenant: tenant.slug, template: stored?.name ?? null },
        { now },
      );

      let outcome: SubmitOutcome;
      try {
        outcome = await submit({ tenant: tenant.slug, mailFrom, rcptTo: input.to, message });
      } finally {
        // A refusal before DATA leaves the message unread.
        if (!message.readableEnded) message.destroy();
      }

      const ip = outcome.kind === 'forwarded' ? outcome.ip : null;
      const snap = await deps.gate.snapshot(tenant);
      const status = outcome.kind === 'forwarded' ? 200 : outcome.kind === 'spooled' ? 202 : REFUSED_STATUS[outcome.reason];
      return c.json(
        {
          success: outcome.kind !== 'refused',
          tenant: tenant.slug,
          template: stored?.name ?? null,
          total_recipients: 1,
          recipient: input.to,
          from: mailFrom,
          outcome: outcome.kind,
          message_id: messageId,
          ip_used: ip,
          vmta: outcome.kind === 'forwarded' ? outcome.vmta : null,
          ip_status: ip === null ? null : (snap.find((s) => s.ip === ip)?.state ?? null),
          ...(outcome.kind === 'forwarded' ? { response: outcome.response } : {}),
          ...(outcome.kind === 'spooled' ? { spool_id: outcome.id, reason: outcome.reason } : {}),
          ...(outcome.kind === 'refused' ? { reason: outcome.reason, code: outcome.code, response: outcome.response } : {}),
          quota_info: quotaInfo(snap, ip),
        },
        status,
      );
    }),
  );

  return app;
}
