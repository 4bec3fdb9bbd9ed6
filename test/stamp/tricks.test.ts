// What leaves the agent under every line-ending and header trick a tenant can
// try: the stamped block as PowerMTA reads it after the SMTP client's wire
// normalisation (a bare CR or LF becomes CRLF) has exactly one X-Virtual-MTA,
// the tenant's own, and at most one X-Job; or the message is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobIdFor, type HeaderInfo } from '../../src/stamp/headers.js';
import { HeaderRefused, HeaderStamper } from '../../src/stamp/stamper.js';
import { chunksOf, runThrough } from './streams.js';

const OURS = 'sos-expat-45-123-10-1';
const makeStamp = (info: HeaderInfo) => ({ vmta: OURS, job: jobIdFor(info, 'sos-expat-20261125') });

/** The wire as PowerMTA receives it: every CR, LF and CRLF is a CRLF (src/forward/data-encoder.ts). */
const onTheWire = (b: Buffer) => b.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');

/** PowerMTA's header fields, read leniently: up to the first empty line, unfolded, names without white space or NUL, lower-cased. */
function pmtaFields(wire: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of wire.split('\r\n')) {
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]![1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0) out.push([line.slice(0, colon).replace(/[\s\u0000]/g, '').toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

const body = '\r\n\r\nHello\r\n';
const tricks: Array<[string, string]> = [
  ['a bare CR hides a second X-Virtual-MTA (the reported attack)', `From: a@sos-mail.com\r\nFeedback-ID: x\rX-Virtual-MTA: ulixai-45-123-20-1\r\nSubject: hi${body}`],
  ['a bare CR hides a second X-Job too', `From: a@sos-mail.com\r\nX-Job: mine\r\nFeedback-ID: x\rX-Job: theirs${body}`],
  ['a bare LF inside a CRLF message', `From: a@sos-mail.com\r\nSubject: a\nX-Virtual-MTA: ulixai-45-123-20-1${body}`],
  ['an LF-only message', 'From: a@sos-mail.com\nX-Virtual-MTA: ulixai-45-123-20-1\nSubject: x\n\nHello\n'],
  ['a CR-only message', 'From: a@sos-mail.com\rX-Virtual-MTA: ulixai-45-123-20-1\rSubject: x\r\rHello\r'],
  ['CR LF LF and LF CR LF mixtures', `From: a@sos-mail.com\r\n\nX-Virtual-MTA: ulixai-45-123-20-1\n\r\nX-Virtual-MTA: ulixai-2${body}`],
  ['odd case', `From: a@sos-mail.com\r\nx-VIRTUAL-mta: ulixai-45-123-20-1${body}`],
  ['space before the colon', `From: a@sos-mail.com\r\nX-Virtual-MTA : ulixai-45-123-20-1${body}`],
  ['tab before the colon', `From: a@sos-mail.com\r\nX-Virtual-MTA\t: ulixai-45-123-20-1${body}`],
  ['a folded X-Virtual-MTA', `From: a@sos-mail.com\r\nX-Virtual-MTA:\r\n ulixai-45-123-20-1${body}`],
  ['a folded line turned into a field by a bare CR', `From: a@sos-mail.com\r\nX-Foo: a\r\n b\rX-Virtual-MTA: ulixai-45-123-20-1${body}`],
  ['a continuation line at the very top', ` X-Virtual-MTA: ulixai-45-123-20-1\r\nFrom: a@sos-mail.com${body}`],
  ['an X-Virtual-MTA first, before any other field', `X-Virtual-MTA: ulixai-45-123-20-1\r\nFrom: a@sos-mail.com${body}`],
  ['two X-Job fields', `From: a@sos-mail.com\r\nX-Job: one\r\nX-Job: two${body}`],
  ['an X-Job PowerMTA would not take (white space)', `From: a@sos-mail.com\r\nX-Job: spring sale${body}`],
  ['bare CRs ending the header block early', `From: a@sos-mail.com\r\rX-Virtual-MTA: ulixai-45-123-20-1${body}`],
  ['an empty first line', `\r\nX-Virtual-MTA: ulixai-45-123-20-1${body}`],
  ['no body at all', 'From: a@sos-mail.com\r\nX-Virtual-MTA: ulixai-45-123-20-1\r\n'],
  ['UTF-8 and 8-bit bytes in a field', `From: a@sos-mail.com\r\nSubject: Été ☀\r\nX-Virtual-MTA: ulixai-45-123-20-1${body}`],
];

describe('the stamper under line-ending and header tricks: one X-Virtual-MTA, ours; at most one X-Job', () => {
  for (const [name, raw] of tricks) {
    it(name, async () => {
      const input = Buffer.from(raw, 'utf8');
      const whole = await runThrough(new HeaderStamper(makeStamp), [input]);
      const bytewise = await runThrough(new HeaderStamper(makeStamp), chunksOf(input, 1));
      assert.ok(whole.equals(bytewise), 'the same however the stream is chunked');
      const fields = pmtaFields(onTheWire(whole));
      const vmtas = fields.filter(([n]) => n === 'x-virtual-mta');
      assert.deepEqual(vmtas, [['x-virtual-mta', OURS]]);
      const jobs = fields.filter(([n]) => n === 'x-job');
      assert.ok(jobs.length <= 1, `${jobs.length} X-Job fields: ${JSON.stringify(jobs)}`);
      for (const [, v] of jobs) assert.match(v, /^[\x21-\x7e]{1,128}$/, 'a job id PowerMTA takes');
    });
  }

  it('a message with exactly one valid X-Job keeps it byte for byte (DKIM)', async () => {
    const raw = `From: a@sos-mail.com\r\nX-Job: cmp42\r\nSubject: hi${body}`;
    const out = (await runThrough(new HeaderStamper(makeStamp), [Buffer.from(raw)])).toString();
    assert.equal(out, `X-Virtual-MTA: ${OURS}\r\n${raw}`);
  });

  it('a legitimate message passes byte for byte below our added lines', async () => {
    const raw = `From: a@sos-mail.com\r\nSubject: hi\r\nFeedback-ID: cmp1:sub:list:cust${body}`;
    const out = (await runThrough(new HeaderStamper(makeStamp), [Buffer.from(raw)])).toString();
    assert.equal(out, `X-Virtual-MTA: ${OURS}\r\nX-Job: cmp1\r\n${raw}`);
  });

  const refused: Array<[string, string, RegExp]> = [
    ['a NUL in a field name', `From: a@sos-mail.com\r\nX-Virtual-MTA\u0000: ulixai-45-123-20-1${body}`, /control character/],
    ['a NUL inside the name', `From: a@sos-mail.com\r\nX-Virtual\u0000-MTA: ulixai-45-123-20-1${body}`, /control character/],
    ['a vertical tab before the colon', `From: a@sos-mail.com\r\nX-Virtual-MTA\u000b: ulixai-45-123-20-1${body}`, /control character/],
    ['a header block over the limit, X-Virtual-MTA past the cut', `From: a@sos-mail.com\r\nX-Pad: ${'p'.repeat(1024 * 1024)}\r\nX-Virtual-MTA: ulixai-45-123-20-1${body}`, /longer than/],
  ];
  for (const [name, raw, why] of refused) {
    it(`refused: ${name}`, async () => {
      await assert.rejects(runThrough(new HeaderStamper(makeStamp), chunksOf(Buffer.from(raw), 65536)), (err: Error) => {
        assert.ok(err instanceof HeaderRefused, String(err));
        assert.match(err.message, why);
        return true;
      });
    });
  }

  it('a NUL in the body is the body\'s business: passed on', async () => {
    const raw = `From: a@sos-mail.com\r\nSubject: hi\r\n\r\nbinary\u0000body\r\n`;
    const out = (await runThrough(new HeaderStamper(makeStamp), [Buffer.from(raw)])).toString();
    assert.ok(out.endsWith('binary\u0000body\r\n'));
  });
});
