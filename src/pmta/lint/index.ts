// The PowerMTA config linter, for `pmta-agent pmta lint`, every apply, the
// simulator and a root-owned pre-reload check. Imports nothing outside this
// folder, so it can be reused on its own.
export { formatIssue, lintPmtaConfig, type LintIssue, type LintResult } from './lint.js';
export { BLOCKS, DIRECTIVES, RECORD_FIELDS, type BlockSpec, type DirectiveSpec, type Scope } from './table.js';
export { childBlocks, childDirectives, parsePmtaText, type PmtaBlock, type PmtaDirective, type PmtaNode } from './syntax.js';
