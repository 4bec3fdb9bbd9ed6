import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardOutcome } from '../../src/forward/forwarder.js';
import { localFailure, settle, vmtaMissing } from '../../src/forward/settle.js';

// Grants are opaque to settle: a string names each one.
const held = (...rcpts: string[]) => rcpts.map((rcpt) => ({ rcpt, grant: `g:${rcpt}` }));

const accepted = (acc: string[], rejected: Array<[string, number, string]> = []): ForwardOutcome => ({
  kind: 'accepted',
  response: '250 2.0.0 Ok: queued as ABC',
  accepted: acc,
  rejected: rejected.map(([rcpt, code, response]) => ({ rcpt, code, response })),
});

interface Row {
  name: string;
  rcpts: string[];
  outcome: ForwardOutcome | null;
  commit: string[];
  release: string[];
  forwarded: string[];
  spool: string[];
  refused: string[];
  whole: number | null;
  pmta: 'answered' | 'failed' | 'not-tried';
}

const table: Row[] = [
  {
    name: 'PowerMTA takes every recipient: every unit counts',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: accepted(['a@x.net', 'b@x.net']),
    commit: ['g:a@x.net', 'g:b@x.net'], release: [], forwarded: ['a@x.net', 'b@x.net'], spool: [], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: 'recipient case differs between the envelope and the answer: still taken',
    rcpts: ['Jean@X.net'],
    outcome: accepted(['jean@x.net']),
    commit: ['g:Jean@X.net'], release: [], forwarded: ['Jean@X.net'], spool: [], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: 'one recipient deferred (4xx at RCPT): it waits in the spool, its unit goes back',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: accepted(['a@x.net'], [['b@x.net', 451, '451 4.3.0 try later']]),
    commit: ['g:a@x.net'], release: ['g:b@x.net'], forwarded: ['a@x.net'], spool: ['b@x.net'], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: 'one recipient refused (5xx at RCPT) while the other is taken: refused, its unit goes back',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: accepted(['a@x.net'], [['b@x.net', 550, '550 5.1.1 <b@x.net>: User unknown']]),
    commit: ['g:a@x.net'], release: ['g:b@x.net'], forwarded: ['a@x.net'], spool: [], refused: ['b@x.net'], whole: null, pmta: 'answered',
  },
  {
    name: 'a recipient PowerMTA neither took nor refused counts as sent and is not sent again',
    rcpts: ['a@x.net', 'ghost@x.net'],
    outcome: accepted(['a@x.net']),
    commit: ['g:a@x.net', 'g:ghost@x.net'], release: [], forwarded: ['a@x.net', 'ghost@x.net'], spool: [], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: 'the whole message refused (5xx at DATA): every unit back, every recipient refused',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: { kind: 'refused', code: 554, response: '554 5.7.1 content rejected' },
    commit: [], release: ['g:a@x.net', 'g:b@x.net'], forwarded: [], spool: [], refused: ['a@x.net', 'b@x.net'], whole: 554, pmta: 'answered',
  },
  {
    name: 'the VMTA does not exist (a reload removed it): retried from the spool, not refused',
    rcpts: ['a@x.net'],
    outcome: { kind: 'refused', code: 550, response: '550 5.5.0 Virtual MTA sos-expat-45-123-10-1 does not exist' },
    commit: [], release: ['g:a@x.net'], forwarded: [], spool: ['a@x.net'], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: 'PowerMTA unreachable or timing out: every recipient waits, PowerMTA is marked failed',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: { kind: 'unavailable', reason: 'PowerMTA unreachable (ECONNREFUSED)' },
    commit: [], release: ['g:a@x.net', 'g:b@x.net'], forwarded: [], spool: ['a@x.net', 'b@x.net'], refused: [], whole: null, pmta: 'failed',
  },
  {
    name: 'a 4xx to every RCPT TO: every recipient waits, but PowerMTA answered (it is not marked failed, other mail is not held back)',
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: { kind: 'unavailable', reason: 'PowerMTA answered 451 4.7.1 try later', code: 451, everyRcpt: true },
    commit: [], release: ['g:a@x.net', 'g:b@x.net'], forwarded: [], spool: ['a@x.net', 'b@x.net'], refused: [], whole: null, pmta: 'answered',
  },
  {
    name: "PowerMTA's reply lost after the final dot: every unit counts as sent, every recipient waits (for accounting), PowerMTA is marked failed",
    rcpts: ['a@x.net', 'b@x.net'],
    outcome: { kind: 'unknown', reason: "fate unknown: PowerMTA's reply lost after the final dot (ETIMEDOUT: Timeout)" },
    commit: ['g:a@x.net', 'g:b@x.net'], release: [], forwarded: [], spool: ['a@x.net', 'b@x.net'], refused: [], whole: null, pmta: 'failed',
  },
  {
    name: 'not tried (PowerMTA marked down): every recipient waits, nothing said about PowerMTA',
    rcpts: ['a@x.net'],
    outcome: null,
    commit: [], release: ['g:a@x.net'], forwarded: [], spool: ['a@x.net'], refused: [], whole: null, pmta: 'not-tried',
  },
  {
    name: 'no recipient held a unit: nothing to settle',
    rcpts: [],
    outcome: null,
    commit: [], release: [], forwarded: [], spool: [], refused: [], whole: null, pmta: 'not-tried',
  },
];

