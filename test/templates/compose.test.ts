import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseHeaders, splitHeaderBlock } from '../../src/stamp/headers.js';
import { composeMessage, feedbackId, messageIdFor } from '../../src/templates/compose.js';

const NOW = new Date('2026-11-25T10:00:00Z');

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

const base = {
  from: { address: 'noreply@sos-mail.com' },
  to: 'jean@example.net',
  subject: 'Hello',
  html: '<p>Hi</p>',
  tenant: 'sos-expat',
  template: 'welcome',
};

/** The header block, unfolded. */
function headerBlock(raw: string): string {
  const split = splitHeaderBlock(Buffer.from(raw));
  assert.ok(split, 'the message has a header block');
  return raw.slice(0, split.headerEnd).replace(/\r\n[ \t]/g, ' ');
}

describe('composing the MIME message', () => {
  it('encodes a unicode subject as RFC 2047 encoded words, and the header block is plain ASCII', async () => {
    const { message } = composeMessage({ ...base, subject: 'Reçu n°12 — merci Zoë ✓' }, { now: NOW });
    const raw = await text(message);
    const headers = headerBlock(raw);
    assert.match(headers, /^Subject: =\?UTF-8\?[QB]\?.+\?=/m);
    assert.ok(!/[^\x00-\x7f]/.test(headers), 'no raw 8-bit bytes in the headers');
    const words = [...headers.matchAll(/=\?UTF-8\?Q\?([^?]*)\?=/g)].map((m) => m[1]!).join('');
    const decoded = Buffer.from(words.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
    assert.equal(decoded, 'Reçu n°12 — merci Zoë ✓');
  });

  it('puts the Message-ID it returns in the header: 40 hex @ the From domain', async () => {
    const random = (n: number) => Buffer.alloc(n, 0xab);
    const { message, messageId } = composeMessage({ ...base, from: { address: 'Billing@Sos-Mail.com' } }, { now: NOW, random });
    assert.equal(messageId, `<${'ab'.repeat(20)}@sos-mail.com>`);
    const info = parseHeaders(headerBlock(await text(message)));
    assert.equal(info.messageId, messageId);
  });

  it('makes a fresh Message-ID for every message', () => {
    assert.notEqual(messageIdFor('a@b.com'), messageIdFor('a@b.com'));
    assert.match(messageIdFor('a@b.com'), /^<[0-9a-f]{40}@b\.com>$/);
  });

  it('carries From with an encoded name, To, Date from the clock, and a Feedback-ID whose first field is the job', async () => {
    const { message } = composeMessage({ ...base, from: { address: 'noreply@sos-mail.com', name: 'SOS Éxpat' } }, { now: NOW });
    const headers = headerBlock(await text(message));
    assert.match(headers, /^From: =\?UTF-8\?Q\?SOS_=C3=89xpat\?= <noreply@sos-mail\.com>$/m);
    assert.match(headers, /^To: jean@example\.net$/m);
    assert.match(headers, /^Date: Wed, 25 Nov 2026 10:00:00 \+0000$/m);
    assert.equal(parseHeaders(headers).feedbackId, 'tx-welcome:sos-expat:transactional:pmta-agent');
    assert.equal(feedbackId('ulixai', null), 'tx-adhoc:ulixai:transactional:pmta-agent');
  });

  it('uses CRLF line ends throughout', async () => {
    const raw = await text(composeMessage({ ...base, text: 'a\nb' }, { now: NOW }).message);
    assert.ok(!/[^\r]\n/.test(raw), 'every LF follows a CR');
  });

  it('is multipart/alternative with a text part, a single text/html part without', async () => {
    const both = await text(composeMessage({ ...base, text: 'Hi' }, { now: NOW }).message);
    assert.match(both, /^Content-Type: multipart\/alternative;/m);
    assert.match(both, /Content-Type: text\/plain; charset=utf-8/);
    const only = await text(composeMessage(base, { now: NOW }).message);
    assert.match(only, /^Content-Type: text\/html; charset=utf-8$/m);
    assert.doesNotMatch(only, /multipart/);
  });

  it('keeps a line break from a variable out of the header block', async () => {
    const raw = await text(composeMessage({ ...base, subject: 'Hi\r\nBcc: victim@example.org\nX-Evil: 1' }, { now: NOW }).message);
    const headers = headerBlock(raw);
    assert.doesNotMatch(headers, /^Bcc:/im);
    assert.doesNotMatch(headers, /^X-Evil:/im);
  });

  it('never reads a file or a URL named in the content', async () => {
    const { message } = composeMessage({ ...base, html: '/etc/passwd', text: 'file:///etc/passwd' }, { now: NOW });
    const raw = await text(message);
    assert.match(raw, /\/etc\/passwd/);
    assert.doesNotMatch(raw, /root:/);
  });
});
