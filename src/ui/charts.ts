// Charts for the status page, drawn on the server as SVG: pure functions from
// numbers to markup, no script and no style attribute (the page's CSP allows
// neither), colours through classes of the page's stylesheet.
import { esc } from './html.js';

export interface Point {
  day: string;
  value: number;
}

export interface Threshold {
  value: number;
  label: string;
  /** CSS class of the line: `pause`, `hold`. */
  kind: string;
}

export interface ChartSeries {
  label: string;
  /** CSS class: colour of the bars or the line. */
  kind: string;
  shape: 'bars' | 'line';
  points: Point[];
}

export interface ChartSpec {
  title: string;
  /** Every day on the x axis, oldest first; series points are placed by day. */
  days: string[];
  series: ChartSeries[];
  thresholds?: Threshold[];
  /** A vertical marker at this day (today). */
  marker?: string;
  format: (v: number) => string;
  width?: number;
  height?: number;
}

/** Lines with at most this many points get a dot per point (the rate charts' 14 days, not the 6-week warmup curve). */
const RATE_DOTS_UP_TO = 16;

const PAD = { left: 56, right: 12, top: 24, bottom: 34 };

/** A "nice" top for the y axis: 1, 2 or 5 times a power of ten, at least max. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const n = (x: number) => (Math.round(x * 10) / 10).toString();

/** One SVG chart: bars and lines over days, horizontal threshold lines, a marker for today. */
export function chart(spec: ChartSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 220;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const values = [...spec.series.flatMap((s) => s.points.map((p) => p.value)), ...(spec.thresholds ?? []).map((t) => t.value)];
  const top = niceMax(Math.max(0, ...values));
  const slot = spec.days.length > 0 ? plotW / spec.days.length : plotW;
  const index = new Map(spec.days.map((d, i) => [d, i]));
  const x = (day: string) => PAD.left + (index.get(day) ?? 0) * slot + slot / 2;
  const y = (v: number) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  const parts: string[] = [];
  parts.push(`<title>${esc(spec.title)}</title>`);
  // Axes and grid: 0, half and top.
  for (const v of [0, top / 2, top]) {
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${width - PAD.right}" y1="${n(y(v))}" y2="${n(y(v))}"/>`);
    parts.push(`<text class="axis" x="${PAD.left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${esc(spec.format(v))}</text>`);
  }
  if (spec.days.length === 0) {
    parts.push(`<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">no data yet</text>`);
  } else {
    const first = spec.days[0]!;
    const last = spec.days[spec.days.length - 1]!;
    parts.push(`<text class="axis" x="${PAD.left}" y="${height - 10}">${esc(first)}</text>`);
    parts.push(`<text class="axis" x="${width - PAD.right}" y="${height - 10}" text-anchor="end">${esc(last)}</text>`);
  }
  if (spec.marker !== undefined && index.has(spec.marker)) {
    const mx = n(x(spec.marker));
    parts.push(`<line class="marker" x1="${mx}" x2="${mx}" y1="${PAD.top}" y2="${PAD.top + plotH}"/>`);
    parts.push(`<text class="axis" x="${mx}" y="${PAD.top - 8}" text-anchor="middle">today</text>`);
  }
  const bars = spec.series.filter((s) => s.shape === 'bars');
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, bars.length));
  bars.forEach((s, k) => {
    for (const p of s.points) {
      if (!index.has(p.day)) continue;
      const left = x(p.day) - (slot * 0.8) / 2 + k * barW;
      const h = PAD.top + plotH - y(p.value);
      parts.push(
        `<rect class="bar ${esc(s.kind)}" x="${n(left)}" y="${n(y(p.value))}" width="${n(barW)}" height="${n(h)}"><title>${esc(`${s.label} ${p.day}: ${spec.format(p.value)}`)}</title></rect>`,
      );
    }
  });
  for (const s of spec.series.filter((s) => s.shape === 'line')) {
    const pts = s.points.filter((p) => index.has(p.day));
    if (pts.length === 0) continue;
    parts.push(`<polyline class="line ${esc(s.kind)}" fill="none" points="${pts.map((p) => `${n(x(p.day))},${n(y(p.value))}`).join(' ')}"><title>${esc(s.label)}</title></polyline>`);
    // A dot per point: a single day of data is no line at all.
    if (pts.length <= RATE_DOTS_UP_TO)
      for (const p of pts) parts.push(`<circle class="dot ${esc(s.kind)}" cx="${n(x(p.day))}" cy="${n(y(p.value))}" r="3"><title>${esc(`${s.label} ${p.day}: ${spec.format(p.value)}`)}</title></circle>`);
  }
  for (const t of spec.thresholds ?? []) {
    const ty = n(y(t.value));
    parts.push(`<line class="threshold ${esc(t.kind)}" x1="${PAD.left}" x2="${width - PAD.right}" y1="${ty}" y2="${ty}"><title>${esc(`${t.label}: ${spec.format(t.value)}`)}</title></line>`);
    parts.push(`<text class="threshold-label ${esc(t.kind)}" x="${width - PAD.right - 4}" y="${n(y(t.value) - 4)}" text-anchor="end">${esc(t.label)}</text>`);
  }
  const legend = [...spec.series.map((s) => ({ label: s.label, kind: s.kind })), ...(spec.thresholds ?? []).map((t) => ({ label: t.label, kind: `threshold ${t.kind}` }))];
  return (
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(spec.title)}">` +
    parts.join('') +
    `</svg>` +
    `<ul class="legend">${legend.map((l) => `<li><span class="swatch ${esc(l.kind)}"></span>${esc(l.label)}</li>`).join('')}</ul>`
  );
}

