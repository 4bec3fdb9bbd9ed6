// Renders the render model through an ejs template into the text of the file
// the agent owns. Synchronous and local: the template is read from disk, and
// includes resolve next to it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { PmtaRenderModel } from './model.js';

export const TEMPLATE_FILE = 'pmta-agent.conf.ejs';

/** A template failed to load or render, or tried to write an unsafe value. */
export class PmtaRenderError extends Error {
  override readonly name = 'PmtaRenderError';
  constructor(
    readonly templatePath: string,
    message: string,
  ) {
    super(`${templatePath}: ${message}`);
  }
}

/**
 * `config/templates/` of the package: from the compiled dist/src/pmta/render.js
 * that is three levels up; from src/pmta/render.ts (run through a TypeScript
 * loader) two.
 */
export function defaultTemplateDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../../config/templates'), path.resolve(here, '../../config/templates')];
  return candidates.find((dir) => existsSync(path.join(dir, TEMPLATE_FILE))) ?? candidates[0]!;
}

export function defaultTemplatePath(): string {
  return path.join(defaultTemplateDir(), TEMPLATE_FILE);
}

class UnsafeValueError extends Error {}

/**
 * The escape of `<%= %>`: a value PowerMTA reads as one token on the
 * directive's line. Whitespace would split it into two arguments, a newline
 * would start a new directive, `#` a comment and `<`/`>` a block, so such a
 * value is refused rather than quoted. The model validates everything first;
 * this only guards an operator's template against values it did not expect.
 */
export function pmtaToken(value: unknown): string {
  const s = String(value);
  if (s === '' || /[\s#<>"\\\u0000-\u001f\u007f]/.test(s)) {
    throw new UnsafeValueError(`refusing to write ${JSON.stringify(s.slice(0, 80))} as a PowerMTA value`);
  }
  return s;
}

/** Free text for after a `#`: one line, no control characters. */
export function pmtaComment(value: unknown): string {
  return String(value)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
}

/**
 * Trailing spaces go and runs of blank lines become one, so an operator's
 * template cannot make two states that mean the same render differently, and
 * the file ends with exactly one newline.
 */
function tidy(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  const out: string[] = [];
  for (const line of lines) {
    if (line === '' && (out.length === 0 || out[out.length - 1] === '')) continue;
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}

/** The config file's text for `model`; the same model always gives the same bytes. */
export function renderPmtaConfig(model: PmtaRenderModel, templatePath: string = defaultTemplatePath()): string {
  const file = path.resolve(templatePath);
  let template: string;
  try {
    template = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PmtaRenderError(file, `cannot read the template: ${(err as Error).message}`);
  }
  try {
    return tidy(
      ejs.render(
        template,
        { model, comment: pmtaComment, token: pmtaToken },
        {
          filename: file,
          async: false,
          strict: true,
          _with: false,
          destructuredLocals: ['model', 'comment', 'token'],
          // ejs also runs the template's file name through the escape when it
          // reports an error with its line; let that one through.
          escape: (v: unknown) => (v === file ? file : pmtaToken(v)),
          cache: false,
        },
      ),
    );
  } catch (err) {
    throw new PmtaRenderError(file, describeEjsError(file, err));
  }
}

/** ejs's message is `FILE:LINE`, some context lines, a blank line, then the cause. */
function describeEjsError(file: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!message.startsWith(`${file}:`)) return message;
  const line = /^[^\n]*:(\d+)\n/.exec(message)?.[1];
  const cause = message.slice(message.indexOf('\n\n') + 2) || message;
  return line === undefined ? cause : `line ${line}: ${cause}`;
}
