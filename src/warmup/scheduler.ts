import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../log/logger.js';

/**
 * The daily rollover at the configured local time (node-cron, in the warmup
 * time zone), plus one run at start: what it does is derived from dates, so a
 * missed midnight is caught up rather than lost.
 */
export class DailyScheduler {
  private task: ScheduledTask | null = null;

  constructor(
    private readonly job: () => Promise<void> | void,
    private readonly log: Logger,
  ) {}

  start(expression: string, timeZone: string): void {
    this.stop();
    if (!cron.validate(expression)) throw new Error(`warmup.progression.cron: not a cron expression: ${expression}`);
    this.task = cron.schedule(expression, () => this.runOnce('cron'), { timezone: timeZone, name: 'pmta-agent-daily', noOverlap: true });
    void this.runOnce('start');
  }

  async runOnce(trigger: string): Promise<void> {
    try {
      await this.job();
    } catch (err) {
      this.log.error('daily.failed', { trigger, error: err as Error });
    }
  }

  stop(): void {
    void this.task?.stop();
    this.task = null;
  }
}
