import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { Db } from '../store/db.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import type { IpState } from '../types.js';
import { writeAudit } from './admin.js';
import { ipTransition } from './transitions.js';

/** What a sync did that a person must hear about; the daemon logs it (config.ignored, config.removed). */
export interface SyncReport {
  /** File values not applied because the store owns them now, with the value that stands. */
  ignored: Array<{ setting: string; file: string; stored: string; why: string }>;
  removedUsers: string[];
  removedDomains: string[];
  /** Tenants the file no longer declares: disabled, their spool kept. */
  disabledTenants: Array<{ id: number; slug: string }>;
  /** Addresses of IPs the file no longer declares: disabled, their warmup kept. */
  disabledIps: string[];
}

interface StoredUser {
  username: string;
  tenant_id: number;
  password_hash: string;
  origin: string;
  hash_source: string;
}

interface StoredIp {
  address: string;
  state: IpState;
  config_state: string | null;
  config_warmup_start: string | null;
  warmup_start: string;
  state_by: string | null;
  disabled_at: string | null;
}

const ACTOR = 'config';
/**
 * The change time of an IP the file seeds: declaring it is not a change, so a state
 * another agent set through Redis (a pause) wins over the file's on a fresh agent.
 */
const SEEDED_AT = '1970-01-01T00:00:00.000Z';

/**
 * The config file is the truth for what it declares and for nothing else:
 * - declared tenants, users, domains and IPs are created or updated, and marked as the file's;
 * - what the file declared before and no longer does is removed (users, domains) or
 *   disabled (tenants, IPs: their spool and warmup are kept for when they come back);
 * - what the API created stays, and a password hash an operator set through the API
 *   is never overwritten by the file's password;
 * - an IP's warmup position belongs to the store once the IP exists: the file's
 *   warmupStart seeds a new IP only, a changed one is reported, never applied;
 * - a state changed in the file is applied through the same transition rules as any other.
 * Running it twice with the same file changes nothing (no audit entry, no updated_at).
 */
