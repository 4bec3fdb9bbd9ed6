import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../src/types.js';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/simulator.js';
import { SIM_REPORTER_IP, ipFromVmta } from '../../src/sim/records.js';
import { message, readAcct, send, tempDir } from './helpers.js';

const VMTA = 'sos-expat-45-123-10-1';
const FROM = 'bounces@sos-mail.com';

function stamped(extra: string[] = []): string {
  return message([
    'From: News <news@sos-mail.com>',
    'To: jean@gmail.com',
    'Subject: a folded',
    '  subject line',
    'Message-ID: <3f2a.1@sos-mail.com>',
    `X-Virtual-MTA: ${VMTA}`,
    'X-Job: c8a1f',
    ...extra,
  ], 'Hello\r\n.line starting with a dot\r\n..two dots\r\n');
}

/** Each test gets its own simulator and directory, closed and removed whatever happens. */
async function withSim(opts: Partial<SimOptions>, fn: (sim: Simulator, dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const sim = await startSimulator({ acctDir: join(dir, 'acct'), ...opts });
  try {
    await fn(sim, join(dir, 'acct'));
  } finally {
    await sim.close();
    await cleanup();
  }
}

function connectError(port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(null);
    });
    s.once('error', (err) => resolve(err));
  });
}

test('a stamped message is received once, byte for byte, and logged as a d record', async () => {
  const clock = new ManualClock('2026-11-24T12:00:01Z');
  await withSim({ clock }, async (sim, acctDir) => {
    const raw = stamped();
    const info = await send(sim.port, FROM, ['jean@gmail.com'], raw);
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);

    assert.equal(sim.received.length, 1);
    const m = sim.received[0]!;
    assert.equal(m.raw?.toString('utf8'), raw);
    assert.equal(m.size, Buffer.byteLength(raw));
    assert.equal(m.sha256, createHash('sha256').update(raw).digest('hex'));
    assert.equal(m.mailFrom, FROM);
    assert.deepEqual(m.rcptTo, ['jean@gmail.com']);
    assert.equal(m.vmta, VMTA);
    assert.equal(m.vmtaHeaderCount, 1);
    assert.equal(m.job, 'c8a1f');
    assert.equal(m.messageId, '<3f2a.1@sos-mail.com>');
    assert.equal(m.receivedAt.toISOString(), '2026-11-24T12:00:01.000Z');

    const acct = await readAcct(join(acctDir, 'acct.csv'));
    assert.equal(acct.text.split('\n')[0], acct.header.join(','));
    assert.equal(acct.header[0], 'type');
    assert.equal(acct.rows.length, 1);
    const d = acct.rows[0]!;
    assert.equal(d.type, 'd');
    assert.equal(d.timeLogged, '2026-11-24 12:00:01+0000');
    assert.equal(d.timeQueued, '2026-11-24 12:00:01+0000');
    assert.equal(d.orig, FROM);
    assert.equal(d.rcpt, 'jean@gmail.com');
    assert.equal(d.dsnAction, 'relayed');
    assert.equal(d.dsnStatus, '2.0.0 (success)');
    assert.equal(d.dsnDiag, 'smtp;250 2.0.0 OK');
    assert.equal(d.dsnMta, 'mx.gmail.com (192.0.2.1)');
    assert.equal(d.srcMta, 'agent (127.0.0.1)');
    assert.equal(d.dlvSourceIp, '45.123.10.1');
    assert.equal(d.dlvDestinationIp, '192.0.2.1');
    assert.equal(d.dlvEsmtpAvailable, 'PIPELINING,8BITMIME,SIZE');
    assert.equal(d.dlvSize, String(m.size));
    assert.equal(d.vmta, VMTA);
    assert.equal(d.jobId, 'c8a1f');
    assert.equal(d.queue, `gmail.com/${VMTA}`);
    assert.equal(d.vmtaPool, '');
    assert.equal(d['header_Message-Id'], '<3f2a.1@sos-mail.com>');
    assert.equal(d['header_X-Job'], undefined, 'PowerMTA removes X-Job at injection and logs it as jobId');
  });
});

test('duplicate X-Virtual-MTA headers are counted; the first one is used', async () => {
  await withSim({}, async (sim) => {
    await send(sim.port, FROM, ['a@b.test'], stamped(['x-virtual-mta: other-1-2-3-4']));
    assert.equal(sim.received[0]?.vmtaHeaderCount, 2);
    assert.equal(sim.received[0]?.vmta, VMTA);
  });
});

