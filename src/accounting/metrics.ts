// Accounting and suppression series for /metrics: counters fed by each
// committed batch (tailed or pushed), and gauges read at scrape time from
// the tailer's checkpoints and SQLite.
import { statSync } from 'node:fs';
import type { Metrics } from '../metrics/registry.js';
import type { Db } from '../store/db.js';
import type { BatchSummary } from './effects.js';

export interface AccountingMetricsDeps {
  db: Db;
  /** A tenant's slug for the labels (its id when unknown). */
  tenantSlug(id: number): string;
  /** The files the tailer follows: where each was read to, and when that last moved. */
  files(): Array<{ path: string; offset: number; updatedAt: string }>;
  now(): Date;
}

/** Registers the series; returns what to call after each committed batch. */
export function accountingMetrics(metrics: Metrics, deps: AccountingMetricsDeps): { batch(summary: BatchSummary): void } {
  const { db } = deps;
  const records = metrics.counter(
    'pmta_agent_acct_records_total',
    'Accounting records read, by record type and outcome (counted on an IP, unattributed, ignored)',
    ['type', 'outcome'],
  );
  const unattributed = metrics.counter('pmta_agent_acct_unattributed_total', 'Accounting records no IP of the agent was found for, by reason', ['reason']);
  const malformed = metrics.counter('pmta_agent_acct_malformed_lines_total', 'Accounting lines that could not be read');

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
  const perTenant = (table: 'suppression' | 'feedback_outbox') => () =>
    (db.prepare(`SELECT tenant_id AS id, COUNT(*) AS n FROM ${table} GROUP BY tenant_id ORDER BY tenant_id`).all() as Array<{ id: number; n: number }>).map((r) => ({
      labels: { tenant: deps.tenantSlug(r.id) },
      value: r.n,
    }));
  metrics.gauge('pmta_agent_suppression_addresses', "Addresses on each tenant's suppression list", perTenant('suppression'));
  metrics.gauge('pmta_agent_feedback_outbox', "Bounces and complaints waiting to be posted to each tenant's MailWizz", perTenant('feedback_outbox'));

  return {
    batch(summary) {
      for (const [type, outcomes] of Object.entries(summary.byType)) {
        for (const [outcome, n] of Object.entries(outcomes)) if (n) records.inc({ type, outcome }, n);
      }
      for (const [reason, n] of Object.entries(summary.unattributed)) if (n) unattributed.inc({ reason }, n);
      if (summary.malformed > 0) malformed.inc({}, summary.malformed);
    },
  };
}
