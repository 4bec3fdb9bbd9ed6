import { ConfigError, loadConfig, resolveConfigPath } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parse, withUsage } from './args.js';

/**
 * A command whose options are `--config FILE` (else the default path) and `booleanFlags`: answers
 * --help, loads the file and runs `body` with it. A file with problems is not run:
 * each bad key and why goes to stderr and the command exits 1.
 */
export function withConfigFile(
  usage: string,
  argv: string[],
  body: (cfg: Config, file: string, flags: Record<string, boolean>) => Promise<number>,
  booleanFlags: string[] = [],
): Promise<number> {
  return withUsage(usage, async () => {
    const { values } = parse(argv, { config: { type: 'string' }, ...Object.fromEntries(booleanFlags.map((f) => [f, { type: 'boolean' as const }])) });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const file = resolveConfigPath(values.config as string | undefined);
    let cfg: Config;
    try {
      cfg = loadConfig(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    return body(cfg, file, Object.fromEntries(booleanFlags.map((f) => [f, (values as Record<string, unknown>)[f] === true])));
  });
}
