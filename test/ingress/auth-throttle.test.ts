import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthThrottle } from '../../src/ingress/auth-throttle.js';

describe('AuthThrottle: failed AUTH is answered later and later per address', () => {
  const make = () => {
    let now = 0;
    const throttle = new AuthThrottle(() => ({ baseMs: 1000, maxMs: 8000 }), () => now, 60_000);
    return { throttle, advance: (ms: number) => (now += ms) };
  };

  it('doubles the delay with each failure from one address, up to the maximum', () => {
    const { throttle, advance } = make();
    const delays = [];
    for (let i = 0; i < 6; i++) {
      const d = throttle.failed('198.51.100.7');
      delays.push(d);
      advance(d);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('spaces the answers to parallel attempts from one address a delay apart, never beyond the maximum', () => {
    const { throttle } = make();
    assert.deepEqual([1, 2, 3, 4].map(() => throttle.failed('198.51.100.7')), [1000, 3000, 7000, 8000]);
  });

  it('does not slow another address', () => {
    const { throttle } = make();
    throttle.failed('198.51.100.7');
    throttle.failed('198.51.100.7');
    assert.equal(throttle.failed('203.0.113.9'), 1000);
  });

  it('forgets an address after a quiet period', () => {
    const { throttle, advance } = make();
    throttle.failed('198.51.100.7');
    throttle.failed('198.51.100.7');
    advance(60_001 + 3000);
    assert.equal(throttle.failures('198.51.100.7'), 0);
    assert.equal(throttle.failed('198.51.100.7'), 1000);
  });

  it('keeps its memory bounded under a flood of addresses', () => {
    let now = 0;
    const throttle = new AuthThrottle(() => ({ baseMs: 10, maxMs: 10 }), () => now, 60_000, 100);
    for (let i = 0; i < 1000; i++) throttle.failed(`10.0.${i >> 8}.${i & 255}`);
    now += 1;
    assert.ok(throttle.failures('10.0.3.231') >= 1);
  });
});
