import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Scope } from '../auth/tokens.js';
import type { Logger } from '../log/logger.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Env } from './context.js';

/**
 * Where a route finds the tenant it reads or changes, so a token limited to some
 * tenants is checked before the handler runs (rule 4: one tenant never acts as another):
 * a path parameter naming the tenant, an IP or a domain it owns, a field of the JSON
 * body; `all` for routes that span every tenant (refused to a limited token);
 * `none` for routes that touch no tenant's data.
 */
export type TenantAt = { param: string } | { ip: string } | { domain: string } | { body: string } | 'all' | 'none';

export interface RouteRule {
  scope: Scope;
  tenant: TenantAt;
}

const t = { param: 'tenant' } as const;
const ip = { ip: 'ip' } as const;

/**
 * Every API route and the scope it needs: the one place access is decided. A route
 * missing here stops the daemon at start (createApiApp), so none is open by accident.
 * `read` is for what changes nothing, including the POSTs that only compute
 * (quota check, template validate and preview). DKIM is `admin`: asking for the
 * records of a domain without a key creates the key.
 */
export const ROUTE_RULES: Record<string, RouteRule> = {
  'GET /api/v2/quotas/:tenant': { scope: 'read', tenant: t },
  'POST /api/v2/quotas/:tenant/check': { scope: 'read', tenant: t },
  'GET /api/v2/quotas/:tenant/forecast': { scope: 'read', tenant: t },
  'GET /api/v2/quotas/:tenant/ip/:ip': { scope: 'read', tenant: t },

  'GET /api/v2/tenants': { scope: 'read', tenant: 'all' },
  'POST /api/v2/tenants': { scope: 'admin', tenant: 'all' },
  'GET /api/v2/tenants/:tenant': { scope: 'read', tenant: t },
  'PATCH /api/v2/tenants/:tenant': { scope: 'admin', tenant: t },
  'PUT /api/v2/tenants/:tenant/users': { scope: 'admin', tenant: t },
  'DELETE /api/v2/tenants/:tenant/users/:username': { scope: 'admin', tenant: t },
  'POST /api/v2/tenants/:tenant/domains': { scope: 'admin', tenant: t },
  'DELETE /api/v2/tenants/:tenant/domains/:domain': { scope: 'admin', tenant: t },
  'POST /api/v2/tenants/:tenant/ips': { scope: 'admin', tenant: t },

  'GET /api/v2/ips': { scope: 'read', tenant: 'all' },
  'PATCH /api/v2/ips/:ip': { scope: 'admin', tenant: ip },
  'POST /api/v2/ips/:ip/pause': { scope: 'admin', tenant: ip },
  'POST /api/v2/ips/:ip/resume': { scope: 'admin', tenant: ip },
  'POST /api/v2/ips/:ip/retire': { scope: 'admin', tenant: ip },
  'POST /api/v2/ips/:ip/warmup': { scope: 'admin', tenant: ip },
  'GET /api/v2/ips/:ip/audit': { scope: 'read', tenant: ip },

  'GET /api/v2/status': { scope: 'read', tenant: 'all' },
  'GET /api/v2/reservations': { scope: 'read', tenant: 'all' },
  'GET /api/v2/audit': { scope: 'read', tenant: 'all' },

  'GET /api/v2/powermta/config/download': { scope: 'read', tenant: 'all' },
  'GET /api/v2/powermta/config/:tenant': { scope: 'read', tenant: t },
  'POST /api/v2/powermta/apply': { scope: 'admin', tenant: 'all' },
  'GET /api/v2/powermta/status': { scope: 'read', tenant: 'all' },
  'GET /api/v2/powermta/vmta/:tenant': { scope: 'read', tenant: t },
  'GET /api/v2/powermta/mailwizz-delivery-server/:tenant': { scope: 'read', tenant: t },
  'GET /api/v2/powermta/dkim/:domain': { scope: 'admin', tenant: { domain: 'domain' } },

  'POST /api/v2/templates/validate': { scope: 'read', tenant: 'none' },
  'POST /api/v2/templates': { scope: 'admin', tenant: { body: 'tenant' } },
  'GET /api/v2/templates/:tenant': { scope: 'read', tenant: t },
  'GET /api/v2/templates/:tenant/:name': { scope: 'read', tenant: t },
  'PUT /api/v2/templates/:tenant/:name': { scope: 'admin', tenant: t },
  'DELETE /api/v2/templates/:tenant/:name': { scope: 'admin', tenant: t },
  'POST /api/v2/templates/:tenant/:name/preview': { scope: 'read', tenant: t },

  'GET /api/v2/stats/:tenant/overview': { scope: 'read', tenant: t },
  'GET /api/v2/stats/:tenant/performance': { scope: 'read', tenant: t },

  'GET /api/v2/suppression/:tenant': { scope: 'read', tenant: t },
  'POST /api/v2/suppression/:tenant': { scope: 'admin', tenant: t },
  'DELETE /api/v2/suppression/:tenant/:email': { scope: 'admin', tenant: t },
  'GET /api/v2/suppression/:tenant/export': { scope: 'read', tenant: t },
  'POST /api/v2/suppression/:tenant/import': { scope: 'admin', tenant: t },

  // Records name VMTAs of any tenant, so a push token is never limited to tenants.
  'POST /api/v2/webhooks/powermta': { scope: 'accounting:push', tenant: 'all' },

  'POST /api/v2/messages/send': { scope: 'send', tenant: { body: 'tenant' } },
};

