// The simulator's view of a PowerMTA config: refused when the linter finds an
// error (what PowerMTA refuses, per the guide), else the VMTA and pool names
// it defines, which is all the simulator routes on.
import { childBlocks, formatIssue, lintPmtaConfig, parsePmtaText, type LintIssue } from '../pmta/lint/index.js';

export interface SimConfigLoad {
  ok: boolean;
  issues: LintIssue[];
  /** Error lines in PowerMTA's form (`Error in line N of FILE: ...`). */
  lines: string[];
  /** Lowercased VMTA and pool names (one name space, §8.3). */
  names: ReadonlySet<string>;
}

export function loadSimConfig(file: string, text: string): SimConfigLoad {
  const { ok, issues } = lintPmtaConfig(text);
  const lines = issues.filter((i) => i.severity === 'error').map((i) => formatIssue(file, i));
  if (!ok) return { ok, issues, lines, names: new Set() };
  const names = new Set(
    childBlocks(parsePmtaText(text).nodes)
      .filter((b) => b.name === 'virtual-mta' || b.name === 'virtual-mta-pool')
      .map((b) => b.arg.toLowerCase()),
  );
  return { ok, issues, lines, names };
}
