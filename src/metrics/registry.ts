// The agent's Prometheus series on prom-client: its counters and histograms,
// gauges read when /metrics is scraped, and Node's process metrics (event-loop
// lag, heap, GC, open descriptors, CPU) that operators expect from any service.
import * as prom from 'prom-client';

type Labels = Record<string, string>;

/**
 * Label names are declared up front (prom-client refuses unknown ones). Labels
 * are passed on in the declared order so a series always reads the same
 * (`{path="forwarded",tenant="x"}`), whatever order a caller wrote them in.
 */
function ordered(names: readonly string[], labels: Labels): Labels {
  const out: Labels = {};
  for (const n of names) if (labels[n] !== undefined) out[n] = labels[n];
  // An undeclared label is passed on too, for prom-client to refuse by name.
  for (const n in labels) if (!(n in out)) out[n] = labels[n]!;
  return out;
}

export class Counter {
  private readonly metric: prom.Counter<string>;
  constructor(
    register: prom.Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {
    this.metric = new prom.Counter({ name, help, labelNames, registers: [register] });
  }
  inc(labels: Labels = {}, by = 1): void {
    this.metric.inc(ordered(this.labelNames, labels), by);
  }
}

export class Histogram {
  private readonly metric: prom.Histogram<string>;
  constructor(
    register: prom.Registry,
    readonly name: string,
    readonly help: string,
    buckets: number[],
    private readonly labelNames: readonly string[] = [],
  ) {
    this.metric = new prom.Histogram({ name, help, buckets, labelNames, registers: [register] });
  }
  observe(value: number, labels: Labels = {}): void {
    this.metric.observe(ordered(this.labelNames, labels), value);
  }
}

export interface GaugeSample {
  labels: Labels;
  value: number;
}

/**
 * A gauge whose samples are read when /metrics is scraped (quota, spool, IP
 * states). It speaks prom-client's collector shape (name, help, type, `get()`)
 * rather than being a prom-client Gauge, because its label names are whatever
 * the reader returns.
 */
class ScrapedGauge {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => GaugeSample[] | Promise<GaugeSample[]>,
  ) {}
  async get() {
    const samples = await this.read();
    const values = samples.map((s) => ({ labels: ordered(Object.keys(s.labels).sort(), s.labels), value: s.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class Metrics {
  readonly registry = new prom.Registry();
  readonly smtpReplies = this.counter('pmta_agent_smtp_replies_total', 'SMTP replies to clients by stage and reply class', ['class', 'stage']);
  readonly messages = this.counter('pmta_agent_messages_total', 'Messages received by tenant and path (forwarded, spooled, refused, spool-full)', ['path', 'tenant']);
  readonly recipients = this.counter('pmta_agent_recipients_forwarded_total', 'Recipients accepted by PowerMTA by tenant and IP', ['ip', 'tenant']);
  readonly rcptOutcomes = this.counter(
    'pmta_agent_recipients_total',
    'Recipients by tenant and outcome: forwarded (PowerMTA took them), spooled (wait), refused (PowerMTA 5xx), suppressed (dropped from the spool)',
    ['outcome', 'tenant'],
  );
  readonly pmtaErrors = this.counter('pmta_agent_pmta_errors_total', 'Hand-offs PowerMTA could not take (unreachable, timeout, 4xx) by path (fast, dispatch)', ['path']);
  readonly spoolEvents = this.counter('pmta_agent_spool_events_total', 'Spool events: queued, delivered, expired, refused', ['event']);
  readonly configApplies = this.counter('pmta_agent_config_applies_total', 'PowerMTA config applies by result', ['result']);
  readonly forwardSeconds = this.histogram('pmta_agent_forward_seconds', 'Time from end of DATA to PowerMTA answer on the fast path', [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  ]);

  constructor() {
    prom.collectDefaultMetrics({ register: this.registry });
  }

  /** A counter another part of the agent owns (accounting, feedback): registered here so /metrics shows it. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return new Counter(this.registry, name, help, labelNames);
  }

  histogram(name: string, help: string, buckets: number[], labelNames: readonly string[] = []): Histogram {
    return new Histogram(this.registry, name, help, buckets, labelNames);
  }

  /** A gauge whose samples `read` returns at each scrape. */
  gauge(name: string, help: string, read: () => GaugeSample[] | Promise<GaugeSample[]>): void {
    this.registry.registerMetric(new ScrapedGauge(name, help, read) as unknown as prom.Metric);
  }

  /** The exposition in Prometheus text format 0.0.4. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
