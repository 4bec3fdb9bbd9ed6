import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { TenantAdmin } from '../tenants/admin.js';
import type { Clock, DayKey, IpState } from '../types.js';
import { applyDecision, decideProgression, explainDecision, needsAlert, type DayStats, type ProgressionChange } from './progression.js';
import { addDays, dayKey } from './schedule.js';

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

  /** Shared history (Redis): every agent's counts for the IP and day. */
  useStats(source: DayStatsSource): void {
    this.statsSource = source;
  }

  localStats(ip: string, day: DayKey): DayStats | null {
    const row = this.db
      .prepare('SELECT accepted, delivered, bounced_hard, bounced_soft, complaints FROM ip_stats_daily WHERE ip = ? AND day = ?')
      .get(ip, day) as { accepted: number; delivered: number; bounced_hard: number; bounced_soft: number; complaints: number } | undefined;
    return row ? { sent: row.accepted, delivered: row.delivered, bouncedHard: row.bounced_hard, bouncedSoft: row.bounced_soft, complaints: row.complaints } : null;
  }

  /** Judges what is left to judge up to `day` before the gate grants anything of it; cheap once the day is judged. */
  async turnDay(day: DayKey): Promise<void> {
    if (this.judgedThrough !== null && day <= this.judgedThrough) return;
    await this.run();
  }

  /** Judges every day up to today; returns the decisions made. One run at a time: a second caller waits for the first. */
  run(): Promise<ProgressionChange[]> {
    if (!this.running) {
      this.running = this.judge().finally(() => {
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
    const all: ProgressionChange[] = [];
    const rows = this.db.prepare('SELECT address, state, warmup_start, progress_day, hold_until FROM ips WHERE disabled_at IS NULL').all() as IpRow[];
    const setProgress = this.db.prepare('UPDATE ips SET progress_day = ? WHERE address = ?');
    for (const row of rows) {
      // Days before the agent first judged this IP are not judged: an IP declared
      // with a past warmup start keeps the day it was given.
      if (row.progress_day === null) {
        setProgress.run(today, row.address);
        continue;
      }
      if (!p.enabled || row.state !== 'warming') {
        if (row.progress_day < today) setProgress.run(today, row.address);
        continue;
      }
      // Stats are read first (they may come from Redis); the decisions and the write
      // below run without an await, so nothing of the day is granted half-judged.
      const days: Array<{ day: DayKey; yesterday: DayStats | null }> = [];
      for (let d = addDays(row.progress_day, 1); d <= today; d = addDays(d, 1)) days.push({ day: d, yesterday: await this.statsSource(row.address, addDays(d, -1)) });
      const current = this.db.prepare('SELECT state, warmup_start, progress_day, hold_until FROM ips WHERE address = ?').get(row.address) as IpRow | undefined;
      if (!current || current.progress_day !== row.progress_day || current.state !== 'warming') continue; // judged meanwhile (another caller, another agent)
      let start = current.warmup_start;
      let state: IpState = current.state;
      const changes: ProgressionChange[] = [];
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
        if (needsAlert(decision)) {
          this.notifier.notify({
            kind: `warmup_${decision.kind}`,
            title: `IP ${row.address}: warmup ${decision.kind === 'graduate' ? 'finished, now active' : 'stepped back a week'}`,
            detail: { ip: row.address, day: d, reason: change.reason },
          });
        }
        this.log.info('warmup.progression', { ...change });
      }
      this.admin.recordProgression(row.address, start, state, today, changes);
      all.push(...changes);
    }
    this.judgedThrough = today;
    return all;
  }
}