/** Every day from `from` to `to` inclusive (YYYY-MM-DD, UTC calendar arithmetic). */
export function dayRange(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length < 1000; t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export const percent = (v: number) => `${(Math.round(v * 10000) / 100).toString()}%`;
export const count = (v: number) => (v >= 10_000 ? `${Math.round(v / 1000)}k` : String(Math.round(v)));

/** The warmup curve of one tenant: what was sent each past day (bars), the cap ahead (line), today marked. */
export function warmupChart(input: { from: string; past: Point[]; forecast: Point[]; today: string }): string {
  const days = dayRange(input.from, input.forecast[input.forecast.length - 1]?.day ?? input.today);
  return chart({
    title: 'Warmup: sent per day and daily cap, past and forecast',
    days,
    series: [
      { label: 'sent', kind: 'sent', shape: 'bars', points: input.past },
      { label: 'daily cap ahead', kind: 'cap', shape: 'line', points: input.forecast },
    ],
    marker: input.today,
    format: count,
  });
}

/** Bounce and complaint rates per day against the health guard's pause and the progression's hold thresholds. */
export function ratesChart(input: {
  days: string[];
  hardBounce: Point[];
  complaint: Point[];
  thresholds: { pauseBounce: number; holdBounce: number; pauseComplaint: number; holdComplaint: number };
}): { bounces: string; complaints: string } {
  const t = input.thresholds;
  return {
    bounces: chart({
      title: 'Hard-bounce rate per day (last 14 days)',
      days: input.days,
      series: [{ label: 'hard-bounce rate', kind: 'bounce', shape: 'line', points: input.hardBounce }],
      thresholds: [
        { value: t.pauseBounce, label: 'pause', kind: 'pause' },
        { value: t.holdBounce, label: 'hold', kind: 'hold' },
      ],
      format: percent,
      height: 180,
    }),
    complaints: chart({
      title: 'Complaint rate per day (last 14 days)',
      days: input.days,
      series: [{ label: 'complaint rate', kind: 'complaint', shape: 'line', points: input.complaint }],
      thresholds: [
        { value: t.pauseComplaint, label: 'pause', kind: 'pause' },
        { value: t.holdComplaint, label: 'hold', kind: 'hold' },
      ],
      format: percent,
      height: 180,
    }),
  };
}
