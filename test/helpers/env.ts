import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { newApiToken } from '../../src/auth/tokens.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger, type Logger } from '../../src/log/logger.js';
import { startSimulator, type Simulator, type SimOptions } from '../../src/sim/simulator.js';
import { ManualClock } from '../../src/types.js';

/** Fresh for every test process: the daemon refuses published tokens. */
export const API_TOKEN = newApiToken();
/** A second admin token, named ops-bot in the audit log. */
export const OPS_BOT_TOKEN = newApiToken();
export const START = '2026-11-25T10:00:00Z';
export const TODAY = '2026-11-25';
export const SOS = { username: 'sos-expat', password: 'secret-sos-1', domain: 'sos-mail.com' };
export const ULIXAI = { username: 'ulixai', password: 'secret-ulixai-1', domain: 'ulixai-mail.com' };

export function tmpDir(prefix = 'pmta-agent-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type IpInput = { address: string; hostname?: string; state?: 'warming' | 'active' | 'paused' | 'retired'; warmupStart?: string };

/** A config for tests: ephemeral SMTP port, fast dispatcher, two tenants. */
export function testConfig(
  stateDir: string,
  pmtaPort: number,
  opts: { sosIps?: IpInput[]; ulixaiIps?: IpInput[]; sosTenant?: Record<string, unknown>; patch?: Partial<ConfigInput> } = {},
): Config {
  const ip = (i: IpInput) => ({ hostname: `mail-${i.address.replace(/\./g, '-')}.example.com`, warmupStart: TODAY, state: 'warming' as const, ...i });
  const raw: ConfigInput = {
    smtp: { port: 0 },
    api: { port: 0, token: API_TOKEN, tokens: [{ name: 'ops-bot', token: OPS_BOT_TOKEN, scopes: ['admin'] }] },
    pmta: {
      port: pmtaPort,
      connectTimeoutMs: 1000,
      replyTimeoutMs: 3000,
      maxConnections: 10,
      configPath: path.join(stateDir, 'pmta', 'pmta-agent.conf'),
      reloadCommand: 'true',
      testCommand: null,
      pauseQueueCommand: null,
      resumeQueueCommand: null,
      autoApply: false,
      accountingDir: path.join(stateDir, 'acct'),
    },
    store: { stateDir },
    spool: { dispatchIntervalMs: 50, retryBackoffMs: 200, concurrency: 8 },
    warmup: { timezone: 'UTC' },
    log: { level: 'warn' },
    tenants: [
      {
        id: 1,
        slug: 'sos-expat',
        name: 'SOS-Expat',
        users: [{ username: SOS.username, password: SOS.password }],
        domains: [SOS.domain],
        ips: (opts.sosIps ?? [{ address: '45.123.10.1' }]).map(ip),
        ...opts.sosTenant,
      },
      {
        id: 2,
        slug: 'ulixai',
        name: 'Ulixai',
        users: [{ username: ULIXAI.username, password: ULIXAI.password }],
        domains: [ULIXAI.domain],
        ips: (opts.ulixaiIps ?? [{ address: '45.123.20.1', state: 'active' }]).map(ip),
      },
    ],
  };
  // One level deep: a patched section keeps the test defaults it does not name.
  for (const [k, v] of Object.entries(opts.patch ?? {})) {
    const base = (raw as Record<string, unknown>)[k];
    (raw as Record<string, unknown>)[k] =
      v && typeof v === 'object' && !Array.isArray(v) && base && typeof base === 'object' ? { ...(base as object), ...(v as object) } : v;
  }
  return parseConfig(raw);
}

export interface Harness {
  dir: string;
  sim: Simulator;
  daemon: Daemon;
  clock: ManualClock;
  logs: Array<Record<string, unknown>>;
  port: number;
  apiUrl: string;
  /** fetch against the API with the token (or another one, or none). */
  api(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** The real daemon in this process, on loopback, with the simulator as PowerMTA. */
export async function startHarness(
  opts: { sosIps?: IpInput[]; ulixaiIps?: IpInput[]; sosTenant?: Record<string, unknown>; patch?: Partial<ConfigInput>; sim?: Partial<SimOptions> } = {},
): Promise<Harness> {
  const { dir, cleanup } = tmpDir();
  const clock = new ManualClock(START);
  const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), clock, ...opts.sim });
  const cfg = testConfig(dir, sim.port, opts);
  const logs: Array<Record<string, unknown>> = [];
  const log: Logger = createLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  const daemon = await startDaemon(cfg, { clock, log });
  return {
    dir,
    sim,
    daemon,
    clock,
    logs,
    port: daemon.smtpAddress.port,
    apiUrl: `http://127.0.0.1:${daemon.apiAddress.port}`,
    async api(p, init = {}) {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
      const token = init.token === undefined ? API_TOKEN : init.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (init.json !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`http://127.0.0.1:${daemon.apiAddress.port}${p}`, {
        ...init,
        headers,
        body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* text body (metrics) */
      }
      return { status: res.status, body };
    },
    async close() {
      await daemon.stop();
      await sim.close();
      cleanup();
    },
  };
}

let seq = 0;
/** A MailWizz-like campaign message: CRLF, Message-ID, Feedback-ID. */
export function campaignMessage(opts: { from?: string; to?: string; body?: string; extraHeaders?: string[] } = {}): { raw: string; messageId: string } {
  seq++;
  const messageId = `<${seq.toString(16).padStart(8, '0')}${randomBytes(16).toString('hex')}@${SOS.domain}>`;
  const headers = [
    `From: SOS <${opts.from ?? `news@${SOS.domain}`}>`,
    `To: <${opts.to ?? 'jean@example.net'}>`,
    'Subject: Test campaign',
    `Message-ID: ${messageId}`,
    'Feedback-ID: cmp123:sub456:list789:cust1',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    ...(opts.extraHeaders ?? []),
  ];
  return { raw: `${headers.join('\r\n')}\r\n\r\n${opts.body ?? 'Hello from the campaign.\r\n'}`, messageId };
}

export type SendResult = { ok: true; response: string } | { ok: false; code: number | undefined; response: string };

/** One message on a new connection, as MailWizz sends by default. */
export async function send(
  port: number,
  opts: { user?: string | null; pass?: string; from?: string; to?: string | string[]; raw?: string | NodeJS.ReadableStream },
): Promise<SendResult> {
  const auth = opts.user === null ? undefined : { user: opts.user ?? SOS.username, pass: opts.pass ?? SOS.password };
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth, logger: false });
  try {
    const info = (await transport.sendMail({
      envelope: { from: opts.from ?? `news@${SOS.domain}`, to: opts.to ?? 'jean@example.net' },
      raw: (opts.raw ?? campaignMessage().raw) as string,
    })) as { response: string };
    return { ok: true, response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
