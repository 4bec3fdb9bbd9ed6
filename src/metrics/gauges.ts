// Gauges read at scrape time for what the dashboard and the alert rules watch
// (config/grafana, config/prometheus): IP states, the health guard's rates
// against its thresholds, the spool's age and size, PowerMTA reachability.
import { performance } from '../accounting/stats.js';
import type { Config } from '../config/schema.js';
import type { PmtaHealth } from '../forward/pmta-health.js';
import type { Spool } from '../forward/spool.js';
import type { Db } from '../store/db.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import { IP_STATES, type Clock, type DayKey } from '../types.js';
import { addDays, dayKey } from '../warmup/schedule.js';
import type { GaugeSample, Metrics } from './registry.js';

/** One series per IP and possible state, 1 for the state it is in: a state change never leaves a stale series behind. */
export function ipStateSamples(tenants: readonly TenantRecord[]): GaugeSample[] {
  return tenants.flatMap((t) =>
    t.ips.flatMap((ip) => IP_STATES.map((state) => ({ labels: { tenant: t.slug, ip: ip.address, state }, value: ip.state === state ? 1 : 0 }))),
  );
}

/** Age of the oldest message waiting per tenant (0 when none waits): a growing age means the spool is not draining. */
export function spoolAgeSamples(tenants: readonly TenantRecord[], spool: Pick<Spool, 'queue'>, now: Date): GaugeSample[] {
  return tenants.map((t) => {
    let oldest = Infinity;
    for (const e of spool.queue(t.id)) oldest = Math.min(oldest, Date.parse(e.meta.arrivedAt));
    const age = Number.isFinite(oldest) ? Math.max(0, (now.getTime() - oldest) / 1000) : 0;
    return { labels: { tenant: t.slug }, value: age };
  });
}

export interface IpHealth {
  hardBounceRate: GaugeSample[];
  complaintRate: GaugeSample[];
  sample: GaugeSample[];
}

/**
 * The numbers the health guard judges (src/accounting/health-guard.ts): rates
 * per IP over the rolling window, and the sample they stand on.
 */
export function ipHealthSamples(db: Db, tenants: readonly TenantRecord[], health: Config['health'], today: DayKey): IpHealth {
  const from = addDays(today, -(health.windowDays - 1)) as DayKey;
  const out: IpHealth = { hardBounceRate: [], complaintRate: [], sample: [] };
  for (const t of tenants) {
    for (const s of performance(db, t.id, from, today).ips) {
      const labels = { tenant: t.slug, ip: s.ip };
      out.hardBounceRate.push({ labels, value: s.hardBounceRate });
      out.complaintRate.push({ labels, value: s.complaintRate });
      out.sample.push({ labels, value: s.delivered + s.bouncedHard + s.bouncedSoft + s.bouncedOther });
    }
  }
  return out;
}

/** Forwarding's gauges: whether PowerMTA answers, and the spool's size and age per tenant. */
export function registerForwardingGauges(
  metrics: Metrics,
  src: { clock: Clock; registry: Pick<Registry, 'tenants'>; spool: Pick<Spool, 'queue' | 'bytesOf'>; pmtaHealth: Pick<PmtaHealth, 'lastError'> },
): void {
  const tenants = () => src.registry.tenants();
  metrics.gauge('pmta_agent_pmta_up', 'Whether the last hand-off to PowerMTA got an SMTP answer (1) or PowerMTA was unreachable or timed out (0)', () => [
    { labels: {}, value: src.pmtaHealth.lastError === null ? 1 : 0 },
  ]);
  metrics.gauge('pmta_agent_spool_oldest_seconds', 'Age of the oldest message waiting in the spool per tenant', () =>
    spoolAgeSamples(tenants(), src.spool, src.clock.now()),
  );
  metrics.gauge('pmta_agent_spool_bytes', 'Bytes waiting in the deferred spool per tenant', () =>
    tenants().map((t) => ({ labels: { tenant: t.slug }, value: src.spool.bytesOf(t.id) })),
  );
}

/** The IPs' states and what the health guard judges them on, with its thresholds, so alerts can warn before it pauses. */
export function registerIpHealthGauges(metrics: Metrics, src: { cfg: () => Config; clock: Clock; db: Db; registry: Pick<Registry, 'tenants'> }): void {
  const tenants = () => src.registry.tenants();
  metrics.gauge('pmta_agent_ip_state', 'IP state per tenant and IP: 1 for the state the IP is in, 0 for the others', () => ipStateSamples(tenants()));
  const health = () => {
    const cfg = src.cfg();
    return ipHealthSamples(src.db, tenants(), cfg.health, dayKey(src.clock.now(), cfg.warmup.timezone));
  };
  metrics.gauge('pmta_agent_ip_hard_bounce_rate', 'Hard bounces over delivered+bounced per IP over the health window (what the health guard judges)', () => health().hardBounceRate);
  metrics.gauge('pmta_agent_ip_complaint_rate', 'Complaints over delivered per IP over the health window (what the health guard judges)', () => health().complaintRate);
  metrics.gauge('pmta_agent_ip_health_sample', 'Delivered+bounced messages per IP over the health window (the guard judges from health.minSample)', () => health().sample);
  metrics.gauge('pmta_agent_health_max_hard_bounce_rate', 'health.maxHardBounceRate: the hard-bounce rate over which an IP is paused', () => [
    { labels: {}, value: src.cfg().health.maxHardBounceRate },
  ]);
  metrics.gauge('pmta_agent_health_max_complaint_rate', 'health.maxComplaintRate: the complaint rate over which an IP is paused', () => [
    { labels: {}, value: src.cfg().health.maxComplaintRate },
  ]);
  metrics.gauge('pmta_agent_health_min_sample', 'health.minSample: messages an IP needs over the window before it is judged', () => [
    { labels: {}, value: src.cfg().health.minSample },
  ]);
}
