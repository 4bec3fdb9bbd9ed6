import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { tmpDir } from '../helpers/env.js';
import { metricNames } from '../helpers/promql-names.js';
import { promtool } from '../helpers/promtool.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'config/grafana/pmta-agent.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> };
};
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `"${p.title}" ${t.refId}`, expr: t.expr })));

/** Grafana's variables as Prometheus would receive them. */
const asSent = (expr: string) => expr.replace(/\$__rate_interval/g, '1m').replace(/\$\{?(instance|tenant)\}?/g, '.*');

describe('Grafana dashboard (config/grafana/pmta-agent.json)', () => {
  it("every panel query is PromQL that Prometheus's own parser accepts", async () => {
    // promtool parses rule expressions with Prometheus's parser: each query becomes a recording rule.
    const rules = queries.map((q, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(asSent(q.expr))}`).join('\n');
    const { dir, cleanup } = tmpDir();
    try {
      const file = path.join(dir, 'dashboard.rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
      const r = await promtool(['check', 'rules', file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
    } finally {
      cleanup();
    }
  });

  it('shows what the issue asks for: quota per IP, paths, spool depth and age, forward latency, PowerMTA errors, rates against thresholds, IP states, event-loop lag and memory', () => {
    const read = new Set(queries.flatMap((q) => metricNames(q.expr)));
    const wanted = [
      'pmta_agent_quota_daily_cap',
      'pmta_agent_quota_used',
      'pmta_agent_quota_reserved',
      'pmta_agent_quota_remaining',
      'pmta_agent_messages_total',
      'pmta_agent_spool_messages',
      'pmta_agent_spool_oldest_seconds',
      'pmta_agent_forward_seconds_bucket',
      'pmta_agent_pmta_errors_total',
      'pmta_agent_ip_hard_bounce_rate',
      'pmta_agent_health_max_hard_bounce_rate',
      'pmta_agent_ip_complaint_rate',
      'pmta_agent_health_max_complaint_rate',
      'pmta_agent_ip_state',
      'pmta_agent_acct_tail_lag_seconds',
      'pmta_agent_feedback_outbox',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ];
    assert.deepEqual(
      wanted.filter((m) => !read.has(m)),
      [],
    );
  });

  it('every panel reads the data source chosen at import, and the agent and tenant variables', () => {
    const vars = dashboard.templating.list.map((v) => `${v.name}:${v.type}`);
    assert.deepEqual(vars, ['datasource:datasource', 'instance:query', 'tenant:query']);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${datasource}', p.title);
      for (const t of p.targets ?? []) {
        assert.equal(t.datasource?.uid, '${datasource}', `${p.title} ${t.refId}`);
        assert.match(t.expr, /instance=~"\$instance"/, `${p.title} ${t.refId} follows the agent variable`);
      }
    }
  });

  it('panels have unique ids and lie side by side on the 24-column grid without overlapping', () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title} fits in 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          cells.set(`${x},${y}`, p.title);
        }
    }
  });
});
