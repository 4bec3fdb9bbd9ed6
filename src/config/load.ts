import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { jsonErrorAt } from './json-error.js';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

/**
 * Where `run` and the operator commands look when neither --config nor $PMTA_AGENT_CONFIG
 * names a file, first existing wins: the checkout's own config, the installed one
 * (systemd/install.sh), then the checkout's development config that `npm start` runs,
 * so `pmta-agent status` beside `npm start` finds that daemon.
 */
export const DEFAULT_CONFIG_PATHS = ['config/pmta-agent.json', '/etc/pmta-agent/config.json', 'config/pmta-agent.dev.json'] as const;

/** Config path: --config, else $PMTA_AGENT_CONFIG, else the first of DEFAULT_CONFIG_PATHS that exists (else the first). */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  return flag ?? env.PMTA_AGENT_CONFIG ?? DEFAULT_CONFIG_PATHS.find((p) => exists(p)) ?? DEFAULT_CONFIG_PATHS[0];
}

export function parseConfig(raw: unknown, file = '<config>'): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`(file): cannot read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const where = jsonErrorAt(text);
    const message = (err as Error).message.replace(/, "[\s\S]*" is not valid JSON$/, '').replace(/ at position \d+.*$/s, '');
    throw new ConfigError(file, [`(file): not valid JSON${where ? ` at line ${where.line}, column ${where.column}` : ''}: ${message}`]);
  }
  const cfg = parseConfig(raw, file);
  // Relative paths in the file are relative to the file, so the daemon behaves the same from any cwd.
  const base = path.dirname(path.resolve(file));
  cfg.store.stateDir = path.resolve(base, cfg.store.stateDir);
  if (cfg.store.sqlitePath) cfg.store.sqlitePath = path.resolve(base, cfg.store.sqlitePath);
  if (cfg.spool.dir) cfg.spool.dir = path.resolve(base, cfg.spool.dir);
  if (cfg.pmta.dkimDir) cfg.pmta.dkimDir = path.resolve(base, cfg.pmta.dkimDir);
  if (cfg.pmta.templatePath) cfg.pmta.templatePath = path.resolve(base, cfg.pmta.templatePath);
  cfg.pmta.configPath = path.resolve(base, cfg.pmta.configPath);
  cfg.pmta.accountingDir = path.resolve(base, cfg.pmta.accountingDir);
  if (cfg.smtp.tls.key) cfg.smtp.tls.key = path.resolve(base, cfg.smtp.tls.key);
  if (cfg.smtp.tls.cert) cfg.smtp.tls.cert = path.resolve(base, cfg.smtp.tls.cert);
  return cfg;
}

export function sqlitePathOf(cfg: Config): string {
  return cfg.store.sqlitePath ?? path.join(cfg.store.stateDir, 'pmta-agent.db');
}

export function dkimDirOf(cfg: Config): string {
  return cfg.pmta.dkimDir ?? path.join(cfg.store.stateDir, 'dkim');
}

export function spoolDirOf(cfg: Config): string {
  return cfg.spool.dir ?? path.join(cfg.store.stateDir, 'spool');
}
