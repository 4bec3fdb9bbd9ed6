import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SpoolEntry } from '../../src/forward/spool.js';
import { ipStateSamples, spoolAgeSamples } from '../../src/metrics/gauges.js';
import type { TenantRecord } from '../../src/tenants/registry.js';

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
});
