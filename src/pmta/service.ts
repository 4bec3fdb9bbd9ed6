import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { dkimDirOf } from '../config/load.js';
import type { Alert } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import { capFor, dayKey } from '../warmup/schedule.js';
import { ApplyStatus, PmtaApplier, type ApplyResult } from './apply.js';
import { ensureDkimKeys } from './dkim.js';
import { buildPmtaModel } from './model.js';
import { renderPmtaConfig, defaultTemplatePath } from './render.js';
import { pmtaStateInput } from './state.js';

/**
 * The part of PowerMTA's configuration the agent owns: rendered from the
 * registry and today's warmup caps, applied atomically with reload and
 * rollback, and re-applied (debounced) when tenants, domains or IPs change.
 */
export class PmtaConfigService {
  readonly status = new ApplyStatus();
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<ApplyResult> | null = null;

  constructor(
    private readonly cfg: () => Config,
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** The alert channel (Notifier); without it the alert is only logged. */
    private readonly alerts?: { notify(alert: Alert): void },
  ) {}

  /** Built per apply from the current config, so a reload command changed by SIGHUP is used. */
  private applier(): PmtaApplier {
    const c = this.cfg().pmta;
    return new PmtaApplier({
      path: c.configPath,
      reloadCommand: c.reloadCommand,
      testCommand: c.testCommand,
      timeoutMs: c.reloadTimeoutMs,
      log: this.log,
      status: this.status,
      now: () => this.clock.now(),
      onFailure: (r) => {
        const alert: Alert = {
          kind: 'pmta_config',
          title: r.kind === 'test-failed' || r.kind === 'refused' ? 'PowerMTA config refused; PowerMTA keeps the previous one' : 'PowerMTA config not applied',
          detail: { result: r.kind, reason: r.reason, path: c.configPath },
        };
        if (this.alerts) this.alerts.notify(alert);
        else this.log.error('alert.pmta_config', { result: r.kind, reason: r.reason });
      },
    });
  }

  /** The whole file, or one tenant's blocks. Creates missing DKIM keys (a key must exist before PowerMTA can sign). */
  async render(only?: TenantRecord): Promise<string> {
    const cfg = this.cfg();
    const tenants = only ? [only] : this.registry.tenants();
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const domains = tenants.flatMap((t) => [...t.domains]);
    const dkim = await ensureDkimKeys(dkimDirOf(cfg), domains, cfg.pmta.dkimSelector);
    const model = buildPmtaModel(
      pmtaStateInput({
        tenants,
        today,
        schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
        sourceHost: cfg.pmta.sourceHost,
        accountingDir: cfg.pmta.accountingDir,
        dkim: dkim.map((k) => ({ domain: k.domain, selector: k.selector, keyPath: k.keyPath })),
        throttles: cfg.pmta.throttle,
      }),
    );
    return renderPmtaConfig(model, cfg.pmta.templatePath ?? defaultTemplatePath());
  }

  async apply(): Promise<ApplyResult> {
    // Applies run one after another; a change during an apply gets its own apply after it.
    const run = async () => {
      let result: ApplyResult;
      try {
        const content = await this.render();
        await mkdir(path.dirname(this.cfg().pmta.configPath), { recursive: true });
        result = await this.applier().apply(content);
      } catch (err) {
        result = { kind: 'failed', reason: (err as Error).message };
        this.status.record(result, this.clock.now());
        this.log.error('pmta.apply.failed', { reason: result.reason });
      }
      this.metrics.configApplies.inc({ result: result.kind });
      if (result.kind === 'applied') this.log.info('pmta.applied', { path: this.cfg().pmta.configPath });
      return result;
    };
    const next = (this.pending ?? Promise.resolve()).then(run, run);
    this.pending = next;
    return next;
  }

  /** Debounced: a burst of API changes becomes one apply. */
  scheduleApply(delayMs = 300): void {
    if (!this.cfg().pmta.autoApply) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.apply();
    }, delayMs);
    this.timer.unref();
  }

  /** Today's cap per IP of a tenant, as PowerMTA's throttles see it. */
  capsOf(t: TenantRecord): Array<{ address: string; state: TenantRecord['ips'][number]['state']; dailyCap: number; phase: string }> {
    const cfg = this.cfg();
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    return t.ips.map((ip) => {
      const p = capFor(ip, today, { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap });
      return { address: ip.address, state: ip.state, dailyCap: p.dailyCap, phase: p.phase };
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.pending?.catch(() => undefined);
  }
}
