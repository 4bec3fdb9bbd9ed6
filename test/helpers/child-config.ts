import path from 'node:path';
import { newApiToken } from '../../src/auth/tokens.js';

/** The admin token of child-process daemons, fresh for each test process. */
export const CHILD_API_TOKEN = newApiToken();

/** The tenants child-process tests use: SOS-Expat with one active IP, Ulixai with one active IP. */
export const SOS_TENANT = {
  id: 1,
  slug: 'sos-expat',
  name: 'SOS-Expat',
  users: [{ username: 'sos-expat', password: 'secret-sos-1' }],
  domains: ['sos-mail.com'],
  ips: [{ address: '45.123.10.1', hostname: 'mail1.sos-mail.com', state: 'active' }],
};

export const ULIXAI_TENANT = {
  id: 2,
  slug: 'ulixai',
  name: 'Ulixai',
  users: [{ username: 'ulixai', password: 'secret-ulixai-1' }],
  domains: ['ulixai-mail.com'],
  ips: [{ address: '45.123.20.1', hostname: 'mail1.ulixai-mail.com', state: 'active' }],
};

type Section = Record<string, unknown>;

/**
 * A config file for the daemon as a child process: ephemeral ports, a fast
 * dispatcher, the simulator as PowerMTA (its accounting dir beside the state
 * dir), info logs (the tests read `daemon.started`). Sections in `patch` are
 * merged one level deep.
 */
export function childConfig(stateDir: string, pmtaPort: number, opts: { tenants?: unknown[]; patch?: Record<string, Section> } = {}) {
  const base: Record<string, Section | unknown[]> = {
    smtp: { port: 0 },
    api: { port: 0, token: CHILD_API_TOKEN },
    pmta: { autoApply: false, accountingDir: path.join(stateDir, '..', 'acct'), port: pmtaPort, connectTimeoutMs: 1000, replyTimeoutMs: 5000 },
    store: { stateDir },
    spool: { dispatchIntervalMs: 50, retryBackoffMs: 200 },
    log: { level: 'info' },
    tenants: opts.tenants ?? [SOS_TENANT],
  };
  for (const [k, v] of Object.entries(opts.patch ?? {})) base[k] = { ...(base[k] as Section | undefined), ...v };
  return base;
}
