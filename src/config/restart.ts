import type { Config } from './schema.js';

// What a SIGHUP can change. A key is either applied whole or left entirely for the
// restart, never half: the config the daemon runs on after a reload is the new
// file with every restart key still at its running value, so a part that reads
// such a key later (PowerMTA's include path at the next apply, say) sees the old
// value until the restart, exactly as the log says.
//
// Restart keys are the ones some part reads once, at start: the listeners, the
// connection pool to PowerMTA, the store, the tailer and feedback sender, the
// logger. A prefix covers everything under it.
const RESTART_KEYS = [
  'smtp.host',
  'smtp.port',
  'smtp.hostname',
  'smtp.maxMessageBytes',
  'smtp.maxClients',
  'smtp.maxUnauthenticatedClients',
  'smtp.maxRecipients',
  'smtp.socketTimeoutMs',
  'smtp.authCacheTtlMs',
  'smtp.tls',
  'api.host',
  'api.port',
  'pmta.host',
  'pmta.port',
  'pmta.maxConnections',
  'pmta.maxMessagesPerConnection',
  'pmta.connectTimeoutMs',
  'pmta.replyTimeoutMs',
  'pmta.accountingDir',
  // PowerMTA includes this file: a new path at run time would leave the old file
  // included beside the new one until someone edits PowerMTA's config.
  'pmta.configPath',
  'store',
  'ledger.sweepIntervalMs',
  'spool.dir',
  // The tailer counts each record on its day in this zone from the start on.
  'warmup.timezone',
  'accounting',
  'feedback',
  'log',
] as const;

export const isRestartKey = (key: string) => RESTART_KEYS.some((k) => key === k || key.startsWith(`${k}.`));

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Dotted paths of the leaves that differ; arrays (tenants, steps) compare whole. */
export function changedKeys(prev: unknown, next: unknown, prefix = ''): string[] {
  if (isTree(prev) && isTree(next)) {
    const keys = [...new Set([...Object.keys(prev), ...Object.keys(next)])].sort();
    return keys.flatMap((k) => changedKeys(prev[k], next[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(prev) === JSON.stringify(next) ? [] : [prefix];
}

function pin(target: Tree, source: Tree, key: string): void {
  const [head, ...rest] = key.split('.');
  if (!head || !(head in source)) return;
  if (rest.length === 0) target[head] = source[head];
  else if (isTree(target[head]) && isTree(source[head])) {
    target[head] = { ...target[head] };
    pin(target[head] as Tree, source[head] as Tree, rest.join('.'));
  }
}

export interface ReloadPlan {
  /** The config to run on: `next` with every restart key at its running value. */
  config: Config;
  /** Keys that changed and take effect now. */
  applied: string[];
  /** Keys that changed and take effect at the next restart. */
  restartNeeded: string[];
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const changed = changedKeys(running, next);
  const config = { ...next } as unknown as Tree;
  for (const key of RESTART_KEYS) pin(config, running as unknown as Tree, key);
  return {
    config: config as unknown as Config,
    applied: changed.filter((k) => !isRestartKey(k)),
    restartNeeded: changed.filter(isRestartKey),
  };
}