test('a message without X-Virtual-MTA gets 550 5.7.1 and is not recorded', async () => {
  await withSim({}, async (sim, acctDir) => {
    const raw = message(['From: a@sos-mail.com', 'Subject: no vmta', 'X-Job: j'], 'X-Virtual-MTA: in-the-body\r\n');
    const err = await send(sim.port, FROM, ['jean@gmail.com'], raw).then(
      () => assert.fail('expected a refusal'),
      (e: { responseCode?: number; response?: string }) => e,
    );
    assert.equal(err.responseCode, 550);
    assert.equal(err.response, '550 5.7.1 X-Virtual-MTA header required');
    assert.equal(sim.received.length, 0);
    assert.equal((await readAcct(join(acctDir, 'acct.csv'))).rows.length, 0);
  });
});

test('bounce, defer and complaint rules shape the records; configure changes them live', async () => {
  await withSim({ bounceDomains: ['example.org'] }, async (sim, acctDir) => {
    sim.configure({ deferDomains: ['slow.test'], complainAddresses: ['Angry@Gmail.com'] });
    const info = await send(sim.port, FROM, ['nobody@example.org', 'later@slow.test', 'angry@gmail.com', 'ok@gmail.com'], stamped());
    assert.equal(info.rejected.length, 0);
    const rows = (await readAcct(join(acctDir, 'acct.csv'))).rows;
    assert.deepEqual(rows.map((r) => `${r.type} ${r.rcpt}`), [
      'b nobody@example.org',
      't later@slow.test',
      'd angry@gmail.com',
      'f angry@gmail.com',
      'd ok@gmail.com',
    ]);
    const [b, t, , f] = rows;
    assert.equal(b?.bounceCat, 'bad-mailbox');
    assert.equal(b?.dsnAction, 'failed');
    assert.equal(b?.dsnStatus, '5.1.1 (bad destination mailbox address)');
    assert.equal(b?.dsnDiag, 'smtp;550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown');
    assert.equal(t?.dsnAction, 'delayed');
    assert.match(t?.dsnStatus ?? '', /^4\./);
    assert.equal(f?.feedbackType, 'abuse');
    assert.equal(f?.format, 'arf');
    // As PowerMTA writes a complaint: no vmta; our IP is repSourceIp, the reporter's is dlvSourceIp.
    assert.equal(f?.vmta, '');
    assert.equal(f?.repSourceIp, ipFromVmta(VMTA));
    assert.equal(f?.dlvSourceIp, SIM_REPORTER_IP);
    assert.equal(f?.jobId, '');
    assert.equal(f?.['header_Message-Id'], '<3f2a.1@sos-mail.com>');

    sim.configure({ bounceDomains: [] });
    await send(sim.port, FROM, ['back@example.org'], stamped());
    const last = (await readAcct(join(acctDir, 'acct.csv'))).rows.at(-1);
    assert.equal(last?.type, 'd');
  });
});

test('rejectRcpts refuses at RCPT TO with 550 5.1.1', async () => {
  await withSim({ rejectRcpts: ['gone@gmail.com', '@dead.test'] }, async (sim) => {
    const err = await send(sim.port, FROM, ['gone@gmail.com'], stamped()).then(
      () => assert.fail('expected a refusal'),
      (e: { responseCode?: number; rejected?: string[]; rejectedErrors?: Array<{ response?: string }> }) => e,
    );
    assert.equal(err.responseCode, 550);
    assert.deepEqual(err.rejected, ['gone@gmail.com']);
    assert.match(err.rejectedErrors?.[0]?.response ?? '', /^550 5\.1\.1 /);

    const partly = await send(sim.port, FROM, ['x@dead.test', 'ok@gmail.com'], stamped());
    assert.deepEqual(partly.rejected, ['x@dead.test']);
    assert.deepEqual(sim.received.map((m) => m.rcptTo), [['ok@gmail.com']]);
  });
});

test('tempfailRcpts answers 451 4.7.1 at RCPT TO', async () => {
  await withSim({ tempfailRcpts: ['Later@gmail.com'] }, async (sim) => {
    const partly = await send(sim.port, FROM, ['later@gmail.com', 'ok@gmail.com'], stamped());
    assert.deepEqual(partly.rejected, ['later@gmail.com']);
    assert.deepEqual(sim.received.map((m) => m.rcptTo), [['ok@gmail.com']]);
    sim.configure({ tempfailRcpts: [] });
    await send(sim.port, FROM, ['later@gmail.com'], stamped());
    assert.deepEqual(sim.received.map((m) => m.rcptTo), [['ok@gmail.com'], ['later@gmail.com']]);
  });
});

