import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPmtaModel, PmtaModelError, type PmtaStateInput } from '../../src/pmta/model.js';
import { renderPmtaConfig } from '../../src/pmta/render.js';
import { processorsModel, type ProcessorOptions } from '../../src/pmta/processors.js';
import { TWO_TENANTS } from './fixtures.js';
import { blocks, directives, parsePmtaConfig } from './pmta-syntax.js';

const ON: ProcessorOptions = {
  feedbackLoop: { enabled: true, subdomain: 'fbl', localPart: 'fbl' },
  bounce: { enabled: true, subdomain: 'bounce' },
  forwardTo: null,
};

function render(processors?: ProcessorOptions): string {
  const input: PmtaStateInput = { ...TWO_TENANTS, ...(processors ? { processors } : {}) };
  return renderPmtaConfig(buildPmtaModel(input));
}

describe('feedback-loop and bounce processors (guide §12.6, §12.7)', () => {
  it('are not rendered unless enabled', () => {
    const out = render();
    assert.doesNotMatch(out, /processor>|relay-domain/);
  });

  it('inspect fbl@fbl.<domain> for complaints and bounce.<domain> for remote bounces, for every tenant domain', () => {
    const tree = parsePmtaConfig(render(ON));
    const [fbl] = blocks(tree, 'feedback-loop-processor');
    const [bp] = blocks(tree, 'bounce-processor');
    const list = (b: typeof fbl) => directives(blocks(b!.children, 'address-list')[0]!.children, 'address').concat(directives(blocks(b!.children, 'address-list')[0]!.children, 'domain')).map((d) => `${d.name} ${d.args.join(' ')}`);
    assert.deepEqual(list(fbl), ['address fbl@fbl.sos-expat-news.com', 'address fbl@fbl.sos-mail.com', 'address fbl@fbl.ulixai-mail.com']);
    assert.deepEqual(list(bp), ['domain bounce.sos-expat-news.com', 'domain bounce.sos-mail.com', 'domain bounce.ulixai-mail.com']);
    for (const b of [fbl!, bp!]) {
      assert.deepEqual(directives(b.children, 'deliver-unmatched-email')[0]?.args, ['no']);
      assert.deepEqual(directives(b.children, 'deliver-matched-email')[0]?.args, ['no']);
    }
  });

  it('accept mail for those domains (relay-domain) and discard what the processors pass on, so nothing loops back to the MX', () => {
    const tree = parsePmtaConfig(render(ON));
    const relay = directives(tree, 'relay-domain').map((d) => d.args[0]);
    assert.equal(relay.length, 6);
    for (const d of relay) {
      const dom = blocks(tree, 'domain').find((b) => b.args[0] === d);
      assert.deepEqual(directives(dom!.children, 'type')[0]?.args, ['discard'], d);
    }
  });

  it('forward unreadable reports when forwardTo is set', () => {
    const [fbl] = blocks(parsePmtaConfig(render({ ...ON, forwardTo: 'postmaster@ops.example' })), 'feedback-loop-processor');
    assert.deepEqual(directives(fbl!.children, 'forward-unmatched-to')[0]?.args, ['postmaster@ops.example']);
    assert.deepEqual(directives(fbl!.children, 'forward-errors-to')[0]?.args, ['postmaster@ops.example']);
  });

  it('refuse bad names with the option path', () => {
    assert.throws(() => processorsModel(['a.example'], { ...ON, feedbackLoop: { ...ON.feedbackLoop, subdomain: 'a b' } }), (e: unknown) => e instanceof PmtaModelError && e.path === 'processors.feedbackLoop.subdomain');
    assert.throws(() => processorsModel(['a.example'], { ...ON, bounce: { enabled: true, subdomain: 'fbl' } }), PmtaModelError);
    assert.throws(() => processorsModel(['a.example'], { ...ON, forwardTo: 'x y@z' }), PmtaModelError);
  });
});
