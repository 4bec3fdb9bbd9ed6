// The accounting settings the daemon's config would carry (`accounting.*`),
// their defaults, and the one call that wires a tailer from them. The zod
// schema belongs in config/schema.ts; this is the shape it should produce.
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { Registry } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import type { AccountingEffects } from './effects.js';
import { registryResolver } from './resolve.js';
import { AccountingTailer } from './tailer.js';

export interface AccountingConfig {
  /** `tail`: follow the accounting files; `off`: no accounting. (`push`, PowerMTA piping records to the agent, is not built yet.) */
  mode: 'tail' | 'off';
  /** PowerMTA's accounting directory: the folder of the `<acct-file>` the agent renders, so pmta.accountingDir. */
  dir: string;
  /** File names to read in `dir`, a glob with `*` and `?`; rotated files (`acct-2026-11-24-0000.csv`) must match too. */
  pattern: string;
  /** Lines per SQLite transaction at most. */
  batchLines: number;
  /** Poll instead of file-system events (NFS, some container mounts). */
  usePolling: boolean;
  pollIntervalMs: number;
  /** A full look at the directory this often, in case an event was lost; 0 = never. */
  rescanIntervalMs: number;
  /** Malformed lines logged one by one per file and pass before the rest are only counted. */
  maxMalformedLogs: number;
}

export const ACCOUNTING_DEFAULTS: Omit<AccountingConfig, 'dir'> = Object.freeze({
  mode: 'tail',
  pattern: 'acct*.csv',
  batchLines: 20_000,
  usePolling: false,
  pollIntervalMs: 1000,
  rescanIntervalMs: 30_000,
  maxMalformedLogs: 100,
});

/** A tailer for `cfg` (not started), or null when accounting is off. Stats days use `timeZone` (the warmup zone). */
export function createAccountingTailer(
  cfg: Partial<AccountingConfig> & { dir: string },
  deps: {
    db: Db;
    registry: Registry;
    log: Logger;
    timeZone: string;
    clock?: Clock;
    feedbackTenants?: (tenantId: number) => boolean;
    effects?: AccountingEffects;
  },
): AccountingTailer | null {
  const c = { ...ACCOUNTING_DEFAULTS, ...cfg };
  if (c.mode === 'off') return null;
  return new AccountingTailer({
    dir: c.dir,
    pattern: c.pattern,
    db: deps.db,
    resolve: registryResolver(deps.registry),
    timeZone: deps.timeZone,
    log: deps.log,
    batchLines: c.batchLines,
    usePolling: c.usePolling,
    pollIntervalMs: c.pollIntervalMs,
    rescanIntervalMs: c.rescanIntervalMs,
    maxMalformedLogs: c.maxMalformedLogs,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.feedbackTenants ? { feedbackTenants: deps.feedbackTenants } : {}),
    ...(deps.effects ? { effects: deps.effects } : {}),
  });
}
