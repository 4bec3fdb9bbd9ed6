import type { Db } from '../store/db.js';
import type { Clock, IpState } from '../types.js';
import { hashPassword } from '../auth/password.js';
import { dayKey } from '../days.js';
import { ConflictError, NotFoundError } from './errors.js';
import type { Registry, TenantRecord } from './registry.js';

export type ChangeKind = 'tenant' | 'domain' | 'ip' | 'user';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  detail: string | null;
}

/**
 * Every change an operator makes to tenants, users, domains and IPs: written to
 * SQLite with an audit entry in the same transaction, then the registry is
 * rebuilt and listeners (PowerMTA config apply) hear about it.
 */
export class TenantAdmin {
  private readonly listeners: Array<(kind: ChangeKind, ip?: { address: string; state: IpState; at: string }) => void> = [];

  constructor(
    private readonly db: Db,
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly timeZone: () => string,
  ) {}

  /** `ip` is set when one IP's state changed (the shared store publishes exactly that). */
  onChange(fn: (kind: ChangeKind, ip?: { address: string; state: IpState; at: string }) => void): void {
    this.listeners.push(fn);
  }

  private changed(kind: ChangeKind, ip?: { address: string; state: IpState; at: string }): void {
    this.registry.reload();
    for (const fn of this.listeners) fn(kind, ip);
  }

