import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Clock } from '../types.js';

/** What every part of the daemon is built from besides the other parts it uses. */
export interface PartContext {
  /** The config as it is now: SIGHUP replaces it, so a part reads it here when it acts, not once when it is built. */
  cfg: () => Config;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
}