/** "METHOD /path" of each /api/ route registered on the app that has no rule (/healthz and /metrics are open). */
export function routesWithoutRule(routes: ReadonlyArray<{ method: string; path: string }>): string[] {
  const api = routes.filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'));
  return [...new Set(api.map((r) => `${r.method} ${r.path}`))].filter((k) => !(k in ROUTE_RULES));
}

/** The values of `:name` segments of a route pattern in a concrete path. */
function paramsOf(pattern: string, path: string): Record<string, string> {
  const want = pattern.split('/');
  const got = path.split('/');
  const out: Record<string, string> = {};
  want.forEach((seg, i) => {
    if (seg.startsWith(':') && got[i] !== undefined) {
      try {
        out[seg.slice(1)] = decodeURIComponent(got[i]!);
      } catch {
        out[seg.slice(1)] = got[i]!;
      }
    }
  });
  return out;
}

async function tenantOf(c: Context<Env>, at: TenantAt, params: Record<string, string>, registry: Registry): Promise<TenantRecord | undefined> {
  if (typeof at === 'string') return undefined;
  if ('param' in at) return registry.tenant(params[at.param] ?? '');
  if ('ip' in at) {
    const ref = params[at.ip];
    return registry.tenants().find((x) => x.ips.some((i) => i.address === ref || i.vmta === ref));
  }
  if ('domain' in at) {
    const d = (params[at.domain] ?? '').toLowerCase();
    return registry.tenants().find((x) => x.domains.has(d));
  }
  let parsed: unknown;
  try {
    // hono keeps the parsed body, so the handler reads the same one.
    parsed = await c.req.json();
  } catch {
    return undefined;
  }
  const ref = (parsed as Record<string, unknown> | null)?.[at.body];
  return typeof ref === 'string' || typeof ref === 'number' ? registry.tenant(ref) : undefined;
}

/**
 * After bearerAuth: the matched route's rule decides. A token without the scope
 * (or admin) gets 403; a token limited to tenants gets 403 for a route of another
 * tenant, of no resolvable tenant, or spanning every tenant.
 */
export function requireScopes(registry: Registry, log: Logger): MiddlewareHandler<Env> {
  return async (c, next) => {
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const route = matchedRoutes(c).find((r) => r.method === method);
    if (!route) return next(); // no such route: the 404 handler answers
    const key = `${method} ${route.path}`;
    const rule = ROUTE_RULES[key];
    const access = c.get('access');
    const deny = (message: string, extra: Record<string, unknown> = {}) => {
      log.warn('api.forbidden', { token: access.name, route: key, reason: message });
      return c.json({ error: 'forbidden', message, token: access.name, ...extra }, 403);
    };
    if (!rule) return deny(`${key} declares no scope (src/api/scopes.ts), so no token may call it`);
    if (!access.scopes.includes('admin') && !access.scopes.includes(rule.scope))
      return deny(`token ${access.name} lacks scope ${rule.scope}, which ${key} needs`, { scope: rule.scope });
    if (access.tenants && rule.tenant !== 'none') {
      if (rule.tenant === 'all') return deny(`${key} spans every tenant; token ${access.name} is limited to ${access.tenants.join(', ')}`);
      const tenant = await tenantOf(c, rule.tenant, paramsOf(route.path, c.req.path), registry);
      if (!tenant || !access.tenants.includes(tenant.slug))
        return deny(`token ${access.name} is limited to ${access.tenants.join(', ')}`);
    }
    await next();
  };
}
