// Checks a PowerMTA config text against the table of what the agent may emit
// (table.ts) and the rules the guide states across directives: the ones that
// make PowerMTA refuse the file and the ones that make it silently do
// something else than meant. Pure: text in, issues out.
import { childBlocks, childDirectives, commaList, parsePmtaText, words, type PmtaBlock, type PmtaDirective, type PmtaNode } from './syntax.js';
import { BLOCK_BY_NAME, DIRECTIVE_BY_NAME, RECORD_FIELDS, type Scope } from './table.js';

export interface LintIssue {
  severity: 'error' | 'warning';
  line: number;
  message: string;
  /** The guide section the rule comes from, when there is one. */
  section?: string;
}

export interface LintResult {
  ok: boolean;
  issues: LintIssue[];
}

export function lintPmtaConfig(text: string): LintResult {
  const { nodes, issues: syntax } = parsePmtaText(text);
  const issues: LintIssue[] = syntax.map((s) => ({ severity: 'error', line: s.line, message: s.message, section: '3.1' }));
  const add = (line: number, message: string, section?: string, severity: LintIssue['severity'] = 'error'): void =>
    void issues.push({ severity, line, message, ...(section ? { section } : {}) });
  walk(nodes, 'global', add);
  crossChecks(nodes, add);
  issues.sort((a, b) => a.line - b.line);
  return { ok: !issues.some((i) => i.severity === 'error'), issues };
}

type Add = (line: number, message: string, section?: string, severity?: LintIssue['severity']) => void;

function walk(nodes: readonly PmtaNode[], scope: Scope, add: Add): void {
  const seen = new Map<string, number>();
  const seenBlocks = new Map<string, number>();
  for (const n of nodes) {
    if (n.kind === 'block') {
      const spec = BLOCK_BY_NAME.get(n.name);
      if (!spec) {
        add(n.line, `<${n.name}> is not a block the agent emits (see src/pmta/lint/table.ts)`);
        continue;
      }
      if (!spec.parents.includes(scope)) add(n.line, `<${n.name}> cannot stand ${where(scope)}`, spec.section);
      const why = spec.arg.check(n.arg);
      if (why !== null) add(n.line, `<${n.name}>: ${why}`, spec.section);
      const key = `${n.name} ${n.arg.toLowerCase()}`;
      const first = seenBlocks.get(spec.single ? n.name : key);
      if (first !== undefined) {
        add(n.line, spec.single ? `a second <${n.name}> (the first is on line ${first})` : `<${n.name} ${n.arg}> is defined twice here (first on line ${first})`, spec.section);
      } else seenBlocks.set(spec.single ? n.name : key, n.line);
      walk(n.children, spec.name, add);
      if (spec.name === 'acct-file') checkAcctFile(n, add);
      continue;
    }
    const spec = DIRECTIVE_BY_NAME.get(n.name);
    if (!spec) {
      add(n.line, `${n.name} is not a directive the agent emits (see src/pmta/lint/table.ts)`);
      continue;
    }
    if (!spec.scopes.includes(scope)) {
      add(n.line, `${n.name} cannot stand ${where(scope)} (only in ${spec.scopes.map(whereShort).join(', ')})`, spec.section);
      continue;
    }
    const why = n.value === '' ? 'argument missing' : spec.value.check(n.value);
    if (why !== null) add(n.line, `${n.name}: ${why}`, spec.section);
    if (!spec.repeatable) {
      const first = seen.get(n.name);
      if (first !== undefined) add(n.line, `${n.name} is given twice in one block (first on line ${first})`, spec.section);
      else seen.set(n.name, n.line);
    }
  }
}

function where(scope: Scope): string {
  return scope === 'global' ? 'at the top level' : `inside <${scope}>`;
}

function whereShort(scope: Scope): string {
  return scope === 'global' ? 'global' : `<${scope}>`;
}

