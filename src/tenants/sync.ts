import type { Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { hashPassword, verifyPassword } from '../auth/password.js';

/**
 * Config-file tenants are the initial state and are kept in SQLite. Re-running
 * with the same file changes nothing; an IP state edited in the file wins over the
 * stored one, otherwise the stored state (changed by the API or the health guard) stands.
 */
export async function syncTenantsFromConfig(db: Db, cfg: Config, today: string): Promise<void> {
  // Hashing is async and slow, so it happens before the (synchronous) transaction.
  const existing = new Map(
    (db.prepare('SELECT username, password_hash FROM smtp_users').all() as Array<{ username: string; password_hash: string }>).map((u) => [
      u.username,
      u.password_hash,
    ]),
  );
  const hashes = new Map<string, string>();
  for (const t of cfg.tenants) {
    for (const u of t.users) {
      if (u.passwordHash) hashes.set(u.username, u.passwordHash);
      else {
        const stored = existing.get(u.username);
        hashes.set(u.username, stored && (await verifyPassword(u.password!, stored)) ? stored : await hashPassword(u.password!));
      }
    }
  }
  const now = new Date().toISOString();
  db.transaction(() => {
    const upTenant = db.prepare(
      'INSERT INTO tenants (id, slug, name) VALUES (@id, @slug, @name) ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name',
    );
    const upUser = db.prepare(
      'INSERT INTO smtp_users (username, tenant_id, password_hash) VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET tenant_id = excluded.tenant_id, password_hash = excluded.password_hash',
    );
    const upDomain = db.prepare(
      'INSERT INTO domains (domain, tenant_id) VALUES (?, ?) ON CONFLICT (domain) DO UPDATE SET tenant_id = excluded.tenant_id',
    );
    const getIp = db.prepare('SELECT state, config_state FROM ips WHERE address = ?');
    const insIp = db.prepare(
      `INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, config_state, updated_at)
       VALUES (@address, @tenant, @hostname, @state, @start, @state, @now)`,
    );
    const updIp = db.prepare(
      `UPDATE ips SET tenant_id = @tenant, hostname = @hostname, warmup_start = COALESCE(@explicitStart, warmup_start),
         state = CASE WHEN config_state IS NOT @state THEN @state ELSE state END,
         config_state = @state, updated_at = @now
       WHERE address = @address`,
    );
    for (const t of cfg.tenants) {
      upTenant.run({ id: t.id, slug: t.slug, name: t.name });
      for (const u of t.users) upUser.run(u.username, t.id, hashes.get(u.username)!);
      for (const d of t.domains) upDomain.run(d, t.id);
      for (const ip of t.ips) {
        const row = { address: ip.address, tenant: t.id, hostname: ip.hostname, state: ip.state, now };
        if (getIp.get(ip.address)) updIp.run({ ...row, explicitStart: ip.warmupStart ?? null });
        else insIp.run({ ...row, start: ip.warmupStart ?? today });
      }
    }
  })();
}
