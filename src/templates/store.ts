import type { Db } from '../store/db.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../tenants/errors.js';
import { systemClock, type Clock } from '../types.js';
import { validateTemplate, type TemplateIssue } from './render.js';


/**
 * A template name: it is a URL path segment, the PowerMTA job id and a field
 * of Feedback-ID, so lower case, no `:` and no spaces. It starts with a letter,
 * so a reference that is all digits is an id.
 */
export const TEMPLATE_NAME_RE = /^[a-z][a-z0-9._-]{0,63}$/;
export const TEMPLATE_NAME_RULE = 'lower case letters, digits, . _ -, starting with a letter, at most 64 characters';

export interface TemplateRecord {
  id: number;
  tenantId: number;
  name: string;
  subject: string;
  html: string;
  text: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TemplateInput {
  name: string;
  subject: string;
  html: string;
  text?: string | null | undefined;
}

export type TemplatePatch = Partial<TemplateInput>;

/** A template that does not parse: every error with its part and position. The first part with an error is the field. */
export class InvalidTemplateError extends InvalidInputError {
  constructor(readonly errors: TemplateIssue[]) {
    const first = errors[0]!;
    super(first.part, `${first.part}: ${first.message} at line ${first.line}, column ${first.column}`);
  }
}

interface Row {
  id: number;
  tenant_id: number;
  name: string;
  subject: string;
  html: string;
  text: string | null;
  created_at: string;
  updated_at: string;
}

const fromRow = (r: Row): TemplateRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  subject: r.subject,
  html: r.html,
  text: r.text,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

// Another process (the CLI) may insert between the check and the write; UNIQUE settles it.
function uniqueName<T>(name: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ConflictError(`template ${name} exists`, 'name');
    throw err;
  }
}

const COLUMNS = 'id, tenant_id, name, subject, html, text, created_at, updated_at';

/**
 * Templates in SQLite. Every write is checked first: a name that breaks the
 * rule is a 400 on `name`, a template that does not parse an InvalidTemplateError,
 * so nothing stored can fail to render for a syntax reason.
 */
export class TemplateStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock = systemClock,
  ) {}

  private check(t: { name: string; subject: string; html: string; text?: string | null | undefined }): void {
    if (!TEMPLATE_NAME_RE.test(t.name)) throw new InvalidInputError('name', `template name ${JSON.stringify(t.name)}: ${TEMPLATE_NAME_RULE}`);
    const v = validateTemplate(t);
    if (!v.ok) throw new InvalidTemplateError(v.errors);
  }

  create(tenantId: number, input: TemplateInput): TemplateRecord {
    this.check(input);
    if (this.get(tenantId, input.name)) throw new ConflictError(`template ${input.name} exists`, 'name');
    const now = this.clock.now().toISOString();
    const row = uniqueName(input.name, () =>
      this.db
        .prepare(
          `INSERT INTO templates (tenant_id, name, subject, html, text, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`,
        )
        .get(tenantId, input.name, input.subject, input.html, input.text ?? null, now, now) as Row,
    );
    return fromRow(row);
  }

  list(tenantId: number): TemplateRecord[] {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM templates WHERE tenant_id = ? ORDER BY name`).all(tenantId) as Row[]).map(fromRow);
  }

  /** By id (a number, or a string of digits) or by name; null if the tenant has no such template. */
  get(tenantId: number, ref: number | string): TemplateRecord | null {
    const byId = typeof ref === 'number' || /^\d+$/.test(ref);
    const row = this.db
      .prepare(`SELECT ${COLUMNS} FROM templates WHERE tenant_id = ? AND ${byId ? 'id' : 'name'} = ?`)
      .get(tenantId, byId ? Number(ref) : ref) as Row | undefined;
    return row ? fromRow(row) : null;
  }

  getOrThrow(tenantId: number, ref: number | string): TemplateRecord {
    const t = this.get(tenantId, ref);
    if (!t) throw new NotFoundError('template', String(ref));
    return t;
  }

  /** Changes the fields given; `text: null` removes the text part. A rename onto another template's name is a conflict. */
  update(tenantId: number, ref: number | string, patch: TemplatePatch): TemplateRecord {
    const cur = this.getOrThrow(tenantId, ref);
    const next = {
      name: patch.name ?? cur.name,
      subject: patch.subject ?? cur.subject,
      html: patch.html ?? cur.html,
      text: patch.text === undefined ? cur.text : patch.text,
    };
    this.check(next);
    if (next.name !== cur.name && this.get(tenantId, next.name)) throw new ConflictError(`template ${next.name} exists`, 'name');
    const row = uniqueName(next.name, () =>
      this.db
        .prepare(`UPDATE templates SET name = ?, subject = ?, html = ?, text = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`)
        .get(next.name, next.subject, next.html, next.text, this.clock.now().toISOString(), cur.id) as Row,
    );
    return fromRow(row);
  }

  delete(tenantId: number, ref: number | string): TemplateRecord {
    const cur = this.getOrThrow(tenantId, ref);
    this.db.prepare('DELETE FROM templates WHERE id = ?').run(cur.id);
    return cur;
  }
}