/** §3.3.11: one record-fields line per type, fields that exist for it, rotation that happens. */
function checkAcctFile(block: PmtaBlock, add: Add): void {
  const kids = block.children;
  const typesSeen = new Map<string, number>();
  for (const rf of childDirectives(kids, 'record-fields')) {
    const [type, fieldList, ...rest] = words(rf.value);
    if (type === undefined || fieldList === undefined) continue; // reported by the value check
    if (rest.length > 0 || type.includes(',')) {
      add(rf.line, 'record-fields takes one record type and one comma list of fields, without spaces (§3.3.11.12)', '3.3.11.12');
      continue;
    }
    const first = typesSeen.get(type);
    if (first !== undefined) add(rf.line, `record-fields for ${type} is given twice (first on line ${first})`, '3.3.11.12');
    typesSeen.set(type, rf.line);
    const spec = RECORD_FIELDS[type];
    if (!spec) continue;
    const known = new Set(spec.fields.map((f) => f.toLowerCase()));
    for (const raw of commaList(fieldList)) {
      const f = raw.replace(/^!/, '');
      if (raw === '*') continue;
      if (/^header_[!-9;-~]+$/i.test(f)) {
        if (!spec.headers) add(rf.line, `${type} records cannot carry header fields (${f}; §11.2.5, §3.3.11.10)`, '11.2.5');
        continue;
      }
      if (/^arf_[!-9;-~]+$/i.test(f)) {
        if (!spec.arf) add(rf.line, `only f records take arf_ fields (${f}; §11.2.8)`, '11.2.8');
        continue;
      }
      if (!known.has(f.toLowerCase())) add(rf.line, `${JSON.stringify(f)} is not a field of ${type} records (§11.2)`, '11.2');
    }
  }
  const records = childDirectives(kids, 'records')[0];
  const listed = new Set(records ? commaList(records.value) : ['d', 'b']);
  for (const [type, line] of typesSeen) {
    if (!listed.has(type)) add(line, `record-fields for ${type}, which records does not list: the line has no effect`, '3.3.11.11', 'warning');
  }
  const moveTo = childDirectives(kids, 'move-to')[0];
  const moveInterval = childDirectives(kids, 'move-interval')[0];
  if (moveInterval && !moveTo) add(moveInterval.line, 'move-interval without move-to is silently ignored (§3.3.11.2): give both, or neither', '3.3.11.2');
  for (const m of childDirectives(kids, 'map-header-to-field')) {
    if (/^tq\b/.test(m.value)) add(m.line, 'map-header-to-field cannot use tq records (§3.3.11.10)', '3.3.11.10');
  }
}

interface Named {
  name: string;
  line: number;
  block: PmtaBlock;
}

