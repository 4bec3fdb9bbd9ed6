import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { apiTokenSchema } from '../config/schema.js';
import { newApiToken, SCOPES } from '../auth/tokens.js';
import { parse, UsageError, withUsage } from './args.js';

const USAGE = `Usage: pmta-agent token new [--name NAME] [--scopes LIST] [--tenants LIST] [--write FILE]
Makes a random API token and prints its api.tokens entry (JSON).
  --name NAME      the name the audit log records (default admin)
  --scopes LIST    comma-separated: ${SCOPES.join(', ')} (default admin)
  --tenants LIST   comma-separated tenant slugs the token is limited to (default: every tenant)
  --write FILE     put the entry into FILE's api.tokens (replacing one of the same name) instead of printing it;
                   the token itself is printed, to hand to whoever calls the API
`;

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

export function runToken(argv: string[]): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values, positionals } = parse(argv, { name: { type: 'string' }, scopes: { type: 'string' }, tenants: { type: 'string' }, write: { type: 'string' } }, true);
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== 'new') throw new UsageError('say `pmta-agent token new`');
    const tenants = list(values.tenants);
    const parsed = apiTokenSchema.safeParse({
      name: values.name ?? 'admin',
      token: newApiToken(),
      scopes: list(values.scopes) ?? ['admin'],
      ...(tenants ? { tenants } : {}),
    });
    if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('\n'));
    const entry = parsed.data;
    const file = values.write as string | undefined;
    if (!file) {
      process.stdout.write(`${JSON.stringify(entry)}\n`);
      process.stderr.write('add this entry to api.tokens in the config; the token is not stored anywhere else\n');
      return 0;
    }
    writeEntry(file, entry);
    process.stdout.write(`${entry.token}\n`);
    process.stderr.write(`${file}: api.tokens has token ${entry.name} (${entry.scopes.join(', ')}); reload the agent to use it\n`);
    return 0;
  });
}

/** Into the file's api.tokens, replacing an entry of the same name; an api.token shorthand named the same goes. */
function writeEntry(file: string, entry: z.output<typeof apiTokenSchema>): void {
  let cfg: Record<string, any>;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  } catch (err) {
    throw new Error(`${file}: cannot read it as JSON: ${(err as Error).message}`);
  }
  cfg.api ??= {};
  cfg.api.tokens = [...(Array.isArray(cfg.api.tokens) ? cfg.api.tokens : []).filter((t: { name?: unknown }) => t?.name !== entry.name), entry];
  if (entry.name === 'admin') delete cfg.api.token;
  // Same mode as before (the config holds secrets); a rename, so a reader never sees half a file.
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: statSync(file).mode & 0o777 });
  renameSync(tmp, file);
}
