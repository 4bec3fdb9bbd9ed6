import type { Config } from '../config/schema.js';
import type { ApiAccess } from './auth.js';
import type { PmtaHealth } from '../forward/pmta-health.js';
import type { Spool } from '../forward/spool.js';
import type { Gate } from '../gate/gate.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Db } from '../store/db.js';
import type { TenantAdmin } from '../tenants/admin.js';
import type { Registry } from '../tenants/registry.js';
import type { Clock } from '../types.js';

/** What the routes read and change; the daemon builds it once. */
export interface ApiDeps {
  cfg: () => Config;
  db: Db;
  registry: Registry;
  gate: Gate;
  ledger: QuotaLedger;
  admin: TenantAdmin;
  spool: Spool;
  health: PmtaHealth;
  metrics: Metrics;
  clock: Clock;
  startedAt: Date;
  sessions: () => number;
  messagesInFlight: () => number;
  /** Extra sections of /api/v2/status contributed by other parts (config apply, tailer). */
  statusParts: Array<() => Record<string, unknown>>;
  /** The shared quota store (Redis), when there is one: whether it answers, for /healthz. */
  sharedStore?: () => Promise<boolean>;
  /** False until every part has started: /healthz answers 503 until then. */
  ready: () => boolean;
  /** False while shutting down: writes are refused with 503. */
  acceptingWrites: () => boolean;
}

export type Env = { Variables: { actor: string; access: ApiAccess } };
