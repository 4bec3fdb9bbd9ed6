import { withConfigFile } from './config-file.js';

const USAGE = 'Usage: pmta-agent check-config [--config FILE]\nValidates the file; exit 0, or 1 printing each bad key and why.\n';

export function runCheckConfig(argv: string[]): Promise<number> {
  return withConfigFile(USAGE, argv, async (cfg, file) => {
    process.stdout.write(`${file}: ok (${cfg.tenants.length} tenant(s), ${cfg.tenants.reduce((n, t) => n + t.ips.length, 0)} IP(s))\n`);
    return 0;
  });
}
