import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import type { ForwardOutcome } from '../../src/forward/forwarder.js';
import { handOff, type ForwardPlan } from '../../src/forward/handoff.js';
import { normaliseMessageId } from '../../src/forward/journal.js';
import { forwardWorld, TENANT } from './fixture.js';

type World = Awaited<ReturnType<typeof forwardWorld>>;

const ok = (accepted: string[], rejected: Array<[string, number, string]> = []): ForwardOutcome => ({
  kind: 'accepted',
  response: '250 2.0.0 Ok: queued as ABC',
  accepted,
  rejected: rejected.map(([rcpt, code, response]) => ({ rcpt, code, response })),
});

/** The journal row the fast path writes before the body goes out (as forwardPlan's beforeBody does). */
function planFor(w: World, msg: Awaited<ReturnType<World['message']>>): ForwardPlan {
  const ip = TENANT.ips[0]!;
  const journalId = w.settler.begin(
    { tenantId: TENANT.id, spoolId: null, messageId: msg.messageId, jobId: 'cmp1', ip: ip.address, vmta: ip.vmta, day: msg.granted[0]!.grant.reservation.day },
    msg.granted,
  );
  return { req: { mailFrom: msg.mailFrom, rcptTo: msg.granted.map((g) => g.rcpt), vmta: ip.vmta, jobFallback: 'x' }, journalId };
}

