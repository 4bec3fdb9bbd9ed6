import { Hono } from 'hono';
import type { ApiDeps, Env } from '../context.js';
import { probePmta } from '../../forward/pmta-probe.js';

/** PowerMTA as probed now (connect and greeting), and what the last hand-off met. */
export async function pmtaStatus(deps: Pick<ApiDeps, 'cfg' | 'health'>) {
  const { host, port, connectTimeoutMs } = deps.cfg().pmta;
  const probe = await probePmta(host, port, Math.min(connectTimeoutMs, 3_000));
  return {
    target: `${host}:${port}`,
    reachable: probe.reachable,
    ...(probe.reachable ? { greeting: probe.greeting } : { probe_error: probe.error }),
    probe_ms: probe.ms,
    last_handoff_error: deps.health.lastError,
    last_error: probe.reachable ? null : probe.error,
  };
}

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
      pmta: await pmtaStatus(deps),
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
