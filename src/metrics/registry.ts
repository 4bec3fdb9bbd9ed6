// A small Prometheus text-format registry: counters, gauges computed at scrape
// time, and one histogram type. Enough for the agent's handful of series
// without another dependency.
type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export interface GaugeSample {
  labels: Labels;
  value: number;
}

/** A gauge whose samples are read when /metrics is scraped. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => GaugeSample[] | Promise<GaugeSample[]>,
  ) {}
  async render(): Promise<string> {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const s of await this.read()) {
      const k = key(s.labels);
      lines.push(`${this.name}${k ? `{${k}}` : ''} ${s.value}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly smtpReplies = new Counter('pmta_agent_smtp_replies_total', 'SMTP replies to clients by stage and reply class');
  readonly messages = new Counter('pmta_agent_messages_total', 'Messages received by tenant and path (forwarded, spooled, refused, spool-full)');
  readonly recipients = new Counter('pmta_agent_recipients_forwarded_total', 'Recipients accepted by PowerMTA by tenant and IP');
  readonly rcptOutcomes = new Counter(
    'pmta_agent_recipients_total',
    'Recipients by tenant and outcome: forwarded (PowerMTA took them), spooled (wait), refused (PowerMTA 5xx), suppressed (dropped from the spool)',
  );
  readonly pmtaErrors = new Counter('pmta_agent_pmta_errors_total', 'Hand-offs PowerMTA could not take (unreachable, timeout, 4xx) by kind');
  readonly spoolEvents = new Counter('pmta_agent_spool_events_total', 'Spool events: queued, delivered, expired, refused');
  readonly configApplies = new Counter('pmta_agent_config_applies_total', 'PowerMTA config applies by result');
  readonly forwardSeconds = new Histogram('pmta_agent_forward_seconds', 'Time from end of DATA to PowerMTA answer on the fast path', [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
  ]);
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => GaugeSample[] | Promise<GaugeSample[]>): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  async render(): Promise<string> {
    const parts = [this.smtpReplies, this.messages, this.recipients, this.rcptOutcomes, this.pmtaErrors, this.spoolEvents, this.configApplies, this.forwardSeconds].map((m) =>
      m.render(),
    );
    for (const g of this.gauges) parts.push(await g.render());
    return parts.join('\n') + '\n';
  }
}
