import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { renderMessage, sampleVariables, templateVariables, validateTemplate, type TemplateIssue } from '../../templates/render.js';
import { InvalidTemplateError, TEMPLATE_NAME_RE, TEMPLATE_NAME_RULE, type TemplateRecord, type TemplateStore } from '../../templates/store.js';
import type { ApiDeps, Env } from '../context.js';
import { body } from '../errors.js';

export type TemplateRouteDeps = Pick<ApiDeps, 'admin' | 'clock' | 'cfg'>;

// Schemas shared with the send route.
export const tenantRef = z.union([z.string().min(1), z.number().int().positive()]);
export const templateName = z.string().regex(TEMPLATE_NAME_RE, TEMPLATE_NAME_RULE);
// RFC 5322 caps a header line at 998 characters; the source of a subject is held to that.
export const subjectSource = z.string().min(1).max(998);
export const htmlSource = z.string().min(1).max(2_000_000);
export const textSource = z.string().max(2_000_000);
/** JSON values by name; a dotted placeholder (`{{ order.id }}`) reads into nested objects. */
export const variablesInput = z.record(z.string(), z.json());

const sourceInput = z.object({ subject: subjectSource, html: htmlSource, text: textSource.optional() }).strict();

/**
 * 400 for a template that does not parse: the field is the first part with an
 * error, with its line and column, and every error is listed.
 */
export function invalidTemplateBody(errors: TemplateIssue[]) {
  const first = errors[0]!;
  return {
    error: 'invalid',
    field: first.part,
    message: `${first.part}: ${first.message} at line ${first.line}, column ${first.column}`,
    line: first.line,
    column: first.column,
    errors: errors.map((e) => ({ field: e.part, line: e.line, column: e.column, offset: e.offset, message: e.message })),
  };
}

/** Turns the template syntax errors a handler throws into the 400 above; anything else goes on to the app's error handler. */
export async function withTemplateErrors(c: Context, fn: () => Promise<Response> | Response): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InvalidTemplateError) return c.json(invalidTemplateBody(err.errors), 400);
    throw err;
  }
}

export function templateJson(t: TemplateRecord, tenantSlug: string) {
  return {
    id: t.id,
    tenant: tenantSlug,
    name: t.name,
    subject: t.subject,
    html: t.html,
    text: t.text,
    variables: templateVariables(t.subject, t.html, t.text),
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

export function templateRoutes(deps: TemplateRouteDeps, store: TemplateStore) {
  const app = new Hono<Env>();
  const tenantOf = (ref: string | number) => deps.admin.tenantOrThrow(ref);

  app.post('/validate', async (c) => {
    const input = await body(c, sourceInput);
    const v = validateTemplate(input);
    return c.json(
      v.ok
        ? { ok: true, variables: v.variables, errors: [] }
        : {
            ok: false,
            // The placeholders that did parse, so an editor can still list them.
            variables: templateVariables(input.subject, input.html, input.text),
            errors: v.errors.map((e) => ({ field: e.part, line: e.line, column: e.column, offset: e.offset, message: e.message })),
          },
    );
  });

  app.post('/', (c) =>
    withTemplateErrors(c, async () => {
      const input = await body(
        c,
        z.object({ tenant: tenantRef, name: templateName, subject: subjectSource, html: htmlSource, text: textSource.optional() }).strict(),
      );
      const tenant = tenantOf(input.tenant);
      const t = store.create(tenant.id, input);
      return c.json(templateJson(t, tenant.slug), 201);
    }),
  );

  app.get('/:tenant', (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    return c.json({
      tenant: tenant.slug,
      templates: store.list(tenant.id).map((t) => {
        // A list is for choosing: without the bodies.
        const { html: _html, text: _text, ...rest } = templateJson(t, tenant.slug);
        return { ...rest, has_text: t.text !== null };
      }),
    });
  });

  app.get('/:tenant/:name', (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    return c.json(templateJson(store.getOrThrow(tenant.id, c.req.param('name')), tenant.slug));
  });

  // Changes the fields given; `text: null` drops the text part.
  app.put('/:tenant/:name', (c) =>
    withTemplateErrors(c, async () => {
      const tenant = tenantOf(c.req.param('tenant'));
      const patch = await body(
        c,
        z
          .object({ name: templateName.optional(), subject: subjectSource.optional(), html: htmlSource.optional(), text: textSource.nullable().optional() })
          .strict()
          .refine((p) => Object.keys(p).length > 0, { message: 'give at least one of name, subject, html, text' }),
      );
      return c.json(templateJson(store.update(tenant.id, c.req.param('name'), patch), tenant.slug));
    }),
  );

  app.delete('/:tenant/:name', (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const t = store.delete(tenant.id, c.req.param('name'));
    return c.json({ ok: true, tenant: tenant.slug, deleted: t.name, id: t.id });
  });

  app.post('/:tenant/:name/preview', async (c) => {
    const tenant = tenantOf(c.req.param('tenant'));
    const t = store.getOrThrow(tenant.id, c.req.param('name'));
    const input = await body(c, z.object({ variables: variablesInput.optional() }).strict());
    const sample = input.variables === undefined;
    const variables = input.variables ?? sampleVariables(t);
    const rendered = renderMessage(t, variables, { now: deps.clock.now(), timeZone: deps.cfg().warmup.timezone });
    return c.json({ tenant: tenant.slug, name: t.name, sample, variables, ...rendered });
  });

  return app;
}
