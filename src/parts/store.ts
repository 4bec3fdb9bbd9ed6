// The SQLite store and the records kept in it: one instance of each store,
// shared by every other part.
import { SuppressionStore } from '../accounting/suppression.js';
import { dkimDirOf, spoolDirOf, sqlitePathOf } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { openDb, type Db } from '../store/db.js';
import { groupCommit } from '../store/group-commit.js';
import { tightenStateModes } from '../store/modes.js';
import { TemplateStore } from '../templates/store.js';
import { TenantAdmin } from '../tenants/admin.js';
import { Registry } from '../tenants/registry.js';
import { syncTenantsFromConfig, type SyncReport } from '../tenants/sync.js';
import { dayKey } from '../days.js';
import type { PartContext } from './context.js';

export interface StorePart {
  db: Db;
  registry: Registry;
  admin: TenantAdmin;
  suppression: SuppressionStore;
  templates: TemplateStore;
  /** What the sync at start did that a person must hear about (logged once the spool is known). */
  initialSync: SyncReport;
  /** Writes the tenants, users and IPs of `next` to the store; on SIGHUP this runs before the new config is taken. */
  syncTenants(next: Config): Promise<SyncReport>;
  reload(next: Config): void;
  stop(): void;
}

export async function storePart(ctx: PartContext): Promise<StorePart> {
  const { clock } = ctx;
  const cfg = ctx.cfg();
  const failures = tightenStateModes({ stateDir: cfg.store.stateDir, sqlitePath: sqlitePathOf(cfg), spoolDir: spoolDirOf(cfg), dkimDir: dkimDirOf(cfg) });
  for (const f of failures) ctx.log.warn('state.mode_not_set', { path: f.path, error: f.error, note: 'could not make it private (0700/0600): fix its owner or mode' });
  const db = openDb(sqlitePathOf(cfg));
  const syncTenants = (next: Config) => syncTenantsFromConfig(db, next, dayKey(clock.now(), next.warmup.timezone), clock.now());
  const initialSync = await syncTenants(cfg);
  const registry = new Registry(db, spoolLimitsByTenant(cfg));
  return {
    db,
    registry,
    admin: new TenantAdmin(db, registry, clock, () => ctx.cfg().warmup.timezone),
    suppression: new SuppressionStore(db, clock),
    templates: new TemplateStore(db, clock),
    initialSync,
    syncTenants,
    reload(next) {
      registry.setSpoolLimits(spoolLimitsByTenant(next));
    },
    stop() {
      // Writes still queued for the turn's group commit (accepted counts, settled marks) go in before the file closes.
      groupCommit(db).flush();
      db.close();
    },
  };
}

function spoolLimitsByTenant(cfg: Config) {
  return new Map(cfg.tenants.map((t) => [t.slug, t.spool]));
}
