import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { ConflictError, InvalidInputError, NotFoundError } from '../tenants/errors.js';
import { InvalidDomainError } from '../pmta/names.js';
import { StoreUnavailableError } from '../gate/gate.js';

/** An error with the HTTP status and, for bad input, the field that was wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function errorBody(err: unknown): { status: ContentfulStatusCode; body: Record<string, unknown> } {
  if (err instanceof ApiError) return { status: err.status, body: { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } };
  if (err instanceof NotFoundError) return { status: 404, body: { error: 'not_found', message: err.message, [err.what]: err.id } };
  if (err instanceof ConflictError) return { status: 409, body: { error: 'conflict', message: err.message, ...(err.field ? { field: err.field } : {}) } };
  if (err instanceof InvalidDomainError) return { status: 400, body: { error: 'invalid', message: err.message, field: err.field } };
  if (err instanceof InvalidInputError) return { status: 400, body: { error: 'invalid', message: err.message, field: err.field } };
  if (err instanceof StoreUnavailableError) return { status: 503, body: { error: 'store_unavailable', message: err.message } };
  if (err instanceof z.ZodError) {
    const first = err.issues[0];
    return {
      status: 400,
      body: {
        error: 'invalid',
        field: first ? first.path.join('.') || '(body)' : '(body)',
        message: first?.message ?? 'invalid input',
        issues: err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })),
      },
    };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}

/** Parse a JSON body with a zod schema; a body that is not JSON is a 400 on "(body)". */
export async function body<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  let raw: unknown;
  try {
    const text = await c.req.text();
    raw = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid', 'body is not valid JSON', '(body)');
  }
  return schema.parse(raw);
}

export function query<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  return schema.parse(c.req.query());
}
