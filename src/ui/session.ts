// Sign-in for the status page: an API token typed into a form once, then an
// opaque session id in an HttpOnly, SameSite=Strict cookie. The token stays on
// the server (the page calls the API with it), so script on the page, if any
// ever ran, could not read it; a CSRF token per session guards every form.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const COOKIE = 'pmta_ui';
const TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;

export interface UiSession {
  id: string;
  /** The API token the session acts with; every page request re-checks it is still configured. */
  token: string;
  csrf: string;
  expiresAt: number;
  /** One message shown on the next page (after a redirect). */
  flash?: { kind: 'ok' | 'error'; text: string };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time equality of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  return a !== '' && timingSafeEqual(digest(a), digest(b));
}

export class Sessions {
  private readonly byId = new Map<string, UiSession>();

  constructor(private readonly now: () => number = Date.now) {}

  open(token: string): UiSession {
    this.sweep();
    if (this.byId.size >= MAX_SESSIONS) this.byId.delete(this.byId.keys().next().value!);
    const s: UiSession = { id: randomBytes(32).toString('base64url'), token, csrf: randomBytes(32).toString('base64url'), expiresAt: this.now() + TTL_MS };
    this.byId.set(s.id, s);
    return s;
  }

  get(id: string | undefined): UiSession | null {
    if (!id) return null;
    const s = this.byId.get(id);
    if (!s) return null;
    if (s.expiresAt <= this.now()) {
      this.byId.delete(id);
      return null;
    }
    return s;
  }

  close(id: string): void {
    this.byId.delete(id);
  }

  private sweep(): void {
    const t = this.now();
    for (const [id, s] of this.byId) if (s.expiresAt <= t) this.byId.delete(id);
  }
}

/** The Set-Cookie value: HttpOnly, SameSite=Strict, the page's path only; Secure when served over TLS. */
export function sessionCookie(id: string, secure: boolean, maxAgeS = TTL_MS / 1000): string {
  return `${COOKIE}=${id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

export function cookieValue(header: string | undefined, name = COOKIE): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * A state-changing request is ours when its CSRF field matches the session's and,
 * when the browser names an Origin, it is this server's (SameSite=Strict already
 * keeps the cookie off cross-site requests; this holds without it too).
 */
export function csrfOk(session: UiSession, field: unknown, origin: string | undefined, host: string | undefined): boolean {
  if (typeof field !== 'string' || !sameSecret(field, session.csrf)) return false;
  // Absent or opaque ("null": a sandboxed frame, a privacy setting): the CSRF field alone decides.
  if (origin === undefined || origin === 'null') return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
