import { ConfigError, loadConfig, resolveConfigPath } from '../config/load.js';
import { parse, withUsage } from './args.js';

const USAGE = 'Usage: pmta-agent check-config [--config FILE]\nValidates the file; exit 0, or 1 printing each bad key and why.\n';

export function runCheckConfig(argv: string[]): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values } = parse(argv, { config: { type: 'string' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const file = resolveConfigPath(values.config as string | undefined);
    try {
      const cfg = loadConfig(file);
      process.stdout.write(`${file}: ok (${cfg.tenants.length} tenant(s), ${cfg.tenants.reduce((n, t) => n + t.ips.length, 0)} IP(s))\n`);
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        return 1;
      }
      throw err;
    }
  });
}
