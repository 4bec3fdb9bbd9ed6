import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drainStep } from '../../src/pmta/drain.js';
import { queueCommand, queuePlan, runQueueCommands } from '../../src/pmta/queues.js';

const view = (defined: string[], paused: string[]) => ({ defined: new Set(defined), paused: new Set(paused) });

describe('queuePlan: pausing a paused IP’s queues instead of bouncing them', () => {
  it('pauses a newly paused VMTA before the reload and again after it', () => {
    const p = queuePlan(view(['a', 'b'], []), view(['a', 'b'], ['b']));
    assert.deepEqual(p, { pauseBefore: ['b'], pauseAfter: ['b'], resumeAfter: [] });
  });

  it('resumes a VMTA that left the paused state, also when it is retired and draining', () => {
    assert.deepEqual(queuePlan(view(['a', 'b'], ['b']), view(['a', 'b'], [])).resumeAfter, ['b']);
    assert.deepEqual(queuePlan(view(['a', 'b'], ['b']), view(['a'], [])).resumeAfter, [], 'a removed VMTA has no queues to resume');
  });

  it('after a start pauses every paused VMTA and resumes nothing (a queue paused by hand stays paused)', () => {
    assert.deepEqual(queuePlan(null, view(['a', 'b'], ['b'])), { pauseBefore: [], pauseAfter: ['b'], resumeAfter: [] });
  });
});

describe('runQueueCommands', () => {
  it('puts the VMTA into the command, and counts a PowerMTA Error line as a failure', async () => {
    assert.equal(queueCommand("pmta pause queue '*/{vmta}'", 'sos-expat-45-123-10-4'), "pmta pause queue '*/sos-expat-45-123-10-4'");
    assert.throws(() => queueCommand('x {vmta}', "a'; rm -rf /"));
    const ok = await runQueueCommands("echo 'Queue(s) paused.' # {vmta}", ['a-1'], 5000);
    assert.deepEqual(ok, [{ vmta: 'a-1', ok: true, detail: 'Queue(s) paused.' }]);
    const bad = await runQueueCommands("echo 'Error: no such queue */{vmta}'", ['a-1', 'b-2'], 5000);
    assert.deepEqual(bad.map((r) => [r.vmta, r.ok, r.detail]), [
      ['a-1', false, 'Error: no such queue */a-1'],
      ['b-2', false, 'Error: no such queue */b-2'],
    ]);
    assert.equal((await runQueueCommands('exit 3', ['a-1'], 5000))[0]!.detail, 'queue command exited with code 3');
  });
});

describe('drainStep: a retired VMTA stays defined while PowerMTA may still hold mail for it', () => {
  const t0 = new Date('2026-12-01T00:00:00Z');
  const hours = (h: number) => new Date(t0.getTime() + h * 3_600_000);

  it('drains from the first time it is seen retired, for drainMs', () => {
    const first = drainStep({}, ['a'], t0, 108 * 3_600_000);
    assert.deepEqual([...first.draining], ['a']);
    assert.deepEqual(first.state, { a: t0.toISOString() });
    assert.deepEqual([...drainStep(first.state, ['a'], hours(107), 108 * 3_600_000).draining], ['a']);
    const done = drainStep(first.state, ['a'], hours(108), 108 * 3_600_000);
    assert.deepEqual([...done.draining], []);
    assert.deepEqual(done.state, first.state, 'remembered while retired, so it does not drain again');
  });

  it('forgets a VMTA that is no longer retired, and drains nothing with drainMs 0', () => {
    assert.deepEqual(drainStep({ a: t0.toISOString() }, [], hours(1), 1000).state, {});
    assert.deepEqual([...drainStep({}, ['a'], t0, 0).draining], []);
  });
});
