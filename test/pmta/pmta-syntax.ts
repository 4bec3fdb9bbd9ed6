// The agent's PowerMTA parser (src/pmta/lint/syntax.ts) seen as a tree of
// words, for tests that look at what the agent renders. Throws on the first
// syntax problem, so a test cannot read a broken file as a good one.
import { parsePmtaText, words, type PmtaNode } from '../../src/pmta/lint/syntax.js';

export interface Directive {
  kind: 'directive';
  name: string;
  args: string[];
  line: number;
}

export interface Block {
  kind: 'block';
  name: string;
  args: string[];
  line: number;
  children: Node[];
}

export type Node = Directive | Block;

export class PmtaSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

function toNode(n: PmtaNode): Node {
  return n.kind === 'block'
    ? { kind: 'block', name: n.name, args: words(n.arg), line: n.line, children: n.children.map(toNode) }
    : { kind: 'directive', name: n.name, args: words(n.value), line: n.line };
}

/** Parses the text into a tree; throws PmtaSyntaxError on an unclosed, stray or mismatched block. */
export function parsePmtaConfig(text: string): Node[] {
  const { nodes, issues } = parsePmtaText(text);
  const first = issues[0];
  if (first) throw new PmtaSyntaxError(first.line, first.message);
  return nodes.map(toNode);
}

export function blocks(nodes: Node[], name: string): Block[] {
  return nodes.filter((n): n is Block => n.kind === 'block' && n.name === name);
}

export function directives(nodes: Node[], name: string): Directive[] {
  return nodes.filter((n): n is Directive => n.kind === 'directive' && n.name === name);
}

export interface VmtaInfo {
  name: string;
  ip: string | undefined;
  hostname: string | undefined;
  line: number;
  block: Block;
}

/**
 * The checks the issue asks for, as sentences (empty when all hold): every
 * VMTA a pool names is defined, and defined before the pool; no VMTA defined
 * twice; no IP in two tenants' pools.
 */
export function checkPmtaConfig(nodes: Node[]): string[] {
  const problems: string[] = [];
  const vmtas = new Map<string, VmtaInfo>();
  for (const b of blocks(nodes, 'virtual-mta')) {
    const name = b.args[0] ?? '';
    if (vmtas.has(name)) problems.push(`virtual-mta ${name} is defined twice (line ${b.line})`);
    const src = directives(b.children, 'smtp-source-host')[0];
    vmtas.set(name, { name, ip: src?.args[0], hostname: src?.args[1], line: b.line, block: b });
  }
  const poolOfIp = new Map<string, string>();
  for (const pool of blocks(nodes, 'virtual-mta-pool')) {
    const poolName = pool.args[0] ?? '';
    for (const d of directives(pool.children, 'virtual-mta')) {
      const name = d.args[0] ?? '';
      const v = vmtas.get(name);
      if (!v) {
        problems.push(`pool ${poolName} names undefined virtual-mta ${name} (line ${d.line})`);
        continue;
      }
      if (v.line > pool.line) problems.push(`virtual-mta ${name} is defined after pool ${poolName}`);
      if (v.ip === undefined) continue;
      const other = poolOfIp.get(v.ip);
      if (other !== undefined && other !== poolName) problems.push(`IP ${v.ip} is in pools ${other} and ${poolName}`);
      poolOfIp.set(v.ip, poolName);
    }
  }
  return problems;
}

export function vmtaBlocks(nodes: Node[]): Map<string, Block> {
  return new Map(blocks(nodes, 'virtual-mta').map((b) => [b.args[0] ?? '', b]));
}

export function poolMembers(nodes: Node[]): Map<string, string[]> {
  return new Map(
    blocks(nodes, 'virtual-mta-pool').map((b) => [b.args[0] ?? '', directives(b.children, 'virtual-mta').map((d) => d.args[0] ?? '')]),
  );
}

/** `max-msg-rate` per `<domain ...>` block of a VMTA, keyed by the block's names joined with spaces. */
export function domainRates(vmta: Block): Map<string, string> {
  return new Map(
    blocks(vmta.children, 'domain').map((d) => [d.args.join(' '), directives(d.children, 'max-msg-rate')[0]?.args[0] ?? '']),
  );
}
