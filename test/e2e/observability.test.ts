import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { childConfig, SOS_TENANT } from '../helpers/child-config.js';
import { campaignMessage, send, tmpDir } from '../helpers/env.js';
import { metricNames } from '../helpers/promql-names.js';
import { promtool } from '../helpers/promtool.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DASHBOARD = path.join(ROOT, 'config/grafana/pmta-agent.json');
const RULES = path.join(ROOT, 'config/prometheus/pmta-agent.rules.yml');

/** The series the hand-written registry exposed before prom-client: dashboards and alerts out there use these names. */
const SERIES_BEFORE = [
  'pmta_agent_smtp_replies_total',
  'pmta_agent_messages_total',
  'pmta_agent_recipients_forwarded_total',
  'pmta_agent_pmta_errors_total',
  'pmta_agent_spool_events_total',
  'pmta_agent_config_applies_total',
  'pmta_agent_forward_seconds',
  'pmta_agent_quota_daily_cap',
  'pmta_agent_quota_used',
  'pmta_agent_quota_reserved',
  'pmta_agent_quota_remaining',
  'pmta_agent_spool_messages',
];
/** Node's process metrics, as prom-client names them. */
const PROCESS_SERIES = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_gc_duration_seconds',
  'process_open_fds',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
];
interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}

/** Every sample name a family yields (a histogram's _bucket, _sum, _count). */
function sampleNames(families: Family[]): Set<string> {
  const out = new Set<string>();
  for (const f of families) {
    out.add(f.name);
    if (f.type === 'HISTOGRAM') for (const s of ['_bucket', '_sum', '_count']) out.add(f.name + s);
    if (f.type === 'SUMMARY') for (const s of ['_sum', '_count']) out.add(f.name + s);
  }
  return out;
}

function dashboardQueries(): Array<{ where: string; expr: string }> {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string; refId: string }> }>;
    templating: { list: Array<{ name: string; type: string; query?: { query: string } }> };
  };
  const out: Array<{ where: string; expr: string }> = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of dash.templating.list) if (v.type === 'query' && v.query) out.push({ where: `variable $${v.name}`, expr: v.query.query });
  return out;
}

function ruleExpressions(): Array<{ where: string; expr: string }> {
  // The rules file is plain YAML written by hand: an expr is either one line or a `|` block indented under it.
  const lines = readFileSync(RULES, 'utf8').split('\n');
  const out: Array<{ where: string; expr: string }> = [];
  let alert = '';
  for (let i = 0; i < lines.length; i++) {
    const a = lines[i]!.match(/- alert: (\w+)/);
    if (a) alert = a[1]!;
    const e = lines[i]!.match(/^(\s*)expr: (.*)$/);
    if (!e) continue;
    if (e[2] !== '|') {
      out.push({ where: alert, expr: e[2]! });
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > e[1]!.length)) block.push(lines[++i]!);
    out.push({ where: alert, expr: block.join('\n') });
  }
  return out;
}

describe('observability of the daemon process: its /metrics, the dashboard and rules against it, its log lines', () => {
  let sim: Simulator;
  let daemon: ChildDaemon;
  let exposition = '';
  let families: Family[] = [];
  let exposed = new Set<string>();
  let cleanup: () => void;

  before(async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    sim = await startSimulator({ port: 0, acctDir: path.join(t.dir, 'acct') });
    daemon = await spawnDaemon(
      path.join(t.dir, 'config.json'),
      childConfig(path.join(t.dir, 'state'), sim.port, { tenants: [SOS_TENANT], patch: { api: { token: 'observability-token-0123456789' } } }),
    );
    for (let i = 0; i < 3; i++) assert.ok((await send(daemon.port, { to: `r${i}@example.net`, raw: campaignMessage({ to: `r${i}@example.net` }).raw })).ok);
    const res = await fetch(`${daemon.apiUrl}/metrics`);
    assert.equal(res.status, 200);
    exposition = await res.text();
    families = parsePrometheusTextFormat(exposition) as Family[];
    exposed = sampleNames(families);
  });

  after(async () => {
    if (daemon.proc.exitCode === null) {
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
    }
    await sim.close();
    cleanup();
  });

  it('/metrics is valid Prometheus text: promtool reads it, and its only lint notes are on prom-client’s own process series', async () => {
    const r = await promtool(['check', 'metrics'], { input: exposition });
    assert.doesNotMatch(r.stderr + r.stdout, /error while linting|parsing error/);
    const notes = (r.stdout + r.stderr).split('\n').filter(Boolean);
    // prom-client names three gauges nodejs_active_*_total, which promtool's lint dislikes; they are upstream's names.
    assert.deepEqual(
      notes.filter((n) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(n)),
      [],
    );
  });

  it('keeps every series name the agent exposed before, with the same labels, and adds the process metrics', () => {
    const missing = [...SERIES_BEFORE, ...PROCESS_SERIES].filter((n) => !families.some((f) => f.name === n));
    assert.deepEqual(missing, []);
    const messages = families.find((f) => f.name === 'pmta_agent_messages_total')!;
    assert.equal(messages.type, 'COUNTER');
    assert.deepEqual(messages.metrics, [{ labels: { path: 'forwarded', tenant: 'sos-expat' }, value: '3' }]);
    const used = families.find((f) => f.name === 'pmta_agent_quota_used')!;
    assert.deepEqual(used.metrics, [{ labels: { ip: '45.123.10.1', state: 'active', tenant: 'sos-expat' }, value: '3' }]);
    assert.equal(families.find((f) => f.name === 'pmta_agent_forward_seconds')!.type, 'HISTOGRAM');
  });

  it('every query in the Grafana dashboard names series the daemon exposes', () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 30, 'the dashboard has its panels');
    const unknown: string[] = [];
    for (const q of queries) {
      const names = metricNames(q.expr);
      assert.ok(names.length > 0, `${q.where} reads a series: ${q.expr}`);
      for (const n of names) if (!exposed.has(n)) unknown.push(`${q.where}: ${n}`);
    }
    assert.deepEqual(unknown, []);
  });

  it('every alert rule reads series the daemon exposes (and Prometheus’s own up)', () => {
    const rules = ruleExpressions();
    assert.equal(rules.length, 8);
    const unknown: string[] = [];
    for (const r of rules) {
      const names = metricNames(r.expr);
      assert.ok(names.length > 0, `${r.where} reads a series`);
      for (const n of names) if (!exposed.has(n) && n !== 'up') unknown.push(`${r.where}: ${n}`);
    }
    assert.deepEqual(unknown, []);
  });

  it('logs each message as one JSON line bound to its SMTP session and tenant', () => {
    const messages = daemon.lines.filter((l) => l.event === 'smtp.message');
    assert.equal(messages.length, 3);
    for (const m of messages) {
      assert.equal(m.tenant, 'sos-expat');
      assert.equal(typeof m.session, 'string');
      assert.equal(m.level, 'info');
      assert.match(String(m.time), /^\d{4}-\d\d-\d\dT/);
      assert.equal(m.path, 'forwarded');
    }
    assert.equal(new Set(messages.map((m) => m.session)).size, 3, 'one session per connection');
  });

  it('on SIGTERM writes its last line (daemon.stopped) before exiting 0', async () => {
    daemon.proc.kill('SIGTERM');
    assert.equal(await daemon.exited, 0);
    // The stdout pipe may still hold lines after the exit event; they arrive before 'close'.
    await new Promise((r) => (daemon.proc.stdout!.readableEnded ? r(null) : daemon.proc.stdout!.once('end', r)));
    assert.equal(daemon.lines.at(-1)?.event, 'daemon.stopped');
  });
});