export async function syncTenantsFromConfig(db: Db, cfg: Config, today: string, at: Date = new Date()): Promise<SyncReport> {
  const report: SyncReport = { ignored: [], removedUsers: [], removedDomains: [], disabledTenants: [], disabledIps: [] };
  const now = at.toISOString();
  const users = new Map(
    (db.prepare('SELECT username, tenant_id, password_hash, origin, hash_source FROM smtp_users').all() as StoredUser[]).map((u) => [u.username, u]),
  );
  // Hashing is async and slow, so it happens before the (synchronous) transaction.
  const hashes = new Map<string, string>();
  for (const [i, t] of cfg.tenants.entries()) {
    for (const [j, u] of t.users.entries()) {
      const stored = users.get(u.username);
      if (stored?.hash_source === 'api') {
        const same = u.passwordHash ? u.passwordHash === stored.password_hash : await verifyPassword(u.password!, stored.password_hash);
        if (!same) {
          report.ignored.push({
            setting: `tenants.${i}.users.${j}.${u.passwordHash ? 'passwordHash' : 'password'}`,
            file: '(hidden)',
            stored: 'a password set through the API',
            why: 'a password an operator set through the API is not overwritten by the file; delete the user through the API to return it to the file',
          });
        }
        hashes.set(u.username, stored.password_hash);
      } else if (u.passwordHash) hashes.set(u.username, u.passwordHash);
      else hashes.set(u.username, stored && (await verifyPassword(u.password!, stored.password_hash)) ? stored.password_hash : await hashPassword(u.password!));
    }
  }

  db.transaction(() => {
    const audit = (action: string, subject: string, detail: unknown) => writeAudit(db, now, ACTOR, action, subject, detail);
    const tenants = db.prepare('SELECT id, slug, name, origin, disabled_at FROM tenants').all() as Array<{
      id: number;
      slug: string;
      name: string;
      origin: string;
      disabled_at: string | null;
    }>;
    const tenantById = new Map(tenants.map((t) => [t.id, t]));
    const upTenant = db.prepare(
      `INSERT INTO tenants (id, slug, name, origin) VALUES (@id, @slug, @name, 'config')
       ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, origin = 'config', disabled_at = NULL`,
    );
    const upUser = db.prepare(
      `INSERT INTO smtp_users (username, tenant_id, password_hash, origin) VALUES (?, ?, ?, 'config')
       ON CONFLICT (username) DO UPDATE SET tenant_id = excluded.tenant_id, password_hash = excluded.password_hash, origin = 'config'`,
    );
    const upDomain = db.prepare(
      `INSERT INTO domains (domain, tenant_id, origin) VALUES (?, ?, 'config')
       ON CONFLICT (domain) DO UPDATE SET tenant_id = excluded.tenant_id, origin = 'config'`,
    );
    const getIp = db.prepare('SELECT address, state, config_state, config_warmup_start, warmup_start, state_by, disabled_at FROM ips WHERE address = ?');
    const insIp = db.prepare(
      `INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, config_state, config_warmup_start, origin, state_by, updated_at)
       VALUES (@address, @tenant, @hostname, @state, @start, @state, @configStart, 'config', 'config', '${SEEDED_AT}')`,
    );
    const updIpPlace = db.prepare(
      `UPDATE ips SET tenant_id = @tenant, hostname = @hostname, config_state = @state, config_warmup_start = @configStart,
         origin = 'config', disabled_at = NULL WHERE address = @address`,
    );
    const setIpState = db.prepare("UPDATE ips SET state = ?, state_reason = ?, state_by = 'config', updated_at = ? WHERE address = ?");

    const declared = { tenants: new Set<number>(), users: new Set<string>(), domains: new Set<string>(), ips: new Set<string>() };
    for (const [i, t] of cfg.tenants.entries()) {
      declared.tenants.add(t.id);
      const before = tenantById.get(t.id);
      if (!before || before.slug !== t.slug || before.name !== t.name || before.origin !== 'config' || before.disabled_at !== null) {
        upTenant.run({ id: t.id, slug: t.slug, name: t.name });
        if (before?.disabled_at) audit('tenant.enable', `tenant:${t.slug}`, { reason: 'declared in the config file again' });
      }
      for (const u of t.users) {
        declared.users.add(u.username);
        const s = users.get(u.username);
        const hash = hashes.get(u.username)!;
        if (!s || s.tenant_id !== t.id || s.password_hash !== hash || s.origin !== 'config') upUser.run(u.username, t.id, hash);
      }
      for (const d of t.domains) {
        declared.domains.add(d);
        upDomain.run(d, t.id);
      }
      for (const [j, ip] of t.ips.entries()) {
        declared.ips.add(ip.address);
        const row = getIp.get(ip.address) as StoredIp | undefined;
        const configStart = ip.warmupStart ?? null;
        if (!row) {
          insIp.run({ address: ip.address, tenant: t.id, hostname: ip.hostname, state: ip.state, start: ip.warmupStart ?? today, configStart });
          continue;
        }
        updIpPlace.run({ address: ip.address, tenant: t.id, hostname: ip.hostname, state: ip.state, configStart });
        if (row.disabled_at) audit('ip.enable', `ip:${ip.address}`, { reason: 'declared in the config file again', state: row.state, warmupStart: row.warmup_start });
        // The stored warmup position (progression, operator overrides) stands; a warmupStart
        // changed in the file is said once, so an operator applies it on purpose if it is meant.
        if (configStart !== null && configStart !== row.config_warmup_start && configStart !== row.warmup_start) {
          report.ignored.push({
            setting: `tenants.${i}.ips.${j}.warmupStart`,
            file: configStart,
            stored: row.warmup_start,
            why: `the warmup of an existing IP is kept by the agent; to apply the file's day run \`pmta-agent ip warmup ${ip.address} --start ${configStart}\``,
          });
        }
        // A state changed in the file is an operator's decision, under the common rules.
        if (ip.state !== row.config_state && ip.state !== row.state) {
          const t2 = ipTransition({ state: row.state, by: row.state_by }, ip.state, 'config');
          if (t2.ok) {
            setIpState.run(ip.state, 'set in the config file', now, ip.address);
            audit(`ip.${ip.state}`, `ip:${ip.address}`, { from: row.state, to: ip.state, reason: 'set in the config file' });
          } else {
            report.ignored.push({ setting: `tenants.${i}.ips.${j}.state`, file: ip.state, stored: row.state, why: t2.reason });
          }
        }
      }
    }

    // What the file declared before and no longer does.
    for (const u of db.prepare("SELECT username, tenant_id FROM smtp_users WHERE origin = 'config'").all() as Array<{ username: string; tenant_id: number }>) {
      if (declared.users.has(u.username)) continue;
      db.prepare('DELETE FROM smtp_users WHERE username = ?').run(u.username);
      audit('user.remove', `tenant:${tenantById.get(u.tenant_id)?.slug ?? u.tenant_id}`, { username: u.username, reason: 'removed from the config file' });
      report.removedUsers.push(u.username);
    }
    for (const d of db.prepare("SELECT domain, tenant_id FROM domains WHERE origin = 'config'").all() as Array<{ domain: string; tenant_id: number }>) {
      if (declared.domains.has(d.domain)) continue;
      db.prepare('DELETE FROM domains WHERE domain = ?').run(d.domain);
      audit('domain.remove', `tenant:${tenantById.get(d.tenant_id)?.slug ?? d.tenant_id}`, { domain: d.domain, reason: 'removed from the config file' });
      report.removedDomains.push(d.domain);
    }
    for (const ip of db.prepare("SELECT address FROM ips WHERE origin = 'config' AND disabled_at IS NULL").all() as Array<{ address: string }>) {
      if (declared.ips.has(ip.address)) continue;
      db.prepare('UPDATE ips SET disabled_at = ? WHERE address = ?').run(now, ip.address);
      audit('ip.disable', `ip:${ip.address}`, { reason: 'removed from the config file; its warmup is kept for when it comes back' });
      report.disabledIps.push(ip.address);
    }
    for (const t of tenants) {
      if (t.origin !== 'config' || t.disabled_at !== null || declared.tenants.has(t.id)) continue;
      db.prepare('UPDATE tenants SET disabled_at = ? WHERE id = ?').run(now, t.id);
      audit('tenant.disable', `tenant:${t.slug}`, { reason: 'removed from the config file; its spool is kept' });
      report.disabledTenants.push({ id: t.id, slug: t.slug });
    }
  })();
  return report;
}