  /** A state another agent set (shared store): applied here without publishing it back. */
  applySharedState(address: string, state: IpState, at: string, reason: string): boolean {
    const row = this.db.prepare('SELECT state, updated_at FROM ips WHERE address = ?').get(address) as { state: IpState; updated_at: string } | undefined;
    if (!row || row.state === state || row.updated_at >= at) return false;
    this.db.transaction(() => {
      this.db.prepare('UPDATE ips SET state = ?, state_reason = ?, updated_at = ? WHERE address = ?').run(state, reason, at, address);
      this.audit('shared-store', `ip.${state}`, `ip:${address}`, { from: row.state, to: state, reason });
    })();
    this.changed('ip');
    return true;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private audit(actor: string, action: string, subject: string, detail: unknown): void {
    this.db
      .prepare('INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)')
      .run(this.now(), actor, action, subject, detail === undefined ? null : JSON.stringify(detail));
  }

  tenantOrThrow(ref: string | number): TenantRecord {
    const t = this.registry.tenant(ref);
    if (!t) throw new NotFoundError('tenant', String(ref));
    return t;
  }

  createTenant(actor: string, input: { id?: number | undefined; slug: string; name: string }): TenantRecord {
    if (this.registry.tenant(input.slug)) throw new ConflictError(`tenant ${input.slug} exists`, 'slug');
    if (input.id !== undefined && this.registry.tenant(input.id)) throw new ConflictError(`tenant id ${input.id} exists`, 'id');
    this.db.transaction(() => {
      const r = this.db.prepare('INSERT INTO tenants (id, slug, name) VALUES (?, ?, ?)').run(input.id ?? null, input.slug, input.name);
      this.audit(actor, 'tenant.create', `tenant:${input.slug}`, { id: Number(r.lastInsertRowid), name: input.name });
    })();
    this.changed('tenant');
    return this.tenantOrThrow(input.slug);
  }

  updateTenant(actor: string, ref: string, input: { name?: string | undefined }): TenantRecord {
    const t = this.tenantOrThrow(ref);
    this.db.transaction(() => {
      if (input.name !== undefined) this.db.prepare('UPDATE tenants SET name = ? WHERE id = ?').run(input.name, t.id);
      this.audit(actor, 'tenant.update', `tenant:${t.slug}`, input);
    })();
    this.changed('tenant');
    return this.tenantOrThrow(t.id);
  }

  async setUser(actor: string, ref: string, input: { username: string; password: string }): Promise<void> {
    const t = this.tenantOrThrow(ref);
    const other = this.registry.user(input.username);
    if (other && other.tenant !== t.slug) throw new ConflictError(`user ${input.username} belongs to another tenant`, 'username');
    const hash = await hashPassword(input.password);
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO smtp_users (username, tenant_id, password_hash) VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash',
        )
        .run(input.username, t.id, hash);
      this.audit(actor, 'user.set', `tenant:${t.slug}`, { username: input.username });
    })();
    this.changed('user');
  }

  addDomain(actor: string, ref: string, domain: string): void {
    const t = this.tenantOrThrow(ref);
    const d = domain.toLowerCase();
    const owner = this.db.prepare('SELECT tenant_id FROM domains WHERE domain = ?').get(d) as { tenant_id: number } | undefined;
    if (owner && owner.tenant_id !== t.id) throw new ConflictError(`domain ${d} belongs to another tenant`, 'domain');
    if (owner) return;
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO domains (domain, tenant_id) VALUES (?, ?)').run(d, t.id);
      this.audit(actor, 'domain.add', `tenant:${t.slug}`, { domain: d });
    })();
    this.changed('domain');
  }

  removeDomain(actor: string, ref: string, domain: string): void {
    const t = this.tenantOrThrow(ref);
    const r = this.db.prepare('DELETE FROM domains WHERE domain = ? AND tenant_id = ?').run(domain.toLowerCase(), t.id);
    if (r.changes === 0) throw new NotFoundError('domain', domain);
    this.audit(actor, 'domain.remove', `tenant:${t.slug}`, { domain });
    this.changed('domain');
  }

  addIp(
    actor: string,
    ref: string,
    input: { address: string; hostname: string; state?: IpState | undefined; warmupStart?: string | undefined },
  ): void {
    const t = this.tenantOrThrow(ref);
    const existing = this.db.prepare('SELECT tenant_id FROM ips WHERE address = ?').get(input.address) as { tenant_id: number } | undefined;
    if (existing) throw new ConflictError(`IP ${input.address} already belongs to a tenant`, 'address');
    const start = input.warmupStart ?? dayKey(this.clock.now(), this.timeZone());
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, config_state, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?)',
        )
        .run(input.address, t.id, input.hostname, input.state ?? 'warming', start, this.now());
      this.audit(actor, 'ip.add', `ip:${input.address}`, { tenant: t.slug, hostname: input.hostname, warmupStart: start });
    })();
    this.changed('ip');
  }

  private ipRow(address: string): { address: string; tenant_id: number; state: IpState } {
    const row = this.db.prepare('SELECT address, tenant_id, state FROM ips WHERE address = ?').get(address) as
      | { address: string; tenant_id: number; state: IpState }
      | undefined;
    if (!row) throw new NotFoundError('ip', address);
    return row;
  }

  updateIp(actor: string, address: string, input: { hostname?: string | undefined; warmupStart?: string | undefined }): void {
    this.ipRow(address);
    this.db.transaction(() => {
      if (input.hostname !== undefined) this.db.prepare('UPDATE ips SET hostname = ?, updated_at = ? WHERE address = ?').run(input.hostname, this.now(), address);
      if (input.warmupStart !== undefined)
        this.db.prepare('UPDATE ips SET warmup_start = ?, updated_at = ? WHERE address = ?').run(input.warmupStart, this.now(), address);
      this.audit(actor, 'ip.update', `ip:${address}`, input);
    })();
    this.changed('ip');
  }

  /** pause / resume / retire. Resuming returns a paused IP to warming or active by its warmup. */
  setIpState(actor: string, address: string, state: IpState, reason: string): { from: IpState; to: IpState } {
    const row = this.ipRow(address);
    if (row.state === 'retired' && state !== 'retired') throw new ConflictError(`IP ${address} is retired`, 'state');
    const at = this.now();
    this.db.transaction(() => {
      this.db.prepare('UPDATE ips SET state = ?, state_reason = ?, updated_at = ? WHERE address = ?').run(state, reason, at, address);
      this.audit(actor, `ip.${state}`, `ip:${address}`, { from: row.state, to: state, reason });
    })();
    this.changed('ip', { address, state, at });
    return { from: row.state, to: state };
  }

  /** The daily rollover's result for one IP: its (derived) warmup start, state and the day judged. */
  recordProgression(address: string, warmupStart: string, state: IpState, day: string, changes: Array<{ day: string; decision: string }>): void {
    const row = this.db.prepare('SELECT warmup_start, state FROM ips WHERE address = ?').get(address) as { warmup_start: string; state: IpState } | undefined;
    if (!row) return;
    const changed = row.warmup_start !== warmupStart || row.state !== state;
    this.db.transaction(() => {
      this.db.prepare('UPDATE ips SET warmup_start = ?, state = ?, progress_day = ? WHERE address = ?').run(warmupStart, state, day, address);
      for (const c of changes) this.audit('warmup', `warmup.${c.decision}`, `ip:${address}`, { day: c.day, warmupStart, state });
    })();
    if (changed) this.changed('ip', row.state !== state ? { address, state, at: this.now() } : undefined);
  }

  /** Operator override: jump to a warmup day, and/or hold the IP's day until a date. */
  setWarmup(actor: string, address: string, input: { warmupStart?: string | undefined; holdUntil?: string | null | undefined }): void {
    this.ipRow(address);
    this.db.transaction(() => {
      if (input.warmupStart !== undefined) this.db.prepare('UPDATE ips SET warmup_start = ?, updated_at = ? WHERE address = ?').run(input.warmupStart, this.now(), address);
      if (input.holdUntil !== undefined) this.db.prepare('UPDATE ips SET hold_until = ?, updated_at = ? WHERE address = ?').run(input.holdUntil, this.now(), address);
      this.audit(actor, 'warmup.override', `ip:${address}`, input);
    })();
    this.changed('ip');
  }

  auditLog(subject?: string, limit = 100): AuditEntry[] {
    const rows = subject
      ? this.db.prepare('SELECT * FROM audit_log WHERE subject = ? ORDER BY id DESC LIMIT ?').all(subject, limit)
      : this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit);
    return rows as AuditEntry[];
  }
}
