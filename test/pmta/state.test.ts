import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pmtaStateInput } from '../../src/pmta/state.js';
import type { TenantRecord } from '../../src/tenants/registry.js';
import { vmtaName, type DayKey, type IpAddress, type TenantSlug } from '../../src/types.js';
import { DEFAULT_SCHEDULE } from '../../src/warmup/schedule.js';

const day = (s: string) => s as DayKey;

function ip(address: string, state: TenantRecord['ips'][number]['state'], warmupStart: string) {
  return { address: address as IpAddress, hostname: `mail.${address.replace(/\./g, '-')}.example.com`, state, warmupStart: day(warmupStart), vmta: vmtaName('sos-expat', address) };
}

describe('pmtaStateInput', () => {
  it("turns registry tenants into render input with today's phase and cap for each IP", () => {
    const tenant: TenantRecord = {
      id: 1,
      slug: 'sos-expat' as TenantSlug,
      name: 'SOS-Expat',
      domains: new Set(['sos-mail.com']),
      ips: [ip('45.123.10.1', 'warming', '2026-11-25'), ip('45.123.10.2', 'warming', '2026-11-11'), ip('45.123.10.3', 'paused', '2026-01-01')],
      spoolLimits: {},
    };
    const input = pmtaStateInput({
      tenants: [tenant],
      today: day('2026-11-25'),
      schedule: DEFAULT_SCHEDULE,
      sourceHost: '127.0.0.1',
      accountingDir: '/var/log/pmta',
      dkim: [],
    });
    assert.equal(input.acctFile, '/var/log/pmta/acct.csv');
    assert.deepEqual(input.source, { host: '127.0.0.1' });
    assert.deepEqual(
      input.tenants[0]!.ips.map((i) => [i.address, i.state, i.phase, i.dailyCap]),
      [
        ['45.123.10.1', 'warming', 'week_1', 50],
        ['45.123.10.2', 'warming', 'week_3', 500],
        ['45.123.10.3', 'paused', 'paused', 0],
      ],
    );
  });
});
