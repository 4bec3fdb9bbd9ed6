import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';

/** What an API token may do. `admin` may do everything; each route declares the one scope it needs (src/api/scopes.ts). */
export const SCOPES = ['admin', 'read', 'accounting:push', 'send'] as const;
export type Scope = (typeof SCOPES)[number];

const HOW_TO = 'make one with `pmta-agent token new`';

// Values this project has published in its example config, README, demo and tests.
// Anyone can read them, so a config carrying one is as open as a config without a token.
const PUBLISHED = new Set(
  [
    'change-me-change-me',
    'test-token-0123456789abcdef',
    'ops-bot-token-0123456789',
    'demo-token-0123456789',
    'lifecycle-token-0123456789',
    'shared-redis-token-0123456789',
    'cap-test-token-0123456789abcdef',
  ].map((t) => t.toLowerCase()),
);

/** Development tokens (the checkout's dev config) start with this; the schema accepts one only with dev.simulator. */
export const DEV_TOKEN_PREFIX = 'pmta_dev_';

/** A fresh token: 256 random bits, URL-safe, with a prefix that makes it recognisable in a leaked file. */
export function newApiToken(): string {
  return `pmta_${randomBytes(32).toString('base64url')}`;
}

/** Why a configured token must not be used, or null when it may. */
export function tokenProblem(token: string): string | null {
  if (/^replace-with/i.test(token)) return `is the example config's placeholder; ${HOW_TO}`;
  if (token.length < 16) return `must be at least 16 characters; ${HOW_TO}`;
  if (PUBLISHED.has(token.toLowerCase())) return `is an example value published with pmta-agent, not a secret; ${HOW_TO}`;
  if (new Set(token).size < 8) return `is too easy to guess (fewer than 8 different characters); ${HOW_TO}`;
  return null;
}

export const MISSING_TOKEN = `no API token: the control API needs at least one in api.tokens; ${HOW_TO}`;

export interface ApiToken {
  name: string;
  token: string;
  scopes: readonly Scope[];
  /** Tenant slugs the token is limited to; undefined: every tenant. */
  tenants?: readonly string[] | undefined;
}

/** The configured tokens; api.token is the shorthand for one named admin with scope admin. */
export function apiTokens(cfg: Config): ApiToken[] {
  const { token, tokens } = cfg.api;
  return [...(token !== undefined ? [{ name: 'admin', token, scopes: ['admin' as const] }] : []), ...tokens];
}
