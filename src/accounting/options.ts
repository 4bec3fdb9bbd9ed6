// Wires accounting from the config's `accounting.*` section (its shape and
// defaults live in config/schema.ts, nowhere else).
import type { AccountingConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import type { Registry } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import { noSentIndex, type AttributionSources, type SentLookup } from './attribute.js';
import { AccountingEffects, type FeedbackSink } from './effects.js';
import { registryResolver } from './resolve.js';
import { PIPE_FILE_PREFIX } from './pipe-spool.js';
import type { SuppressionStore } from './suppression.js';
import { AccountingTailer } from './tailer.js';

/** The spool files `pmta-agent acct-pipe` writes. */
export const PIPE_FILE_PATTERN = `${PIPE_FILE_PREFIX}*.csv`;

export interface AccountingDeps {
  db: Db;
  registry: Registry;
  /** Stats days are counted in this zone (the warmup zone). */
  timeZone: string;
  /**
   * The sent-message index (the hand-off journal, src/forward) and the one
   * normal form of a Message-ID it is keyed by; without it, records without a
   * VMTA are attributed by IP only.
   */
  sent?: { lookup: SentLookup; normalise(raw: string): string; reconcile?: AttributionSources['reconcile'] };
  feedback?: FeedbackSink;
  suppression?: SuppressionStore;
}

/** The one set of effects, for tailed records and those pushed to the JSON webhook alike. */
export function createAccountingEffects(deps: AccountingDeps): AccountingEffects {
  return new AccountingEffects(deps.db, {
    sources: { ...registryResolver(deps.registry), sent: deps.sent?.lookup ?? noSentIndex, normalise: deps.sent?.normalise ?? ((raw) => raw), ...(deps.sent?.reconcile ? { reconcile: deps.sent.reconcile } : {}) },
    timeZone: deps.timeZone,
    ...(deps.feedback ? { feedback: deps.feedback } : {}),
    ...(deps.suppression ? { suppression: deps.suppression } : {}),
  });
}

/** A tailer for `cfg` (not started) reading `dir`, or null when this mode reads no files. */
export function createAccountingTailer(
  cfg: AccountingConfig,
  dir: string,
  deps: { db: Db; effects: AccountingEffects; log: Logger; clock: Clock },
): AccountingTailer | null {
  if (cfg.mode !== 'tail' && cfg.mode !== 'pipe') return null;
  // In pipe mode PowerMTA writes no file for the agent: only acct-pipe's spool files are read.
  return new AccountingTailer({ ...cfg, pattern: cfg.mode === 'pipe' ? PIPE_FILE_PATTERN : cfg.pattern, dir, ...deps });
}
