import { existsSync } from 'node:fs';
import { apiTokens } from '../auth/tokens.js';
import { loadConfig, resolveConfigPath } from '../config/load.js';

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const b = body as { message?: string; field?: string; issues?: Array<{ field: string; message: string }> } | null;
    // Every bad field at once (a bad domain and a bad IP), not only the first.
    const issues = b?.issues && b.issues.length > 1 ? b.issues.map((i) => `${i.field}: ${i.message}`).join('; ') : null;
    super(`API answered ${status}: ${issues ?? `${b?.message ?? JSON.stringify(body)}${b?.field ? ` (field ${b.field})` : ''}`}`);
  }
}

export interface ApiClient {
  get(path: string): Promise<any>;
  post(path: string, body: unknown): Promise<any>;
  del(path: string): Promise<any>;
}

/**
 * The CLI talks to the running daemon over its API, so it goes through the same
 * validation and audit log as curl. URL and token: $PMTA_AGENT_URL and
 * $PMTA_AGENT_TOKEN, else the config file's api section.
 */
export function apiClient(configFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): ApiClient {
  let url = env.PMTA_AGENT_URL;
  let token = env.PMTA_AGENT_TOKEN;
  if (!url || !token) {
    const file = resolveConfigPath(configFlag, env);
    if (!existsSync(file)) throw new Error(`no API address: set PMTA_AGENT_URL and PMTA_AGENT_TOKEN, or give --config (looked for ${file})`);
    const cfg = loadConfig(file);
    const host = cfg.api.host === '0.0.0.0' || cfg.api.host === '::' ? '127.0.0.1' : cfg.api.host;
    url ??= `http://${host.includes(':') ? `[${host}]` : host}:${cfg.api.port}`;
    // The operator's commands change things: the file's unlimited admin token.
    token ??= apiTokens(cfg).find((t) => t.scopes.includes('admin') && !t.tenants)?.token;
    if (!token) throw new Error(`no admin token in ${file}: set PMTA_AGENT_TOKEN`);
  }
  const call = async (method: string, path: string, body?: unknown) => {
    let res: Response;
    try {
      res = await fetch(`${url!.replace(/\/$/, '')}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new Error(`cannot reach the agent at ${url}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* keep text */
    }
    if (!res.ok) throw new ApiCallError(res.status, parsed);
    return parsed;
  };
  return { get: (p) => call('GET', p), post: (p, b) => call('POST', p, b), del: (p) => call('DELETE', p) };
}

/** A plain text table: headers, then rows, columns padded. */
export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
