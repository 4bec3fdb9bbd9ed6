// PowerMTA's reply lost after the final dot (rule 1): PowerMTA may have the
// message, so its units stay counted and its spooled copy waits for accounting
// instead of going again at once. Lost before the dot, it provably did not
// reach PowerMTA: the units go back and it is sent again, as before.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import type { IpAddress } from '../../src/types.js';
import { scriptedPmta, type ScriptedPmta } from '../forward/scripted-pmta.js';
import { TODAY, campaignMessage, send, startHarness, waitFor, type Harness } from '../helpers/env.js';

const IP = '45.123.10.1' as IpAddress;
const VMTA = 'sos-expat-45-123-10-1';

describe("a hand-off whose PowerMTA reply was lost, through the daemon", () => {
  let h: Harness | null = null;
  let pmta: ScriptedPmta | null = null;
  afterEach(async () => {
    await h?.close();
    await pmta?.close();
    h = null;
    pmta = null;
  });

  const start = async (script: Parameters<typeof scriptedPmta>[0]) => {
    pmta = await scriptedPmta(script);
    // A long hold: a copy sent again within a test could only come from the hold being ignored.
    h = await startHarness({ patch: { accounting: { mode: 'push' }, pmta: { port: pmta.port, replyTimeoutMs: 1000 }, spool: { unknownFateHoldMs: 600_000 } } });
    return { h, pmta };
  };
  const received = (p: ScriptedPmta) => p.sessions.reduce((n, s) => n + s.messages.length, 0);
  const usage = async (h: Harness) => (await h.daemon.ledger.usage(TODAY as never, [IP])).get(IP);
  const entries = (h: Harness) => h.daemon.spool.queue(1);
  /** PowerMTA takes mail again and the dispatcher has had its passes: proven by a new message going through. */
  const settleDown = async (h: Harness, p: ScriptedPmta) => {
    const before = received(p);
    // Straight through, or spooled while PowerMTA is still marked down and sent by the dispatcher.
    assert.ok((await send(h.port, { to: `probe${before}@example.net` })).ok);
    await waitFor(() => received(p) === before + 1, 10_000, 'PowerMTA taking mail again');
    await new Promise((r) => setTimeout(r, 500));
  };

  it('PowerMTA reads the final dot and closes: 250 Queued, the unit stays counted, the copy is not sent again and is dropped by its accounting d record', async () => {
    const { h, pmta } = await start({ closeAfterMessage: true });
    const m = campaignMessage({ to: 'lost@example.net' });
    const r = await send(h.port, { to: 'lost@example.net', raw: m.raw });
    assert.ok(r.ok && /^250 .*Queued as .*: fate unknown: PowerMTA's reply lost after the final dot/.test(r.response), JSON.stringify(r));
    assert.equal(received(pmta), 1, 'PowerMTA read it whole');
    assert.deepEqual(await usage(h), { committed: 1, reserved: 0 }, 'counted as sent');
    const [entry] = entries(h);
    assert.deepEqual(entry?.meta.rcptTo, ['lost@example.net']);
    assert.ok(entry.meta.fateUnknownSince, 'waiting for accounting');
    assert.ok(h.logs.some((l) => l.event === 'forward.fate_unknown'));

    pmta.script.closeAfterMessage = false;
    await settleDown(h, pmta);
    assert.equal(received(pmta), 2, 'the lost one was not sent again (only the probe went)');
    assert.equal(entries(h).length, 1);

    const d = { type: 'd', timeLogged: `${TODAY} 10:00:05+0000`, orig: 'news@sos-mail.com', rcpt: 'lost@example.net', vmta: VMTA, dlvSourceIp: IP, 'header_Message-Id': m.messageId };
    assert.equal((await h.api('/api/v2/webhooks/powermta', { method: 'POST', json: d })).status, 200);
    await waitFor(() => entries(h).length === 0, 10_000, 'the spooled copy dropped by accounting');
    assert.ok(h.logs.some((l) => l.event === 'dispatch.already_accepted' && l.by === 'accounting'));
    assert.equal(received(pmta), 2, 'never sent again');
    assert.deepEqual(await usage(h), { committed: 2, reserved: 0 }, 'the lost one and the probe, once each');
  });

  it('PowerMTA drops the connection while the message streams, before its final dot: 250 Queued, the unit goes back, the copy is sent again', async () => {
    const { h, pmta } = await start({ closeInBody: true });
    const m = campaignMessage({ to: 'again@example.net', body: 'First part.\r\n' });
    // MailWizz's upload holds its end until PowerMTA has dropped the connection: the dot cannot have gone out.
    const upload = new PassThrough();
    upload.write(m.raw);
    const sending = send(h.port, { to: 'again@example.net', raw: upload });
    await waitFor(() => pmta.sessions[0]?.closed === true, 10_000, 'PowerMTA dropped the connection mid-message');
    upload.end('Second part.\r\n');
    const r = await sending;
    assert.ok(r.ok && /^250 .*Queued as/.test(r.response), JSON.stringify(r));
    assert.deepEqual(await usage(h), { committed: 0, reserved: 0 }, 'the unit went back');
    assert.equal(entries(h)[0]?.meta.fateUnknownSince, undefined);

    pmta.script.closeInBody = false;
    await waitFor(() => entries(h).length === 0 && received(pmta) === 1, 10_000, 'sent again from the spool');
    assert.match(pmta.sessions.at(-1)!.messages[0]!.toString(), /Second part\./);
    assert.deepEqual(await usage(h), { committed: 1, reserved: 0 });
  });

  it("the dispatcher's resend of a spooled message loses its reply after the dot: the unit stays counted and the copy waits again, then goes after the hold", async () => {
    const { h, pmta } = await start({ data: () => '451 4.3.0 Try again later' });
    const m = campaignMessage({ to: 'spooled@example.net' });
    const r = await send(h.port, { to: 'spooled@example.net', raw: m.raw });
    assert.ok(r.ok && /^250 .*Queued as/.test(r.response), JSON.stringify(r));
    assert.deepEqual(await usage(h), { committed: 0, reserved: 0 }, 'PowerMTA deferred it at DATA: the unit went back');

    pmta.script.data = undefined;
    pmta.script.closeAfterMessage = true;
    await waitFor(() => entries(h)[0]?.meta.fateUnknownSince !== undefined, 10_000, 'the resend lost its reply');
    assert.equal(received(pmta), 1);
    assert.deepEqual(await usage(h), { committed: 1, reserved: 0 }, 'counted as sent');
    assert.ok(h.logs.some((l) => l.event === 'dispatch.fate_unknown'));

    pmta.script.closeAfterMessage = false;
    await settleDown(h, pmta);
    assert.equal(received(pmta), 2, 'not sent again within the hold (only the probe went)');

    // Accounting never showed it: after the hold it goes again (a possible duplicate beats a lost message).
    h.clock.advance(600_001);
    await waitFor(() => entries(h).length === 0, 10_000, 'sent again after the hold');
    assert.equal(received(pmta), 3);
    assert.ok(h.logs.some((l) => l.event === 'dispatch.fate_still_unknown'));
    assert.deepEqual(await usage(h), { committed: 3, reserved: 0 }, 'each hand-off counted once');
  });
});