test('deferAll answers 451 4.3.0 at end of DATA; slowMs delays the answer', async () => {
  await withSim({ deferAll: true }, async (sim) => {
    const err = await send(sim.port, FROM, ['a@gmail.com'], stamped()).then(
      () => assert.fail('expected a deferral'),
      (e: { responseCode?: number; response?: string }) => e,
    );
    assert.equal(err.responseCode, 451);
    assert.match(err.response ?? '', /^451 4\.3\.0 /);
    assert.equal(sim.received.length, 0);

    sim.configure({ deferAll: false, slowMs: 300 });
    const t0 = Date.now();
    await send(sim.port, FROM, ['a@gmail.com'], stamped());
    assert.ok(Date.now() - t0 >= 290, 'reply came before slowMs');
    assert.equal(sim.received.length, 1);
  });
});

test('stop() refuses connections and drops open ones; start() listens again on the same port', async () => {
  await withSim({}, async (sim) => {
    const port = sim.port;
    const open = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => open.once('data', r)); // greeting
    const dropped = new Promise((r) => open.once('close', r));
    open.on('error', () => undefined);

    await sim.stop();
    await dropped;
    const err = await connectError(port);
    assert.equal(err?.code, 'ECONNREFUSED');
    await assert.rejects(send(port, FROM, ['a@gmail.com'], stamped()));

    await sim.start();
    assert.equal(sim.port, port);
    assert.equal(await connectError(port), null);
    await send(port, FROM, ['a@gmail.com'], stamped());
    assert.equal(sim.received.length, 1);
  });
});

test('rotate() archives the live file and starts a new one with the header', async () => {
  const clock = new ManualClock('2026-11-24T12:00:01Z');
  await withSim({ clock }, async (sim, acctDir) => {
    await send(sim.port, FROM, ['one@gmail.com'], stamped());
    const archived = await sim.rotate();
    assert.equal(archived, join(acctDir, 'acct-2026-11-24-120001.csv'));
    await send(sim.port, FROM, ['two@gmail.com'], stamped());
    // A second rotation in the same second must not overwrite the first.
    const again = await sim.rotate();
    assert.notEqual(again, archived);

    assert.deepEqual((await readdir(acctDir)).sort(), ['acct-2026-11-24-120001-1.csv', 'acct-2026-11-24-120001.csv', 'acct.csv']);
    const first = await readAcct(archived);
    const second = await readAcct(again);
    const live = await readAcct(join(acctDir, 'acct.csv'));
    for (const f of [first, second, live]) assert.equal(f.header[0], 'type');
    assert.deepEqual(first.rows.map((r) => r.rcpt), ['one@gmail.com']);
    assert.deepEqual(second.rows.map((r) => r.rcpt), ['two@gmail.com']);
    assert.equal(live.rows.length, 0);
  });
});

test('many concurrent messages leave whole, well-formed lines', async () => {
  await withSim({ keepMessages: false, complainAddresses: ['c@gmail.com'] }, async (sim, acctDir) => {
    const n = 60;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        send(sim.port, FROM, [`u${i}@gmail.com`, 'c@gmail.com'], stamped([`X-Seq: ${i}`])),
      ),
    );
    assert.equal(sim.received.length, n);
    assert.equal(sim.received[0]?.raw, undefined);
    const rows = (await readAcct(join(acctDir, 'acct.csv'))).rows;
    assert.equal(rows.length, n * 3);
    assert.equal(rows.filter((r) => r.type === 'f').length, n);
  });
});

test('an existing non-empty acct.csv is appended to without a second header', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    for (const rcpt of ['a@gmail.com', 'b@gmail.com']) {
      const sim = await startSimulator({ acctDir: dir });
      try {
        await send(sim.port, FROM, [rcpt], stamped());
      } finally {
        await sim.close();
      }
    }
    const acct = await readAcct(join(dir, 'acct.csv'));
    assert.deepEqual(acct.rows.map((r) => r.rcpt), ['a@gmail.com', 'b@gmail.com']);
  } finally {
    await cleanup();
  }
});
