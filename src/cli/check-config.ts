import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newApiToken } from '../auth/tokens.js';
import { parseConfig } from '../config/load.js';
import { productionProblems } from '../config/production.js';
import { withConfigFile } from './config-file.js';

const USAGE = `Usage: pmta-agent check-config [--config FILE] [--production]
Validates the file; exit 0, or 1 printing each bad key and why.
  --production   also refuse what a production host must not run with: plaintext
                 passwords, the example config's demo tenants, a reloadCommand that does not reload
`;

// Shipped beside the code (dist/src/cli -> config/), in the checkout and in /opt/pmta-agent.
const EXAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../config/pmta-agent.example.json');

export function runCheckConfig(argv: string[]): Promise<number> {
  return withConfigFile(
    USAGE,
    argv,
    async (cfg, file, flags) => {
      const problems = flags.production ? productionProblems(cfg, exampleConfig()) : [];
      if (problems.length) {
        process.stderr.write(`${file}: ${problems.length} problem(s) for production\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
        return 1;
      }
      process.stdout.write(`${file}: ok (${cfg.tenants.length} tenant(s), ${cfg.tenants.reduce((n, t) => n + t.ips.length, 0)} IP(s))\n`);
      return 0;
    },
    ['production'],
  );
}

/** The example config's tenants, to recognise them; its placeholder token is not what is checked here. */
function exampleConfig() {
  if (!existsSync(EXAMPLE)) return null;
  try {
    const raw = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
    return parseConfig({ ...raw, api: { tokens: [{ name: 'example', token: newApiToken(), scopes: ['read'] }] } });
  } catch {
    return null;
  }
}
