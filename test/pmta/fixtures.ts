// The two-tenant state the golden test renders: SOS-Expat with five IPs at
// different warmup stages, Ulixai with two. Listed out of order on purpose, so
// the golden file also pins the sorting.
import type { PmtaStateInput } from '../../src/pmta/model.js';

export const TWO_TENANTS: PmtaStateInput = {
  source: { host: '127.0.0.1' },
  acctFile: '/var/log/pmta/acct.csv',
  dkim: [
    { domain: 'ulixai-mail.com', selector: 'default', keyPath: '/etc/pmta/dkim/default.ulixai-mail.com.pem' },
    { domain: 'sos-mail.com', selector: 'default', keyPath: '/etc/pmta/dkim/default.sos-mail.com.pem' },
    { domain: 'sos-mail.com', selector: 'mw2026', keyPath: '/etc/pmta/dkim/mw2026.sos-mail.com.pem' },
    // A key for a domain no tenant has: ignored.
    { domain: 'elsewhere.example', selector: 'default', keyPath: '/etc/pmta/dkim/default.elsewhere.example.pem' },
  ],
  tenants: [
    {
      slug: 'ulixai',
      name: 'Ulixai',
      domains: ['ulixai-mail.com'],
      ips: [
        { address: '91.200.5.11', hostname: 'mail2.ulixai-mail.com', state: 'retired', phase: 'retired', dailyCap: 0 },
        { address: '91.200.5.10', hostname: 'mail1.ulixai-mail.com', state: 'warming', phase: 'week_3', dailyCap: 500 },
      ],
    },
    {
      slug: 'sos-expat',
      name: 'SOS-Expat',
      domains: ['sos-mail.com', 'SOS-Expat-News.com'],
      ips: [
        { address: '45.123.10.10', hostname: 'mail10.sos-mail.com', state: 'active', phase: 'active', dailyCap: 10000 },
        { address: '45.123.10.2', hostname: 'mail2.sos-mail.com', state: 'warming', phase: 'week_2', dailyCap: 200 },
        { address: '45.123.10.1', hostname: 'mail1.sos-mail.com', state: 'warming', phase: 'week_1', dailyCap: 50 },
        { address: '45.123.10.4', hostname: 'mail4.sos-mail.com', state: 'paused', phase: 'paused', dailyCap: 0 },
        { address: '45.123.10.3', hostname: 'mail3.sos-mail.com', state: 'warming', phase: 'week_5', dailyCap: 5000 },
      ],
    },
  ],
};
