import type { Notifier } from '../alerts/notifier.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { TenantAdmin } from '../tenants/admin.js';
import type { Clock, DayKey, IpState } from '../types.js';
import { applyDecision, decideProgression, needsAlert, type DayStats } from './progression.js';
import { addDays, dayKey } from './schedule.js';

interface IpRow {
  address: string;
  tenant_id: number;
  state: IpState;
  warmup_start: DayKey;
  progress_day: DayKey | null;
  hold_until: DayKey | null;
}

/**
 * The daily rollover of warmup: every day not yet judged, for every warming IP,
 * in order. Derived from dates, so a daemon that was down at midnight (or for a
 * week) ends up where one that ran through would be.
 */
export class WarmupRunner {
  constructor(
    private readonly db: Db,
    private readonly admin: TenantAdmin,
    private readonly notifier: Notifier,
    private readonly clock: Clock,
    private readonly cfg: () => Config,
    private readonly log: Logger,
  ) {}

  private statsOf(ip: string, day: DayKey): DayStats | null {
    const row = this.db
      .prepare('SELECT accepted, delivered, bounced_hard, bounced_soft, complaints FROM ip_stats_daily WHERE ip = ? AND day = ?')
      .get(ip, day) as { accepted: number; delivered: number; bounced_hard: number; bounced_soft: number; complaints: number } | undefined;
    return row ? { sent: row.accepted, delivered: row.delivered, bouncedHard: row.bounced_hard, bouncedSoft: row.bounced_soft, complaints: row.complaints } : null;
  }

  /** Judges every day up to today; returns the changes made. */
  run(): Array<{ ip: string; day: DayKey; decision: string; warmupStart: DayKey; state: IpState }> {
    const cfg = this.cfg();
    const p = cfg.warmup.progression;
    const today = dayKey(this.clock.now(), cfg.warmup.timezone);
    const changes: Array<{ ip: string; day: DayKey; decision: string; warmupStart: DayKey; state: IpState }> = [];
    const rows = this.db.prepare('SELECT address, tenant_id, state, warmup_start, progress_day, hold_until FROM ips').all() as IpRow[];
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
      let start = row.warmup_start;
      let state: IpState = row.state;
      for (let d = addDays(row.progress_day, 1); d <= today && state === 'warming'; d = addDays(d, 1)) {
        const decision = decideProgression({
          state,
          warmupStart: start,
          today: d,
          yesterday: this.statsOf(row.address, addDays(d, -1)),
          schedule: { steps: cfg.warmup.steps, activeDailyCap: cfg.warmup.activeDailyCap },
          thresholds: p,
          heldByOperator: row.hold_until !== null && d <= row.hold_until,
        });
        const next = applyDecision(start, decision, d);
        if (next.warmupStart !== start || next.state) {
          start = next.warmupStart;
          if (next.state) state = next.state;
          changes.push({ ip: row.address, day: d, decision: decision.kind, warmupStart: start, state });
          if (needsAlert(decision)) {
            this.notifier.notify({
              kind: `warmup_${decision.kind}`,
              title: `IP ${row.address}: warmup ${decision.kind === 'graduate' ? 'finished, now active' : 'stepped back a week'}`,
              detail: { ip: row.address, day: d, ...('reason' in decision ? { reason: decision.reason } : {}) },
            });
          }
          this.log.info('warmup.progression', { ip: row.address, day: d, decision: decision.kind, warmupStart: start, state });
        }
      }
      this.admin.recordProgression(row.address, start, state, today, changes.filter((c) => c.ip === row.address));
    }
    return changes;
  }
}
