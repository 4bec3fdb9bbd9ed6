import { Hono } from 'hono';
import { z } from 'zod';
import { day, hostname, ipv4, slug, tenantName } from '../../config/schema.js';
import { IP_STATES } from '../../types.js';
import type { TenantRecord } from '../../tenants/registry.js';
import type { ApiDeps, Env } from '../context.js';
import { body } from '../errors.js';

export function tenantJson(t: TenantRecord) {
  return {
    id: t.id,
    slug: t.slug,
    name: t.name,
    domains: [...t.domains].sort(),
    ips: t.ips.map((i) => ({ address: i.address, hostname: i.hostname, state: i.state, warmup_start: i.warmupStart, vmta: i.vmta })),
    pool: `${t.slug}-pool`,
  };
}

const ipInput = z
  .object({
    address: ipv4,
    hostname,
    state: z.enum(IP_STATES).optional(),
    warmupStart: day.optional(),
  })
  .strict();

export function tenantRoutes(deps: ApiDeps) {
  const app = new Hono<Env>();

  app.get('/', (c) => c.json({ tenants: deps.registry.tenants().map(tenantJson) }));

  app.post('/', async (c) => {
    const input = await body(
      c,
      z
        .object({
          id: z.number().int().positive().optional(),
          slug,
          name: tenantName,
          users: z.array(z.object({ username: z.string().min(2).max(255), password: z.string().min(8) }).strict()).default([]),
          domains: z.array(hostname).default([]),
          ips: z.array(ipInput).default([]),
        })
        .strict(),
    );
    // All or nothing: a conflict on any user, domain or IP leaves no tenant behind.
    const t = await deps.admin.createTenant(c.get('actor'), input);
    return c.json(tenantJson(t), 201);
  });

  app.get('/:tenant', (c) => c.json(tenantJson(deps.admin.tenantOrThrow(c.req.param('tenant')))));

  app.patch('/:tenant', async (c) => {
    const input = await body(c, z.object({ name: tenantName.optional() }).strict());
    return c.json(tenantJson(deps.admin.updateTenant(c.get('actor'), c.req.param('tenant'), input)));
  });

  app.put('/:tenant/users', async (c) => {
    const input = await body(c, z.object({ username: z.string().min(2).max(255), password: z.string().min(8) }).strict());
    await deps.admin.setUser(c.get('actor'), c.req.param('tenant'), input);
    return c.json({ ok: true, username: input.username });
  });

  // Revocation: the user's next AUTH fails (535) and its open sessions end at their next command.
  app.delete('/:tenant/users/:username', (c) => {
    const username = c.req.param('username');
    const r = deps.admin.removeUser(c.get('actor'), c.req.param('tenant'), username);
    return c.json({
      ok: true,
      username,
      ...(r.declaredInConfig ? { warning: 'the config file declares this user: it comes back at the next reload unless removed from the file' } : {}),
    });
  });

  // The seed's add_domain.py: a sending domain, optionally with its IP (warmup starts today).
  app.post('/:tenant/domains', async (c) => {
    const input = await body(c, z.object({ domain: hostname, ip: ipv4.optional(), hostname: hostname.optional() }).strict());
    const actor = c.get('actor');
    const ref = c.req.param('tenant');
    deps.admin.addDomain(actor, ref, input.domain);
    if (input.ip) deps.admin.addIp(actor, ref, { address: input.ip, hostname: input.hostname ?? `mail.${input.domain.toLowerCase()}` });
    return c.json(tenantJson(deps.admin.tenantOrThrow(ref)), 201);
  });

  app.delete('/:tenant/domains/:domain', (c) => {
    deps.admin.removeDomain(c.get('actor'), c.req.param('tenant'), c.req.param('domain'));
    return c.json({ ok: true });
  });

  app.post('/:tenant/ips', async (c) => {
    const input = await body(c, ipInput);
    deps.admin.addIp(c.get('actor'), c.req.param('tenant'), input);
    return c.json(tenantJson(deps.admin.tenantOrThrow(c.req.param('tenant'))), 201);
  });

  return app;
}
