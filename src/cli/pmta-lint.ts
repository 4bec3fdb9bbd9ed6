// `pmta-agent pmta lint [FILE...]`: the PowerMTA config linter from the shell.
// With files it reads them and needs no running agent (a root-owned
// pre-reload check can run it); without, it lints what the agent renders now.
import { readFile } from 'node:fs/promises';
import { formatIssue, lintPmtaConfig, type LintIssue } from '../pmta/lint/index.js';
import { parse, withUsage } from './args.js';
import { apiClient } from './client.js';

export const PMTA_LINT_USAGE = `Usage: pmta-agent pmta lint [FILE...] [--json] [--config FILE]
Checks a PowerMTA config file against the directives the agent may emit
(scopes, value syntax and cross-references from the PowerMTA v5.0 guide).
Without FILE, lints the config the running agent renders now.
Prints one line per problem in PowerMTA's own form
(Error in line N of FILE: reason). Exit codes: 0 no errors, 1 errors, 2 usage.
`;

export function runPmtaLint(argv: string[]): Promise<number> {
  return withUsage(PMTA_LINT_USAGE, async () => {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' }, config: { type: 'string' } }, true);
    if (values.help) {
      process.stdout.write(PMTA_LINT_USAGE);
      return 0;
    }
    const inputs: Array<{ name: string; text: string }> = [];
    try {
      if (positionals.length === 0) {
        const text = await apiClient(values.config).get('/api/v2/powermta/config/download');
        inputs.push({ name: '(rendered by the agent)', text: String(text) });
      }
      for (const file of positionals) inputs.push({ name: file, text: await readFile(file, 'utf8') });
    } catch (err) {
      process.stderr.write(`pmta-agent: ${(err as Error).message}\n`);
      return 1;
    }
    const results = inputs.map((i) => ({ file: i.name, ...lintPmtaConfig(i.text) }));
    if (values.json) {
      process.stdout.write(JSON.stringify({ ok: results.every((r) => r.ok), files: results }, null, 2) + '\n');
    } else {
      for (const r of results) {
        for (const issue of r.issues) process.stdout.write(formatIssue(r.file, issue) + '\n');
        process.stdout.write(`${r.file}: ${summary(r.issues)}\n`);
      }
    }
    return results.every((r) => r.ok) ? 0 : 1;
  });
}

function summary(issues: readonly LintIssue[]): string {
  const errors = issues.filter((i) => i.severity === 'error').length;
  const warnings = issues.length - errors;
  return errors === 0 ? `ok${warnings > 0 ? `, ${warnings} warning(s)` : ''}` : `${errors} error(s), ${warnings} warning(s)`;
}
