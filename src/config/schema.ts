import { z } from 'zod';
import { IP_STATES } from '../types.js';
import { parsePasswordHash } from '../auth/password.js';
import { DEV_TOKEN_PREFIX, MISSING_TOKEN, SCOPES, tokenProblem } from '../auth/tokens.js';

// Every key has a default so `config/pmta-agent.example.json` can show them all and a
// minimal file still starts. The schema is the single source of the config's shape.

export const hostname = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i, 'must be a hostname');
export const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address');
export const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');
const port = z.number().int().min(0).max(65535);
export const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes');
// The names above and below reach PowerMTA's config file (a slug names VMTAs and
// pools, a hostname is a smtp-source-host, a tenant's name is a comment): every
// way in, the config file and the API, checks them with these shapes. A name is
// one short line, so nothing can be smuggled into the file on a line of its own.
export const tenantName = z
  .string()
  .min(1)
  .max(100, 'must be at most 100 characters')
  .regex(/^[^\p{Cc}\p{Zl}\p{Zp}]*$/u, 'must be one line of printable text');

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Europe/Paris');

export const smtpUserSchema = z
  .object({
    username: z.string().min(2).max(255),
    password: z.string().min(2).optional(),
    passwordHash: z
      .string()
      .superRefine((h, ctx) => {
        const parsed = parsePasswordHash(h);
        if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
      })
      .optional(),
  })
  .strict()
  .refine((u) => (u.password === undefined) !== (u.passwordHash === undefined), {
    message: 'give exactly one of password or passwordHash',
  });

export const ipSchema = z
  .object({
    address: ipv4,
    hostname: hostname,
    state: z.enum(IP_STATES).default('warming'),
    /** First warmup day, in warmup.timezone. Defaults to the day the agent first sees the IP. */
    warmupStart: day.optional(),
  })
  .strict();

const apiTokenValue = z.string().superRefine((t, ctx) => {
  const problem = tokenProblem(t);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const apiTokenSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$/, 'must be letters, digits and . _ @ : - (it names the token in the audit log)'),
    token: apiTokenValue,
    scopes: z.array(z.enum(SCOPES), { error: `give the token's scopes: a list of ${SCOPES.join(', ')}` }).min(1, `give at least one of ${SCOPES.join(', ')}`),
    /** Only these tenants (slugs); absent: every tenant. */
    tenants: z.array(slug).min(1).optional(),
  })
  .strict();