/** Says what the file did not get its way on, and what it removed (with the spool a disabled tenant keeps). */
export function logSyncReport(report: SyncReport, log: Logger, spooled: (tenantId: number) => number): void {
  for (const i of report.ignored) log.warn('config.ignored', i);
  if (report.removedUsers.length || report.removedDomains.length) {
    log.warn('config.removed', { users: report.removedUsers, domains: report.removedDomains });
  }
  for (const ip of report.disabledIps) log.warn('config.ip_disabled', { ip, note: 'no longer in the config file: not used, its warmup kept' });
  for (const t of report.disabledTenants) {
    log.warn('config.tenant_disabled', { tenant: t.slug, spooled: spooled(t.id), note: 'no longer in the config file: its spool is kept until it is declared again' });
  }
}

/** Tenants and IPs the file stopped declaring, for /api/v2/status: nothing of theirs is dropped silently. */
export function disabledStatus(
  db: Db,
  spooled: (tenantId: number) => number,
): { disabled: { tenants: Array<{ id: number; slug: string; since: string; spooled: number }>; ips: Array<{ address: string; since: string }> } } {
  const tenants = db.prepare('SELECT id, slug, disabled_at AS since FROM tenants WHERE disabled_at IS NOT NULL ORDER BY slug').all() as Array<{
    id: number;
    slug: string;
    since: string;
  }>;
  const ips = db.prepare('SELECT address, disabled_at AS since FROM ips WHERE disabled_at IS NOT NULL ORDER BY address').all() as Array<{ address: string; since: string }>;
  return { disabled: { tenants: tenants.map((t) => ({ ...t, spooled: spooled(t.id) })), ips } };
}
