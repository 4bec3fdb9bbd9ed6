// The forwarder's own SMTP client against real servers on loopback: smtp-server
// as PowerMTA's stand-in where the behaviour is SMTP's, and a scripted server
// where the test needs to see the client's every command (pipelining, RSET, QUIT).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PassThrough, Readable } from 'node:stream';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { Forwarder, type ForwardOutcome, type ForwardRequest, type PmtaTarget } from '../../src/forward/forwarder.js';
import { waitFor } from '../helpers/env.js';
import { scriptedPmta } from './scripted-pmta.js';

const MESSAGE = 'From: a@sos-mail.com\r\nMessage-ID: <m1@sos-mail.com>\r\nSubject: hi\r\n\r\nHello\r\n';

function target(port: number, over: Partial<PmtaTarget> = {}): PmtaTarget {
  return { host: '127.0.0.1', port, maxConnections: 2, maxMessagesPerConnection: 100, connectTimeoutMs: 2_000, replyTimeoutMs: 2_000, clientName: 'agent.test', ...over };
}

function request(over: Partial<ForwardRequest> = {}): ForwardRequest {
  return { mailFrom: 'news@sos-mail.com', rcptTo: ['a@example.net'], vmta: 'sos-expat-45-123-10-1', jobFallback: 'sos-expat-20261125', ...over };
}