/** Rules across blocks: names that must exist, order, one namespace, DKIM keys for signing. */
function crossChecks(nodes: readonly PmtaNode[], add: Add): void {
  const vmtas = new Map<string, Named>();
  const pools = new Map<string, Named>();
  for (const b of childBlocks(nodes)) {
    if (b.name !== 'virtual-mta' && b.name !== 'virtual-mta-pool') continue;
    const name = b.arg;
    const other = vmtas.get(name) ?? pools.get(name);
    // Pools and VMTAs share one name space (§8.3); twice the same kind is reported by walk().
    if (other && other.block.name !== b.name) add(b.line, `${name} names both a virtual-mta and a pool (line ${other.line}); they share one name space`, '8.3');
    (b.name === 'virtual-mta' ? vmtas : pools).set(name, { name, line: b.line, block: b });
  }

  const poolsOf = new Map<string, string[]>();
  for (const pool of pools.values()) {
    for (const m of childDirectives(pool.block.children, 'virtual-mta')) {
      const v = vmtas.get(m.value);
      if (!v) add(m.line, `pool ${pool.name} names virtual-mta ${m.value}, which is not defined`, '3.3.13.1');
      else if (v.line > pool.line) add(m.line, `virtual-mta ${m.value} is defined after pool ${pool.name} names it: define VMTAs first`, '8.3');
      poolsOf.set(m.value, [...(poolsOf.get(m.value) ?? []), pool.name]);
    }
  }
  for (const [vmta, ps] of poolsOf) {
    const withDomains = ps.filter((p) => childBlocks(pools.get(p)!.block.children, 'domain').length > 0);
    if (withDomains.length > 1) add(pools.get(withDomains[1]!)!.line, `virtual-mta ${vmta} is in pools ${withDomains.join(' and ')}, which both hold <domain> blocks`, '3.3.13.2');
  }

  const exists = (name: string): boolean => vmtas.has(name) || pools.has(name) || /^\{[^}]+\}$/.test(name);
  const refs = (d: PmtaDirective, onlyVmta: boolean, section: string): void => {
    const ok = onlyVmta ? vmtas.has(d.value) : exists(d.value);
    if (!ok) add(d.line, `${d.name} names ${d.value}, which is not a defined ${onlyVmta ? 'virtual-mta' : 'virtual-mta or pool'}`, section);
  };
  const everywhere = (fn: (d: PmtaDirective) => void, list: readonly PmtaNode[] = nodes): void => {
    for (const n of list) {
      if (n.kind === 'block') everywhere(fn, n.children);
      else fn(n);
    }
  };
  const macros = new Set(childDirectives(nodes, 'domain-macro').map((m) => /^([A-Za-z0-9_]+)/.exec(m.value)?.[1] ?? ''));
  everywhere((dir) => {
    if (dir.name === 'default-virtual-mta' && dir.value !== 'by-smtp-source-ip') refs(dir, false, '3.3.7.29');
    if (dir.name === 'cold-virtual-mta' || dir.name === 'reroute-to-virtual-mta' || dir.name === 'invalid-virtual-mta-fallback') refs(dir, true, '3.3.10.49');
  });
  const checkMacros = (b: PmtaBlock): void => {
    for (const m of b.arg.matchAll(/\$([A-Za-z0-9_]+)/g)) {
      if (!macros.has(m[1]!)) add(b.line, `<domain ${b.arg}> uses $${m[1]}, which no domain-macro defines`, '3.3.1.33.4');
    }
  };

  // dkim-sign with no key in reach signs nothing (§3.3.10.19): keys of the VMTA, its pools, or global.
  const globalKeys = childDirectives(nodes, 'domain-key').length > 0;
  const keyed = (b: PmtaBlock): boolean => childDirectives(b.children, 'domain-key').length > 0;
  const signs = (dom: PmtaBlock): PmtaDirective | undefined =>
    childDirectives(dom.children, 'dkim-sign').find((s) => /^(?:yes|true)$/i.test(s.value));
  for (const b of childBlocks(nodes, 'domain')) {
    checkMacros(b);
    const s = signs(b);
    if (s && !globalKeys && ![...vmtas.values(), ...pools.values()].some((v) => keyed(v.block))) add(s.line, 'dkim-sign yes with no domain-key anywhere: nothing can be signed', '3.3.10.19', 'warning');
  }
  for (const v of vmtas.values()) {
    const inPools = (poolsOf.get(v.name) ?? []).map((p) => pools.get(p)!.block);
    const hasKey = globalKeys || keyed(v.block) || inPools.some(keyed);
    const doms = childBlocks(v.block.children, 'domain');
    for (const dom of doms) {
      checkMacros(dom);
      const s = signs(dom);
      if (s && !hasKey) add(s.line, `dkim-sign yes in virtual-mta ${v.name}, which has no domain-key in reach: mail leaves unsigned`, '3.3.10.19', 'warning');
    }
    // dkim-sign defaults to false: keys alone sign nothing, unless a global <domain> of the main file turns it on.
    if (keyed(v.block) && !doms.some((d) => signs(d) !== undefined)) {
      add(v.line, `virtual-mta ${v.name} has domain-key lines but no <domain> with dkim-sign yes: its mail leaves unsigned unless the main config signs`, '3.3.10.19', 'warning');
    }
  }
  for (const p of pools.values()) for (const dom of childBlocks(p.block.children, 'domain')) checkMacros(dom);

  for (const kind of ['bounce-processor', 'feedback-loop-processor'] as const) {
    for (const proc of childBlocks(nodes, kind)) {
      const lists = childBlocks(proc.children, 'address-list');
      const entries = lists.flatMap((l) => childDirectives(l.children));
      if (entries.length === 0) add(proc.line, `<${kind}> without addresses in an <address-list> inspects nothing`, kind === 'bounce-processor' ? '12.6' : '12.7');
    }
  }
}

/** PowerMTA's own wording (§6.3.38 sample: `Error in line 11 of /etc/pmta/config: argument missing`), plus the section. */
export function formatIssue(file: string, i: LintIssue): string {
  const kind = i.severity === 'error' ? 'Error' : 'Warning';
  const cite = i.section && !i.message.includes(`§${i.section}`) ? ` (guide §${i.section})` : '';
  return `${kind} in line ${i.line} of ${file}: ${i.message}${cite}`;
}