describe('settle: PowerMTA answer to commit, release, spool and refuse', () => {
  for (const row of table) {
    it(row.name, () => {
      const s = settle(held(...row.rcpts), row.outcome, 'PowerMTA down');
      assert.deepEqual(s.commit, row.commit, 'commit');
      assert.deepEqual(s.release, row.release, 'release');
      assert.deepEqual(s.forwarded, row.forwarded, 'forwarded');
      assert.deepEqual(s.spool, row.spool, 'spool');
      assert.deepEqual(s.refused.map((r) => r.rcpt), row.refused, 'refused');
      assert.equal(s.wholeRefusal?.code ?? null, row.whole, 'whole refusal');
      assert.equal(s.pmta.kind, row.pmta, 'verdict on PowerMTA');
      // Every held unit is settled exactly once.
      assert.equal(s.commit.length + s.release.length, row.rcpts.length);
      if (s.spool.length) assert.ok(s.spoolReason, 'a spooled recipient has a reason');
      assert.equal(s.fateUnknown, row.outcome?.kind === 'unknown', 'fate unknown');
    });
  }

  it('only our own failures (a stalled upload, our shutdown before or after the dot) spare PowerMTA the blame', () => {
    assert.equal(localFailure({ kind: 'unknown', reason: 'x', local: true }), true);
    assert.equal(localFailure({ kind: 'unavailable', reason: 'x', local: true }), true);
    assert.equal(localFailure({ kind: 'unknown', reason: 'x' }), false);
    assert.equal(localFailure({ kind: 'unavailable', reason: 'x' }), false);
    assert.equal(localFailure(null), false);
  });

  it('a refused recipient keeps PowerMTA code and reply text', () => {
    const s = settle(held('b@x.net'), accepted([], [['b@x.net', 550, '550 5.1.1 <b@x.net>: User unknown']]));
    assert.deepEqual(s.refused, [{ rcpt: 'b@x.net', code: 550, response: '550 5.1.1 <b@x.net>: User unknown' }]);
  });

  it('the reason of a recipient not tried is the one given', () => {
    assert.equal(settle(held('a@x.net'), null, 'PowerMTA unavailable (ECONNREFUSED)').spoolReason, 'PowerMTA unavailable (ECONNREFUSED)');
  });
});

describe('vmtaMissing', () => {
  const yes = [
    '550 5.5.0 Virtual MTA sos-expat-45-123-10-1 does not exist',
    '550 5.7.1 invalid virtual MTA "x"',
    '554 VirtualMTA foo does not exist',
    '550 unknown virtual mta',
  ];
  const no = ['550 5.1.1 <a@x.net>: User unknown', '554 5.7.1 content rejected', '550 mailbox does not exist'];
  for (const r of yes) it(`retryable: ${r}`, () => assert.ok(vmtaMissing(r)));
  for (const r of no) it(`final: ${r}`, () => assert.ok(!vmtaMissing(r)));
});
