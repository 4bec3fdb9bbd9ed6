import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildPmtaModel, type PmtaIpInput, type PmtaStateInput, type PmtaTenantInput } from '../../src/pmta/model.js';
import { renderPmtaConfig } from '../../src/pmta/render.js';
import { DIRECTIVES, formatIssue, lintPmtaConfig } from '../../src/pmta/lint/index.js';
import { TWO_TENANTS } from './fixtures.js';

function errors(text: string): string[] {
  return lintPmtaConfig(text)
    .issues.filter((i) => i.severity === 'error')
    .map((i) => `${i.line}: ${i.message}`);
}

function warnings(text: string): string[] {
  return lintPmtaConfig(text)
    .issues.filter((i) => i.severity === 'warning')
    .map((i) => `${i.line}: ${i.message}`);
}

const ip = (n: number, state: PmtaIpInput['state'], dailyCap = 500): PmtaIpInput => ({
  address: `203.0.113.${n}`,
  hostname: `mta${n}.example.net`,
  state,
  phase: state === 'warming' ? 'week_3' : state,
  dailyCap: state === 'warming' || state === 'active' ? dailyCap : 0,
});

const tenant = (slug: string, ips: PmtaIpInput[], domains = [`${slug}.example`], name = slug): PmtaTenantInput => ({ slug, name, domains, ips });

function state(tenants: PmtaTenantInput[], withKeys = true): PmtaStateInput {
  return {
    source: { host: '127.0.0.1' },
    acctFile: '/var/log/pmta/pmta-agent/acct.csv',
    dkim: withKeys ? tenants.flatMap((t) => t.domains.map((d) => ({ domain: d, selector: 'default', keyPath: `/etc/pmta/dkim/default.${d}.pem` }))) : [],
    tenants,
  };
}

// Every kind of state the agent can be in; each renders a file PowerMTA must accept.
const STATES: Record<string, PmtaStateInput> = {
  'the two-tenant fixture': TWO_TENANTS,
  'one warming IP': state([tenant('a', [ip(1, 'warming', 50)])]),
  'one active IP': state([tenant('a', [ip(1, 'active', 10_000)])]),
  'only paused IPs': state([tenant('a', [ip(1, 'paused'), ip(2, 'paused')])]),
  'only retired IPs': state([tenant('a', [ip(1, 'retired')])]),
  'a tenant without IPs': state([tenant('a', [])]),
  'no tenants at all': state([]),
  'no DKIM keys': state([tenant('a', [ip(1, 'warming'), ip(2, 'active')])], false),
  'a warming IP with a zero cap': state([tenant('a', [ip(1, 'warming', 0)])]),
  'every state in one tenant': state([tenant('a', [ip(1, 'warming'), ip(2, 'active'), ip(3, 'paused'), ip(4, 'retired')])]),
  'several tenants': state([
    tenant('a', [ip(1, 'warming'), ip(2, 'active')], ['a.example', 'a-news.example']),
    tenant('b', [ip(3, 'active')]),
    tenant('c', [ip(4, 'paused')]),
    tenant('d', [ip(5, 'retired'), ip(6, 'warming', 5000)]),
  ]),
  'hostile tenant names': state([
    tenant('evil', [ip(1, 'active')], ['evil.example'], 'Evil\n</virtual-mta>\ninclude /etc/shadow # <domain *>'),
    tenant('quote', [ip(2, 'warming')], ['quote.example'], '"; rm -rf / #'),
    tenant('unicode', [ip(3, 'active')], ['xn--bcher-kva.example'], 'Bücher \u0000\u0007 <b>'),
  ]),
  'a CIDR source': { ...state([tenant('a', [ip(1, 'active')])]), source: { host: '10.0.0.0/8' } },
  'an IPv6 source': { ...state([tenant('a', [ip(1, 'active')])]), source: { host: '::1' } },
  'a draining retired IP next to a paused one': state([tenant('a', [{ ...ip(1, 'retired'), draining: true }, ip(2, 'paused'), ip(3, 'active')])]),
  'feedback-loop and bounce processors for several tenants': {
    ...state([tenant('a', [ip(1, 'active')], ['a.example', 'a-news.example']), tenant('b', [ip(2, 'warming')])]),
    processors: { feedbackLoop: { enabled: true, subdomain: 'fbl', localPart: 'fbl' }, bounce: { enabled: true, subdomain: 'bounce' }, forwardTo: 'postmaster@ops.example' },
  },
  'only the bounce processor, no tenants with IPs': {
    ...state([tenant('a', [])]),
    processors: { feedbackLoop: { enabled: false, subdomain: 'fbl', localPart: 'fbl' }, bounce: { enabled: true, subdomain: 'bounce' }, forwardTo: null },
  },
  'a pipe accounting target': { ...state([tenant('a', [ip(1, 'active')])]), acctPipe: ['/usr/bin/pmta-agent', 'acct-pipe', '--config', '/etc/pmta-agent/config.json'] },
};