const from = (s: string | Buffer): Readable => Readable.from([Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1')]);

interface Received {
  from: string;
  args: unknown;
  to: string[];
  raw: Buffer;
}

/** smtp-server as PowerMTA; `refuse` maps a recipient to its refusal, `afterBody` answers the message. */
async function pmtaServer(
  opts: { refuse?: Record<string, [number, string]>; afterBody?: (raw: Buffer) => [number, string] | null; options?: Partial<SMTPServerOptions> } = {},
) {
  const received: Received[] = [];
  const state = { hold: null as { at: number; until: Promise<void> } | null, progress: { bytes: 0 } };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    ...opts.options,
    onMailFrom(address, _session, cb) {
      cb();
      void address;
    },
    onRcptTo(address, _session, cb) {
      const r = opts.refuse?.[address.address];
      if (r) cb(Object.assign(new Error(r[1]), { responseCode: r[0] }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      state.progress.bytes = 0;
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        bytes += c.length;
        state.progress.bytes = bytes;
        const hold = state.hold;
        if (hold && bytes >= hold.at && bytes - c.length < hold.at) {
          stream.pause();
          void hold.until.then(() => stream.resume());
        }
      });
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', args: session.envelope.mailFrom ? session.envelope.mailFrom.args : null, to: session.envelope.rcptTo.map((r) => r.address), raw });
        const r = opts.afterBody?.(raw);
        if (r) cb(Object.assign(new Error(r[1]), { responseCode: r[0] }));
        else cb(null, 'Ok: queued as ABC123');
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  return Object.assign(state, { port: (server.server.address() as AddressInfo).port, received, close: () => new Promise<void>((r) => server.close(() => r())) });
}

describe('Forwarder: its SMTP client against smtp-server', () => {
  let pmta: Awaited<ReturnType<typeof pmtaServer>>;
  let fwd: Forwarder;
  before(async () => {
    pmta = await pmtaServer({ refuse: { 'gone@example.net': [550, '5.1.1 No such user'], 'later@example.net': [451, '4.3.0 Try later'] } });
    fwd = new Forwarder(target(pmta.port));
  });
  after(async () => {
    fwd.close();
    await pmta.close();
  });

  it("passes the message on stamped, and answers with PowerMTA's reply line as nodemailer did", async () => {
    const out = await fwd.forward(request(), from(MESSAGE));
    assert.deepEqual(out, { kind: 'accepted', response: '250 Ok: queued as ABC123', accepted: ['a@example.net'], rejected: [] });
    const got = pmta.received.at(-1)!;
    assert.equal(got.from, 'news@sos-mail.com');
    assert.match(got.raw.toString(), /^X-Virtual-MTA: sos-expat-45-123-10-1\r\n/m);
    assert.match(got.raw.toString(), /\r\n\r\nHello\r\n$/);
  });

  it('one of several recipients refused (pipelined envelope): the others are taken, the refusal comes back per recipient', async () => {
    const out = await fwd.forward(request({ rcptTo: ['a@example.net', 'gone@example.net', 'later@example.net', 'b@example.net'] }), from(MESSAGE));
    assert.equal(out.kind, 'accepted');
    if (out.kind !== 'accepted') return;
    assert.deepEqual(out.accepted, ['a@example.net', 'b@example.net']);
    assert.deepEqual(out.rejected, [
      { rcpt: 'gone@example.net', code: 550, response: '550 5.1.1 No such user' },
      { rcpt: 'later@example.net', code: 451, response: '451 4.3.0 Try later' },
    ]);
    assert.deepEqual(pmta.received.at(-1)!.to, ['a@example.net', 'b@example.net']);
  });

  it('every recipient refused for good: refused with the last refusal, and no message is sent', async () => {
    const n = pmta.received.length;
    const out = await fwd.forward(request({ rcptTo: ['gone@example.net'] }), from(MESSAGE));
    assert.deepEqual(out, { kind: 'refused', code: 550, response: '550 5.1.1 No such user' });
    assert.equal(pmta.received.length, n);
  });

  it('every recipient refused, one only for now: unavailable (the message waits), not refused', async () => {
    const out = await fwd.forward(request({ rcptTo: ['gone@example.net', 'later@example.net'] }), from(MESSAGE));
    assert.equal(out.kind, 'unavailable');
    assert.equal(out.kind === 'unavailable' && out.code, 451);
  });

  it('the connection is still good after refusals: the next message goes through', async () => {
    const out = await fwd.forward(request(), from(MESSAGE));
    assert.equal(out.kind, 'accepted');
  });

  it("bytes on the wire: a leading '.' survives, a body without a final CRLF gets one, bare CR and bare LF become CRLF", async () => {
    const body = '.leading dot\r\n..two dots\r\nbare\rcr and bare\nlf\r\n.\r\nlast line without end';
    const out = await fwd.forward(request(), from('Subject: dots\r\n\r\n' + body));
    assert.equal(out.kind, 'accepted');
    const raw = pmta.received.at(-1)!.raw.toString('latin1');
    assert.ok(raw.endsWith('\r\n\r\n.leading dot\r\n..two dots\r\nbare\r\ncr and bare\r\nlf\r\n.\r\nlast line without end\r\n'), JSON.stringify(raw));
  });

  it('8-bit and binary-looking bytes pass unchanged', async () => {
    const bytes = Buffer.concat([Buffer.from('Subject: bin\r\n\r\n'), Buffer.from([0x00, 0xff, 0x80, 0xe9, 0x2e, 0x0d, 0x0a])]);
    const out = await fwd.forward(request(), from(bytes));
    assert.equal(out.kind, 'accepted');
    assert.ok(pmta.received.at(-1)!.raw.subarray(-7).equals(Buffer.from([0x00, 0xff, 0x80, 0xe9, 0x2e, 0x0d, 0x0a])));
  });

  it('mailParams: BODY=8BITMIME and SMTPUTF8 go on MAIL FROM when PowerMTA offers them', async () => {
    const out = await fwd.forward(request({ mailParams: { body: '8BITMIME', smtputf8: true } }), from(MESSAGE));
    assert.equal(out.kind, 'accepted');
    assert.deepEqual(pmta.received.at(-1)!.args, { BODY: '8BITMIME', SMTPUTF8: true });
  });

  it('a message bigger than the socket buffers is streamed with backpressure: read as PowerMTA takes it, never ahead whole', async () => {
    const total = 48 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let produced = 0;
    const big = new Readable({
      read() {
        if (produced === 0) this.push(Buffer.from('Subject: big\r\n\r\n'));
        if (produced >= total) this.push(null);
        else {
          produced += chunk.length;
          this.push(chunk);
        }
      },
    });
    // PowerMTA stops reading after 1 MB until the test lets it go on.
    let open!: () => void;
    pmta.hold = { at: 1024 * 1024, until: new Promise<void>((r) => (open = r)) };
    const pending = fwd.forward(request(), big);
    // Wait until the source is no longer read (unchanged over 200 ms, PowerMTA holding).
    for (let last = -1; produced !== last || pmta.progress.bytes < 1024 * 1024; ) {
      last = produced;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(produced < total / 2, `${produced} bytes read ahead while PowerMTA held at 1 MB`);
    open();
    const out = await pending;
    pmta.hold = null;
    assert.equal(out.kind, 'accepted');
    // The body did not end with CRLF: one was added before the final dot.
    assert.equal(pmta.received.at(-1)!.raw.length, total + 'X-Virtual-MTA: sos-expat-45-123-10-1\r\nX-Job: sos-expat-20261125\r\nSubject: big\r\n\r\n'.length + 2);
  });
});

describe('Forwarder: what PowerMTA sees, command by command', () => {
  it('pipelines MAIL FROM, every RCPT TO and DATA in one go when offered (PowerMTA answers only once DATA arrived)', async () => {
    const pmta = await scriptedPmta({ holdUntilData: true });
    const fwd = new Forwarder(target(pmta.port));
    try {
      const out = await fwd.forward(request({ rcptTo: ['a@example.net', 'b@example.net'] }), from(MESSAGE));
      assert.equal(out.kind, 'accepted');
      assert.deepEqual(pmta.sessions[0]!.commands, ['EHLO agent.test', 'MAIL FROM:<news@sos-mail.com>', 'RCPT TO:<a@example.net>', 'RCPT TO:<b@example.net>', 'DATA']);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('without PIPELINING, one command at a time', async () => {
    const pmta = await scriptedPmta({ extensions: ['8BITMIME'] });
    const fwd = new Forwarder(target(pmta.port));
    try {
      const out = await fwd.forward(request({ rcptTo: ['a@example.net', 'b@example.net'] }), from(MESSAGE));
      assert.equal(out.kind, 'accepted');
      assert.equal(pmta.sessions[0]!.pipelinedUnasked, false);
      assert.equal(pmta.sessions[0]!.commands.length, 5);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('no RSET between successful messages; maxMessagesPerConnection reached: QUIT, and the next message opens a new connection', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1, maxMessagesPerConnection: 3 }));
    try {
      for (let i = 0; i < 4; i++) assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      const [first, second] = pmta.sessions;
      assert.deepEqual(
        first!.commands.filter((c) => !c.startsWith('RCPT')),
        ['EHLO agent.test', 'MAIL FROM:<news@sos-mail.com>', 'DATA', 'MAIL FROM:<news@sos-mail.com>', 'DATA', 'MAIL FROM:<news@sos-mail.com>', 'DATA', 'QUIT'],
      );
      assert.equal(first!.messages.length, 3);
      assert.equal(second!.messages.length, 1);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('DATA refused: refused, no body sent; the next message on the connection starts with RSET', async () => {
    let refuseData = true;
    const pmta = await scriptedPmta({ data: () => (refuseData ? '554 5.7.1 Not now, not ever' : '354 go on') });
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1 }));
    try {
      assert.deepEqual(await fwd.forward(request(), from(MESSAGE)), { kind: 'refused', code: 554, response: '554 5.7.1 Not now, not ever' });
      assert.equal(pmta.sessions[0]!.bodyBytes, 0);
      refuseData = false;
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      assert.equal(pmta.sessions.length, 1);
      assert.deepEqual(pmta.sessions[0]!.commands.slice(-4), ['RSET', 'MAIL FROM:<news@sos-mail.com>', 'RCPT TO:<a@example.net>', 'DATA']);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('every recipient refused yet DATA answered 354: the empty message is ended at once, nothing of the message is sent, refused', async () => {
    const pmta = await scriptedPmta({ rcpt: () => '550 5.1.1 unknown', message: () => '554 5.5.1 No valid recipients' });
    const fwd = new Forwarder(target(pmta.port));
    try {
      assert.deepEqual(await fwd.forward(request(), from(MESSAGE)), { kind: 'refused', code: 550, response: '550 5.1.1 unknown' });
      assert.deepEqual(pmta.sessions[0]!.messages, [Buffer.alloc(0)]);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('a 4xx to every RCPT TO: unavailable with its code, marked as an answer about these recipients (everyRcpt)', async () => {
    const pmta = await scriptedPmta({ rcpt: () => '451 4.7.1 try again later' });
    const fwd = new Forwarder(target(pmta.port));
    try {
      const out = await fwd.forward(request(), from(MESSAGE));
      assert.equal(out.kind, 'unavailable');
      assert.ok(out.kind === 'unavailable' && out.code === 451 && out.everyRcpt === true && /451 4\.7\.1 try again later/.test(out.reason), JSON.stringify(out));
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('a 4xx after the body: unavailable with its code (the message waits in the spool)', async () => {
    const pmta = await scriptedPmta({ message: () => '451 4.3.0 Queue full' });
    const fwd = new Forwarder(target(pmta.port));
    try {
      assert.deepEqual(await fwd.forward(request(), from(MESSAGE)), { kind: 'unavailable', reason: 'PowerMTA answered 451 4.3.0 Queue full', code: 451 });
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('a 5xx after the body is a refusal', async () => {
    const pmta = await scriptedPmta({ message: () => '554 5.7.1 Spam' });
    const fwd = new Forwarder(target(pmta.port));
    try {
      assert.deepEqual(await fwd.forward(request(), from(MESSAGE)), { kind: 'refused', code: 554, response: '554 5.7.1 Spam' });
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('a greeting of 554: unavailable, not refused', async () => {
    const pmta = await scriptedPmta({ greeting: '554 5.3.2 No service here' });
    const fwd = new Forwarder(target(pmta.port));
    try {
      const out = await fwd.forward(request(), from(MESSAGE));
      assert.equal(out.kind, 'unavailable');
      assert.equal(out.kind === 'unavailable' && out.code, 554);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('nothing listening: unavailable, PowerMTA unreachable', async () => {
    const pmta = await scriptedPmta();
    const port = pmta.port;
    await pmta.close();
    const fwd = new Forwarder(target(port));
    const out = await fwd.forward(request(), from(MESSAGE));
    fwd.close();
    assert.equal(out.kind, 'unavailable');
    assert.match(out.kind === 'unavailable' ? out.reason : '', /unreachable \(ECONNREFUSED/);
  });

  it('PowerMTA closes the connection mid-transaction: unavailable, and the broken connection is never used again', async () => {
    const pmta = await scriptedPmta({ closeOn: 'DATA' });
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1 }));
    try {
      const out = await fwd.forward(request(), from(MESSAGE));
      assert.equal(out.kind, 'unavailable');
      assert.equal(out.kind === 'unavailable' && out.local, undefined);
      pmta.script.closeOn = undefined;
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      assert.equal(pmta.sessions.length, 2);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  // Was `unavailable` (the units went back and the message was sent again): PowerMTA had read the final dot,
  // so it may have taken the message, and rule 1 counts a unit of unknown fate as sent.
  it('no reply to the message within replyTimeoutMs: fate unknown, blamed on PowerMTA', async () => {
    const pmta = await scriptedPmta({ message: () => null });
    const fwd = new Forwarder(target(pmta.port, { replyTimeoutMs: 300 }));
    try {
      const out = await fwd.forward(request(), from(MESSAGE));
      assert.equal(out.kind, 'unknown');
      assert.equal(out.kind === 'unknown' && out.local, undefined);
      assert.match(out.kind === 'unknown' ? out.reason : '', /reply lost after the final dot \(ETIMEDOUT/);
      assert.equal(pmta.sessions[0]!.messages.length, 1, 'PowerMTA read the whole message');
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('PowerMTA reads the final dot and closes without a reply: fate unknown; the next message goes on a new connection', async () => {
    const pmta = await scriptedPmta({ closeAfterMessage: true });
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1 }));
    try {
      const out = await fwd.forward(request(), from(MESSAGE));
      assert.equal(out.kind, 'unknown');
      assert.equal(out.kind === 'unknown' && out.local, undefined);
      assert.match(out.kind === 'unknown' ? out.reason : '', /PowerMTA's reply lost after the final dot \(ECONNECTION/);
      pmta.script.closeAfterMessage = false;
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      assert.equal(pmta.sessions.length, 2);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('PowerMTA drops the connection while the message streams, before its final dot: unavailable (it cannot have taken it)', async () => {
    const pmta = await scriptedPmta({ closeInBody: true });
    const fwd = new Forwarder(target(pmta.port));
    const upload = new PassThrough();
    upload.write(MESSAGE);
    try {
      const out = await fwd.forward(request(), upload);
      assert.equal(out.kind, 'unavailable');
      assert.match(out.kind === 'unavailable' ? out.reason : '', /unreachable/);
      assert.equal(pmta.sessions[0]!.messages.length, 0);
    } finally {
      upload.destroy();
      fwd.close();
      await pmta.close();
    }
  });

  it('abortInFlight after the final dot went out: fate unknown, a local cause (PowerMTA not blamed)', async () => {
    const pmta = await scriptedPmta({ message: () => null });
    const fwd = new Forwarder(target(pmta.port));
    try {
      const pending = fwd.forward(request(), from(MESSAGE));
      await waitFor(() => (pmta.sessions[0]?.messages.length ?? 0) === 1, 5_000, 'the message read whole by PowerMTA');
      fwd.abortInFlight();
      assert.deepEqual(await pending, { kind: 'unknown', reason: 'fate unknown: reply lost after the final dot (EABORT: agent shutting down)', local: true });
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it("the client's upload stalls past replyTimeoutMs: a local failure, PowerMTA never gets the final dot", async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port, { replyTimeoutMs: 300 }));
    const upload = new PassThrough();
    upload.write(MESSAGE);
    try {
      const out = await fwd.forward(request(), upload);
      assert.deepEqual(out, { kind: 'unavailable', reason: 'the client upload stalled past pmta.replyTimeoutMs', local: true });
      await waitFor(() => pmta.sessions[0]!.closed, 5_000, 'the connection dropped');
      assert.equal(pmta.sessions[0]!.messages.length, 0);
    } finally {
      upload.destroy();
      fwd.close();
      await pmta.close();
    }
  });

  it('beforeBody returning a promise: nothing of the message reaches PowerMTA before it resolves', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port));
    let release!: () => void;
    let called: { messageId: string | null; job: string } | null = null;
    try {
      const pending = fwd.forward(
        request({
          beforeBody: (info, job) => {
            called = { messageId: info.messageId, job };
            return new Promise<void>((r) => (release = r));
          },
        }),
        from(MESSAGE),
      );
      await waitFor(() => called !== null, 5_000, 'beforeBody called');
      assert.deepEqual(called, { messageId: '<m1@sos-mail.com>', job: 'sos-expat-20261125' });
      assert.equal(pmta.sessions[0]!.commands.at(-1), 'DATA');
      assert.equal(pmta.sessions[0]!.bodyBytes, 0, 'no byte of the message before the promise resolved');
      release();
      assert.equal((await pending).kind, 'accepted');
      assert.match(pmta.sessions[0]!.messages[0]!.toString(), /^X-Virtual-MTA: sos-expat-45-123-10-1\r\n/);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('beforeBody rejecting: a local failure, PowerMTA never gets the message, the next one goes on a new connection', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1 }));
    try {
      const out = await fwd.forward(request({ beforeBody: () => Promise.reject(new Error('journal full')) }), from(MESSAGE));
      assert.deepEqual(out, { kind: 'unavailable', reason: 'not handed to PowerMTA: journal full', local: true });
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      assert.equal(pmta.sessions[0]!.messages.length, 0);
      assert.equal(pmta.sessions[1]!.messages.length, 1);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('beforeBody throwing: a local failure, as before', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port));
    try {
      const out = await fwd.forward(
        request({
          beforeBody: () => {
            throw new Error('disk I/O error');
          },
        }),
        from(MESSAGE),
      );
      assert.deepEqual(out, { kind: 'unavailable', reason: 'not handed to PowerMTA: disk I/O error', local: true });
      assert.equal(pmta.sessions[0]!.messages.length, 0);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('mailParams are left out where PowerMTA does not offer them; SMTPUTF8 mail then waits, saying why', async () => {
    const pmta = await scriptedPmta({ extensions: ['PIPELINING'] });
    const fwd = new Forwarder(target(pmta.port));
    try {
      assert.equal((await fwd.forward(request({ mailParams: { body: '8BITMIME' } }), from(MESSAGE))).kind, 'accepted');
      assert.equal(pmta.sessions[0]!.commands[1], 'MAIL FROM:<news@sos-mail.com>');
      const out = await fwd.forward(request({ mailParams: { smtputf8: true } }), from(MESSAGE));
      assert.equal(out.kind, 'unavailable');
      assert.match(out.kind === 'unavailable' ? out.reason : '', /SMTPUTF8/);
      assert.equal(pmta.sessions[0]!.messages.length, 1);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('abortInFlight also gives up a hand-off still waiting for a connection (the pool at maxConnections)', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port, { maxConnections: 1 }));
    const upload = new PassThrough();
    upload.write(MESSAGE);
    try {
      const first = fwd.forward(request(), upload);
      await waitFor(() => (pmta.sessions[0]?.bodyBytes ?? 0) > 0, 5_000, 'the first message under way');
      const second = fwd.forward(request(), from(MESSAGE));
      fwd.abortInFlight();
      assert.deepEqual(await second, { kind: 'unavailable', reason: 'not handed to PowerMTA: agent shutting down', local: true });
      assert.equal((await first).kind, 'unavailable');
      assert.equal(pmta.sessions.length, 1);
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted', 'a hand-off after the abort goes through');
    } finally {
      upload.destroy();
      fwd.close();
      await pmta.close();
    }
  });

  it('an idle pooled connection ends itself with QUIT after replyTimeoutMs', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port, { replyTimeoutMs: 300 }));
    try {
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted');
      await waitFor(() => pmta.sessions[0]!.closed, 5_000, 'the idle connection closed');
      assert.equal(pmta.sessions[0]!.commands.at(-1), 'QUIT');
      assert.equal((await fwd.forward(request(), from(MESSAGE))).kind, 'accepted', 'the next message opens a new one');
      assert.equal(pmta.sessions.length, 2);
    } finally {
      fwd.close();
      await pmta.close();
    }
  });

  it('abortInFlight: a hand-off in progress comes back unavailable, and PowerMTA never gets the final dot', async () => {
    const pmta = await scriptedPmta();
    const fwd = new Forwarder(target(pmta.port));
    const upload = new PassThrough();
    upload.write(MESSAGE);
    try {
      const pending = fwd.forward(request(), upload);
      await waitFor(() => (pmta.sessions[0]?.bodyBytes ?? 0) > 0, 5_000, 'the message under way');
      fwd.abortInFlight();
      const out: ForwardOutcome = await pending;
      assert.equal(out.kind, 'unavailable');
      await waitFor(() => pmta.sessions[0]!.closed, 5_000, 'the connection dropped');
      assert.equal(pmta.sessions[0]!.messages.length, 0);
    } finally {
      upload.destroy();
      fwd.close();
      await pmta.close();
    }
  });
});
