import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPmtaModel, PmtaModelError, type PmtaStateInput } from '../../src/pmta/model.js';
import { DEFAULT_THROTTLES, hourlyRate } from '../../src/pmta/throttles.js';
import { InvalidDomainError } from '../../src/pmta/names.js';
import { defaultTemplatePath, PmtaRenderError, renderPmtaConfig } from '../../src/pmta/render.js';
import { TWO_TENANTS } from './fixtures.js';
import { blocks, checkPmtaConfig, directives, domainRates, parsePmtaConfig, PmtaSyntaxError, poolMembers, vmtaBlocks } from './pmta-syntax.js';

// Compiled to dist/test/pmta/; the golden file stays in the source tree.
const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/pmta/golden/two-tenants.conf');

function render(input: PmtaStateInput = TWO_TENANTS): string {
  return renderPmtaConfig(buildPmtaModel(input));
}

function clone(input: PmtaStateInput): PmtaStateInput {
  return JSON.parse(JSON.stringify(input)) as PmtaStateInput;
}

describe('renderPmtaConfig: the two-tenant golden file', () => {
  it('renders SOS-Expat (5 IPs) and Ulixai (2 IPs) byte for byte as test/pmta/golden/two-tenants.conf', () => {
    const out = render();
    // Regenerate only deliberately: PMTA_GOLDEN_UPDATE=1 node --test dist/test/pmta/
    if (process.env.PMTA_GOLDEN_UPDATE === '1') writeFileSync(GOLDEN, out);
    assert.equal(out, readFileSync(GOLDEN, 'utf8'));
  });

  it('parses as PowerMTA blocks: every block closed, every pooled VMTA defined before its pool, no IP in two pools', () => {
    const tree = parsePmtaConfig(render());
    assert.deepEqual(checkPmtaConfig(tree), []);
    assert.deepEqual(
      tree.filter((n) => n.kind === 'block').map((n) => n.name),
      ['source', 'acct-file', ...Array(6).fill('virtual-mta'), 'virtual-mta-pool', 'virtual-mta-pool'],
    );
  });

  it('gives each sending IP a VMTA named <slug>-<ip with dashes> with smtp-source-host IP HOSTNAME', () => {
    const vmtas = vmtaBlocks(parsePmtaConfig(render()));
    assert.deepEqual(
      [...vmtas.entries()].map(([name, b]) => [name, directives(b.children, 'smtp-source-host')[0]?.args]),
      [
        ['sos-expat-45-123-10-1', ['45.123.10.1', 'mail1.sos-mail.com']],
        ['sos-expat-45-123-10-2', ['45.123.10.2', 'mail2.sos-mail.com']],
        ['sos-expat-45-123-10-3', ['45.123.10.3', 'mail3.sos-mail.com']],
        ['sos-expat-45-123-10-4', ['45.123.10.4', 'mail4.sos-mail.com']],
        ['sos-expat-45-123-10-10', ['45.123.10.10', 'mail10.sos-mail.com']],
        ['ulixai-91-200-5-10', ['91.200.5.10', 'mail1.ulixai-mail.com']],
      ],
    );
  });

  it("puts the DKIM domain-key lines of the tenant's domains, and only those, in each of its VMTAs", () => {
    const vmtas = vmtaBlocks(parsePmtaConfig(render()));
    const keys = (name: string) => directives(vmtas.get(name)!.children, 'domain-key').map((d) => d.args.join(' '));
    assert.deepEqual(keys('sos-expat-45-123-10-10'), [
      'default,sos-mail.com,/etc/pmta/dkim/default.sos-mail.com.pem',
      'mw2026,sos-mail.com,/etc/pmta/dkim/mw2026.sos-mail.com.pem',
    ]);
    assert.deepEqual(keys('ulixai-91-200-5-10'), ['default,ulixai-mail.com,/etc/pmta/dkim/default.ulixai-mail.com.pem']);
    assert.doesNotMatch(render(), /elsewhere\.example/);
  });

  it('lists one pool per tenant, named <slug>-pool, with its warming and active VMTAs only', () => {
    assert.deepEqual(
      [...poolMembers(parsePmtaConfig(render())).entries()],
      [
        ['sos-expat-pool', ['sos-expat-45-123-10-1', 'sos-expat-45-123-10-2', 'sos-expat-45-123-10-3', 'sos-expat-45-123-10-10']],
        ['ulixai-pool', ['ulixai-91-200-5-10']],
      ],
    );
  });

  it('keeps a paused IP defined, out of its pool, unthrottled, and says why in a comment (an undefined VMTA bounces its queue, §8.5.2)', () => {
    const out = render();
    const tree = parsePmtaConfig(out);
    const paused = vmtaBlocks(tree).get('sos-expat-45-123-10-4');
    assert.ok(paused, 'the paused VMTA is defined');
    assert.deepEqual(directives(paused.children, 'smtp-source-host')[0]?.args, ['45.123.10.4', 'mail4.sos-mail.com']);
    assert.equal(poolMembers(tree).get('sos-expat-pool')!.includes('sos-expat-45-123-10-4'), false);
    assert.deepEqual(blocks(paused.children, 'domain').map((b) => directives(b.children, 'max-msg-rate').length), [0]);
    assert.match(out, /# paused: out of the pool, its queues paused/);
  });

  it('keeps a retired IP that is draining defined and out of the pool; once drained it is gone', () => {
    const input = clone(TWO_TENANTS);
    const retired = input.tenants[0]!.ips.find((i) => i.state === 'retired')!;
    retired.draining = true;
    const tree = parsePmtaConfig(render(input));
    assert.ok(vmtaBlocks(tree).has('ulixai-91-200-5-11'));
    assert.deepEqual(poolMembers(tree).get('ulixai-pool'), ['ulixai-91-200-5-10']);
    assert.deepEqual(checkPmtaConfig(tree), []);
  });

  it('does not mention a retired IP at all', () => {
    assert.doesNotMatch(render(), /91\.200\.5\.11|91-200-5-11/);
  });

  it('throttles a warming IP per destination from its daily cap, and leaves an active IP unthrottled', () => {
    const vmtas = vmtaBlocks(parsePmtaConfig(render()));
    // week_2, 200 a day over 10 hours: Google 40%, Microsoft 30%, Yahoo 20%, anything else 100%;
    // one <domain> block per name (§3.3.10 takes one pattern per tag).
    assert.deepEqual(
      [...domainRates(vmtas.get('sos-expat-45-123-10-2')!).entries()],
      [
        ['gmail.com', '8/h'],
        ['googlemail.com', '8/h'],
        ['outlook.com', '6/h'],
        ['hotmail.com', '6/h'],
        ['live.com', '6/h'],
        ['msn.com', '6/h'],
        ['yahoo.com', '4/h'],
        ['ymail.com', '4/h'],
        ['aol.com', '4/h'],
        ['*', '20/h'],
      ],
    );
    // The active IP has no rate limits: its only block is the one that signs.
    const active = blocks(vmtas.get('sos-expat-45-123-10-10')!.children, 'domain');
    assert.deepEqual(active.map((b) => [b.args, directives(b.children, 'max-msg-rate').length]), [[['*'], 0]]);
  });

  it('turns DKIM signing on in every <domain> block of a VMTA that has keys (dkim-sign is off by default, §3.3.10.19)', () => {
    const vmtas = vmtaBlocks(parsePmtaConfig(render()));
    for (const [name, vmta] of vmtas) {
      const doms = blocks(vmta.children, 'domain');
      assert.ok(doms.length > 0, `${name} has domain blocks`);
      for (const dom of doms) assert.deepEqual(directives(dom.children, 'dkim-sign')[0]?.args, ['yes'], `${name} <domain ${dom.args[0]}>`);
    }
  });

  it('signs nothing where no key exists: an active IP of a tenant without keys has no <domain> block at all', () => {
    const input = clone(TWO_TENANTS);
    input.dkim = [];
    const vmtas = vmtaBlocks(parsePmtaConfig(render(input)));
    assert.equal(blocks(vmtas.get('sos-expat-45-123-10-10')!.children, 'domain').length, 0);
    assert.doesNotMatch(render(input), /dkim-sign/);
  });

  it('declares the injection source explicitly: relaying allowed, X-Virtual-MTA and X-Job honoured and removed, unknown VMTAs refused', () => {
    const [source] = blocks(parsePmtaConfig(render()), 'source');
    assert.deepEqual(source?.args, ['127.0.0.1']);
    const get = (n: string) => directives(source!.children, n)[0]?.args;
    assert.deepEqual(get('always-allow-relaying'), ['yes']);
    assert.deepEqual(get('process-x-virtual-mta'), ['yes']);
    assert.deepEqual(get('process-x-job'), ['yes']);
    // Not left to a wider <source 0/0> the operator may have (§3.3.7 merges them).
    assert.deepEqual(get('reject-invalid-virtual-mta'), ['yes']);
    assert.deepEqual(get('retain-x-virtual-mta'), ['no']);
    assert.deepEqual(get('retain-x-job'), ['no']);
  });

  it('writes an acct-file with one record-fields line per type, Message-Id on each but tq, and the Hotmail FBL mapping', () => {
    const [acct] = blocks(parsePmtaConfig(render()), 'acct-file');
    assert.deepEqual(acct?.args, ['/var/log/pmta/acct.csv']);
    const records = directives(acct!.children, 'records')[0]!.args[0]!.split(',');
    for (const t of ['d', 'b', 't', 'f', 'rb']) assert.ok(records.includes(t), `records has ${t}`);
    // §3.3.11.12: `record-fields RECORD-TYPE FIELD-LIST`, one type a line.
    assert.deepEqual(
      directives(acct!.children, 'record-fields').map((d) => d.args),
      ['d', 'b', 't', 'f', 'rb', 'rs'].map((t) => [t, '*,header_Message-Id']),
    );
    // PowerMTA strips X-Job at injection and logs it as jobId (in `*`): no header_X-Job.
    assert.doesNotMatch(render(), /header_X-Job/i);
    assert.deepEqual(directives(acct!.children, 'map-header-to-field').map((d) => d.args), [['f', 'header_X-HmXmrOriginalRecipient', 'rcpt']]);
    // No move-interval without move-to (§3.3.11.2 ignores it): files rotate in place at max-size.
    assert.deepEqual(directives(acct!.children, 'move-interval'), []);
    assert.deepEqual(directives(acct!.children, 'move-to'), []);
    assert.deepEqual(directives(acct!.children, 'max-size')[0]?.args, ['50M']);
  });

  it('opens with a comment saying the file is generated and must not be edited by hand', () => {
    const head = render().split('\n').slice(0, 3).join('\n');
    assert.match(head, /^# Generated by pmta-agent\. Do not edit by hand/);
  });

  it('gives the same bytes for the same state, whatever order it comes in', () => {
    const shuffled = clone(TWO_TENANTS);
    shuffled.tenants = [...shuffled.tenants].reverse().map((t) => ({ ...t, ips: [...t.ips].reverse(), domains: [...t.domains].reverse() }));
    shuffled.dkim = [...shuffled.dkim].reverse();
    assert.equal(render(shuffled), render());
    assert.equal(render(), render());
  });

  it('renders no pool for a tenant without a warming or active IP, and the file still checks out', () => {
    const input = clone(TWO_TENANTS);
    input.tenants[0]!.ips = input.tenants[0]!.ips.map((ip) => ({ ...ip, state: 'paused' as const, phase: 'paused', dailyCap: 0 }));
    const out = render(input);
    const tree = parsePmtaConfig(out);
    assert.deepEqual(checkPmtaConfig(tree), []);
    assert.deepEqual([...poolMembers(tree).keys()], ['sos-expat-pool']);
    assert.match(out, /^# ulixai has no warming or active IP: no pool\.$/m);
  });
});

describe('buildPmtaModel', () => {
  it('refuses an IP listed under two tenants, naming where', () => {
    const input = clone(TWO_TENANTS);
    input.tenants[0]!.ips = [...input.tenants[0]!.ips, { ...input.tenants[1]!.ips[0]! }];
    assert.throws(() => buildPmtaModel(input), (e: unknown) => e instanceof PmtaModelError && /tenants\[1\]\.ips\[\d\]\.address/.test(e.path));
  });

  it('refuses a tenant domain that is not a hostname with InvalidDomainError naming the field', () => {
    const input = clone(TWO_TENANTS);
    input.tenants[1]!.domains = ['sos-mail.com', 'bad/../name.com'];
    assert.throws(
      () => buildPmtaModel(input),
      (e: unknown) => e instanceof InvalidDomainError && e.field === 'tenants[1].domains[1]' && e.status === 400,
    );
  });

  it('refuses a key path PowerMTA would split into two arguments', () => {
    const input = clone(TWO_TENANTS);
    input.dkim = [{ domain: 'sos-mail.com', selector: 'default', keyPath: '/etc/pmta/my keys/k.pem' }];
    assert.throws(() => buildPmtaModel(input), PmtaModelError);
  });

  it('refuses a source that is not an IP address or range', () => {
    assert.throws(() => buildPmtaModel({ ...TWO_TENANTS, source: { host: 'localhost' } }), PmtaModelError);
    assert.doesNotThrow(() => buildPmtaModel({ ...TWO_TENANTS, source: { host: '10.0.0.0/8' } }));
    assert.doesNotThrow(() => buildPmtaModel({ ...TWO_TENANTS, source: { host: '::1' } }));
  });

  it('takes throttle shares and hours from options', () => {
    const model = buildPmtaModel({
      ...TWO_TENANTS,
      throttles: { hours: 24, groups: [{ label: 'Orange', domains: ['orange.fr', 'wanadoo.fr'], share: 0.5 }] },
    });
    const vmta = model.tenants.find((t) => t.slug === 'ulixai')!.vmtas[0]!;
    assert.deepEqual(vmta.domains.map((d) => [d.pattern, d.maxMsgRate]), [
      ['orange.fr', '11/h'],
      ['wanadoo.fr', '11/h'],
      ['*', '21/h'],
    ]);
  });
});

describe('hourlyRate', () => {
  it('is ceil(dailyCap * share / hours), at least 1 an hour', () => {
    assert.equal(hourlyRate(50, 0.4, 10), 2);
    assert.equal(hourlyRate(50, 0.3, 10), 2);
    assert.equal(hourlyRate(0, 0.4, 10), 1);
    assert.equal(hourlyRate(10000, 1, 10), 1000);
  });

  it('does not round float noise up: 30 * 0.1 over 1 hour is 3, not 4', () => {
    assert.equal(hourlyRate(30, 0.1, 1), 3);
  });

  it('defaults to Google, Microsoft and Yahoo groups over 10 hours', () => {
    assert.equal(DEFAULT_THROTTLES.hours, 10);
    assert.deepEqual(DEFAULT_THROTTLES.groups.map((g) => [g.domains[0], g.share]), [
      ['gmail.com', 0.4],
      ['outlook.com', 0.3],
      ['yahoo.com', 0.2],
    ]);
  });
});

describe('renderPmtaConfig with an operator template', () => {
  it('renders the copy it is pointed at, with includes resolved next to it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-tpl-'));
    try {
      writeFileSync(path.join(dir, 'pools.ejs'), '<%_ for (const t of model.tenants) { _%>\npool <%= t.slug %>\n<%_ } _%>\n');
      const file = path.join(dir, 'mine.conf.ejs');
      writeFileSync(file, "# mine\n<%- include('pools.ejs') %>");
      assert.equal(renderPmtaConfig(buildPmtaModel(TWO_TENANTS), file), '# mine\npool sos-expat\npool ulixai\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to write a value with whitespace or a newline through <%= %>, naming the template line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-tpl-'));
    try {
      const file = path.join(dir, 'bad.conf.ejs');
      writeFileSync(file, "# ok\nsmtp-source-host <%= 'x\\ninclude /etc/passwd' %>\n");
      assert.throws(
        () => renderPmtaConfig(buildPmtaModel(TWO_TENANTS), file),
        (e: unknown) => e instanceof PmtaRenderError && /line 2: refusing to write/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing template with its path', () => {
    assert.throws(() => renderPmtaConfig(buildPmtaModel(TWO_TENANTS), '/nonexistent/x.ejs'), /\/nonexistent\/x\.ejs: cannot read the template/);
  });

  it('finds the packaged template in config/templates', () => {
    assert.match(defaultTemplatePath(), /config\/templates\/pmta-agent\.conf\.ejs$/);
  });
});

describe('the test parser itself', () => {
  it('catches an unclosed block, a mismatched close and a pool naming an undefined VMTA', () => {
    assert.throws(() => parsePmtaConfig('<virtual-mta a>\n  smtp-source-host 1.2.3.4 a.example.com\n'), PmtaSyntaxError);
    assert.throws(() => parsePmtaConfig('<virtual-mta a>\n</virtual-mta-pool>\n'), PmtaSyntaxError);
    assert.deepEqual(checkPmtaConfig(parsePmtaConfig('<virtual-mta-pool p>\n virtual-mta a\n</virtual-mta-pool>\n')), [
      'pool p names undefined virtual-mta a (line 2)',
    ]);
    const twoPools =
      '<virtual-mta a>\n smtp-source-host 1.2.3.4 a.example.com\n</virtual-mta>\n' +
      '<virtual-mta b>\n smtp-source-host 1.2.3.4 b.example.com\n</virtual-mta>\n' +
      '<virtual-mta-pool p>\n virtual-mta a\n</virtual-mta-pool>\n<virtual-mta-pool q>\n virtual-mta b\n</virtual-mta-pool>\n';
    assert.deepEqual(checkPmtaConfig(parsePmtaConfig(twoPools)), ['IP 1.2.3.4 is in pools p and q']);
  });
});