export const tenantSchema = z
  .object({
    id: z.number().int().positive(),
    slug,
    name: tenantName,
    users: z.array(smtpUserSchema).min(1),
    domains: z.array(hostname.transform((d) => d.toLowerCase())).min(1),
    ips: z.array(ipSchema).default([]),
    spool: z
      .object({
        maxMessages: z.number().int().positive().optional(),
        maxBytes: z.number().int().positive().optional(),
      })
      .strict()
      .default({}),
    mailwizz: z
      .object({
        /** MailWizz frontend URL: bounces and complaints are POSTed to {url}/dswh/pmta. null = no feedback. */
        url: z.string().url().nullable().default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** `accounting.*`: the only home of the accounting settings and their defaults. */
export const accountingSchema = z
  .object({
    /**
     * tail: follow PowerMTA's files in pmta.accountingDir;
     * pipe: PowerMTA pipes its records to `pmta-agent acct-pipe` (`<acct-file |...>`), which spools
     *   them, fsynced, to pipe-*.csv files in pmta.accountingDir that the agent follows;
     * push: a log shipper posts JSON records to /api/v2/webhooks/powermta;
     * off. One per host, so nothing counts twice.
     */
    mode: z.enum(['tail', 'pipe', 'push', 'off']).default('tail'),
    /** pipe mode: the pmta-agent executable PowerMTA runs (an absolute path; install.sh links it here). */
    pipeProgram: z.string().regex(/^\/[^\s"'#<>]+$/, 'must be an absolute path without spaces, quotes, # or < >').default('/usr/local/bin/pmta-agent'),
    /** File names read in tail mode, a glob with `*` and `?`; rotated files (`acct-2026-11-24-0000.csv`) must match too. */
    pattern: z.string().default('acct*.csv'),
    /** Lines per SQLite transaction at most. */
    batchLines: z.number().int().positive().default(20_000),
    /** Poll instead of file-system events (NFS, some container mounts). */
    usePolling: z.boolean().default(false),
    pollIntervalMs: z.number().int().positive().default(1000),
    /** A full look at the directory this often, in case an event was lost; 0 = never. */
    rescanIntervalMs: z.number().int().nonnegative().default(30_000),
    /** Malformed lines logged one by one per file and pass before the rest are only counted. */
    maxMalformedLogs: z.number().int().nonnegative().default(100),
    /** Bytes per read. */
    readChunkBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
    /** A longer line is counted as malformed and skipped rather than buffered. */
    maxLineBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
    /** Days the sent-message index (the hand-off journal) keeps a message, so a late bounce or complaint still finds its tenant. */
    indexDays: z.number().int().positive().default(30),
  })
  .strict();

export const configSchema = z
  .object({
    smtp: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(2525),
        /** Name announced in the greeting and EHLO reply. */
        hostname: z.string().default('pmta-agent.local'),
        maxMessageBytes: z.number().int().positive().default(50 * 1024 * 1024),
        /** Sessions at most (MailWizz's parallel senders), plus room for maxUnauthenticatedClients more. */
        maxClients: z.number().int().positive().default(200),
        /** Connections not yet authenticated; past this many, the one that has waited longest (over a second) is closed with 421 4.7.0, so MailWizz always gets in. */
        maxUnauthenticatedClients: z.number().int().positive().default(100),
        /** A connection that has not authenticated this long after connecting is closed (421 4.7.0). */
        unauthenticatedTimeoutMs: z.number().int().positive().default(10_000),
        /** A failed AUTH is answered this late, doubling with each failure from the same address. */
        authFailureDelayMs: z.number().int().nonnegative().default(1_000),
        authFailureMaxDelayMs: z.number().int().nonnegative().default(30_000),
        maxRecipients: z.number().int().positive().default(1000),
        socketTimeoutMs: z.number().int().positive().default(60_000),
        /** On SIGTERM, messages in flight get this long to reach PowerMTA; after it they are spooled. */
        shutdownGraceMs: z.number().int().nonnegative().default(20_000),
        /** How long a checked password stays cached: MailWizz reconnects for every message by default. */
        authCacheTtlMs: z.number().int().nonnegative().default(600_000),
        tls: z
          .object({ key: z.string().nullable().default(null), cert: z.string().nullable().default(null) })
          .strict()
          .default({ key: null, cert: null })
          .refine((t) => (t.key === null) === (t.cert === null), { message: 'give both key and cert, or neither' }),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8725),
        /** Shorthand for one token named "admin" with scope admin. No default: a published value would open the API. */
        token: apiTokenValue.optional(),
        /** Tokens with a name (the audit log's "who"), the scopes they grant and, optionally, the only tenants they reach. */
        tokens: z.array(apiTokenSchema).default([]),
        /** Larger request bodies are refused with 413 before they are read whole. */
        maxBodyBytes: z.number().int().positive().default(1024 * 1024),
        /** After this many bad tokens from one address, each further attempt waits longer. */
        failureDelayMs: z.number().int().nonnegative().default(250),
      })
      .strict()
      .prefault({}),
    pmta: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(25),
        /** Pooled connections to PowerMTA's injection listener. */
        maxConnections: z.number().int().positive().default(20),
        maxMessagesPerConnection: z.number().int().positive().default(1000),
        connectTimeoutMs: z.number().int().positive().default(5_000),
        /** Longer than this for any reply and PowerMTA counts as slow: the message is spooled. */
        /** Clearly below MailWizz's SMTP timeout (30 s recommended, see pmta/mailwizz.ts), or MailWizz gives up on mail PowerMTA then takes, and resends it. */
        replyTimeoutMs: z.number().int().positive().default(15_000),
        /** The include file the agent owns, in a directory of its own (the unit lets it write only there). */
        configPath: z.string().default('/etc/pmta/pmta-agent/pmta-agent.conf'),
        reloadCommand: z.string().default('pmta reload'),
        /**
         * Run after writing the file and before reloading: PowerMTA's syntax check (guide §6.3.38).
         * A non-zero exit or an `Error in line N ...` line puts the previous file back without a reload.
         * null skips the check.
         */
        testCommand: z.string().min(1).nullable().default('pmta test config'),
        /**
         * Run for each paused IP's VMTA ({vmta} is its name) so the mail PowerMTA holds for it stays
         * put (guide §6.3.23); the resume command when the IP comes back. null: the operator does it.
         */
        pauseQueueCommand: z.string().min(1).nullable().default("pmta pause queue '*/{vmta}'"),
        resumeQueueCommand: z.string().min(1).nullable().default("pmta resume queue '*/{vmta}'"),
        /**
         * A retired IP's VMTA stays defined (out of the pool) this long so PowerMTA delivers what it holds
         * for it instead of bouncing it (§8.5.2); PowerMTA's own bounce-after default is 4d12h = 108 h.
         */
        retireDrainHours: z.number().nonnegative().default(108),
        /** Complaint (FBL, §12.7) and remote-bounce (§12.6) processing, for every tenant domain. */
        processors: z
          .object({
            feedbackLoop: z
              .object({
                enabled: z.boolean().default(false),
                /** Complaints are sent to <localPart>@<subdomain>.<tenant domain>: register that address with each FBL. */
                subdomain: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be one DNS label').default('fbl'),
                localPart: z.string().regex(/^[a-z0-9]([a-z0-9._+-]{0,62}[a-z0-9])?$/, 'must be a plain local part').default('fbl'),
              })
              .strict()
              .prefault({}),
            bounce: z
              .object({
                enabled: z.boolean().default(false),
                /** Remote bounces come back to any address of <subdomain>.<tenant domain>: MailWizz's Return-Path domain. */
                subdomain: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be one DNS label').default('bounce'),
              })
              .strict()
              .prefault({}),
            /** Reports PowerMTA cannot read are forwarded here; null drops them. */
            forwardTo: z.string().email().nullable().default(null),
          })
          .strict()
          .prefault({}),
        /** A reload running longer is killed and counts as failed (the previous file is put back). */
        reloadTimeoutMs: z.number().int().positive().default(30_000),
        /** Render and apply PowerMTA's config at start and whenever IPs, domains or IP states change. */
        autoApply: z.boolean().default(true),
        /** The operator's own template instead of config/templates/pmta-agent.conf.ejs. */
        templatePath: z.string().nullable().default(null),
        /** Address the agent injects from: the `<source>` block that honours X-Virtual-MTA. */
        sourceHost: z.string().default('127.0.0.1'),
        /**
         * The agent's own accounting directory: PowerMTA writes the agent's `<acct-file>` here
         * (acct.csv and its rotations) and the tailer reads every acct*.csv in it, so it must
         * not be shared with another <acct-file> (such as the vendor default /var/log/pmta/acct.csv).
         */
        accountingDir: z.string().default('/var/log/pmta/pmta-agent'),
        /** DKIM private keys (0600); default <stateDir>/dkim. PowerMTA must be able to read them. */
        dkimDir: z.string().nullable().default(null),
        dkimSelector: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be a DNS label').default('default'),
        /** Report address for the suggested DMARC record. */
        dmarcRua: z.string().email().nullable().default(null),
        /** Warming IPs: each big receiver gets `share` of the daily cap spread over `hours`. */
        throttle: z
          .object({
            hours: z.number().positive().max(24).default(10),
            groups: z
              .array(z.object({ label: z.string().min(1), domains: z.array(z.string().min(1)).min(1), share: z.number().positive().max(1) }).strict())
              .default([
                { label: 'Google', domains: ['gmail.com', 'googlemail.com'], share: 0.4 },
                { label: 'Microsoft', domains: ['outlook.com', 'hotmail.com', 'live.com', 'msn.com'], share: 0.3 },
                { label: 'Yahoo/AOL', domains: ['yahoo.com', 'ymail.com', 'aol.com'], share: 0.2 },
              ]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    store: z
      .object({
        /** State directory: SQLite file, spool, DKIM keys unless set elsewhere. */
        stateDir: z.string().default('./data'),
        sqlitePath: z.string().nullable().default(null),
        /** Quota counters and reservations shared by several agents (redis:// or rediss://). */
        redisUrl: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').nullable().default(null),
        redis: z
          .object({
            tls: z.boolean().nullable().default(null),
            /** Sentinel: the URL's host is the master group name. */
            sentinels: z.array(z.object({ host: z.string(), port: port }).strict()).default([]),
            cluster: z.boolean().default(false),
            /** Day keys expire after this many days. */
            historyDays: z.number().int().positive().default(400),
            /** How often each agent reads IP states (pauses) that another agent wrote. */
            stateSyncMs: z.number().int().positive().default(1000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    ledger: z
      .object({
        /** A reservation not committed or released by then is given back (crash, dropped session). */
        reservationTtlMs: z.number().int().positive().default(900_000),
        sweepIntervalMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .prefault({}),
    spool: z
      .object({
        dir: z.string().nullable().default(null),
        maxMessagesPerTenant: z.number().int().positive().default(1_000_000),
        maxBytesPerTenant: z.number().int().positive().default(20 * 1024 * 1024 * 1024),
        maxAgeHours: z.number().positive().default(72),
        dispatchIntervalMs: z.number().int().positive().default(1_000),
        concurrency: z.number().int().positive().default(8),
        /** After PowerMTA fails, wait this long before the dispatcher tries again; also the first wait of a spooled message PowerMTA answered but deferred (it doubles per deferral in a row, up to 5 minutes). */
        retryBackoffMs: z.number().int().positive().default(10_000),
        /** A message up to this size is received in memory, a larger one into a temp file; either is fsynced into the spool before a 250 that did not come from PowerMTA. */
        memoryBytes: z.number().int().nonnegative().default(256 * 1024),
        /**
         * A spooled message handed to PowerMTA without its answer heard (a crash, or
         * the reply lost after the final dot) waits this long for PowerMTA's
         * accounting to show it before it is sent again.
         */
        unknownFateHoldMs: z.number().int().nonnegative().default(900_000),
      })
      .strict()
      .prefault({}),
    warmup: z
      .object({
        timezone: timeZone.default('UTC'),
        steps: z
          .array(z.object({ days: z.number().int().positive(), dailyCap: z.number().int().nonnegative() }).strict())
          .min(1)
          .default([
            { days: 7, dailyCap: 50 },
            { days: 7, dailyCap: 200 },
            { days: 7, dailyCap: 500 },
            { days: 7, dailyCap: 1500 },
            { days: 7, dailyCap: 5000 },
          ]),
        activeDailyCap: z.number().int().nonnegative().default(10_000),
        /** Spread a warming IP's daily cap over the sending hours: at most cap/hours (plus burst) in any clock hour. */
        pacing: z
          .object({
            enabled: z.boolean().default(false),
            startHour: z.number().int().min(0).max(23).default(8),
            endHour: z.number().int().min(1).max(24).default(20),
            burst: z.number().min(0).max(1).default(0.1),
          })
          .strict()
          .prefault({})
          .refine((p) => p.endHour > p.startHour, { message: 'endHour must be after startHour', path: ['endHour'] }),
        /** Each day, a warming IP advances only after a healthy yesterday; holds or steps back a week otherwise. */
        progression: z
          .object({
            enabled: z.boolean().default(true),
            holdBounceRate: z.number().positive().max(1).default(0.03),
            holdComplaintRate: z.number().positive().max(1).default(0.001),
            regressBounceRate: z.number().positive().max(1).default(0.08),
            regressComplaintRate: z.number().positive().max(1).default(0.003),
            minVolume: z.number().int().nonnegative().default(20),
            /** When the daily rollover runs (cron, in warmup.timezone): a little after midnight so late bounces count. */
            cron: z.string().default('5 0 * * *'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    accounting: accountingSchema.prefault({}),
    feedback: z
      .object({
        batchSize: z.number().int().positive().default(100),
        intervalMs: z.number().int().positive().default(1000),
        timeoutMs: z.number().int().positive().default(10_000),
        minBackoffMs: z.number().int().positive().default(1000),
        maxBackoffMs: z.number().int().positive().default(300_000),
        /** A record MailWizz refuses on its own (400/413/422) this many times goes to feedback_dead. */
        deadAfterRefusals: z.number().int().positive().default(5),
      })
      .strict()
      .prefault({}),
    health: z
      .object({
        /** Pause an IP whose rolling rates pass these (hard bounces; complaints, far under the 0.3% mailbox-provider ceiling). */
        maxHardBounceRate: z.number().positive().max(1).default(0.05),
        maxComplaintRate: z.number().positive().max(1).default(0.001),
        /** Rates over this many days, with at least minSample delivered+bounced before judging. */
        windowDays: z.number().int().positive().max(30).default(2),
        minSample: z.number().int().positive().default(100),
      })
      .strict()
      .prefault({}),
    mailwizz: z
      .object({
        /** MailWizz's hourly quota for a tenant = today's capacity / this. */
        sendingHours: z.number().positive().max(24).default(10),
        /** Raised from MailWizz's default of 1 so it stops reconnecting for every message. */
        maxConnectionMessages: z.number().int().positive().default(100),
        /** The host MailWizz uses to reach the agent, when not smtp.host (e.g. behind a tunnel). */
        smtpHost: z.string().nullable().default(null),
      })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        webhookUrl: z.string().url().nullable().default(null),
        telegram: z
          .object({ botToken: z.string(), chatId: z.string() })
          .strict()
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') })
      .strict()
      .prefault({}),
    tenants: z.array(tenantSchema).default([]),
    /**
     * Development only (`npm start`): the built-in PowerMTA simulator listens on pmta.host:pmta.port
     * and writes accounting to pmta.accountingDir. Refused in production (NODE_ENV=production, as the
     * systemd unit sets, or check-config --production).
     */
    dev: z
      .object({
        simulator: z
          .object({
            bounceDomains: z.array(hostname).default(['bounce.test']),
            deferDomains: z.array(hostname).default(['defer.test']),
            complainAddresses: z.array(z.string().email()).default(['complainer@complaint.test']),
          })
          .strict()
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    devProblems(cfg).forEach((p) => ctx.addIssue({ code: 'custom', path: p.path, message: p.message }));
    if (cfg.api.token === undefined && cfg.api.tokens.length === 0) ctx.addIssue({ code: 'custom', path: ['api', 'tokens'], message: MISSING_TOKEN });
    const names = new Map<string, number>(cfg.api.token !== undefined ? [['admin', -1]] : []);
    const values = new Set(cfg.api.token !== undefined ? [cfg.api.token] : []);
    cfg.api.tokens.forEach((t, i) => {
      if (values.has(t.token)) ctx.addIssue({ code: 'custom', path: ['api', 'tokens', i, 'token'], message: 'the same token twice: each token must be its own secret' });
      values.add(t.token);
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['api', 'tokens', i, 'name'], message: `duplicate token name ${t.name}${names.get(t.name) === -1 ? ' (api.token is named admin)' : ''}` });
      names.set(t.name, i);
    });
    const seen = { id: new Map<number, number>(), slug: new Map<string, number>(), user: new Map<string, string>(), ip: new Map<string, string>(), domain: new Map<string, string>() };
    cfg.tenants.forEach((t, i) => {
      if (seen.id.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'id'], message: `duplicate tenant id ${t.id}` });
      seen.id.set(t.id, i);
      if (seen.slug.has(t.slug)) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'slug'], message: `duplicate tenant slug ${t.slug}` });
      seen.slug.set(t.slug, i);
      t.users.forEach((u, j) => {
        const other = seen.user.get(u.username);
        if (other) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'users', j, 'username'], message: `already used by tenant ${other}` });
        seen.user.set(u.username, t.slug);
      });
      t.ips.forEach((ip, j) => {
        const other = seen.ip.get(ip.address);
        if (other) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'ips', j, 'address'], message: `already belongs to tenant ${other}` });
        seen.ip.set(ip.address, t.slug);
      });
      t.domains.forEach((d, j) => {
        const other = seen.domain.get(d);
        if (other) ctx.addIssue({ code: 'custom', path: ['tenants', i, 'domains', j], message: `already belongs to tenant ${other}` });
        seen.domain.set(d, t.slug);
      });
    });
    const steps = cfg.warmup.steps;
    for (let i = 1; i < steps.length; i++) {
      if (steps[i]!.dailyCap < steps[i - 1]!.dailyCap)
        ctx.addIssue({ code: 'custom', path: ['warmup', 'steps', i, 'dailyCap'], message: 'warmup caps must not decrease' });
    }
    // Each sweep first renews the reservations this agent still holds: a renewal must come well before they expire.
    if (cfg.ledger.sweepIntervalMs * 2 > cfg.ledger.reservationTtlMs)
      ctx.addIssue({ code: 'custom', path: ['ledger', 'sweepIntervalMs'], message: 'must be at most half of ledger.reservationTtlMs' });
    const last = steps[steps.length - 1];
    if (last && cfg.warmup.activeDailyCap < last.dailyCap)
      ctx.addIssue({ code: 'custom', path: ['warmup', 'activeDailyCap'], message: 'must be at least the last warmup step' });
  });

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * A development token (published with the checkout's dev config) opens the API only
 * beside the simulator on loopback; the simulator never listens anywhere else.
 */
function devProblems(cfg: { api: { host: string; token?: string | undefined; tokens: Array<{ token: string }> }; smtp: { host: string }; pmta: { host: string }; dev: { simulator: unknown } }) {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const devTokens = [...(cfg.api.token?.startsWith(DEV_TOKEN_PREFIX) ? [['api', 'token']] : []), ...cfg.api.tokens.flatMap((t, i) => (t.token.startsWith(DEV_TOKEN_PREFIX) ? [['api', 'tokens', i, 'token']] : []))];
  if (cfg.dev.simulator === null) {
    for (const path of devTokens) out.push({ path, message: `is a development token (${DEV_TOKEN_PREFIX}...): it works only with dev.simulator; make a real one with \`pmta-agent token new\`` });
    return out;
  }
  for (const key of ['api', 'smtp', 'pmta'] as const)
    if (!LOOPBACK.has(cfg[key].host)) out.push({ path: [key, 'host'], message: 'must be a loopback address while dev.simulator is on' });
  return out;
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TenantConfig = z.output<typeof tenantSchema>;
export type IpConfig = z.output<typeof ipSchema>;
export type ApiTokenConfig = z.output<typeof apiTokenSchema>;
export type AccountingConfig = z.output<typeof accountingSchema>;
