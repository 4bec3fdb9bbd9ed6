// The whole accounting path against the PowerMTA simulator: mail sent to it
// over SMTP, its accounting files (rotation included) followed by a tailer made
// from the proposed config, and what ends up in stats and suppression.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { createAccountingEffects, createAccountingTailer } from '../../src/accounting/options.js';
import { overview } from '../../src/accounting/stats.js';
import { SuppressionStore } from '../../src/accounting/suppression.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { ManualClock, systemClock, type DayKey } from '../../src/types.js';
import { message, send } from '../sim/helpers.js';
import { KNOWN_VMTAS, SOS_ID, acctConfig, captureLog, eventually, storeIn, tmpDir } from './fixtures.js';

const tmp = tmpDir();
after(() => tmp.cleanup());

test('mail through the simulator shows up in stats and suppression, across a rotation', async () => {
  const acctDir = path.join(tmp.dir, 'acct');
  const sim = await startSimulator({
    acctDir,
    bounceDomains: ['bounce.example'],
    deferDomains: ['later.example'],
    complainAddresses: ['angry@gmail.com'],
    clock: new ManualClock('2026-11-24T12:00:00Z'),
  });
  const store = storeIn(tmp.dir);
  const log = captureLog();
  const tailer = createAccountingTailer(acctConfig(), acctDir, {
    db: store.db,
    effects: createAccountingEffects({ db: store.db, registry: store.registry, timeZone: 'UTC' }),
    log,
    clock: systemClock,
  })!;
  await tailer.start();
  try {
    const [sos1, sos2] = [KNOWN_VMTAS[0]!, KNOWN_VMTAS[1]!];
    const mail = (vmta: string, id: number): string =>
      message([`From: news@sos-mail.com`, `Message-ID: <n${id}@sos-mail.com>`, `X-Virtual-MTA: ${vmta}`, 'Subject: hi']);
    await send(sim.port, 'bounces@sos-mail.com', ['a@gmail.com', 'Angry@Gmail.com', 'gone@bounce.example'], mail(sos1.vmta, 1));
    await send(sim.port, 'bounces@sos-mail.com', ['b@later.example', 'c@gmail.com'], mail(sos2.vmta, 2));
    await send(sim.port, 'bounces@sos-mail.com', ['x@gmail.com'], mail('someone-else-10-9-9-9', 3));
    await sim.rotate();
    await send(sim.port, 'bounces@sos-mail.com', ['d@gmail.com'], mail(sos2.vmta, 4));

    const today = '2026-11-24' as DayKey;
    const want = [
      [sos1.ip, 2, 1, 0, 1],
      [sos2.ip, 2, 0, 1, 0],
    ];
    const got = (): unknown => overview(store.db, SOS_ID, today).ips.map((i) => [i.ip, i.delivered, i.bouncedHard, i.deferred, i.complaints]);
    assert.ok(await eventually(() => JSON.stringify(got()) === JSON.stringify(want)), `stats: ${JSON.stringify(got())}`);
    const sup = new SuppressionStore(store.db);
    assert.equal(sup.check(SOS_ID, 'gone@bounce.example')?.reason, 'hard-bounce');
    assert.match(sup.check(SOS_ID, 'gone@bounce.example')?.detail ?? '', /message-id=<n1@sos-mail\.com>/);
    assert.equal(sup.check(SOS_ID, 'angry@gmail.com')?.reason, 'complaint');
    assert.equal(sup.check(SOS_ID, 'a@gmail.com'), null);
    assert.ok(await eventually(() => log.lines.some((l) => l.event === 'acct.unattributed' && l.value === 'someone-else-10-9-9-9')));
    assert.equal(tailer.position().length, 2, 'the rotated file and the new live one');
  } finally {
    await tailer.stop();
    await sim.close();
  }
});
