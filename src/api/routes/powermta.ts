import { Hono } from 'hono';
import { dkimDirOf } from '../../config/load.js';
import { dkimDnsRecord, dmarcRecord, ensureDkimKey, spfRecord, validateDomain, validateSelector } from '../../pmta/dkim.js';
import { mailwizzDeliveryServer, tenantQuotas } from '../../pmta/mailwizz.js';
import type { PmtaConfigService } from '../../pmta/service.js';
import { poolName } from '../../types.js';
import type { ApiDeps, Env } from '../context.js';
import { ApiError } from '../errors.js';

/** The seed's PowerMTA config API, served from the agent's state. */
export function powermtaRoutes(deps: ApiDeps, pmta: PmtaConfigService) {
  const app = new Hono<Env>();

  app.get('/config/download', async (c) => {
    const text = await pmta.render();
    return c.body(text, 200, { 'content-type': 'text/plain; charset=utf-8', 'content-disposition': 'attachment; filename="pmta-agent.conf"' });
  });

  app.get('/config/:tenant', async (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    return c.body(await pmta.render(t), 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  app.post('/apply', async (c) => {
    const result = await pmta.apply();
    const ok = result.kind === 'applied' || result.kind === 'unchanged';
    return c.json({ ok, ...result }, ok ? 200 : 502);
  });

  app.get('/status', (c) => c.json({ last: pmta.status.last(), last_success: pmta.status.lastSuccess(), failing: pmta.status.failing }));

  app.get('/vmta/:tenant', async (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const snap = await deps.gate.snapshot(t);
    const cfg = deps.cfg();
    return c.json({
      tenant_id: t.id,
      tenant: t.slug,
      pool: poolName(t.slug),
      total_ips: snap.filter((s) => s.state !== 'retired').length,
      active_ips: snap.filter((s) => s.state === 'active').length,
      warming_ips: snap.filter((s) => s.state === 'warming').length,
      paused_ips: snap.filter((s) => s.state === 'paused').length,
      delivery: { host: cfg.mailwizz.smtpHost ?? cfg.smtp.host, port: cfg.smtp.port },
      vmtas: snap.map((s) => ({
        name: s.vmta,
        ip_address: s.ip,
        hostname: s.hostname,
        state: s.state,
        phase: s.phase,
        daily_quota: s.cap,
        sent_today: s.committed,
        remaining: s.remaining,
        in_pool: s.state === 'warming' || s.state === 'active',
      })),
    });
  });

  app.get('/mailwizz-delivery-server/:tenant', (c) => {
    const t = deps.admin.tenantOrThrow(c.req.param('tenant'));
    const cfg = deps.cfg();
    const q = tenantQuotas(pmta.capsOf(t), cfg.mailwizz.sendingHours);
    const username = deps.db.prepare('SELECT username FROM smtp_users WHERE tenant_id = ? ORDER BY username LIMIT 1').get(t.id) as
      | { username: string }
      | undefined;
    // The tenant's main domain: the first the config file declares, else the first one stored (rowid: order of creation).
    const first = deps.db.prepare('SELECT domain FROM domains WHERE tenant_id = ? ORDER BY rowid LIMIT 1').get(t.id) as { domain: string } | undefined;
    const domain = cfg.tenants.find((x) => x.slug === t.slug)?.domains[0] ?? first?.domain ?? 'example.com';
    return c.json(
      mailwizzDeliveryServer({
        tenant: { slug: t.slug, name: t.name, domains: [...t.domains] },
        smtpHost: cfg.mailwizz.smtpHost ?? cfg.smtp.host,
        smtpPort: cfg.smtp.port,
        username: username?.username ?? '',
        fromEmail: `newsletter@${domain}`,
        fromName: t.name,
        hourlyQuota: q.hourly,
        dailyQuota: q.daily,
        maxConnectionMessages: cfg.mailwizz.maxConnectionMessages,
        pmtaReplyTimeoutMs: cfg.pmta.replyTimeoutMs,
      }),
    );
  });

  app.get('/dkim/:domain', async (c) => {
    // Validated before anything touches the disk: the name becomes part of a file path.
    const domain = validateDomain(c.req.param('domain'), 'domain');
    const selector = validateSelector(c.req.query('selector') ?? deps.cfg().pmta.dkimSelector, 'selector');
    const owner = deps.registry.tenants().find((t) => t.domains.has(domain));
    if (!owner) throw new ApiError(404, 'not_found', `domain ${domain} belongs to no tenant`);
    const key = await ensureDkimKey(dkimDirOf(deps.cfg()), domain, selector);
    const ips = owner.ips.filter((i) => i.state !== 'retired').map((i) => i.address);
    const rua = deps.cfg().pmta.dmarcRua;
    return c.json({
      domain,
      tenant: owner.slug,
      selector,
      created: key.created,
      dkim: dkimDnsRecord(domain, selector, key.publicKeyPem),
      spf: spfRecord(domain, ips),
      dmarc: dmarcRecord(domain, rua ?? undefined),
    });
  });

  return app;
}
