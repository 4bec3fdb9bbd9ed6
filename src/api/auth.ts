import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ApiToken } from '../auth/tokens.js';

/** Who is calling: the token's name (the audit log's actor) and what it may do. */
export type ApiAccess = Omit<ApiToken, 'token'>;

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer tokens compared in constant time (digests of equal length, so neither
 * content nor length leaks), and an address that keeps failing waits longer
 * for each further answer. The token's name becomes the actor in the audit log.
 */
export function bearerAuth(tokens: () => ApiToken[], delayMs: () => number): MiddlewareHandler<{ Variables: { actor: string; access: ApiAccess } }> {
  const failures = new Map<string, { count: number; last: number }>();
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const got = digest(presented);
    let match: ApiToken | null = null;
    for (const t of tokens()) if (timingSafeEqual(got, digest(t.token)) && presented !== '') match = t;
    let address = 'unknown';
    try {
      address = getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      /* not served by node-server (tests with app.request) */
    }
    if (!match) {
      const f = failures.get(address) ?? { count: 0, last: 0 };
      f.count = Date.now() - f.last > 10 * 60_000 ? 1 : f.count + 1;
      f.last = Date.now();
      failures.set(address, f);
      if (failures.size > 10_000) failures.clear();
      // The first few mistakes are free; a guesser then slows down linearly, up to 5 s.
      if (f.count > 3) await new Promise((r) => setTimeout(r, Math.min(5_000, (f.count - 3) * delayMs())));
      return c.json({ error: 'unauthorized', message: presented ? 'invalid token' : 'missing Authorization: Bearer token' }, 401);
    }
    failures.delete(address);
    c.set('actor', match.name);
    c.set('access', { name: match.name, scopes: match.scopes, tenants: match.tenants });
    await next();
  };
}
