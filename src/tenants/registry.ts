import type { Db } from '../store/db.js';
import type { DayKey, IpAddress, IpState, TenantSlug, VmtaName } from '../types.js';
import { vmtaName } from '../types.js';

export interface IpRecord {
  address: IpAddress;
  hostname: string;
  state: IpState;
  warmupStart: DayKey;
  vmta: VmtaName;
}

export interface TenantRecord {
  id: number;
  slug: TenantSlug;
  name: string;
  domains: ReadonlySet<string>;
  ips: readonly IpRecord[];
  spoolLimits: { maxMessages?: number; maxBytes?: number };
}

/**
 * The tenants as the hot path sees them: an in-memory snapshot of SQLite,
 * rebuilt whenever the store changes, so AUTH and RCPT never wait on a query.
 * Disabled tenants and IPs (the config file stopped declaring them) are left out.
 */
export class Registry {
  private byUser = new Map<string, { tenant: TenantSlug; passwordHash: string }>();
  private bySlug = new Map<string, TenantRecord>();
  private byId = new Map<number, TenantRecord>();

  constructor(
    private readonly db: Db,
    private spoolLimits: Map<string, { maxMessages?: number; maxBytes?: number }> = new Map(),
  ) {
    this.reload();
  }

  setSpoolLimits(limits: Map<string, { maxMessages?: number; maxBytes?: number }>): void {
    this.spoolLimits = limits;
    this.reload();
  }

  reload(): void {
    const tenants = this.db.prepare('SELECT id, slug, name FROM tenants WHERE disabled_at IS NULL ORDER BY id').all() as Array<{ id: number; slug: string; name: string }>;
    const domains = this.db.prepare('SELECT domain, tenant_id FROM domains').all() as Array<{ domain: string; tenant_id: number }>;
    const ips = this.db
      .prepare('SELECT address, tenant_id, hostname, state, warmup_start FROM ips WHERE disabled_at IS NULL ORDER BY address')
      .all() as Array<{ address: string; tenant_id: number; hostname: string; state: IpState; warmup_start: string }>;
    const users = this.db.prepare('SELECT username, tenant_id, password_hash FROM smtp_users').all() as Array<{
      username: string;
      tenant_id: number;
      password_hash: string;
    }>;
    const bySlug = new Map<string, TenantRecord>();
    const byId = new Map<number, TenantRecord>();
    for (const t of tenants) {
      const rec: TenantRecord = {
        id: t.id,
        slug: t.slug as TenantSlug,
        name: t.name,
        domains: new Set(domains.filter((d) => d.tenant_id === t.id).map((d) => d.domain)),
        ips: ips
          .filter((i) => i.tenant_id === t.id)
          .map((i) => ({
            address: i.address as IpAddress,
            hostname: i.hostname,
            state: i.state,
            warmupStart: i.warmup_start as DayKey,
            vmta: vmtaName(t.slug, i.address),
          })),
        spoolLimits: this.spoolLimits.get(t.slug) ?? {},
      };
      bySlug.set(rec.slug, rec);
      byId.set(rec.id, rec);
    }
    const byUser = new Map<string, { tenant: TenantSlug; passwordHash: string }>();
    for (const u of users) {
      const t = byId.get(u.tenant_id);
      if (t) byUser.set(u.username, { tenant: t.slug, passwordHash: u.password_hash });
    }
    this.bySlug = bySlug;
    this.byId = byId;
    this.byUser = byUser;
  }

  user(username: string): { tenant: TenantSlug; passwordHash: string } | undefined {
    return this.byUser.get(username);
  }

  tenant(slugOrId: string | number): TenantRecord | undefined {
    if (typeof slugOrId === 'number') return this.byId.get(slugOrId);
    if (/^\d+$/.test(slugOrId)) return this.byId.get(Number(slugOrId));
    return this.bySlug.get(slugOrId);
  }

  tenants(): TenantRecord[] {
    return [...this.bySlug.values()];
  }
}
