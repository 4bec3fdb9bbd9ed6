import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import type { TenantAdmin } from '../tenants/admin.js';
import type { Registry } from '../tenants/registry.js';
import type { Clock, DayKey } from '../types.js';
import { addDays, dayKey } from '../warmup/schedule.js';
import type { BatchSummary } from './effects.js';
import { performance } from './stats.js';

/**
 * Pauses an IP whose hard-bounce or complaint rate over the rolling window
 * passes its threshold (with a minimum sample, so five messages cannot pause
 * an IP). Resuming is for a person: only the API and the CLI do it.
 */
export class HealthGuard {
  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly admin: TenantAdmin,
    private readonly notifier: Notifier,
    private readonly clock: Clock,
    private readonly cfg: () => Config,
  ) {}

  /** Called after each accounting batch with the IPs it touched. */
  check(summary: Pick<BatchSummary, 'ips'>): string[] {
    const cfg = this.cfg();
    const h = cfg.health;
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const from = addDays(today, -(h.windowDays - 1)) as DayKey;
    const paused: string[] = [];
    for (const touched of summary.ips) {
      const tenant = this.registry.tenant(touched.tenantId);
      const ip = tenant?.ips.find((i) => i.address === touched.ip);
      if (!tenant || !ip || (ip.state !== 'warming' && ip.state !== 'active')) continue;
      const stats = performance(this.db, tenant.id, from, today).ips.find((s) => s.ip === ip.address);
      if (!stats) continue;
      const sample = stats.delivered + stats.bouncedHard + stats.bouncedSoft + stats.bouncedOther;
      if (sample < h.minSample) continue;
      const over =
        stats.hardBounceRate > h.maxHardBounceRate
          ? `hard-bounce rate ${(stats.hardBounceRate * 100).toFixed(2)}% over ${(h.maxHardBounceRate * 100).toFixed(2)}%`
          : stats.complaintRate > h.maxComplaintRate
            ? `complaint rate ${(stats.complaintRate * 100).toFixed(3)}% over ${(h.maxComplaintRate * 100).toFixed(3)}%`
            : null;
      if (!over) continue;
      const reason = `${over} over ${h.windowDays} day(s), ${sample} messages`;
      this.admin.setIpState('health-guard', ip.address, 'paused', reason);
      paused.push(ip.address);
      this.notifier.notify({
        kind: 'ip_paused',
        title: `IP ${ip.address} (${tenant.slug}) paused: ${over}`,
        detail: { tenant: tenant.slug, ip: ip.address, vmta: ip.vmta, reason, delivered: stats.delivered, hardBounces: stats.bouncedHard, complaints: stats.complaints },
      });
    }
    return paused;
  }
}
