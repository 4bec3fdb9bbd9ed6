import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import path from 'node:path';
import type { SpoolEntry } from '../../src/forward/spool.js';
import { ipHealthSamples, ipStateSamples, spoolAgeSamples } from '../../src/metrics/gauges.js';
import { openDb } from '../../src/store/db.js';
import type { TenantRecord } from '../../src/tenants/registry.js';
import type { DayKey } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

const tenant = (id: number, slug: string, ips: Array<[string, TenantRecord['ips'][number]['state']]>) =>
  ({ id, slug, ips: ips.map(([address, state]) => ({ address, state })) }) as unknown as TenantRecord;

describe('scrape-time gauges', () => {
  it('an IP is 1 in the state it is in and 0 in every other, so a state change leaves no stale series', () => {
    const samples = ipStateSamples([tenant(1, 'sos-expat', [['10.0.0.1', 'paused']])]);
    assert.deepEqual(
      samples.map((s) => [s.labels.state, s.value]),
      [
        ['warming', 0],
        ['active', 0],
        ['paused', 1],
        ['retired', 0],
      ],
    );
    assert.ok(samples.every((s) => s.labels.tenant === 'sos-expat' && s.labels.ip === '10.0.0.1'));
  });

  it("the spool's age is its oldest message's, per tenant, and 0 when nothing waits", () => {
    const entry = (arrivedAt: string) => ({ meta: { arrivedAt } }) as unknown as SpoolEntry;
    const queues = new Map<number, SpoolEntry[]>([[1, [entry('2026-11-25T09:59:00Z'), entry('2026-11-25T09:00:00Z')]]]);
    const samples = spoolAgeSamples([tenant(1, 'sos-expat', []), tenant(2, 'ulixai', [])], { queue: (id: number) => queues.get(id) ?? [] }, new Date('2026-11-25T10:00:00Z'));
    assert.deepEqual(samples, [
      { labels: { tenant: 'sos-expat' }, value: 3600 },
      { labels: { tenant: 'ulixai' }, value: 0 },
    ]);
  });

  it('IP health is what the guard judges: rates over the window of health.windowDays days, and the sample they stand on', () => {
    const { dir, cleanup } = tmpDir();
    const db = openDb(path.join(dir, 'state.db'));
    try {
      const row = db.prepare(
        'INSERT INTO ip_stats_daily (ip, day, tenant_id, delivered, bounced_hard, bounced_soft, bounced_other, complaints) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      row.run('10.0.0.1', '2026-11-25', 1, 900, 30, 10, 10, 2);
      row.run('10.0.0.1', '2026-11-24', 1, 100, 20, 0, 0, 0);
      row.run('10.0.0.1', '2026-11-23', 1, 0, 500, 0, 0, 0); // outside a 2-day window
      row.run('10.0.0.9', '2026-11-25', 2, 10, 0, 0, 0, 0); // another tenant's IP
      const health = { maxHardBounceRate: 0.05, maxComplaintRate: 0.001, windowDays: 2, minSample: 100 };
      const h = ipHealthSamples(db, [tenant(1, 'sos-expat', [['10.0.0.1', 'active']])], health, '2026-11-25' as DayKey);
      const labels = { tenant: 'sos-expat', ip: '10.0.0.1' };
      assert.deepEqual(h.sample, [{ labels, value: 1070 }]);
      assert.deepEqual(h.hardBounceRate, [{ labels, value: 50 / 1070 }]);
      assert.deepEqual(h.complaintRate, [{ labels, value: 2 / 1000 }]);
    } finally {
      db.close();
      cleanup();
    }
  });
});
