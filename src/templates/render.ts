// Transactional templates: a tokenizer and renderer of our own. User templates
// are data, never programs: there is no expression language, no eval, no
// Function, no ejs, no file or module access. Anything that is not a
// placeholder or a known MailWizz tag is copied to the output as it stands,
// so `<% code %>`, `${expr}` and unknown `[TAGS]` come out as literal text.
import { MERGE_TAGS, isMergeTag, lookupVariable, tagValue, type MergeTag, type TemplateVariables } from './tags.js';

export { MERGE_TAGS, lookupVariable, type MergeTag, type TemplateVariables } from './tags.js';

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'var'; name: string }
  | { kind: 'tag'; tag: MergeTag };

export interface ParsedTemplate {
  readonly parts: readonly TemplatePart[];
}

export interface RenderOptions {
  /** 'html' for the html part (variable values escaped), 'none' for subject and text. */
  escape: 'html' | 'none';
  /** The clock for the CURRENT_* tags. */
  now: Date;
  /** IANA zone the CURRENT_* tags are read in; UTC when not given. */
  timeZone?: string;
}

/** A template that cannot be parsed: where (1-based line and column, 0-based UTF-16 offset) and why. */
export class TemplateSyntaxError extends Error {
  constructor(
    /** The message without the position. */
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
    this.name = 'TemplateSyntaxError';
  }
}

