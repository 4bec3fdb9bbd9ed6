import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DayKey } from '../../src/types.js';
import { DEFAULT_SCHEDULE, addDays } from '../../src/warmup/schedule.js';
import { forecast, plannedIps, type ForecastIp } from '../../src/warmup/forecast.js';

const day = (s: string): DayKey => s as DayKey;
const TODAY = day('2026-05-04');

describe('forecast for existing IPs', () => {
  const ips: ForecastIp[] = [
    { address: '192.0.2.1', state: 'warming', warmupStart: addDays(TODAY, -9) }, // day 10 today
    { address: '192.0.2.2', state: 'active', warmupStart: day('2025-01-01') },
    { address: '192.0.2.3', state: 'paused', warmupStart: day('2025-01-01') },
    { address: '192.0.2.4', state: 'retired', warmupStart: day('2025-01-01') },
  ];

  it('gives each IP its scheduled cap for each day ahead and the tenant total', () => {
    const f = forecast({ ips, from: TODAY, days: 6, schedule: DEFAULT_SCHEDULE });
    assert.equal(f.length, 6);
    assert.deepEqual(f[0], {
      day: TODAY,
      total: 10200,
      ips: [
        { address: '192.0.2.1', cap: 200, phase: 'week_2', planned: false },
        { address: '192.0.2.2', cap: 10000, phase: 'active', planned: false },
        { address: '192.0.2.3', cap: 0, phase: 'paused', planned: false },
        { address: '192.0.2.4', cap: 0, phase: 'retired', planned: false },
      ],
    });
    // Day 15 of the warming IP: week 3 at 500.
    assert.equal(f[5]?.day, addDays(TODAY, 5));
    assert.equal(f[5]?.total, 10500);
  });

  it('adds no IPs without add_ip_every', () => {
    assert.deepEqual(plannedIps({ ips, from: TODAY, days: 100, schedule: DEFAULT_SCHEDULE }), []);
  });

  it('starts the first planned IP one interval after today when the tenant already has IPs', () => {
    const planned = plannedIps({ ips, from: TODAY, days: 30, schedule: DEFAULT_SCHEDULE, addIpEvery: 7, addIpsUpTo: 5 });
    // Three sending IPs (the retired one does not count), room for two more.
    assert.deepEqual(planned, [
      { address: 'planned-1', state: 'warming', warmupStart: addDays(TODAY, 7) },
      { address: 'planned-2', state: 'warming', warmupStart: addDays(TODAY, 14) },
    ]);
  });

  it('rejects a fractional or negative number of days', () => {
    assert.throws(() => forecast({ ips, from: TODAY, days: 1.5, schedule: DEFAULT_SCHEDULE }), RangeError);
    assert.throws(() => forecast({ ips, from: TODAY, days: 5, schedule: DEFAULT_SCHEDULE, addIpEvery: 0 }), RangeError);
  });
});

describe("the seed's plan: add one IP per week to an empty tenant", () => {
  it('reaches 50,000 a day with 5 IPs, first on the day the fifth IP graduates', () => {
    const f = forecast({ ips: [], from: TODAY, days: 80, schedule: DEFAULT_SCHEDULE, addIpEvery: 7, addIpsUpTo: 5 });
    assert.equal(f[0]?.ips.length, 5);
    assert.deepEqual(f[0]?.ips[0], { address: 'planned-1', cap: 50, phase: 'week_1', planned: true });
    assert.deepEqual(f[0]?.ips[1], { address: 'planned-2', cap: 0, phase: 'not_started', planned: true });

    // The fifth IP starts on day 28 and graduates 35 days later.
    const fifthGraduates = addDays(TODAY, 28 + 35);
    const first = f.find((d) => d.total >= 50000);
    assert.equal(first?.day, fifthGraduates);
    assert.equal(first?.total, 50000);
    assert.equal(f.find((d) => d.day === addDays(fifthGraduates, -1))?.total, 45000);
    assert.ok(f.filter((d) => d.day >= fifthGraduates).every((d) => d.total === 50000));
  });

  it('climbs day by day: 50 on the first day, 250 when the second IP starts a week later, 750 with the third', () => {
    const f = forecast({ ips: [], from: TODAY, days: 15, schedule: DEFAULT_SCHEDULE, addIpEvery: 7, addIpsUpTo: 5 });
    assert.deepEqual(
      f.map((d) => d.total),
      [50, 50, 50, 50, 50, 50, 50, 250, 250, 250, 250, 250, 250, 250, 750],
    );
  });

  it('reaches 500,000 a day with 50 IPs once the fiftieth graduates', () => {
    const lastGraduates = 49 * 7 + 35;
    const f = forecast({ ips: [], from: TODAY, days: lastGraduates + 5, schedule: DEFAULT_SCHEDULE, addIpEvery: 7, addIpsUpTo: 50 });
    assert.equal(f[0]?.ips.length, 50);
    assert.equal(f[lastGraduates - 1]?.total, 495000);
    assert.equal(f[lastGraduates]?.total, 500000);
    assert.equal(f.at(-1)?.total, 500000);
  });

  it('keeps adding through the horizon when no maximum is given, and names IPs with the prefix', () => {
    const planned = plannedIps({ ips: [], from: TODAY, days: 22, schedule: DEFAULT_SCHEDULE, addIpEvery: 7, newIpPrefix: 'next' });
    assert.deepEqual(
      planned.map((p) => [p.address, p.warmupStart]),
      [
        ['next-1', TODAY],
        ['next-2', addDays(TODAY, 7)],
        ['next-3', addDays(TODAY, 14)],
        ['next-4', addDays(TODAY, 21)],
      ],
    );
  });
});
