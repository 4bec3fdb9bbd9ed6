import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Notifier } from '../../src/alerts/notifier.js';
import { redactUrl } from '../../src/http/redact.js';
import { createLogger } from '../../src/log/logger.js';
import { startHarness, TODAY, waitFor } from '../helpers/env.js';

/** A loopback HTTP server that records requests and answers each with `answer`. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const requests: Array<{ method: string; url: string; authorization: string | undefined }> = [];
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  closers.push(() => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { port, requests };
}

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers) await c();
});

describe('outbound HTTP: no redirects followed, URLs logged without secrets', () => {
  it('redactUrl keeps scheme, host, port and path; drops user, password, query and fragment', () => {
    assert.equal(redactUrl('https://mw:pa55@mw.example.com:8443/index.php/dswh/pmta?api_key=k&x=1#f'), 'https://mw.example.com:8443/index.php/dswh/pmta');
    assert.equal(redactUrl('http://user@hooks.example.com/a'), 'http://hooks.example.com/a');
    assert.equal(redactUrl('not a url://u:p@x/y?secret=1'), 'not a url://x/y');
  });

  it('the alert webhook does not follow a redirect, and its log lines carry neither the query nor credentials', async () => {
    const elsewhere = await server((_req, res) => res.writeHead(200).end('ok'));
    const hook = await server((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/stolen?token=leak-s3cret` }).end());
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    new Notifier(() => ({ webhookUrl: `http://127.0.0.1:${hook.port}/alerts?key=hook-s3cret`, telegram: null }), log).notify({ kind: 'test', title: 'a test', detail: {} });
    await waitFor(() => lines.some((l) => l.msg === 'alert.send_failed' || l.event === 'alert.send_failed'), 10_000, 'the failed send logged');
    assert.equal(hook.requests[0]?.method, 'POST');
    assert.equal(elsewhere.requests.length, 0, 'the redirect was not followed');
    const failed = lines.find((l) => JSON.stringify(l).includes('send_failed'))!;
    assert.equal(failed.status, 302);
    assert.equal(failed.url, `http://127.0.0.1:${hook.port}/alerts`);
    assert.doesNotMatch(JSON.stringify(lines), /s3cret/);

    // fetch refuses a URL with credentials and quotes the URL in its error: not in our log.
    const quoted: Array<Record<string, unknown>> = [];
    const log2 = createLogger({ level: 'debug', write: (l) => quoted.push(JSON.parse(l) as Record<string, unknown>) });
    new Notifier(() => ({ webhookUrl: `http://alice:pw-s3cret@127.0.0.1:${hook.port}/alerts?key=hook-s3cret`, telegram: null }), log2).notify({ kind: 'test', title: 'a test', detail: {} });
    await waitFor(() => JSON.stringify(quoted).includes('send_failed'), 10_000, 'the failed send logged');
    assert.doesNotMatch(JSON.stringify(quoted), /s3cret|alice/);
  });

  it("feedback to MailWizz does not follow a redirect, and neither MailWizz's credentials and query nor the redirect's appear in the logs", async () => {
    const elsewhere = await server((_req, res) => res.writeHead(200).end('ok'));
    const mw = await server((_req, res) => res.writeHead(301, { location: `http://u:loc-s3cret@127.0.0.1:${elsewhere.port}/x/dswh/pmta?token=loc-s3cret` }).end());
    const h = await startHarness({
      patch: { accounting: { mode: 'push' }, feedback: { intervalMs: 50, minBackoffMs: 50 } },
      sosTenant: { mailwizz: { url: `http://mwuser:mw-s3cret@127.0.0.1:${mw.port}/mw?api_key=key-s3cret` } },
    });
    try {
      const bounce = { type: 'b', timeLogged: `${TODAY} 10:00:00+0000`, orig: 'news@sos-mail.com', rcpt: 'gone@example.net', vmta: 'sos-expat-45-123-10-1', dlvSourceIp: '45.123.10.1', bounceCat: 'bad-mailbox', dsnStatus: '5.1.1', dsnDiag: 'smtp;550 5.1.1 unknown', 'header_Message-Id': '<m1@sos-mail.com>' };
      assert.equal((await h.api('/api/v2/webhooks/powermta', { method: 'POST', body: JSON.stringify(bounce) })).status, 200);
      await waitFor(() => h.logs.some((l) => /HTTP 301/.test(JSON.stringify(l))), 10_000, 'the 301 logged');
      assert.ok(mw.requests.length >= 1);
      assert.match(mw.requests[0]!.authorization ?? '', /^Basic /, 'credentials travel as basic auth');
      assert.equal(elsewhere.requests.length, 0, 'the redirect was not followed');
      const text = JSON.stringify(h.logs);
      assert.match(text, new RegExp(`to http://127\\.0\\.0\\.1:${elsewhere.port}/x/dswh/pmta`));
      assert.doesNotMatch(text, /s3cret|mwuser|api_key|token=/);
    } finally {
      await h.close();
    }
  });
});