describe('handOff: the fast path settles what PowerMTA answered', () => {
  let w: World;
  afterEach(() => w.close());

  const rows: Array<{
    name: string;
    held: string[];
    deferred?: string[];
    outcome: (w: World) => ForwardOutcome | null;
    kind: string;
    counts: [number, number, number];
    committed: number;
    spooled: string[];
    fedBack: string[];
    pmtaDown: boolean;
  }> = [
    {
      name: 'all taken: forwarded, every unit counted, nothing spooled',
      held: ['a@x.net', 'b@x.net'],
      outcome: () => ok(['a@x.net', 'b@x.net']),
      kind: 'forwarded', counts: [2, 0, 0], committed: 2, spooled: [], fedBack: [], pmtaDown: false,
    },
    {
      name: 'split: one taken, one deferred by PowerMTA, one without quota: forwarded with two spooled',
      held: ['a@x.net', 'b@x.net'],
      deferred: ['c@x.net'],
      outcome: () => ok(['a@x.net'], [['b@x.net', 452, '452 4.2.2 mailbox full, try later']]),
      kind: 'forwarded', counts: [1, 2, 0], committed: 1, spooled: ['c@x.net', 'b@x.net'], fedBack: [], pmtaDown: false,
    },
    {
      name: 'one recipient refused (5.1.1) while the other is taken: MailWizz gets 250, so the refusal is suppressed and fed back',
      held: ['a@x.net', 'gone@x.net'],
      outcome: () => ok(['a@x.net'], [['gone@x.net', 550, '550 5.1.1 <gone@x.net>: User unknown']]),
      kind: 'forwarded', counts: [1, 0, 1], committed: 1, spooled: [], fedBack: ['gone@x.net'], pmtaDown: false,
    },
    {
      name: 'whole message refused and nothing to spool: MailWizz hears the 5xx itself, no feedback',
      held: ['a@x.net'],
      outcome: () => ({ kind: 'refused', code: 554, response: '554 5.7.1 content rejected' }),
      kind: 'refused', counts: [0, 0, 1], committed: 0, spooled: [], fedBack: [], pmtaDown: false,
    },
    {
      name: 'whole message refused while a recipient without quota is spooled: MailWizz gets 250, so the refusal is fed back',
      held: ['a@x.net'],
      deferred: ['later@x.net'],
      outcome: () => ({ kind: 'refused', code: 550, response: '550 5.1.1 <a@x.net>: User unknown' }),
      kind: 'spooled', counts: [0, 1, 1], committed: 0, spooled: ['later@x.net'], fedBack: ['a@x.net'], pmtaDown: false,
    },
    {
      name: 'VMTA unknown to PowerMTA after a reload: spooled for a retry, not refused',
      held: ['a@x.net'],
      outcome: () => ({ kind: 'refused', code: 550, response: '550 5.5.0 Virtual MTA sos-expat-45-123-10-1 does not exist' }),
      kind: 'spooled', counts: [0, 1, 0], committed: 0, spooled: ['a@x.net'], fedBack: [], pmtaDown: false,
    },
    {
      name: 'PowerMTA unreachable: spooled, units back, PowerMTA marked down',
      held: ['a@x.net'],
      outcome: () => ({ kind: 'unavailable', reason: 'PowerMTA unreachable (ECONNREFUSED)' }),
      kind: 'spooled', counts: [0, 1, 0], committed: 0, spooled: ['a@x.net'], fedBack: [], pmtaDown: true,
    },
    {
      name: "the client's upload stalled: spooled, but PowerMTA is not marked down for everyone",
      held: ['a@x.net'],
      outcome: () => ({ kind: 'unavailable', reason: 'the client upload stalled', local: true }),
      kind: 'spooled', counts: [0, 1, 0], committed: 0, spooled: ['a@x.net'], fedBack: [], pmtaDown: false,
    },
    {
      name: 'not tried (PowerMTA down): spooled, units back',
      held: ['a@x.net'],
      outcome: () => null,
      kind: 'spooled', counts: [0, 1, 0], committed: 0, spooled: ['a@x.net'], fedBack: [], pmtaDown: false,
    },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      w = await forwardWorld();
      const msg = await w.message(row.held, row.deferred);
      const outcome = row.outcome(w);
      const plan = outcome ? planFor(w, msg) : null;
      const r = await handOff(w.deps, msg, outcome, plan);
      assert.equal(r.kind, row.kind);
      assert.deepEqual([r.forwarded, r.spooled, r.refused], row.counts, 'forwarded, spooled, refused');
      assert.deepEqual(await w.usage(), { committed: row.committed, reserved: 0 });
      const queued = w.spool.queue(TENANT.id);
      assert.deepEqual(queued.flatMap((e) => e.meta.rcptTo), row.spooled);
      assert.equal(existsSync(msg.file), false, 'the temp file is gone (moved or removed)');
      assert.deepEqual(w.outbox().map((b) => b.rcpt), row.fedBack);
      for (const rcpt of row.fedBack) assert.ok(w.suppression.check(TENANT.id, rcpt), `${rcpt} suppressed (5.1.1)`);
      assert.equal(w.health.isDown(), row.pmtaDown);
      if (plan) {
        const sent = w.journal.lookup(normaliseMessageId(msg.messageId!));
        if (row.committed) assert.deepEqual(sent?.recipients.length, row.committed);
        else assert.equal(sent, undefined, 'nothing reached PowerMTA, so the index has nothing');
        assert.equal(w.journal.unsettled().length, 0, 'the journal row is settled (this owner: none left for a restart)');
      }
    });
  }

  it('a spool at its limit refuses a message nothing of which reached PowerMTA, and gives its units back', async () => {
    w = await forwardWorld({ maxMessages: 0 });
    const msg = await w.message(['a@x.net']);
    const r = await handOff(w.deps, msg, { kind: 'unavailable', reason: 'down' }, planFor(w, msg));
    assert.equal(r.kind, 'spool-full');
    assert.deepEqual(await w.usage(), { committed: 0, reserved: 0 });
    assert.equal(existsSync(msg.file), false);
  });

  it('a message held in memory that must wait is written to the spool, whole, before handOff returns (before the 250)', async () => {
    w = await forwardWorld();
    const msg = await w.message(['a@x.net'], [], { inMemory: true });
    const r = await handOff(w.deps, msg, { kind: 'unavailable', reason: 'PowerMTA unreachable (ECONNREFUSED)' }, planFor(w, msg));
    assert.equal(r.kind, 'spooled');
    const [entry] = w.spool.queue(TENANT.id);
    assert.ok(entry, 'spooled');
    assert.ok(readFileSync(entry.emlPath).equals((msg.body as { bytes: Buffer }).bytes), 'the .eml holds the message byte for byte');
    assert.deepEqual(JSON.parse(readFileSync(entry.metaPath, 'utf8')).rcptTo, ['a@x.net']);
    assert.deepEqual(readdirSync(w.spool.tmpDir), [], 'no temp file was ever written');
  });

  it("PowerMTA's reply lost after the final dot: every unit counted, spooled (even past the spool's limit) waiting for accounting, the row of unknown fate names the entry", async () => {
    w = await forwardWorld({ maxMessages: 0 });
    const msg = await w.message(['a@x.net'], ['later@x.net']);
    const plan = planFor(w, msg);
    const r = await handOff(w.deps, msg, { kind: 'unknown', reason: "fate unknown: PowerMTA's reply lost after the final dot (ECONNECTION: closed)" }, plan);
    assert.deepEqual([r.kind, r.forwarded, r.spooled, r.refused], ['spooled', 0, 2, 0]);
    assert.deepEqual(await w.usage(), { committed: 1, reserved: 0 });
    const [entry] = w.spool.queue(TENANT.id);
    assert.equal(entry?.meta.id, msg.id);
    assert.ok(entry.meta.fateUnknownSince, 'held for accounting before any resend');
    assert.equal(w.health.isDown(), true);
    assert.equal(w.journal.unknownCount(), 1);
    assert.equal(w.journal.reconcile(normaliseMessageId(msg.messageId!), TENANT.id, 'a@x.net'), 1);
    assert.deepEqual(w.journal.knownAccepted(msg.id), ['a@x.net']);
  });

  it('a message held in memory and taken by PowerMTA touches no file at all', async () => {
    w = await forwardWorld();
    const msg = await w.message(['a@x.net'], [], { inMemory: true });
    const r = await handOff(w.deps, msg, ok(['a@x.net']), planFor(w, msg));
    assert.equal(r.kind, 'forwarded');
    assert.equal(w.spool.size(), 0);
    assert.deepEqual(readdirSync(w.spool.tmpDir), []);
  });

  it('the recipients metric counts what PowerMTA took, not the split message', async () => {
    w = await forwardWorld();
    const msg = await w.message(['a@x.net', 'b@x.net'], ['c@x.net']);
    await handOff(w.deps, msg, ok(['a@x.net'], [['b@x.net', 451, '451 later']]), planFor(w, msg));
    const text = await w.metrics.render();
    const line = text.split('\n').find((l) => l.startsWith('pmta_agent_recipients_forwarded_total{') && l.includes('tenant="sos-expat"'));
    assert.match(line ?? '', /ip="45\.123\.10\.1"/);
    assert.match(line ?? '', / 1$/);
  });
});
