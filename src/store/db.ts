import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { DIR_MODE, privateFile } from './modes.js';
import path from 'node:path';

export type Db = Database.Database;

// Ordered migrations; the index + 1 is the schema version kept in user_version.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
  );
  CREATE TABLE smtp_users (
    username TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL
  );
  CREATE TABLE domains (
    domain TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE
  );
  CREATE TABLE ips (
    address TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hostname TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('warming','active','paused','retired')),
    warmup_start TEXT NOT NULL,
    -- the state the config file last declared: a change there wins, otherwise the stored state stands
    config_state TEXT,
    state_reason TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE quota_usage (
    ip TEXT NOT NULL,
    day TEXT NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ip, day)
  );
  CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    ip TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- 'expired' rows were swept (units returned) but are kept a while, so a late
    -- commit still counts and a repeated commit does not count twice
    state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held','expired'))
  );
  CREATE INDEX reservations_expiry ON reservations(expires_at);
  `,
  `
  -- who changed what, for IP state changes and other operator actions
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT
  );
  CREATE INDEX audit_log_subject ON audit_log(subject, at);
  `,
  `
  -- accounting: what PowerMTA did with the mail, per IP and day (day in the warmup time zone)
  CREATE TABLE ip_stats_daily (
    ip TEXT NOT NULL,
    day TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    accepted INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    bounced_hard INTEGER NOT NULL DEFAULT 0,
    bounced_soft INTEGER NOT NULL DEFAULT 0,
    -- policy, spam, content, expiry and uncategorised bounces: not the address's fault, the IP's health
    bounced_other INTEGER NOT NULL DEFAULT 0,
    deferred INTEGER NOT NULL DEFAULT 0,
    complaints INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ip, day)
  ) WITHOUT ROWID;
  CREATE INDEX ip_stats_daily_tenant ON ip_stats_daily(tenant_id, day);
  -- addresses a tenant must not send to; the first reason recorded stays
  CREATE TABLE suppression (
    tenant_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('hard-bounce','complaint','manual')),
    source TEXT NOT NULL,
    detail TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
  );
  CREATE INDEX suppression_created ON suppression(tenant_id, created_at);
  -- how far each accounting file has been read: whole lines only, written in the
  -- same transaction as the effects of those lines. Keyed by inode, so a rotated
  -- (renamed) file keeps its place; fp_* fingerprints the file's first bytes so a
  -- reused inode or a rewritten file starts again from 0.
  CREATE TABLE acct_checkpoints (
    ino TEXT PRIMARY KEY,
    dev TEXT NOT NULL,
    path TEXT NOT NULL,
    fp_len INTEGER NOT NULL,
    fp_hash TEXT NOT NULL,
    offset INTEGER NOT NULL,
    line INTEGER NOT NULL,
    header TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE acct_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  `,
  `
  -- transactional templates, per tenant; subject, html and text are template sources
  CREATE TABLE templates (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
  );
  `,
  `
  -- warmup progression: the last day judged per IP, and an operator's hold
  ALTER TABLE ips ADD COLUMN progress_day TEXT;
  ALTER TABLE ips ADD COLUMN hold_until TEXT;
  `,
  `
  -- feedback to MailWizz (/dswh/pmta): bounce and complaint records of tenants with
  -- a MailWizz URL, one PowerMTA JSON accounting record per row, queued in the same
  -- transaction as the accounting effects and deleted once MailWizz took them.
  -- next_at (epoch ms) of a tenant's oldest row holds that tenant's retry backoff.
  CREATE TABLE feedback_outbox (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    refusals INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX feedback_outbox_tenant ON feedback_outbox(tenant_id, id);
  -- records MailWizz refused (4xx) on their own, again and again: kept, not lost, until requeued
  CREATE TABLE feedback_dead (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TEXT NOT NULL,
    error TEXT NOT NULL
  );
  `,
  `
  -- every hand-off to PowerMTA, written before the message goes out (forward/journal.ts):
  -- after a crash or a failed commit the units of mail PowerMTA may have taken stay
  -- counted, and the dispatcher skips spooled recipients PowerMTA already took. Also the
  -- sent-message index by normalised Message-ID, kept accounting.indexDays.
  CREATE TABLE handoffs (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    spool_id TEXT,
    message_id TEXT,
    ip TEXT NOT NULL,
    vmta TEXT NOT NULL,
    job_id TEXT,
    day TEXT NOT NULL,
    recipients TEXT NOT NULL,
    grants TEXT NOT NULL,
    -- JSON list of the recipients PowerMTA took; NULL while its answer is not recorded
    accepted TEXT,
    -- 1 once the ledger (and the spool) have the outcome
    settled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX handoffs_message ON handoffs(message_id) WHERE message_id IS NOT NULL;
  CREATE INDEX handoffs_unsettled ON handoffs(id) WHERE settled = 0;
  CREATE INDEX handoffs_created ON handoffs(created_at);
  `,
  `
  -- The config file is the truth for what it declares, the store for the rest.
  -- origin: 'config' rows follow the file (removed, or for tenants and IPs disabled,
  -- once it stops declaring them); 'api' rows were made by an operator and survive a reload.
  ALTER TABLE tenants ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';
  ALTER TABLE tenants ADD COLUMN disabled_at TEXT;
  ALTER TABLE smtp_users ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';
  -- 'api': the hash was set by an operator and the file's password never overwrites it
  ALTER TABLE smtp_users ADD COLUMN hash_source TEXT NOT NULL DEFAULT 'config';
  ALTER TABLE domains ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';
  ALTER TABLE ips ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';
  ALTER TABLE ips ADD COLUMN disabled_at TEXT;
  -- the warmupStart the file last declared: it seeds a new IP only; a change is reported, not applied
  ALTER TABLE ips ADD COLUMN config_warmup_start TEXT;
  -- who set the current state (health-guard, config, warmup, shared-store or an operator)
  ALTER TABLE ips ADD COLUMN state_by TEXT;
  -- when the warmup position (warmup_start, progress_day, hold_until) last changed: with Redis the newer one wins
  ALTER TABLE ips ADD COLUMN warmup_at TEXT;
  UPDATE ips SET origin = 'api' WHERE config_state IS NULL;
  UPDATE tenants SET origin = 'api' WHERE 'tenant:' || slug IN (SELECT subject FROM audit_log WHERE action = 'tenant.create');
  UPDATE smtp_users SET origin = 'api', hash_source = 'api'
    WHERE username IN (SELECT json_extract(detail, '$.username') FROM audit_log WHERE action = 'user.set');
  UPDATE domains SET origin = 'api' WHERE domain IN (SELECT json_extract(detail, '$.domain') FROM audit_log WHERE action = 'domain.add');
  UPDATE ips SET state_by = (SELECT actor FROM audit_log WHERE subject = 'ip:' || ips.address AND action LIKE 'ip.%' ORDER BY id DESC LIMIT 1);
  `,
  `
  -- records pushed to the JSON webhook, by a hash of their fields (accounting/pushed.ts):
  -- one posted again is not counted twice. Kept accounting.indexDays.
  CREATE TABLE acct_pushed (
    hash TEXT PRIMARY KEY,
    at INTEGER NOT NULL
  );
  CREATE INDEX acct_pushed_at ON acct_pushed(at);
  `,
  `
  -- how a hand-off's outcome is known (forward/journal.ts): NULL from PowerMTA's answer,
  -- 'unknown' when a crashed process never recorded it (its units counted as sent),
  -- 'accounting' once PowerMTA's accounting showed the Message-ID (PowerMTA had it)
  ALTER TABLE handoffs ADD COLUMN fate TEXT;
  CREATE INDEX handoffs_fate ON handoffs(message_id) WHERE fate = 'unknown';
  CREATE INDEX handoffs_spool ON handoffs(spool_id) WHERE spool_id IS NOT NULL;
  `,
  `
  -- reservations in one B-tree keyed by id (WITHOUT ROWID: not a table and an index on its key), and
  -- no index on expires_at: a reservation lives for one hand-off, so the sweep scans the few held at a
  -- time. Every group commit that reserves or settles writes two pages fewer (issue 15).
  CREATE TABLE reservations_by_id (
    id TEXT PRIMARY KEY,
    ip TEXT NOT NULL,
    day TEXT NOT NULL,
    n INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held','expired'))
  ) WITHOUT ROWID;
  INSERT INTO reservations_by_id (id, ip, day, n, expires_at, state) SELECT id, ip, day, n, expires_at, state FROM reservations;
  DROP TABLE reservations;
  ALTER TABLE reservations_by_id RENAME TO reservations;
  `,
];

export function openDb(file: string): Db {
  mkdirSync(path.dirname(file), { recursive: true, mode: DIR_MODE });
  // SQLite gives its -wal and -shm files the database file's mode: create it 0600 first.
  privateFile(file);
  const db = new Database(file);
  // WAL lets readers (API, CLI) run beside the writer; busy_timeout covers a second process.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
