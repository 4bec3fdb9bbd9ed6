import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Db } from '../../src/store/db.js';
import { addDays } from '../../src/warmup/schedule.js';
import type { DayKey } from '../../src/types.js';
import { TODAY, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

const DAY = 86_400_000;
const IP = '45.123.10.1';

/** What the accounting tailer would have recorded for the IP on a day. */
function dayOfMail(db: Db, day: string, sent: number, bounced = 0, complaints = 0): void {
  db.prepare(
    `INSERT INTO ip_stats_daily (ip, day, tenant_id, accepted, delivered, bounced_hard, complaints) VALUES (?, ?, 1, ?, ?, ?, ?)
     ON CONFLICT (ip, day) DO UPDATE SET accepted = excluded.accepted, delivered = excluded.delivered, bounced_hard = excluded.bounced_hard, complaints = excluded.complaints`,
  ).run(IP, day, sent, sent - bounced, bounced, complaints);
}

async function capToday(h: Harness): Promise<{ cap: number; phase: string; status: string }> {
  const q = (await h.api('/api/v2/quotas/sos-expat')).body.ips.find((i: { ip_address: string }) => i.ip_address === IP);
  return { cap: q.daily_quota, phase: q.phase, status: q.status };
}

describe('warmup over time, driven by the daemon clock', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('six healthy weeks: the daily caps follow the schedule exactly and the IP ends active', async () => {
    h = await startHarness({ sosIps: [{ address: IP, warmupStart: TODAY }] });
    const expected = [...Array(7).fill(50), ...Array(7).fill(200), ...Array(7).fill(500), ...Array(7).fill(1500), ...Array(7).fill(5000)];
    const seen: number[] = [];
    for (let d = 0; d < 35; d++) {
      const today = addDays(TODAY as DayKey, d);
      const { cap } = await capToday(h);
      seen.push(cap);
      dayOfMail(h.daemon.db, today, cap);
      h.clock.advance(DAY);
      h.daemon.warmup.run();
    }
    assert.deepEqual(seen, expected);
    const end = await capToday(h);
    assert.deepEqual(end, { cap: 10_000, phase: 'active', status: 'active' });
    const audit = (await h.api(`/api/v2/ips/${IP}/audit`)).body.entries;
    assert.equal(audit[0].action, 'warmup.graduate');
  });

  it('a day over the hold threshold holds the next day; over the regress threshold steps back a week', async () => {
    h = await startHarness({ sosIps: [{ address: IP, warmupStart: addDays(TODAY as DayKey, -13) }] }); // day 14: week 2
    assert.equal((await capToday(h)).phase, 'week_2');
    // Day 14 with 5% bounces (hold at 3%): tomorrow stays day 14, still week 2.
    dayOfMail(h.daemon.db, TODAY, 200, 10);
    h.clock.advance(DAY);
    h.daemon.warmup.run();
    assert.equal((await capToday(h)).phase, 'week_2', 'held on day 14');
    // Healthy: day 15, week 3.
    dayOfMail(h.daemon.db, addDays(TODAY as DayKey, 1), 200);
    h.clock.advance(DAY);
    h.daemon.warmup.run();
    assert.equal((await capToday(h)).phase, 'week_3');
    // 10% bounces (regress at 8%): back to week 2.
    dayOfMail(h.daemon.db, addDays(TODAY as DayKey, 2), 500, 50);
    h.clock.advance(DAY);
    h.daemon.warmup.run();
    assert.deepEqual(await capToday(h), { cap: 200, phase: 'week_2', status: 'warming' });
  });

  it('a daemon that was down over several midnights ends where one that ran every night is', async () => {
    const start = addDays(TODAY as DayKey, -3);
    const a = await startHarness({ sosIps: [{ address: IP, warmupStart: start }] });
    const b = await startHarness({ sosIps: [{ address: IP, warmupStart: start }] });
    try {
      const volumes = [50, 50, 0, 50, 50, 50]; // one quiet day: it holds, in both
      volumes.forEach((v, i) => {
        for (const x of [a, b]) dayOfMail(x.daemon.db, addDays(TODAY as DayKey, i), v, i === 4 ? 3 : 0);
      });
      for (let i = 0; i < volumes.length; i++) {
        a.clock.advance(DAY);
        a.daemon.warmup.run();
      }
      b.clock.advance(volumes.length * DAY);
      b.daemon.warmup.run();
      const row = (x: Harness) => x.daemon.db.prepare('SELECT warmup_start, state, progress_day FROM ips WHERE address = ?').get(IP);
      assert.deepEqual(row(b), row(a));
      assert.deepEqual(await capToday(b), await capToday(a));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('the day turns atomically: after a bad day, the first reservation past midnight already gets the regressed cap (no cron run)', async () => {
    h = await startHarness({ sosIps: [{ address: IP, warmupStart: addDays(TODAY as DayKey, -9) }], patch: { warmup: { timezone: 'UTC', progression: { cron: '5 0 * * *' } } } });
    assert.deepEqual(await capToday(h), { cap: 200, phase: 'week_2', status: 'warming' }, 'day 10');
    dayOfMail(h.daemon.db, TODAY, 200, 20); // 10% bounces: over the 8% regress threshold
    // 20 seconds past midnight, minutes before the 00:05 cron.
    h.clock.set(new Date(`${addDays(TODAY as DayKey, 1)}T00:00:20Z`));
    const tenant = h.daemon.registry.tenant('sos-expat')!;
    assert.equal(await h.daemon.gate.reserve(tenant, 51), null, 'the unjudged day-11 cap of 200 is never granted');
    const granted = await h.daemon.gate.reserve(tenant, 50);
    assert.ok(granted, 'the regressed cap of 50 is');
    await h.daemon.ledger.release(granted.reservation);
    assert.deepEqual(await capToday(h), { cap: 50, phase: 'week_1', status: 'warming' });
    const regress = (await h.api(`/api/v2/ips/${IP}/audit`)).body.entries.find((e: { action: string }) => e.action === 'warmup.regress');
    const detail = JSON.parse(regress.detail);
    assert.equal(regress.actor, 'warmup');
    assert.match(detail.reason, /bounce rate 10\.00% on day 10 is at or over the regress threshold 8\.00%: back from day 10 to day 3/);
    assert.deepEqual(
      { judged: detail.judged, from: detail.from, to: detail.to, figures: detail.figures },
      {
        judged: TODAY,
        from: { warmupDay: 10, cap: 200 },
        to: { warmupDay: 3, cap: 50, state: 'warming' },
        figures: { sent: 200, delivered: 180, bouncedHard: 20, bouncedSoft: 0, complaints: 0, bounceRate: 0.1, complaintRate: 0 },
      },
    );
    // The cron's catch-up run finds nothing left to judge.
    assert.deepEqual(await h.daemon.warmup.run(), []);
  });

  it('every warmup change is audited with its reason and figures: advance, hold, override', async () => {
    h = await startHarness({ sosIps: [{ address: IP, warmupStart: addDays(TODAY as DayKey, -1) }] });
    dayOfMail(h.daemon.db, TODAY, 50);
    h.clock.advance(DAY);
    await h.daemon.warmup.run();
    dayOfMail(h.daemon.db, addDays(TODAY as DayKey, 1), 5);
    h.clock.advance(DAY);
    await h.daemon.warmup.run();
    await h.api(`/api/v2/ips/${IP}/warmup`, { method: 'POST', json: { day: 8 } });
    const entries = (await h.api(`/api/v2/ips/${IP}/audit`)).body.entries.map((e: { action: string; detail: string }) => ({ action: e.action, ...JSON.parse(e.detail) }));
    const [override, hold, advance] = entries;
    assert.equal(advance.action, 'warmup.advance');
    assert.match(advance.reason, /^healthy day 2: 50 sent, bounce rate 0\.00%, complaint rate 0\.00%/);
    assert.deepEqual([advance.from, advance.to], [{ warmupDay: 2, cap: 50 }, { warmupDay: 3, cap: 50, state: 'warming' }]);
    assert.equal(hold.action, 'warmup.hold');
    assert.equal(hold.reason, 'sent 5 on day 3, under the 20 needed to judge it');
    assert.equal(hold.figures.sent, 5);
    assert.equal(override.action, 'warmup.override');
    assert.deepEqual([override.from.warmupDay, override.to.warmupDay], [3, 8]);
  });

  it('operators can set the warmup day and hold it', async () => {
    h = await startHarness({ sosIps: [{ address: IP, warmupStart: TODAY }] });
    const r = await h.api(`/api/v2/ips/${IP}/warmup`, { method: 'POST', json: { day: 22, hold_until: addDays(TODAY as DayKey, 3) } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.warmup_day, 22);
    assert.equal((await capToday(h)).phase, 'week_4');
    dayOfMail(h.daemon.db, TODAY, 1500);
    h.clock.advance(DAY);
    h.daemon.warmup.run();
    assert.equal((await h.api(`/api/v2/quotas/sos-expat/ip/${IP}`)).body.warmup_day, 22, 'held by the operator');
    assert.equal((await h.api(`/api/v2/ips/${IP}/warmup`, { method: 'POST', json: {} })).body.field, 'day');
  });
});

describe('hourly pacing', () => {
  it('spools the first message over the hour allowance and forwards it when the next hour opens', async () => {
    // 50 a day over 10 sending hours with no burst: 5 an hour. 10:00 UTC is inside 8-18.
    const h = await startHarness({
      sosIps: [{ address: IP, warmupStart: TODAY }],
      patch: { warmup: { timezone: 'UTC', pacing: { enabled: true, startHour: 8, endHour: 18, burst: 0 } } },
    });
    try {
      const replies = [];
      for (let i = 0; i < 6; i++) replies.push(await send(h.port, { to: `p${i}@example.net` }));
      assert.ok(replies.every((r) => r.ok));
      assert.equal(h.sim.received.length, 5);
      assert.match((replies[5] as { response: string }).response, /Queued as .*hourly pace/);
      const ip = (await h.api(`/api/v2/quotas/sos-expat/ip/${IP}`)).body;
      assert.equal(ip.sent_today, 5);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(h.sim.received.length, 5, 'still held within the hour');
      h.clock.advance(3600_000);
      await waitFor(() => h.sim.received.length === 6, 5000, 'released in the next hour');
      assert.equal(h.sim.received[5]!.rcptTo[0], 'p5@example.net');
    } finally {
      await h.close();
    }
  });
});
