import { Hono } from 'hono';
import type { ApiDeps, Env } from '../context.js';

export function statusRoutes(deps: ApiDeps) {
  const app = new Hono<Env>();

  app.get('/status', async (c) => {
    const now = deps.clock.now();
    const tenants = deps.registry.tenants();
    const extra = Object.assign({}, ...deps.statusParts.map((p) => p()));
    return c.json({
      version: '0.1.0',
      started_at: deps.startedAt.toISOString(),
      uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
      day: deps.gate.today(),
      smtp: { listen: `${deps.cfg().smtp.host}:${deps.cfg().smtp.port}`, sessions_open: deps.sessions(), messages_in_flight: deps.messagesInFlight() },
      pmta: { target: `${deps.cfg().pmta.host}:${deps.cfg().pmta.port}`, reachable: !deps.health.isDown(), last_error: deps.health.lastError },
      spool: { messages: deps.spool.size(), by_tenant: Object.fromEntries(tenants.map((t) => [t.slug, deps.spool.size(t.id)])) },
      reservations_in_flight: (await deps.ledger.inFlight()).length,
      tenants: tenants.length,
      ips: tenants.reduce((a, t) => a + t.ips.length, 0),
      now: now.toISOString(),
      ...extra,
    });
  });

  app.get('/reservations', async (c) =>
    c.json({ reservations: (await deps.ledger.inFlight()).map((r) => ({ id: r.id, ip: r.ip, day: r.day, units: r.n, expires_at: r.expiresAt.toISOString() })) }),
  );

  app.get('/audit', (c) => c.json({ entries: deps.admin.auditLog(c.req.query('subject'), Number(c.req.query('limit') ?? 100) || 100) }));

  return app;
}