const OPEN = '{{';
const CLOSE = '}}';
const NAME_CHAR = /[A-Za-z0-9_.-]/;
// Where the scan has to look: a placeholder or a possible merge tag.
const SPECIAL = /\{\{|\[/g;
// A merge tag at a given index: MailWizz tags are upper case, digits and `_`.
const TAG_AT = /\[([A-Z][A-Z0-9_]*)\]/y;

function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  // Columns count code points, so an emoji before the error is one column, as editors show it.
  return { line, column: Array.from(text.slice(lineStart, offset)).length + 1 };
}

function syntaxError(text: string, offset: number, message: string): TemplateSyntaxError {
  const { line, column } = positionOf(text, offset);
  return new TemplateSyntaxError(message, line, column, offset);
}

/**
 * Every part the text holds and every syntax error in it. After a bad
 * placeholder the scan goes on after its `}}`, so one pass reports them all;
 * an unclosed `{{` ends the scan.
 */
export function scanTemplate(text: string): { parts: TemplatePart[]; errors: TemplateSyntaxError[] } {
  const parts: TemplatePart[] = [];
  const errors: TemplateSyntaxError[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal !== '') parts.push({ kind: 'text', text: literal });
    literal = '';
  };
  let i = 0;
  while (i < text.length) {
    SPECIAL.lastIndex = i;
    const next = SPECIAL.exec(text)?.index ?? text.length;
    literal += text.slice(i, next);
    i = next;
    if (i >= text.length) break;
    if (text.startsWith(OPEN, i)) {
      const close = text.indexOf(CLOSE, i + OPEN.length);
      if (close === -1) {
        errors.push(syntaxError(text, i, 'unclosed {{ (no matching }})'));
        literal += text.slice(i);
        break;
      }
      const inner = text.slice(i + OPEN.length, close);
      const lead = inner.length - inner.trimStart().length;
      const name = inner.trim();
      if (name === '') {
        errors.push(syntaxError(text, i, 'empty placeholder {{ }}'));
      } else {
        const bad = Array.from(name).findIndex((ch) => !NAME_CHAR.test(ch));
        if (bad !== -1) {
          const ch = Array.from(name)[bad]!;
          const at = i + OPEN.length + lead + Array.from(name).slice(0, bad).join('').length;
          const hint = ch === '{' ? ' (triple braces are not supported)' : '';
          errors.push(syntaxError(text, at, `bad character ${JSON.stringify(ch)} in placeholder name${hint}; use letters, digits, _ . -`));
        } else {
          flush();
          parts.push({ kind: 'var', name });
        }
      }
      i = close + CLOSE.length;
      continue;
    }
    if (text[i] === '[') {
      TAG_AT.lastIndex = i;
      const m = TAG_AT.exec(text);
      if (m && isMergeTag(m[1]!)) {
        flush();
        parts.push({ kind: 'tag', tag: m[1] });
        i += m[0].length;
        continue;
      }
    }
    literal += text[i];
    i++;
  }
  flush();
  return { parts, errors };
}

/** Parse a template, throwing the first TemplateSyntaxError. */
export function parseTemplate(text: string): ParsedTemplate {
  const { parts, errors } = scanTemplate(text);
  if (errors[0]) throw errors[0];
  return { parts };
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** The text with every placeholder and tag replaced; a missing variable is ''. */
export function renderTemplate(parsed: ParsedTemplate, vars: TemplateVariables, opts: RenderOptions): string {
  const esc = opts.escape === 'html' ? escapeHtml : (s: string) => s;
  let out = '';
  for (const p of parsed.parts) {
    if (p.kind === 'text') out += p.text;
    else if (p.kind === 'var') out += esc(lookupVariable(vars, p.name) ?? '');
    else out += esc(tagValue(p.tag, vars, opts));
  }
  return out;
}

/**
 * The variable names the templates read, sorted and unique; a merge tag counts
 * as its variable (`[FNAME]` as `first_name`, `[FULL_NAME]` as `full_name`),
 * date tags as none. Text that does not parse contributes the placeholders that
 * do: the syntax errors are validateTemplate's to report.
 */
export function templateVariables(...templates: Array<string | ParsedTemplate | null | undefined>): string[] {
  const names = new Set<string>();
  for (const t of templates) {
    if (t === null || t === undefined) continue;
    const parts = typeof t === 'string' ? scanTemplate(t).parts : t.parts;
    for (const p of parts) {
      if (p.kind === 'var') names.add(p.name);
      else if (p.kind === 'tag' && MERGE_TAGS[p.tag].variable !== null) names.add(MERGE_TAGS[p.tag].variable!);
    }
  }
  return [...names].sort();
}

export type TemplatePartName = 'subject' | 'html' | 'text';

export interface TemplateSource {
  subject: string;
  html: string;
  text?: string | null | undefined;
}

export interface TemplateIssue {
  part: TemplatePartName;
  line: number;
  column: number;
  offset: number;
  message: string;
}

export type ValidationResult = { ok: true; variables: string[] } | { ok: false; errors: TemplateIssue[] };

/** Every syntax error of every part, or the variables the template reads. */
export function validateTemplate(t: TemplateSource): ValidationResult {
  const errors: TemplateIssue[] = [];
  const sources: Array<[TemplatePartName, string | null | undefined]> = [
    ['subject', t.subject],
    ['html', t.html],
    ['text', t.text],
  ];
  for (const [part, text] of sources) {
    if (text === null || text === undefined) continue;
    for (const e of scanTemplate(text).errors) errors.push({ part, line: e.line, column: e.column, offset: e.offset, message: e.reason });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, variables: templateVariables(t.subject, t.html, t.text) };
}

export interface RenderedMessage {
  subject: string;
  html: string;
  text: string | null;
}

/** Subject and text unescaped, html escaped. Throws TemplateSyntaxError if a part does not parse. */
export function renderMessage(t: TemplateSource, vars: TemplateVariables, opts: Omit<RenderOptions, 'escape'>): RenderedMessage {
  const render = (text: string, escape: RenderOptions['escape']) => renderTemplate(parseTemplate(text), vars, { ...opts, escape });
  return {
    subject: render(t.subject, 'none'),
    html: render(t.html, 'html'),
    text: t.text === null || t.text === undefined ? null : render(t.text, 'none'),
  };
}

/** Data for a preview when none is given: every variable the template reads as `Sample <name>`. */
export function sampleVariables(t: TemplateSource): Record<string, string> {
  return Object.fromEntries(templateVariables(t.subject, t.html, t.text).map((n) => [n, `Sample ${n}`]));
}
