import type { Logger } from '../log/logger.js';
import type { RedisClient } from '../ledger/redis.js';
import { IP_STATES, type IpState } from '../types.js';
import type { TenantAdmin } from './admin.js';

const isState = (s: unknown): s is IpState => typeof s === 'string' && (IP_STATES as readonly string[]).includes(s);

/**
 * With a shared Redis, a pause made on one agent stops the IP on every agent:
 * each change is published as {state, at}, and every agent polls the hash and
 * applies what is newer than its own copy (last writer wins by change time),
 * under the same transition rules as a local change (ipTransition).
 */
export class SharedIpStates {
  private timer: NodeJS.Timeout | null = null;
  private readonly key: string;
  private readonly refused = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly admin: TenantAdmin,
    private readonly log: Logger,
    prefix = 'pmta-agent:',
  ) {
    this.key = `${prefix}ip-states`;
    admin.onChange((kind, ip) => {
      if (kind === 'ip' && ip) void this.publish(ip.address, ip.state, ip.at);
    });
  }

  async publish(address: string, state: IpState, at: string): Promise<void> {
    try {
      await this.redis.hset(this.key, address, JSON.stringify({ state, at }));
    } catch (err) {
      this.log.error('shared_states.publish_failed', { ip: address, state, error: err as Error });
    }
  }

  async pull(): Promise<number> {
    let all: Record<string, string>;
    try {
      all = await this.redis.hgetall(this.key);
    } catch {
      return 0; // Redis down: the gate already fails closed; states catch up when it is back
    }
    let applied = 0;
    for (const [address, raw] of Object.entries(all)) {
      try {
        const v = JSON.parse(raw) as { state?: unknown; at?: unknown };
        if (!isState(v.state) || typeof v.at !== 'string') continue;
        const r = this.admin.applySharedState(address, v.state, v.at, 'set on another agent');
        if (r.applied) {
          applied++;
          this.log.info('shared_states.applied', { ip: address, state: v.state, at: v.at });
        } else if (r.refused && !this.refused.has(`${address}@${v.at}`)) {
          // Said once per shared change, not at every poll.
          this.refused.add(`${address}@${v.at}`);
          this.log.warn('shared_states.refused', { ip: address, state: v.state, at: v.at, reason: r.refused });
        }
      } catch {
        /* a value we did not write */
      }
    }
    return applied;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.pull(), intervalMs);
    this.timer.unref();
    void this.pull();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
