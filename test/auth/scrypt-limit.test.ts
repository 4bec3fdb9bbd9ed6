import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthCache, hashPassword, SCRYPTS_AT_ONCE, scryptsInFlight } from '../../src/auth/password.js';

describe('scrypt runs a few at a time (16 MB each while it runs)', () => {
  it('a burst of logins that miss the cache runs at most SCRYPTS_AT_ONCE scrypts at once, and every one is answered right', async () => {
    const hashes = await Promise.all(['pw-0', 'pw-1', 'pw-2'].map((p) => hashPassword(p)));
    const cache = new AuthCache(0);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, scryptsInFlight())), 1);
    try {
      // Six users, half with the wrong password: each runs its own scrypt.
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => cache.check(`user-${i}`, i % 2 === 0 ? `pw-${i % 3}` : 'wrong', hashes[i % 3]!)),
      );
      assert.deepEqual(results, [true, false, true, false, true, false]);
    } finally {
      clearInterval(watch);
    }
    assert.ok(most >= 1, 'the burst was seen running');
    assert.ok(most <= SCRYPTS_AT_ONCE, `at most ${SCRYPTS_AT_ONCE} at once, saw ${most}`);
    assert.equal(scryptsInFlight(), 0);
  });
});
