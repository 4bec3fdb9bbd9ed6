// PowerMTA's config: rendered from the tenants and IPs, applied again whenever
// they change.
import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import { PmtaConfigService } from '../pmta/service.js';
import type { PartContext } from './context.js';
import type { StorePart } from './store.js';

export interface PmtaConfigPart {
  service: PmtaConfigService;
  status(): Record<string, unknown>;
  /** Applies once at start when pmta.autoApply is set. */
  start(): void;
  reload(next: Config): void;
  stop(): Promise<void>;
}

export function pmtaConfigPart(ctx: PartContext, store: StorePart, deps: { notifier: Notifier }): PmtaConfigPart {
  const service = new PmtaConfigService(ctx.cfg, store.registry, ctx.clock, ctx.log, ctx.metrics, deps.notifier);
  store.admin.onChange(() => service.scheduleApply());
  return {
    service,
    status: () => ({ pmta_config: { last_apply: service.status.last(), failing: service.status.failing } }),
    start() {
      if (ctx.cfg().pmta.autoApply) void service.apply();
    },
    reload() {
      service.scheduleApply();
    },
    stop: () => service.close(),
  };
}
