import type { Db } from '../store/db.js';
import type { Clock, DayKey, IpState } from '../types.js';
import { hashPassword } from '../auth/password.js';
import { daysBetween, dayKey } from '../days.js';
import { ConflictError, NotFoundError } from './errors.js';
import { ipTransition } from './transitions.js';
import type { Registry, TenantRecord } from './registry.js';

/** One audit entry; callers run it inside the transaction of the change it explains. */
export function writeAudit(db: Db, at: string, actor: string, action: string, subject: string, detail: unknown): void {
  db.prepare('INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)').run(
    at,
    actor,
    action,
    subject,
    detail === undefined ? null : JSON.stringify(detail),
  );
}

/** An IP's place in its warmup, as the agents share it. */
export interface WarmupPosition {
  warmupStart: string;
  state: IpState;
  progressDay: string | null;
  holdUntil: string | null;
  /** When it last changed. */
  at: string;
}

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

  private readonly warmupListeners: Array<(address: string, pos: WarmupPosition) => void> = [];

  /** An operator changed an IP's warmup position (the shared store publishes it). */
  onWarmupOverride(fn: (address: string, pos: WarmupPosition) => void): void {
    this.warmupListeners.push(fn);
  }

  /** The stored warmup position of an IP, for the shared store. */
  warmupPosition(address: string): WarmupPosition | undefined {
    const r = this.db.prepare('SELECT warmup_start, state, progress_day, hold_until, warmup_at, updated_at FROM ips WHERE address = ?').get(address) as
      | { warmup_start: string; state: IpState; progress_day: string | null; hold_until: string | null; warmup_at: string | null; updated_at: string }
      | undefined;
    if (!r) return undefined;
    return { warmupStart: r.warmup_start, state: r.state, progressDay: r.progress_day, holdUntil: r.hold_until, at: r.warmup_at ?? r.updated_at };
  }

  /**
   * A warmup position another agent published (Redis): taken when it judged a later
   * day, or changed the same day later than ours; its state goes through the
   * transition rules like any shared state. Returns whether anything changed here.
   */
  adoptWarmup(address: string, pos: WarmupPosition & { progressDay: string }, reason: string, force = false): boolean {
    const row = this.db.prepare('SELECT warmup_start, progress_day, hold_until, warmup_at, disabled_at FROM ips WHERE address = ?').get(address) as
      | { warmup_start: string; progress_day: string | null; hold_until: string | null; warmup_at: string | null; disabled_at: string | null }
      | undefined;
    if (!row || row.disabled_at) return false;
    const newer =
      force || row.progress_day === null || pos.progressDay > row.progress_day || (pos.progressDay === row.progress_day && pos.at > (row.warmup_at ?? ''));
    const differs = row.warmup_start !== pos.warmupStart || row.progress_day !== pos.progressDay || row.hold_until !== pos.holdUntil;
    let changed = false;
    if (newer && differs) {
      this.db.transaction(() => {
        this.db
          .prepare('UPDATE ips SET warmup_start = ?, progress_day = ?, hold_until = ?, warmup_at = ? WHERE address = ?')
          .run(pos.warmupStart, pos.progressDay, pos.holdUntil, pos.at, address);
        if (row.warmup_start !== pos.warmupStart || row.hold_until !== pos.holdUntil) {
          this.audit('shared-store', 'warmup.adopted', `ip:${address}`, {
            reason,
            from: { warmupStart: row.warmup_start, progressDay: row.progress_day, holdUntil: row.hold_until },
            to: { warmupStart: pos.warmupStart, progressDay: pos.progressDay, holdUntil: pos.holdUntil },
            changedAt: pos.at,
          });
        }
      })();
      changed = true;
    }
    const state = this.applySharedState(address, pos.state, pos.at, reason);
    if (changed && !state.applied) this.changed('ip');
    return changed || state.applied;
  }

  /** `ip` is set when one IP's state changed (the shared store publishes exactly that). */
  onChange(fn: (kind: ChangeKind, ip?: { address: string; state: IpState; at: string }) => void): void {
    this.listeners.push(fn);
  }

  private changed(kind: ChangeKind, ip?: { address: string; state: IpState; at: string }): void {
    this.registry.reload();
    for (const fn of this.listeners) fn(kind, ip);
  }

  /** A state another agent set (shared store): applied here without publishing it back. */
  applySharedState(address: string, state: IpState, at: string, reason: string): { applied: true } | { applied: false; refused?: string } {
    const row = this.db.prepare('SELECT state, state_by, updated_at FROM ips WHERE address = ?').get(address) as
      | { state: IpState; state_by: string | null; updated_at: string }
      | undefined;
    // The newer change wins, by when it was made (updated_at is a change time, never a start time).
    if (!row || row.state === state || row.updated_at >= at) return { applied: false };
    const t = ipTransition({ state: row.state, by: row.state_by }, state, 'shared-store');
    if (!t.ok) return { applied: false, refused: t.reason };
    this.db.transaction(() => {
      this.db.prepare("UPDATE ips SET state = ?, state_reason = ?, state_by = 'shared-store', updated_at = ? WHERE address = ?").run(state, reason, at, address);
      this.audit('shared-store', `ip.${state}`, `ip:${address}`, { from: row.state, to: state, reason, changedAt: at });
    })();
    this.changed('ip');
    return { applied: true };
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private audit(actor: string, action: string, subject: string, detail: unknown): void {
    writeAudit(this.db, this.now(), actor, action, subject, detail);
  }

  tenantOrThrow(ref: string | number): TenantRecord {
    const t = this.registry.tenant(ref);
    if (!t) throw new NotFoundError('tenant', String(ref));
    return t;
  }

  /**
   * A tenant with its users, domains and IPs, in one transaction: a conflict on
   * any of them (checked inside the transaction, against the database) leaves
   * nothing behind. Passwords are hashed first, outside it.
   */
  async createTenant(
    actor: string,
    input: {
      id?: number | undefined;
      slug: string;
      name: string;
      users?: Array<{ username: string; password: string }>;
      domains?: string[];
      ips?: Array<{ address: string; hostname: string; state?: IpState | undefined; warmupStart?: string | undefined }>;
    },
  ): Promise<TenantRecord> {
    const users = input.users ?? [];
    const domains = [...new Set((input.domains ?? []).map((d) => d.toLowerCase()))];
    const ips = input.ips ?? [];
    const repeated = <T>(xs: T[]) => xs.find((x, i) => xs.indexOf(x) !== i);
    const twiceUser = repeated(users.map((u) => u.username));
    if (twiceUser !== undefined) throw new ConflictError(`user ${twiceUser} is given twice`, 'users');
    const twiceIp = repeated(ips.map((i) => i.address));
    if (twiceIp !== undefined) throw new ConflictError(`IP ${twiceIp} is given twice`, 'ips');
    const hashes = await Promise.all(users.map((u) => hashPassword(u.password)));
    const start = dayKey(this.clock.now(), this.timeZone());
    const row = (sql: string, value: unknown) => this.db.prepare(sql).get(value) as { disabled_at?: string | null } | undefined;
    const why = (r: { disabled_at?: string | null }) => (r.disabled_at ? ' (disabled: the config file no longer declares it)' : '');
    this.db.transaction(() => {
      const bySlug = row('SELECT disabled_at FROM tenants WHERE slug = ?', input.slug);
      if (bySlug) throw new ConflictError(`tenant ${input.slug} exists${why(bySlug)}`, 'slug');
      const byId = input.id !== undefined ? row('SELECT disabled_at FROM tenants WHERE id = ?', input.id) : undefined;
      if (byId) throw new ConflictError(`tenant id ${input.id} exists${why(byId)}`, 'id');
      for (const u of users)
        if (row('SELECT 1 FROM smtp_users WHERE username = ?', u.username)) throw new ConflictError(`user ${u.username} belongs to another tenant`, 'username');
      for (const d of domains) if (row('SELECT 1 FROM domains WHERE domain = ?', d)) throw new ConflictError(`domain ${d} belongs to another tenant`, 'domain');
      for (const ip of ips) {
        const owned = row('SELECT disabled_at FROM ips WHERE address = ?', ip.address);
        if (owned) throw new ConflictError(`IP ${ip.address} already belongs to a tenant${why(owned)}`, 'address');
      }
      const r = this.db.prepare("INSERT INTO tenants (id, slug, name, origin) VALUES (?, ?, ?, 'api')").run(input.id ?? null, input.slug, input.name);
      const id = Number(r.lastInsertRowid);
      this.audit(actor, 'tenant.create', `tenant:${input.slug}`, { id, name: input.name });
      users.forEach((u, i) => {
        this.db
          .prepare("INSERT INTO smtp_users (username, tenant_id, password_hash, origin, hash_source) VALUES (?, ?, ?, 'api', 'api')")
          .run(u.username, id, hashes[i]);
        this.audit(actor, 'user.set', `tenant:${input.slug}`, { username: u.username });
      });
      for (const d of domains) {
        this.db.prepare("INSERT INTO domains (domain, tenant_id, origin) VALUES (?, ?, 'api')").run(d, id);
        this.audit(actor, 'domain.add', `tenant:${input.slug}`, { domain: d });
      }
      for (const ip of ips) {
        const warmupStart = ip.warmupStart ?? start;
        this.db
          .prepare(
            "INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, config_state, origin, state_by, updated_at) VALUES (?, ?, ?, ?, ?, NULL, 'api', ?, ?)",
          )
          .run(ip.address, id, ip.hostname, ip.state ?? 'warming', warmupStart, actor, this.now());
        this.audit(actor, 'ip.add', `ip:${ip.address}`, { tenant: input.slug, hostname: ip.hostname, warmupStart });
      }
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
          `INSERT INTO smtp_users (username, tenant_id, password_hash, origin, hash_source) VALUES (?, ?, ?, 'api', 'api')
           ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, hash_source = 'api'`,
        )
        .run(input.username, t.id, hash);
      this.audit(actor, 'user.set', `tenant:${t.slug}`, { username: input.username });
    })();
    this.changed('user');
  }

  /** Revokes an SMTP user: its next AUTH fails and its open sessions end at their next command. */
  removeUser(actor: string, ref: string, username: string): { declaredInConfig: boolean } {
    const t = this.tenantOrThrow(ref);
    const row = this.db.prepare('SELECT origin FROM smtp_users WHERE username = ? AND tenant_id = ?').get(username, t.id) as { origin: string } | undefined;
    if (!row) throw new NotFoundError('user', username);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM smtp_users WHERE username = ?').run(username);
      this.audit(actor, 'user.remove', `tenant:${t.slug}`, { username });
    })();
    this.changed('user');
    return { declaredInConfig: row.origin === 'config' };
  }

  addDomain(actor: string, ref: string, domain: string): void {
    const t = this.tenantOrThrow(ref);
    const d = domain.toLowerCase();
    const owner = this.db.prepare('SELECT tenant_id FROM domains WHERE domain = ?').get(d) as { tenant_id: number } | undefined;
    if (owner && owner.tenant_id !== t.id) throw new ConflictError(`domain ${d} belongs to another tenant`, 'domain');
    if (owner) return;
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO domains (domain, tenant_id, origin) VALUES (?, ?, 'api')").run(d, t.id);
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
    const existing = this.db.prepare('SELECT disabled_at FROM ips WHERE address = ?').get(input.address) as { disabled_at: string | null } | undefined;
    if (existing) {
      throw new ConflictError(`IP ${input.address} already belongs to a tenant${existing.disabled_at ? ' (disabled: the config file no longer declares it)' : ''}`, 'address');
    }
    const start = input.warmupStart ?? dayKey(this.clock.now(), this.timeZone());
    this.db.transaction(() => {
      this.db
        .prepare(
          "INSERT INTO ips (address, tenant_id, hostname, state, warmup_start, config_state, origin, state_by, updated_at) VALUES (?, ?, ?, ?, ?, NULL, 'api', ?, ?)",
        )
        .run(input.address, t.id, input.hostname, input.state ?? 'warming', start, actor, this.now());
      this.audit(actor, 'ip.add', `ip:${input.address}`, { tenant: t.slug, hostname: input.hostname, warmupStart: start });
    })();
    this.changed('ip');
  }

  private ipRow(address: string): { address: string; tenant_id: number; state: IpState; state_by: string | null; warmup_start: string; hold_until: string | null } {
    const row = this.db.prepare('SELECT address, tenant_id, state, state_by, warmup_start, hold_until FROM ips WHERE address = ? AND disabled_at IS NULL').get(address) as
      | { address: string; tenant_id: number; state: IpState; state_by: string | null; warmup_start: string; hold_until: string | null }
      | undefined;
    if (!row) throw new NotFoundError('ip', address);
    return row;
  }

  updateIp(actor: string, address: string, input: { hostname?: string | undefined; warmupStart?: string | undefined }): void {
    this.ipRow(address);
    if (input.hostname !== undefined) {
      // Not a state change: updated_at (the change time shared states are ordered by) stays.
      this.db.transaction(() => {
        this.db.prepare('UPDATE ips SET hostname = ? WHERE address = ?').run(input.hostname, address);
        this.audit(actor, 'ip.update', `ip:${address}`, { hostname: input.hostname });
      })();
      this.changed('ip');
    }
    // A warmup start is a warmup override, audited and shared like one.
    if (input.warmupStart !== undefined) this.setWarmup(actor, address, { warmupStart: input.warmupStart });
  }

  /** pause / resume / retire. Resuming returns a paused IP to warming or active by its warmup. */
  setIpState(actor: string, address: string, state: IpState, reason: string): { from: IpState; to: IpState } {
    const row = this.ipRow(address);
    const t = ipTransition({ state: row.state, by: row.state_by }, state, actor === 'health-guard' ? 'health-guard' : 'operator');
    if (!t.ok) throw new ConflictError(`IP ${address}: ${t.reason}`, 'state');
    const at = this.now();
    this.db.transaction(() => {
      this.db.prepare('UPDATE ips SET state = ?, state_reason = ?, state_by = ?, updated_at = ? WHERE address = ?').run(state, reason, actor, at, address);
      this.audit(actor, `ip.${state}`, `ip:${address}`, { from: row.state, to: state, reason });
    })();
    this.changed('ip', { address, state, at });
    return { from: row.state, to: state };
  }

  /**
   * The daily rollover's result for one IP: its (derived) warmup start, state and
   * the day judged, with one audit entry per decision (advance, hold, regress,
   * graduate) carrying its reason and figures.
   */
  recordProgression(address: string, warmupStart: string, state: IpState, day: string, changes: ReadonlyArray<{ decision: string }>, at = this.now()): void {
    const row = this.db.prepare('SELECT warmup_start, state FROM ips WHERE address = ?').get(address) as { warmup_start: string; state: IpState } | undefined;
    if (!row) return;
    const changed = row.warmup_start !== warmupStart || row.state !== state;
    this.db.transaction(() => {
      this.db.prepare('UPDATE ips SET warmup_start = ?, progress_day = ?, warmup_at = ? WHERE address = ?').run(warmupStart, day, at, address);
      if (row.state !== state) this.db.prepare("UPDATE ips SET state = ?, state_by = 'warmup', state_reason = 'warmup graduated', updated_at = ? WHERE address = ?").run(state, at, address);
      for (const c of changes) this.audit('warmup', `warmup.${c.decision}`, `ip:${address}`, c);
    })();
    if (changed) this.changed('ip', row.state !== state ? { address, state, at } : undefined);
  }

  /** Operator override: jump to a warmup day, and/or hold the IP's day until a date. Audited with the day before and after. */
  setWarmup(actor: string, address: string, input: { warmupStart?: string | undefined; holdUntil?: string | null | undefined }): void {
    const row = this.ipRow(address);
    const today = dayKey(this.clock.now(), this.timeZone());
    const dayOf = (start: string) => Math.max(0, daysBetween(start as DayKey, today) + 1);
    this.db.transaction(() => {
      if (input.warmupStart !== undefined) this.db.prepare('UPDATE ips SET warmup_start = ?, warmup_at = ? WHERE address = ?').run(input.warmupStart, this.now(), address);
      if (input.holdUntil !== undefined) this.db.prepare('UPDATE ips SET hold_until = ?, warmup_at = ? WHERE address = ?').run(input.holdUntil, this.now(), address);
      this.audit(actor, 'warmup.override', `ip:${address}`, {
        ...input,
        reason: 'set by an operator',
        from: { warmupStart: row.warmup_start, warmupDay: dayOf(row.warmup_start), holdUntil: row.hold_until },
        to: { warmupStart: input.warmupStart ?? row.warmup_start, warmupDay: dayOf(input.warmupStart ?? row.warmup_start), holdUntil: input.holdUntil === undefined ? row.hold_until : input.holdUntil },
      });
    })();
    this.changed('ip');
    const pos = this.warmupPosition(address);
    if (pos) for (const fn of this.warmupListeners) fn(address, pos);
  }

  auditLog(subject?: string, limit = 100): AuditEntry[] {
    const rows = subject
      ? this.db.prepare('SELECT * FROM audit_log WHERE subject = ? ORDER BY id DESC LIMIT ?').all(subject, limit)
      : this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit);
    return rows as AuditEntry[];
  }
}
