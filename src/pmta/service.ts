import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { dkimDirOf } from '../config/load.js';
import type { Alert } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import { capFor, dayKey } from '../warmup/schedule.js';
import { ApplyStatus, isApplyFailure, PmtaApplier, type ApplyResult } from './apply.js';
import { ensureDkimKeys } from './dkim.js';
import { drainStep, loadDrainState, saveDrainState } from './drain.js';
import { childBlocks, parsePmtaText } from './lint/index.js';
import { buildPmtaModel, type PmtaRenderModel } from './model.js';
import { loadQueueView, queuePlan, runQueueCommands, saveQueueView, type QueueAction, type QueueView } from './queues.js';
import { renderPmtaConfig, defaultTemplatePath } from './render.js';
import { pmtaStateInput } from './state.js';
import { vmtaName } from '../types.js';

/**
 * The part of PowerMTA's configuration the agent owns: rendered from the
 * registry and today's warmup caps, applied atomically with reload and
 * rollback, and re-applied (debounced) when tenants, domains or IPs change.
 */
export class PmtaConfigService {
  readonly status = new ApplyStatus();
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<ApplyResult> | null = null;
  /** The VMTAs of the last successful apply, for pausing and resuming queues; read from disk at the first apply. */
  private held: QueueView | null | undefined = undefined;

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
    return (await this.build(only)).text;
  }

  private async build(only?: TenantRecord): Promise<{ model: PmtaRenderModel; text: string }> {
    const cfg = this.cfg();
    const tenants = only ? [only] : this.registry.tenants();
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const domains = tenants.flatMap((t) => [...t.domains]);
    const dkim = await ensureDkimKeys(dkimDirOf(cfg), domains, cfg.pmta.dkimSelector);
    const draining = await this.draining(only === undefined);
    const model = buildPmtaModel(
      pmtaStateInput({
        tenants,
        today,
        schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
        sourceHost: cfg.pmta.sourceHost,
        accountingDir: cfg.pmta.accountingDir,
        acctPipe: cfg.accounting.mode === 'pipe' ? [cfg.accounting.pipeProgram, 'acct-pipe', '--dir', cfg.pmta.accountingDir] : null,
        dkim: dkim.map((k) => ({ domain: k.domain, selector: k.selector, keyPath: k.keyPath })),
        throttles: cfg.pmta.throttle,
        draining,
        processors: cfg.pmta.processors,
      }),
    );
    return { model, text: renderPmtaConfig(model, cfg.pmta.templatePath ?? defaultTemplatePath()) };
  }

  /** Retired IPs whose VMTA still drains (drain.ts); `save` records first sightings (whole-file renders only). */
  private async draining(save: boolean): Promise<Set<string>> {
    const cfg = this.cfg();
    const file = path.join(cfg.store.stateDir, 'pmta-draining.json');
    const retired = this.registry.tenants().flatMap((t) => t.ips.filter((ip) => ip.state === 'retired').map((ip) => vmtaName(t.slug, ip.address)));
    const prev = await loadDrainState(file);
    const { state, draining } = drainStep(prev, retired, this.clock.now(), cfg.pmta.retireDrainHours * 3_600_000);
    if (save && JSON.stringify(state) !== JSON.stringify(prev)) {
      await mkdir(path.dirname(file), { recursive: true });
      await saveDrainState(file, state);
    }
    return draining;
  }

  private async queues(action: QueueAction, vmtas: readonly string[]): Promise<void> {
    const c = this.cfg().pmta;
    const template = action === 'pause' ? c.pauseQueueCommand : c.resumeQueueCommand;
    if (template === null || vmtas.length === 0) return;
    for (const r of await runQueueCommands(template, vmtas, c.reloadTimeoutMs)) {
      if (r.ok) {
        this.log.info(`pmta.queue.${action}d`, { vmta: r.vmta, output: r.detail });
        continue;
      }
      const alert: Alert = {
        kind: 'pmta_queue',
        title: action === 'pause' ? `queues of ${r.vmta} not paused: PowerMTA may still send from the paused IP` : `queues of ${r.vmta} not resumed`,
        detail: { vmta: r.vmta, action, reason: r.detail },
      };
      if (this.alerts) this.alerts.notify(alert);
      else this.log.error('alert.pmta_queue', alert.detail);
    }
  }

  async apply(): Promise<ApplyResult> {
    // Applies run one after another; a change during an apply gets its own apply after it.
    const run = async () => {
      let result: ApplyResult;
      try {
        const { model, text } = await this.build();
        const configPath = this.cfg().pmta.configPath;
        await mkdir(path.dirname(configPath), { recursive: true });
        const vmtas = model.tenants.flatMap((t) => t.vmtas);
        const next: QueueView = { defined: new Set(vmtas.map((v) => v.name)), paused: new Set(vmtas.filter((v) => v.state === 'paused').map((v) => v.name)) };
        const viewFile = path.join(this.cfg().store.stateDir, 'pmta-queues.json');
        if (this.held === undefined) this.held = await loadQueueView(viewFile);
        const plan = queuePlan(this.held, next);
        // Held before the reload takes the IP out of the pool, so nothing more leaves from it.
        await this.queues('pause', plan.pauseBefore);
        const before = processorBlocks(await readFile(configPath, 'utf8').catch(() => ''));
        result = await this.applier().apply(text);
        if (!isApplyFailure(result)) {
          await this.queues('resume', plan.resumeAfter);
          await this.queues('pause', plan.pauseAfter);
          this.held = next;
          await saveQueueView(viewFile, next).catch((err: Error) => this.log.warn('pmta.queue_view_not_saved', { path: viewFile, error: err }));
          if (result.kind === 'applied' && processorBlocks(text) !== before) this.restartNeeded(configPath);
        }
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

  /** §12.6: a processor change takes effect only after a PowerMTA restart; the agent only reloads. */
  private restartNeeded(configPath: string): void {
    const alert: Alert = {
      kind: 'pmta_restart_needed',
      title: 'PowerMTA must be restarted: the feedback-loop or bounce processors changed, and a reload does not pick them up',
      detail: { path: configPath },
    };
    if (this.alerts) this.alerts.notify(alert);
    else this.log.warn('alert.pmta_restart_needed', alert.detail);
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.pending?.catch(() => undefined);
  }
}

/** The processor blocks of a config text, as a comparable string ('' when there are none). */
function processorBlocks(text: string): string {
  const blocks = childBlocks(parsePmtaText(text).nodes).filter((b) => b.name === 'bounce-processor' || b.name === 'feedback-loop-processor');
  return JSON.stringify(blocks, (k, v: unknown) => (k === 'line' ? undefined : v));
}
