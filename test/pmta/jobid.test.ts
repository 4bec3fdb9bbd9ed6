import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isPmtaJobId, pmtaJobId } from '../../src/pmta/jobid.js';

describe('pmtaJobId: a job id PowerMTA accepts (no whitespace, printable only, §3.3.7.45)', () => {
  it('keeps a MailWizz campaign UID as it is', () => {
    assert.equal(pmtaJobId('ab12cd34ef'), 'ab12cd34ef');
    assert.equal(pmtaJobId('mailwizz-ab12cd34ef'), 'mailwizz-ab12cd34ef');
  });

  it('turns inner whitespace runs into one underscore and trims the ends', () => {
    assert.equal(pmtaJobId('  Spring   Sale\t2026 '), 'Spring_Sale_2026');
    assert.equal(pmtaJobId('a\r\n b'), 'a_b');
  });

  it('drops control characters and percent-encodes what is not printable ASCII', () => {
    assert.equal(pmtaJobId('a\u0000b\u007fc'), 'abc');
    assert.equal(pmtaJobId('Été'), '%C3%89t%C3%A9');
  });

  it('caps at 128 characters without cutting an escape in half', () => {
    assert.equal(pmtaJobId('x'.repeat(200)).length, 128);
    const cut = pmtaJobId(`${'x'.repeat(125)}é`);
    assert.equal(cut, 'x'.repeat(125));
  });

  it('gives empty for nothing usable, and every result passes isPmtaJobId', () => {
    assert.equal(pmtaJobId(null), '');
    assert.equal(pmtaJobId(' \t '), '');
    for (const raw of ['a b', 'Été 2026', 'x'.repeat(300), 'tab\there']) assert.ok(isPmtaJobId(pmtaJobId(raw)), raw);
    assert.equal(isPmtaJobId('a b'), false);
  });
});
