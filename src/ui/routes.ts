// GET /ui: the status page; sign-in with an API token; pause and resume an IP.
// Everything it shows or changes goes through the JSON API's own routes, in
// process, with the session's token: same services, same scopes, same audit.
import { Hono, type Context } from 'hono';
import type { ApiToken } from '../auth/tokens.js';
import type { Config } from '../config/schema.js';
import { gatherPage, type ApiCall } from './data.js';
import { loginPage, statusPage } from './page.js';
import { cookieValue, csrfOk, sameSecret, sessionCookie, Sessions, type UiSession } from './session.js';
import { STYLE } from './style.js';

export interface UiDeps {
  cfg: () => Config;
  tokens: () => ApiToken[];
  /** The API app's fetch: a request, and the server's env (the caller's address for bearerAuth). */
  api: (request: Request, env: unknown) => Response | Promise<Response>;
  now?: () => number;
}

// Nothing from elsewhere, no script at all, styles from the page's own stylesheet only.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function uiRoutes(deps: UiDeps): Hono {
  const app = new Hono();
  const sessions = new Sessions(deps.now);

  app.use('*', async (c, next) => {
    await next();
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with every form post, and the origin check below learns nothing.
    c.header('referrer-policy', 'same-origin');
    c.header('x-frame-options', 'DENY');
    c.header('cache-control', 'no-store');
  });

  const tokenOf = (presented: string): ApiToken | null => {
    let found: ApiToken | null = null;
    for (const t of deps.tokens()) if (sameSecret(presented, t.token)) found = t;
    return found;
  };

  /** The session and its token, while that token is still in the config (a removed token ends its sessions). */
  const current = (c: Context): { session: UiSession; token: ApiToken } | null => {
    const session = sessions.get(cookieValue(c.req.header('cookie')));
    if (!session) return null;
    const token = tokenOf(session.token);
    if (!token) {
      sessions.close(session.id);
      return null;
    }
    return { session, token };
  };

  const caller = (c: Context, token: string): ApiCall => async (path, init = {}) => {
    const req = new Request(new URL(path, 'http://ui.local'), {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
    });
    const res = await deps.api(req, c.env);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body };
  };

  const secure = (c: Context) => new URL(c.req.url).protocol === 'https:';
  const back = (c: Context) => c.redirect('/ui', 303);

  app.get('/style.css', (c) => c.body(STYLE, 200, { 'content-type': 'text/css; charset=utf-8' }));

  app.get('/', async (c) => {
    const who = current(c);
    if (!who) return c.html(loginPage());
    const data = await gatherPage(caller(c, who.session.token), who.token, deps.cfg(), who.session.csrf);
    const flash = who.session.flash;
    delete who.session.flash;
    return c.html(statusPage({ ...data, flash }));
  });

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== 'null' && new URL(origin).host !== c.req.header('host')) return c.html(loginPage('Sign-in from another site refused.'), 403);
    const token = typeof form.token === 'string' ? tokenOf(form.token.trim()) : null;
    if (!token) {
      // As for a bad bearer token: a guesser waits.
      await new Promise((r) => setTimeout(r, deps.cfg().api.failureDelayMs));
      return c.html(loginPage('That token is not one of api.tokens.'), 401);
    }
    const session = sessions.open(token.token);
    c.header('set-cookie', sessionCookie(session.id, secure(c)));
    return back(c);
  });

  app.post('/logout', async (c) => {
    const who = current(c);
    const form = await c.req.parseBody();
    if (who && csrfOk(who.session, form.csrf, c.req.header('origin'), c.req.header('host'))) sessions.close(who.session.id);
    c.header('set-cookie', sessionCookie('', secure(c), 0));
    return back(c);
  });

  app.post('/ips/:ip/:action{pause|resume}', async (c) => {
    const who = current(c);
    if (!who) return c.html(loginPage('Sign in first.'), 401);
    const form = await c.req.parseBody();
    if (!csrfOk(who.session, form.csrf, c.req.header('origin'), c.req.header('host'))) return c.text('Forbidden: the form is not from this page (CSRF check). Reload the page and try again.', 403);
    const ip = c.req.param('ip');
    const action = c.req.param('action');
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    if (!reason) {
      who.session.flash = { kind: 'error', text: `give a reason to ${action} ${ip}` };
      return back(c);
    }
    const r = await caller(c, who.session.token)(`/api/v2/ips/${encodeURIComponent(ip)}/${action}`, { method: 'POST', json: { reason } });
    who.session.flash =
      r.status === 200
        ? { kind: 'ok', text: r.body.changed ? `${ip}: ${r.body.previous} -> ${r.body.state} (${reason})` : `${ip} is already ${r.body.state}` }
        : { kind: 'error', text: `${action} ${ip} refused (${r.status}): ${r.body?.message ?? r.body?.error ?? ''}` };
    return back(c);
  });

  return app;
}

