// Reads PowerMTA's config syntax into a tree (guide §3.1): one `directive
// value` per line, `#` to the end of the line is a comment wherever it stands,
// XML-like blocks `<name arg>` ... `</name>`. Pure and forgiving: every problem
// is collected with its line, so one run reports them all, the way a person
// fixing a file wants them.

export interface PmtaDirective {
  kind: 'directive';
  name: string;
  /** Everything after the name, trimmed: list values may hold spaces (`records d, b`). */
  value: string;
  line: number;
}

export interface PmtaBlock {
  kind: 'block';
  name: string;
  /** The tag's argument, trimmed; '' when there is none. */
  arg: string;
  line: number;
  children: PmtaNode[];
}

export type PmtaNode = PmtaDirective | PmtaBlock;

export interface SyntaxIssue {
  line: number;
  message: string;
}

const NAME = '[A-Za-z][A-Za-z0-9_-]*';
const OPEN_RE = new RegExp(`^<(${NAME})(?:\\s+(.*?))?\\s*>$`);
const CLOSE_RE = new RegExp(`^</(${NAME})\\s*>$`);
const DIRECTIVE_RE = new RegExp(`^(${NAME})(?:\\s+(.*))?$`);

/** The text of a line without its comment; `#` needs no space before it (§3.1). */
export function stripComment(raw: string): string {
  const hash = raw.indexOf('#');
  return (hash === -1 ? raw : raw.slice(0, hash)).trim();
}

export function parsePmtaText(text: string): { nodes: PmtaNode[]; issues: SyntaxIssue[] } {
  const issues: SyntaxIssue[] = [];
  const root: PmtaBlock = { kind: 'block', name: '', arg: '', line: 0, children: [] };
  const stack: PmtaBlock[] = [root];
  if (text.includes('\u0000')) issues.push({ line: 1, message: 'the file holds a NUL byte: not a text file' });
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const content = stripComment(raw.replace(/\r$/, ''));
    if (content === '') return;
    const top = stack[stack.length - 1]!;
    if (content.startsWith('</')) {
      const close = CLOSE_RE.exec(content);
      if (!close) return void issues.push({ line, message: `malformed closing tag ${JSON.stringify(content)}` });
      const name = close[1]!.toLowerCase();
      if (stack.length === 1) return void issues.push({ line, message: `</${name}> closes nothing` });
      if (top.name !== name) {
        // Close up to a matching open block if there is one, so one typo is one issue.
        let at = stack.length - 1;
        while (at > 0 && stack[at]!.name !== name) at--;
        issues.push({ line, message: `</${name}> closes <${top.name}> opened on line ${top.line}` });
        if (at > 0) stack.length = at;
        return;
      }
      stack.pop();
      return;
    }
    if (content.startsWith('<')) {
      const open = OPEN_RE.exec(content);
      if (!open) return void issues.push({ line, message: `malformed tag ${JSON.stringify(content)}` });
      const block: PmtaBlock = { kind: 'block', name: open[1]!.toLowerCase(), arg: (open[2] ?? '').trim(), line, children: [] };
      top.children.push(block);
      stack.push(block);
      return;
    }
    const d = DIRECTIVE_RE.exec(content);
    if (!d) return void issues.push({ line, message: `not a directive: ${JSON.stringify(content.slice(0, 80))}` });
    top.children.push({ kind: 'directive', name: d[1]!.toLowerCase(), value: (d[2] ?? '').trim(), line });
  });
  for (const open of stack.slice(1).reverse()) issues.push({ line: open.line, message: `<${open.name}> is never closed` });
  return { nodes: root.children, issues };
}

/** A value's words: whitespace separates them, double quotes keep one together (`"|/usr/bin/x --y"`). */
export function words(value: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) out.push(m[1] ?? m[2]!);
  return out;
}

/** A comma list (`d, b` or `d,b`), items trimmed; empty items kept so the caller can refuse them. */
export function commaList(value: string): string[] {
  return value.split(',').map((s) => s.trim());
}

export function childBlocks(nodes: readonly PmtaNode[], name?: string): PmtaBlock[] {
  return nodes.filter((n): n is PmtaBlock => n.kind === 'block' && (name === undefined || n.name === name));
}

export function childDirectives(nodes: readonly PmtaNode[], name?: string): PmtaDirective[] {
  return nodes.filter((n): n is PmtaDirective => n.kind === 'directive' && (name === undefined || n.name === name));
}
