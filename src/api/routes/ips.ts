import { Hono } from 'hono';
import { compareIpv4 } from '../../tenants/ip-order.js';
import { z } from 'zod';
import { day, hostname } from '../../config/schema.js';
import type { IpState } from '../../types.js';
import { startForDay } from '../../warmup/progression.js';
import { warmupDayNumber } from '../../warmup/schedule.js';
import type { ApiDeps, Env } from '../context.js';
import { ApiError, body } from '../errors.js';

const reasonBody = z.object({ reason: z.string().min(1, 'say why').max(500) }).strict();

export function ipRoutes(deps: ApiDeps) {
  const app = new Hono<Env>();

  const find = (ref: string) => {
    for (const t of deps.registry.tenants()) {
      const ip = t.ips.find((i) => i.address === ref || i.vmta === ref);
      if (ip) return { tenant: t, ip };
    }
    throw new ApiError(404, 'not_found', `IP ${ref} not found`);
  };

  app.get('/', (c) =>
    c.json({
      ips: deps.registry
        .tenants()
        .flatMap((t) => t.ips.map((i) => ({ address: i.address, tenant: t.slug, hostname: i.hostname, state: i.state, warmup_start: i.warmupStart, vmta: i.vmta })))
        .sort((a, b) => compareIpv4(a.address, b.address)),
    }),
  );

  app.patch('/:ip', async (c) => {
    const { ip } = find(c.req.param('ip'));
    const input = await body(c, z.object({ hostname: hostname.optional(), warmupStart: day.optional() }).strict());
    deps.admin.updateIp(c.get('actor'), ip.address, input);
    return c.json({ ok: true, ...find(ip.address).ip });
  });

  app.post('/:ip/pause', async (c) => {
    const { ip } = find(c.req.param('ip'));
    const { reason } = await body(c, reasonBody);
    if (ip.state === 'paused') return c.json({ ip: ip.address, state: 'paused', changed: false });
    const r = deps.admin.setIpState(c.get('actor'), ip.address, 'paused', reason);
    return c.json({ ip: ip.address, state: r.to, previous: r.from, changed: true });
  });

  app.post('/:ip/resume', async (c) => {
    const { ip } = find(c.req.param('ip'));
    const { reason } = await body(c, reasonBody);
    if (ip.state !== 'paused') throw new ApiError(409, 'conflict', `IP ${ip.address} is ${ip.state}, not paused`, 'state');
    // Back to what it was before the pause (warming or active).
    const lastPause = deps.admin.auditLog(`ip:${ip.address}`, 50).find((e) => e.action === 'ip.paused');
    const before = lastPause?.detail ? (JSON.parse(lastPause.detail) as { from?: IpState }).from : undefined;
    const to: IpState = before === 'active' ? 'active' : 'warming';
    const r = deps.admin.setIpState(c.get('actor'), ip.address, to, reason);
    return c.json({ ip: ip.address, state: r.to, previous: r.from, changed: true });
  });

  app.post('/:ip/retire', async (c) => {
    const { ip } = find(c.req.param('ip'));
    const { reason } = await body(c, reasonBody);
    const r = deps.admin.setIpState(c.get('actor'), ip.address, 'retired', reason);
    return c.json({ ip: ip.address, state: r.to, previous: r.from, changed: r.from !== r.to });
  });

  // Operator override of the warmup: jump to a day, and/or hold the current day until a date.
  app.post('/:ip/warmup', async (c) => {
    const { ip } = find(c.req.param('ip'));
    const input = await body(
      c,
      z
        .object({ day: z.number().int().min(1).max(400).optional(), start: day.optional(), hold_until: day.nullable().optional() })
        .strict()
        .refine((v) => v.day !== undefined || v.start !== undefined || v.hold_until !== undefined, {
          message: 'give day (or start) and/or hold_until',
          path: ['day'],
        })
        .refine((v) => v.day === undefined || v.start === undefined, { message: 'give day or start, not both', path: ['start'] }),
    );
    const today = deps.gate.today();
    const start = input.day !== undefined ? startForDay(today, input.day) : input.start;
    deps.admin.setWarmup(c.get('actor'), ip.address, {
      ...(start !== undefined ? { warmupStart: start } : {}),
      ...(input.hold_until !== undefined ? { holdUntil: input.hold_until } : {}),
    });
    const now = find(ip.address).ip;
    return c.json({ ip: now.address, warmup_start: now.warmupStart, warmup_day: warmupDayNumber(now.warmupStart, today), hold_until: input.hold_until ?? null });
  });

  app.get('/:ip/audit', (c) => {
    const { ip } = find(c.req.param('ip'));
    return c.json({ ip: ip.address, entries: deps.admin.auditLog(`ip:${ip.address}`) });
  });

  return app;
}
