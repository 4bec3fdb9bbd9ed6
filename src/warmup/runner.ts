import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { TenantAdmin } from '../tenants/admin.js';
import type { Clock, DayKey, IpState } from '../types.js';
import { applyDecision, decideProgression, explainDecision, needsAlert, type DayStats, type ProgressionChange } from './progression.js';
import { addDays, dayKey } from './schedule.js';
import type { SharedPosition, SharedWarmup } from './shared.js';

interface IpRow {
  address: string;
  state: IpState;
  warmup_start: DayKey;
  progress_day: DayKey | null;
  hold_until: DayKey | null;
}

/** Where the daily history that progression reads comes from (this agent's SQLite, or every agent's through Redis). */
export type DayStatsSource = (ip: string, day: DayKey) => Promise<DayStats | null>;

/**
 * The daily rollover of warmup: every day not yet judged, for every warming IP,
 * in order. Derived from dates, so a daemon that was down at midnight (or for a
 * week) ends up where one that ran through would be.
 *
 * The day turns atomically: the gate calls turnDay before it grants anything of a
 * day, so no unit of a new day leaves before the IP's previous day was judged
 * (the cron is a catch-up, not the trigger).
 */
export class WarmupRunner {
  private judgedThrough: DayKey | null = null;
  private running: Promise<ProgressionChange[]> | null = null;
  private statsSource: DayStatsSource;
  private shared: SharedWarmup | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly admin: TenantAdmin,
    private readonly notifier: Notifier,
    private readonly clock: Clock,
    private readonly cfg: () => Config,
    private readonly log: Logger,
  ) {
    this.statsSource = async (ip, day) => this.localStats(ip, day);
  }

  /**
   * With Redis: positions and the daily history are shared. Each agent publishes
   * its own counts, judges from everyone's, and the first judgement of a day stands.
   */
  useShared(shared: SharedWarmup): void {
    this.shared = shared;
    this.statsSource = (ip, day) => shared.stats(ip, day);
    this.admin.onWarmupOverride((address, pos) => {
      if (pos.progressDay === null) return;
      shared.publish(address, { ...pos, progressDay: pos.progressDay as DayKey, warmupStart: pos.warmupStart as DayKey, holdUntil: pos.holdUntil as DayKey | null, by: shared.agentId }, 'override').then(
        (stood) => stood && this.admin.adoptWarmup(address, stood, 'a later change on another agent'),
        (err: Error) => this.log.error('warmup.shared_publish_failed', { ip: address, error: err }),
      );
    });
  }

  /** Publishes this agent's counts of recent days and adopts newer positions, every intervalMs. */
  startSharedSync(intervalMs: number): void {
    this.stopSharedSync();
    const tick = () =>
      this.syncShared().catch((err: Error) => {
        this.log.debug('warmup.shared_sync_failed', { error: err }); // Redis down: the gate already fails closed
      });
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    void tick();
  }

  stopSharedSync(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One exchange with the shared store: our counts out, newer positions in, missing positions (Redis emptied) seeded. */
  async syncShared(since?: DayKey): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    const cfg = this.cfg();
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const from = since !== undefined && since < addDays(today, -1) ? since : addDays(today, -1);
    const rows = this.db
      .prepare('SELECT ip, day, accepted, delivered, bounced_hard, bounced_soft, complaints FROM ip_stats_daily WHERE day >= ? AND day <= ? ORDER BY day')
      .all(from, today) as Array<{ ip: string; day: DayKey; accepted: number; delivered: number; bounced_hard: number; bounced_soft: number; complaints: number }>;
    const byDay = new Map<DayKey, Array<{ ip: string; stats: DayStats }>>();
    for (const r of rows) {
      const list = byDay.get(r.day) ?? [];
      list.push({ ip: r.ip, stats: { sent: r.accepted, delivered: r.delivered, bouncedHard: r.bounced_hard, bouncedSoft: r.bounced_soft, complaints: r.complaints } });
      byDay.set(r.day, list);
    }
    for (const [day, list] of byDay) await shared.publishStats(day, list);
    const positions = await shared.positions();
    const local = this.db.prepare('SELECT address, progress_day FROM ips WHERE disabled_at IS NULL').all() as Array<{ address: string; progress_day: DayKey | null }>;
    for (const ip of local) {
      const pos = positions.get(ip.address);
      if (pos) {
        if (this.admin.adoptWarmup(ip.address, pos, 'set on another agent')) this.log.info('warmup.adopted', { ip: ip.address, ...pos });
      } else if (ip.progress_day !== null) {
        const mine = this.admin.warmupPosition(ip.address);
        if (mine) await this.publish(shared, ip.address, { ...mine, progressDay: ip.progress_day }, 'seed');
      }
    }
  }

  private publish(
    shared: SharedWarmup,
    address: string,
    p: { warmupStart: string; state: IpState; progressDay: string; holdUntil: string | null; at: string },
    kind: 'judged' | 'seed',
  ): Promise<SharedPosition | null> {
    const pos = { warmupStart: p.warmupStart as DayKey, state: p.state, progressDay: p.progressDay as DayKey, holdUntil: p.holdUntil as DayKey | null, at: p.at };
    return shared.publish(address, { ...pos, by: shared.agentId }, kind);
  }

  localStats(ip: string, day: DayKey): DayStats | null {
    const row = this.db
      .prepare('SELECT accepted, delivered, bounced_hard, bounced_soft, complaints FROM ip_stats_daily WHERE ip = ? AND day = ?')
      .get(ip, day) as { accepted: number; delivered: number; bounced_hard: number; bounced_soft: number; complaints: number } | undefined;
    return row ? { sent: row.accepted, delivered: row.delivered, bouncedHard: row.bounced_hard, bouncedSoft: row.bounced_soft, complaints: row.complaints } : null;
  }

  /** Judges what is left to judge up to `day` before the gate grants anything of it; cheap once the day is judged. */
  async turnDay(day: DayKey): Promise<void> {
    // A run already under way may have started before the day turned: wait for it, then judge again.
    for (let i = 0; i < 3 && (this.judgedThrough === null || day > this.judgedThrough); i++) await this.run();
    if (this.judgedThrough === null || day > this.judgedThrough) throw new Error(`warmup day ${day} could not be judged yet`);
  }

  /** Judges every day up to today; returns the decisions made. One run at a time: a second caller waits for the first. */
  run(): Promise<ProgressionChange[]> {
    if (!this.running) {
      this.running = this.judge()
        .catch((err: Error) => {
          this.log.warn('warmup.judge_failed', { error: err });
          throw err;
        })
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }

  private async judge(): Promise<ProgressionChange[]> {
    const cfg = this.cfg();
    const p = cfg.warmup.progression;
    const schedule = { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap };
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const shared = this.shared;
    const all: ProgressionChange[] = [];
    if (shared) {
      // Our counts of the days about to be judged go out first, and what another agent already judged comes in.
      const oldest = (this.db.prepare('SELECT MIN(progress_day) AS d FROM ips WHERE disabled_at IS NULL').get() as { d: DayKey | null }).d;
      await this.syncShared(oldest ?? undefined);
    }
    const rows = this.db.prepare('SELECT address, state, warmup_start, progress_day, hold_until FROM ips WHERE disabled_at IS NULL').all() as IpRow[];
    const setProgress = this.db.prepare('UPDATE ips SET progress_day = ? WHERE address = ?');
    for (const row of rows) {
      // Days before the agent first judged this IP are not judged: an IP declared
      // with a past warmup start keeps the day it was given.
      if (row.progress_day === null) {
        setProgress.run(today, row.address);
        if (shared) {
          const mine = this.admin.warmupPosition(row.address)!;
          const stood = await this.publish(shared, row.address, { ...mine, progressDay: today }, 'seed');
          if (stood) this.admin.adoptWarmup(row.address, stood, 'first seen by another agent', true);
        }
        continue;
      }
      if (!p.enabled || row.state !== 'warming') {
        if (row.progress_day < today) setProgress.run(today, row.address);
        continue;
      }
      if (row.progress_day >= today) continue; // judged already (here, or by another agent and adopted above)
      // The gate waits for this run (turnDay) before granting anything of the day,
      // so the awaits below (stats and positions in Redis) never let a unit out half-judged.
      const days: Array<{ day: DayKey; yesterday: DayStats | null }> = [];
      for (let d = addDays(row.progress_day, 1); d <= today; d = addDays(d, 1)) days.push({ day: d, yesterday: await this.statsSource(row.address, addDays(d, -1)) });
      const current = this.db.prepare('SELECT state, warmup_start, progress_day, hold_until FROM ips WHERE address = ?').get(row.address) as IpRow | undefined;
      if (!current || current.progress_day !== row.progress_day || current.state !== 'warming') continue; // judged meanwhile (another caller, another agent)
      let start = current.warmup_start;
      let state: IpState = current.state;
      const changes: ProgressionChange[] = [];
      const alerts = new Set<ProgressionChange>();
      for (const { day: d, yesterday } of days) {
        if (state !== 'warming') break;
        const input = {
          state,
          warmupStart: start,
          today: d,
          yesterday,
          schedule,
          thresholds: p,
          heldByOperator: current.hold_until !== null && d <= current.hold_until,
        };
        const decision = decideProgression(input);
        if (decision.kind === 'none') continue;
        const next = applyDecision(start, decision, d);
        const change = explainDecision(row.address, input, decision, next);
        start = next.warmupStart;
        if (next.state) state = next.state;
        changes.push(change);
        if (needsAlert(decision)) alerts.add(change);
      }
      const at = this.clock.now().toISOString();
      if (shared) {
        const stood = await this.publish(shared, row.address, { warmupStart: start, state, progressDay: today, holdUntil: current.hold_until, at }, 'judged');
        if (stood) {
          // Another agent judged this day first: its judgement is the one every agent applies.
          this.admin.adoptWarmup(row.address, stood, `day ${today} judged by agent ${stood.by}`, true);
          continue;
        }
      }
      this.admin.recordProgression(row.address, start, state, today, changes, at);
      for (const change of changes) {
        if (alerts.has(change)) {
          this.notifier.notify({
            kind: `warmup_${change.decision}`,
            title: `IP ${row.address}: warmup ${change.decision === 'graduate' ? 'finished, now active' : 'stepped back a week'}`,
            detail: { ip: row.address, day: change.day, reason: change.reason },
          });
        }
        this.log.info('warmup.progression', { ...change });
      }
      all.push(...changes);
    }
    this.judgedThrough = today;
    return all;
  }
}
