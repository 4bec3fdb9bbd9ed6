import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chart, dayRange, niceMax, percent, ratesChart, warmupChart } from '../../src/ui/charts.js';
import { esc, html } from '../../src/ui/html.js';

/** Attributes of every element with this tag, in order. */
function elements(svg: string, tag: string): Array<Record<string, string>> {
  return [...svg.matchAll(new RegExp(`<${tag}\\b([^>]*?)/?>`, 'g'))].map((m) => Object.fromEntries([...m[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
}

describe('server-side SVG charts', () => {
  const days = dayRange('2026-12-01', '2026-12-04');

  it('days from one date to another, inclusive, across a month end', () => {
    assert.deepEqual(dayRange('2026-11-29', '2026-12-02'), ['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-02']);
  });

  it('the y axis tops at 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual([0, 0.7, 3, 48, 50, 51, 1200].map(niceMax), [1, 1, 5, 50, 50, 100, 2000]);
  });

  it('one bar per point, taller for more, none outside the days; a line through its points', () => {
    const svg = chart({
      title: 't',
      days,
      series: [
        { label: 'sent', kind: 'sent', shape: 'bars', points: [{ day: '2026-12-01', value: 10 }, { day: '2026-12-02', value: 40 }, { day: '2026-11-01', value: 99 }] },
        { label: 'cap', kind: 'cap', shape: 'line', points: days.map((day) => ({ day, value: 50 })) },
      ],
      format: String,
      width: 400,
      height: 200,
    });
    const bars = elements(svg, 'rect');
    assert.equal(bars.length, 2);
    assert.ok(Number(bars[1]!.height) > Number(bars[0]!.height));
    assert.ok(Number(bars[1]!.height) / Number(bars[0]!.height) > 3.9 && Number(bars[1]!.height) / Number(bars[0]!.height) < 4.1);
    const line = elements(svg, 'polyline')[0]!;
    const ys = line.points!.split(' ').map((p) => Number(p.split(',')[1]));
    assert.equal(ys.length, 4);
    assert.ok(ys.every((y) => y === ys[0]), 'a flat cap is a flat line');
    assert.ok(Number(bars[1]!.y) > ys[0]!, 'a bar under the cap stays under its line (SVG y grows downwards)');
  });

  it('thresholds are horizontal lines at their value, labelled; the scale makes room for them', () => {
    const { bounces } = ratesChart({
      days,
      hardBounce: [{ day: '2026-12-02', value: 0.01 }],
      complaint: [],
      thresholds: { pauseBounce: 0.05, holdBounce: 0.03, pauseComplaint: 0.001, holdComplaint: 0.0005 },
    });
    const lines = elements(bounces, 'line').filter((l) => (l.class ?? '').startsWith('threshold'));
    assert.deepEqual(lines.map((l) => l.class), ['threshold pause', 'threshold hold']);
    const [pause, hold] = lines.map((l) => Number(l.y1));
    assert.ok(pause! < hold!, 'the higher threshold is drawn higher');
    assert.ok(lines.every((l) => l.y1 === l.y2));
    assert.match(bounces, /<text class="threshold-label pause"[^>]*>pause<\/text>/);
    assert.match(bounces, />5%<\/text>/, 'the y axis reaches the pause threshold');
  });

  it('the warmup chart spans the past and the forecast and marks today', () => {
    const svg = warmupChart({
      from: '2026-11-29',
      past: [{ day: '2026-11-30', value: 40 }, { day: '2026-12-01', value: 50 }],
      forecast: [{ day: '2026-12-02', value: 50 }, { day: '2026-12-03', value: 200 }],
      today: '2026-12-02',
    });
    assert.equal(elements(svg, 'rect').length, 2);
    assert.match(svg, /class="marker"/);
    assert.match(svg, />2026-11-29<\/text>/, 'from the first past day, data or not');
    assert.match(svg, />2026-12-03<\/text>/);
  });

  it('a line of one point (one day of data) still shows: a dot per point', () => {
    const svg = chart({ title: 'one', days, series: [{ label: 'rate', kind: 'bounce', shape: 'line', points: [{ day: days[1]!, value: 0.25 }] }], format: percent });
    assert.equal(elements(svg, 'circle').length, 1);
  });

  it('no data: a chart that says so', () => {
    const svg = chart({ title: 'empty', days: [], series: [], format: String });
    assert.match(svg, /no data yet/);
    assert.equal(elements(svg, 'rect').length, 0);
  });

  it('labels are escaped; no script and no style attribute (the page CSP forbids both)', () => {
    const svg = chart({ title: '<script>x</script>', days, series: [{ label: '"><img src=x>', kind: 'a"b', shape: 'bars', points: [{ day: days[0]!, value: 1 }] }], format: percent });
    assert.ok(!svg.includes('<script'));
    assert.ok(!svg.includes('<img'));
    assert.ok(!/\sstyle=/.test(svg));
    assert.ok(svg.includes(esc('<script>x</script>')));
  });

  it('html`` escapes what it interpolates', () => {
    assert.equal(html`<p>${'<b>&"'}</p>`.text, '<p>&lt;b&gt;&amp;&quot;</p>');
    assert.equal(html`<ul>${['a', html`<li>x</li>`]}</ul>`.text, '<ul>a<li>x</li></ul>');
  });
});
