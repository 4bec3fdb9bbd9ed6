import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { bearerAuth } from './auth.js';
import { apiTokens } from '../auth/tokens.js';
import { requireScopes, routesWithoutRule } from './scopes.js';
import type { ApiDeps, Env } from './context.js';
import { ApiError, errorBody } from './errors.js';
import { ipRoutes } from './routes/ips.js';
import { quotaRoutes } from './routes/quotas.js';
import { statusRoutes } from './routes/status.js';
import { tenantRoutes } from './routes/tenants.js';
import type { Logger } from '../log/logger.js';

/** Extra route groups mounted under /api/v2 by other parts (PowerMTA config, stats, suppression). */
export type RouteMount = (app: Hono<Env>) => void;

export function createApiApp(deps: ApiDeps, log: Logger, mounts: RouteMount[] = []): Hono<Env> {
  const app = new Hono<Env>();

  // Open: monitoring must work without the token.
  app.get('/healthz', async (c) => {
    let storeOk = true;
    try {
      deps.db.prepare('SELECT 1').get();
    } catch {
      storeOk = false;
    }
    // Without the shared store nothing is forwarded (mail is spooled): the agent is not healthy.
    const shared = deps.sharedStore ? await deps.sharedStore() : null;
    const ok = deps.ready() && storeOk && shared !== false && deps.acceptingWrites();
    return c.json(
      { ok, ready: deps.ready(), store: storeOk, ...(shared !== null ? { shared_store: shared ? 'up' : 'down' } : {}), accepting: deps.acceptingWrites() },
      ok ? 200 : 503,
    );
  });
  app.get('/metrics', async (c) => c.text(await deps.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));

  app.use('/api/*', bearerAuth(() => apiTokens(deps.cfg()), () => deps.cfg().api.failureDelayMs));
  app.use('/api/*', requireScopes(deps.registry, log));
  // After the token check, so an anonymous client cannot make us read anything. A
  // body over the limit is cut off as it streams in (also without Content-Length).
  app.use('/api/*', (c, next) => {
    const maxSize = deps.cfg().api.maxBodyBytes;
    return bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError(413, 'too_large', `request body over api.maxBodyBytes (${maxSize} bytes)`, '(body)');
      },
    })(c, next);
  });
  app.use('/api/*', async (c, next) => {
    if (c.req.method !== 'GET' && !deps.acceptingWrites()) throw new ApiError(503, 'shutting_down', 'the agent is shutting down');
    await next();
  });

  app.route('/api/v2/quotas', quotaRoutes(deps));
  app.route('/api/v2/tenants', tenantRoutes(deps));
  app.route('/api/v2/ips', ipRoutes(deps));
  app.route('/api/v2', statusRoutes(deps));
  for (const mount of mounts) mount(app);

  const unruled = routesWithoutRule(app.routes);
  if (unruled.length) throw new Error(`API routes without a scope in src/api/scopes.ts ROUTE_RULES: ${unruled.join(', ')}`);

  app.notFound((c) => c.json({ error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => {
    const { status, body } = errorBody(err);
    if (status >= 500) log.error('api.error', { method: c.req.method, path: c.req.path, error: err });
    // The rest of a refused body is never read: the connection cannot carry another request.
    return c.json(body, status, status === 413 ? { connection: 'close' } : {});
  });
  return app;
}

