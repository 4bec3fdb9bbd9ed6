import { Hono } from 'hono';
import { z } from 'zod';
import type { IpQuotaView } from '../../gate/gate.js';
import type { TenantRecord } from '../../tenants/registry.js';
import { daysBetween, warmupDayNumber } from '../../warmup/schedule.js';
import type { ApiDeps, Env } from '../context.js';
import { ApiError, body, query } from '../errors.js';
import { forecast } from '../../warmup/forecast.js';

const usable = (s: IpQuotaView) => s.state === 'warming' || s.state === 'active';

function ipJson(s: IpQuotaView, tenant: TenantRecord, today: string) {
  const ip = tenant.ips.find((i) => i.address === s.ip)!;
  return {
    ip_address: s.ip,
    vmta: s.vmta,
    hostname: s.hostname,
    status: s.state,
    phase: s.phase,
    warmup_start: ip.warmupStart,
    warmup_day: Math.max(0, warmupDayNumber(ip.warmupStart, today as never)),
    daily_quota: s.cap,
    sent_today: s.committed,
    reserved: s.reserved,
    remaining: s.remaining,
  };
}

/** How n messages would spread over the IPs: most remaining first, as the gate picks them. */
export function splitOver(snap: IpQuotaView[], n: number): Array<{ ip_address: string; count: number }> {
  const out: Array<{ ip_address: string; count: number }> = [];
  let left = n;
  for (const s of [...snap].filter(usable).sort((a, b) => b.remaining - a.remaining || (a.ip < b.ip ? -1 : 1))) {
    if (left <= 0) break;
    const take = Math.min(left, s.remaining);
    if (take > 0) out.push({ ip_address: s.ip, count: take });
    left -= take;
  }
  return out;
}

export function quotaRoutes(deps: ApiDeps) {
  const app = new Hono<Env>();
  const tenantOf = (ref: string) => deps.admin.tenantOrThrow(ref);

  app.get('/:tenant', async (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const today = deps.gate.today();
    const snap = await deps.gate.snapshot(tenant, today, { allowStale: true });
    const live = snap.filter(usable);
    const stale = snap.some((s) => s.stale);
    return c.json({
      ...(stale ? { stale: true, note: 'the quota store is unavailable: counters as last read' } : { stale: false }),
      tenant_id: tenant.id,
      tenant: tenant.slug,
      name: tenant.name,
      day: today,
      timezone: deps.cfg().warmup.timezone,
      total_ips: snap.filter((s) => s.state !== 'retired').length,
      active_ips: snap.filter((s) => s.state === 'active').length,
      warming_ips: snap.filter((s) => s.state === 'warming').length,
      paused_ips: snap.filter((s) => s.state === 'paused').length,
      total_daily_capacity: live.reduce((a, s) => a + s.cap, 0),
      sent_today: live.reduce((a, s) => a + s.committed, 0),
      remaining_today: live.reduce((a, s) => a + s.remaining, 0),
      spooled: deps.spool.size(tenant.id),
      ips: snap.map((s) => ipJson(s, tenant, today)),
    });
  });

  app.post('/:tenant/check', async (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const { emails_to_send: n } = await body(c, z.object({ emails_to_send: z.number().int().positive() }).strict());
    const snap = await deps.gate.snapshot(tenant, deps.gate.today(), { allowStale: true });
    const remaining = snap.filter(usable).reduce((a, s) => a + s.remaining, 0);
    const best = [...snap].filter(usable).sort((a, b) => b.remaining - a.remaining)[0];
    const split = splitOver(snap, n);
    const canSend = n <= remaining;
    const oneIp = best !== undefined && best.remaining >= n;
    return c.json({
      stale: snap.some((s) => s.stale),
      tenant_id: tenant.id,
      emails_to_send: n,
      can_send: canSend,
      remaining_today: remaining,
      message: canSend
        ? oneIp
          ? `${n} emails fit on ${best!.ip} today`
          : `${n} emails fit today spread over ${split.length} IPs`
        : `only ${remaining} of ${n} emails fit today; the rest would wait in the spool for the next days`,
      recommended_ip: best && best.remaining > 0 ? best.ip : null,
      recommended_vmta: best && best.remaining > 0 ? best.vmta : null,
      split,
      overflow: Math.max(0, n - remaining),
    });
  });

  app.get('/:tenant/forecast', (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const q = query(
      c,
      z
        .object({
          days: z.coerce.number().int().min(1).max(730).default(42),
          add_ip_every: z.coerce.number().int().min(1).max(365).optional(),
          max_ips: z.coerce.number().int().min(1).max(1000).optional(),
        })
        .strict(),
    );
    const cfg = deps.cfg();
    const days = forecast({
      ips: tenant.ips.map((i) => ({ address: i.address, state: i.state, warmupStart: i.warmupStart })),
      from: deps.gate.today(),
      days: q.days,
      schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
      ...(q.add_ip_every ? { addIpEvery: q.add_ip_every } : {}),
      ...(q.max_ips ? { addIpsUpTo: q.max_ips } : {}),
    });
    return c.json({
      tenant_id: tenant.id,
      from: deps.gate.today(),
      days: q.days,
      add_ip_every: q.add_ip_every ?? null,
      forecast: days.map((d) => ({ day: d.day, total: d.total, ips: d.ips.map((i) => ({ ip: i.address, cap: i.cap, phase: i.phase, planned: i.planned })) })),
    });
  });

  app.get('/:tenant/ip/:ip', async (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const ref = c.req.param('ip');
    const today = deps.gate.today();
    const snap = await deps.gate.snapshot(tenant, today, { allowStale: true });
    const s = snap.find((x) => x.ip === ref || x.vmta === ref);
    if (!s) throw new ApiError(404, 'not_found', `IP ${ref} is not one of tenant ${tenant.slug}'s IPs`);
    const ip = tenant.ips.find((i) => i.address === s.ip)!;
    return c.json({
      tenant_id: tenant.id,
      stale: s.stale,
      ...ipJson(s, tenant, today),
      days_in_warmup: Math.max(0, daysBetween(ip.warmupStart, today)),
    });
  });

  return app;
}
