// Accounting, suppression and feedback series for /metrics. The counts are
// the ones kept in SQLite with the batches they describe (acct_counters), so
// they survive restarts and never disagree with the store; they are read when
// /metrics is scraped.
import { statSync } from 'node:fs';
import type { GaugeSample, Metrics } from '../metrics/registry.js';
import type { Db } from '../store/db.js';

export interface AccountingMetricsDeps {
  db: Db;
  /** A tenant's slug for the labels (its id when unknown). */
  tenantSlug(id: number): string;
  /** The files the tailer follows: where each was read to, and when that last moved. */
  files(): Array<{ path: string; offset: number; updatedAt: string }>;
  now(): Date;
}

/** acct_counters rows whose name starts with `prefix`, the rest of the name split on ':' into `labels`. */
function counters(db: Db, prefix: string, labels: readonly string[]): GaugeSample[] {
  const rows = db.prepare('SELECT name, value FROM acct_counters WHERE name LIKE ? ORDER BY name').all(`${prefix}%`) as Array<{ name: string; value: number }>;
  return rows.map((r) => {
    const parts = r.name.slice(prefix.length).split(':');
    return { labels: Object.fromEntries(labels.map((l, i) => [l, parts[i] ?? ''])), value: r.value };
  });
}

export function registerAccountingMetrics(metrics: Metrics, deps: AccountingMetricsDeps): void {
  const { db } = deps;
  metrics.gauge('pmta_agent_acct_records', 'Accounting records read, by record type and outcome (counted on an IP, unattributed, ignored); kept across restarts', () =>
    counters(db, 'type:', ['type', 'outcome']),
  );
  metrics.gauge('pmta_agent_acct_unattributed', 'Accounting records no IP of the agent was found for, by reason; kept across restarts', () =>
    counters(db, 'unattributed:', ['reason']),
  );
  metrics.gauge('pmta_agent_acct_malformed_lines', 'Accounting lines that could not be read; kept across restarts', () => [
    { labels: {}, value: (db.prepare("SELECT value FROM acct_counters WHERE name = 'malformed'").get() as { value: number } | undefined)?.value ?? 0 },
  ]);
  const lag = (): Array<{ file: string; bytes: number; seconds: number }> =>
    deps.files().flatMap((f) => {
      let size: number;
      try {
        size = statSync(f.path).size;
      } catch {
        return []; // gone (moved or deleted): nothing left to read
      }
      const bytes = Math.max(0, size - f.offset);
      // Behind: for as long as the tailer has not moved; caught up: no lag.
      const seconds = bytes === 0 ? 0 : Math.max(0, (deps.now().getTime() - Date.parse(f.updatedAt)) / 1000);
      return [{ file: f.path, bytes, seconds }];
    });
  metrics.gauge('pmta_agent_acct_tail_lag_bytes', 'Bytes of an accounting file not read yet', () => lag().map((l) => ({ labels: { file: l.file }, value: l.bytes })));
  metrics.gauge('pmta_agent_acct_tail_lag_seconds', 'Seconds since the tailer last moved in a file it has not read to the end (0 when caught up)', () =>
    lag().map((l) => ({ labels: { file: l.file }, value: l.seconds })),
  );
  metrics.gauge('pmta_agent_suppression_addresses', 'Addresses on each tenant\'s suppression list', () =>
    (db.prepare('SELECT tenant_id AS id, COUNT(*) AS n FROM suppression GROUP BY tenant_id ORDER BY tenant_id').all() as Array<{ id: number; n: number }>).map((r) => ({
      labels: { tenant: deps.tenantSlug(r.id) },
      value: r.n,
    })),
  );
  metrics.gauge('pmta_agent_feedback_outbox', 'Bounces and complaints waiting to be posted to each tenant\'s MailWizz', () =>
    (db.prepare('SELECT tenant_id AS id, COUNT(*) AS n FROM feedback_outbox GROUP BY tenant_id ORDER BY tenant_id').all() as Array<{ id: number; n: number }>).map((r) => ({
      labels: { tenant: deps.tenantSlug(r.id) },
      value: r.n,
    })),
  );
  metrics.gauge('pmta_agent_feedback_records', 'Feedback records MailWizz took (sent), posts that failed and wait (retried), records given up (dead); kept across restarts', () =>
    counters(db, 'feedback:', ['result']),
  );
}
