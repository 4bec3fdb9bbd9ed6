import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WaitingRoom, type LeaveReason } from '../../src/ingress/waiting-room.js';

describe('WaitingRoom: connections that have not authenticated', () => {
  const make = (max = 2) => {
    let now = 0;
    const closed: Array<[string, LeaveReason]> = [];
    const room = new WaitingRoom(() => ({ max, timeoutMs: 60_000, minWaitMs: 1000 }), () => now);
    const enter = (id: string) => room.enter(id, (why) => closed.push([id, why]));
    return { room, closed, enter, advance: (ms: number) => (now += ms) };
  };

  it('when full, pushes out the one that has waited longest, once it has waited a second', () => {
    const { room, closed, enter, advance } = make();
    enter('a');
    advance(10);
    enter('b');
    advance(1000);
    enter('c');
    assert.deepEqual(closed, [['a', 'crowded']]);
    assert.equal(room.size(), 2);
    room.clear();
  });

  it('lets a burst of fresh connections in beyond its size instead of pushing any of them out', () => {
    const { room, closed, enter, advance } = make();
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      enter(id);
      advance(50);
    }
    assert.deepEqual(closed, []);
    assert.equal(room.size(), 5);
    room.clear();
  });

  it('never pushes out a connection whose credentials are being checked; a refused one is fair game again', () => {
    const { room, closed, enter, advance } = make();
    enter('a');
    enter('b');
    room.checking('a', true);
    advance(2000);
    enter('c');
    assert.deepEqual(closed, [['b', 'crowded']]);
    room.checking('a', false);
    enter('d');
    assert.deepEqual(closed, [['b', 'crowded'], ['a', 'crowded']]);
    room.clear();
  });

  it('forgets a connection that authenticated or left', () => {
    const { room, closed, enter, advance } = make(1);
    enter('a');
    assert.equal(room.leave('a'), true);
    advance(5000);
    enter('b');
    assert.deepEqual(closed, []);
    assert.equal(room.leave('a'), false);
    room.clear();
  });

  it('closes a connection that has not authenticated by the deadline', async () => {
    const room = new WaitingRoom(() => ({ max: 10, timeoutMs: 20, minWaitMs: 1000 }));
    // The room's timers do not hold the process open; this test must.
    const keepAlive = setTimeout(() => undefined, 10_000);
    const why = await new Promise<LeaveReason>((resolve) => room.enter('a', resolve));
    clearTimeout(keepAlive);
    assert.equal(why, 'timeout');
    assert.equal(room.size(), 0);
  });
});