describe('every config the agent renders passes the linter', () => {
  for (const [name, input] of Object.entries(STATES)) {
    it(`${name}: no errors, no warnings`, () => {
      const text = renderPmtaConfig(buildPmtaModel(input));
      assert.deepEqual(errors(text), []);
      assert.deepEqual(warnings(text), []);
    });
  }

  it('a hostile tenant name stays inside its comment line', () => {
    const text = renderPmtaConfig(buildPmtaModel(STATES['hostile tenant names']!));
    assert.doesNotMatch(text, /^\s*include/m);
    assert.doesNotMatch(text, /^\s*<\/virtual-mta>\s*\n\s*include/m);
    assert.equal(text.split('\n').filter((l) => l.startsWith('<virtual-mta ')).length, 3);
  });
});

describe('lintPmtaConfig: what PowerMTA refuses or silently ignores', () => {
  it('refuses several record types on one record-fields line, and header fields on tq', () => {
    const text = '<acct-file /var/log/x.csv>\n records d,b,tq\n record-fields d,b *,header_Message-Id\n record-fields tq *,header_Message-Id\n</acct-file>\n';
    const e = errors(text);
    assert.ok(e.some((m) => m.startsWith('3: record-fields')), e.join('\n'));
    assert.ok(e.some((m) => /^4: tq records cannot carry header fields/.test(m)), e.join('\n'));
  });

  it('refuses move-interval without move-to, and takes them together', () => {
    assert.match(errors('<acct-file /var/log/x.csv>\n move-interval 1h\n</acct-file>\n')[0]!, /^2: move-interval without move-to/);
    assert.deepEqual(errors('<acct-file /var/log/x.csv>\n move-to /var/log/archive\n move-interval 1h\n</acct-file>\n'), []);
  });

  it('refuses several domains in one <domain> tag and takes a domain-macro', () => {
    assert.match(errors('<domain gmail.com googlemail.com>\n max-msg-rate 1/h\n</domain>\n')[0]!, /one domain pattern per <domain> tag/);
    assert.deepEqual(errors('domain-macro g gmail, googlemail\n<domain $g.com>\n max-msg-rate 1/h\n</domain>\n'), []);
    assert.match(errors('<domain $nope.com>\n</domain>\n')[0]!, /\$nope, which no domain-macro defines/);
  });

  it('refuses a directive in the wrong block, an unknown directive and a bad value, naming the line', () => {
    const e = errors('<source 127.0.0.1>\n max-msg-rate 10/h\n process-x-job maybe\n</source>\nfrobnicate yes\n<domain *>\n max-msg-rate 10/fortnight\n</domain>\n');
    assert.deepEqual(
      e.map((m) => m.split(':')[0]),
      ['2', '3', '5', '7'],
    );
    assert.match(e[0]!, /max-msg-rate cannot stand inside <source>/);
    assert.match(e[1]!, /yes, no, true or false/);
    assert.match(e[2]!, /frobnicate is not a directive the agent emits/);
    assert.match(e[3]!, /not a rate/);
  });

  it('refuses an argument missing, as PowerMTA words it', () => {
    const [issue] = lintPmtaConfig('<virtual-mta a>\n smtp-source-host\n</virtual-mta>\n').issues;
    assert.equal(formatIssue('/etc/pmta/config', issue!), 'Error in line 2 of /etc/pmta/config: smtp-source-host: argument missing (guide §3.3.1.16, 8.2)');
  });

  it('refuses unclosed and mismatched blocks', () => {
    assert.match(errors('<virtual-mta a>\n')[0]!, /<virtual-mta> is never closed/);
    assert.match(errors('<virtual-mta a>\n</virtual-mta-pool>\n</virtual-mta>\n')[0]!, /closes <virtual-mta>/);
  });

  it('refuses a pool naming an undefined VMTA, one defined after it, and a pool named like a VMTA', () => {
    const vmta = (n: string) => `<virtual-mta ${n}>\n smtp-source-host 203.0.113.1 a.example.net\n</virtual-mta>\n`;
    assert.match(errors('<virtual-mta-pool p>\n virtual-mta a\n</virtual-mta-pool>\n')[0]!, /names virtual-mta a, which is not defined/);
    assert.match(errors(`<virtual-mta-pool p>\n virtual-mta a\n</virtual-mta-pool>\n${vmta('a')}`)[0]!, /defined after pool p/);
    assert.match(errors(`${vmta('a')}<virtual-mta-pool a>\n virtual-mta a\n</virtual-mta-pool>\n`)[0]!, /share one name space/);
    assert.match(errors(`${vmta('a')}${vmta('a')}`)[0]!, /defined twice/);
  });

  it('refuses a VMTA in two pools that both hold <domain> blocks (§3.3.13.2)', () => {
    const text =
      '<virtual-mta a>\n smtp-source-host 203.0.113.1 a.example.net\n</virtual-mta>\n' +
      '<virtual-mta-pool p>\n virtual-mta a\n <domain *>\n  max-smtp-out 2\n </domain>\n</virtual-mta-pool>\n' +
      '<virtual-mta-pool q>\n virtual-mta a\n <domain *>\n  max-smtp-out 3\n </domain>\n</virtual-mta-pool>\n';
    assert.match(errors(text)[0]!, /in pools p and q/);
  });

  it('warns when a VMTA has keys but signs nothing (dkim-sign defaults to false, §3.3.10.19)', () => {
    const text = '<virtual-mta a>\n smtp-source-host 203.0.113.1 a.example.net\n domain-key s,a.example,/k.pem\n</virtual-mta>\n';
    assert.deepEqual(errors(text), []);
    assert.match(warnings(text)[0]!, /domain-key lines but no <domain> with dkim-sign yes/);
  });

  it('warns when dkim-sign has no domain-key in reach', () => {
    const text = '<virtual-mta a>\n smtp-source-host 203.0.113.1 a.example.net\n <domain *>\n  dkim-sign yes\n </domain>\n</virtual-mta>\n';
    assert.deepEqual(errors(text), []);
    assert.match(warnings(text)[0]!, /no domain-key in reach/);
  });

  it('refuses the agent’s old rendering (one record-fields for six types, three domains a tag)', () => {
    const old =
      '<acct-file /var/log/pmta/acct.csv>\n records d,b,t,tq,f,rb,rs\n record-fields d,b,t,tq,rb,rs *,header_Message-Id,header_X-Job\n move-interval 1h\n</acct-file>\n' +
      '<virtual-mta v>\n smtp-source-host 203.0.113.1 a.example.net\n <domain gmail.com googlemail.com>\n  max-msg-rate 8/h\n </domain>\n</virtual-mta>\n';
    assert.equal(errors(old).length, 4, errors(old).join('\n'));
  });

  it('reads # as a comment anywhere on the line (§3.1)', () => {
    assert.deepEqual(errors('<source 127.0.0.1># the feeder\n smtp-service yes# on\n</source>\n'), []);
  });

  it('takes processors with their address lists, and refuses an empty one', () => {
    const ok =
      '<feedback-loop-processor>\n deliver-unmatched-email no\n deliver-matched-email no\n <address-list>\n  address /^fbl@fbl\\.a\\.example$/\n </address-list>\n</feedback-loop-processor>\n' +
      '<bounce-processor>\n deliver-unmatched-email no\n <address-list>\n  domain bounce.a.example\n </address-list>\n</bounce-processor>\n';
    assert.deepEqual(errors(ok), []);
    assert.match(warnings('<bounce-processor>\n deliver-unmatched-email no\n</bounce-processor>\n')[0] ?? errors('<bounce-processor>\n</bounce-processor>\n')[0]!, /inspects nothing/);
  });

  it('cites a guide section for every directive of its table', () => {
    for (const d of DIRECTIVES) assert.match(d.section, /^\d+(\.\d+)*/, d.name);
  });
});

describe('pmta-agent pmta lint FILE', () => {
  const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

  it('exits 0 for a rendered file and 1 with PowerMTA-style lines for a bad one, without a running agent', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-lint-'));
    try {
      const good = path.join(dir, 'good.conf');
      const bad = path.join(dir, 'bad.conf');
      writeFileSync(good, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
      writeFileSync(bad, '<domain gmail.com googlemail.com>\n    max-msg-rate 8/h\n</domain>\n');
      const run = promisify(execFile);
      const ok = await run(process.execPath, [CLI, 'pmta', 'lint', good], { env: { ...process.env, PMTA_AGENT_URL: '', PMTA_AGENT_TOKEN: '' } });
      assert.equal(ok.stdout, `${good}: ok\n`);
      const failed = await run(process.execPath, [CLI, 'pmta', 'lint', good, bad]).then(
        () => assert.fail('expected exit 1'),
        (e: { code: number; stdout: string }) => e,
      );
      assert.equal(failed.code, 1);
      assert.match(failed.stdout, /^Error in line 1 of .*bad\.conf: <domain>: one domain pattern per <domain> tag/m);
      assert.match(failed.stdout, /bad\.conf: 1 error\(s\), 0 warning\(s\)$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
