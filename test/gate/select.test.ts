import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IpAddress, IpState, VmtaName } from '../../src/types.js';
import { chooseIp, remainingOf, type IpSnapshot } from '../../src/gate/select.js';

function snap(ip: string, cap: number, used: number, state: IpState = 'warming'): IpSnapshot {
  return {
    ip: ip as IpAddress,
    vmta: `t-${ip.replace(/\./g, '-')}` as VmtaName,
    state,
    cap,
    used,
  };
}

describe('remainingOf', () => {
  it('is cap minus used', () => {
    assert.equal(remainingOf(snap('10.0.0.1', 50, 20)), 30);
  });

  it('never goes below zero when usage overshot the cap', () => {
    assert.equal(remainingOf(snap('10.0.0.1', 50, 70)), 0);
  });

  it('treats a corrupt (NaN) snapshot as exhausted', () => {
    assert.equal(remainingOf(snap('10.0.0.1', Number.NaN, 0)), 0);
  });
});

describe('chooseIp', () => {
  it('picks the IP with the most remaining quota', () => {
    const ips = [snap('10.0.0.1', 50, 40), snap('10.0.0.2', 200, 10), snap('10.0.0.3', 500, 450)];
    assert.equal(chooseIp(ips, 0)?.ip, '10.0.0.2');
    assert.equal(chooseIp(ips, 7)?.ip, '10.0.0.2');
  });

  it('never picks a paused or retired IP, even one with the most quota', () => {
    const ips = [
      snap('10.0.0.1', 10000, 0, 'paused'),
      snap('10.0.0.2', 10000, 0, 'retired'),
      snap('10.0.0.3', 50, 49, 'warming'),
    ];
    for (let r = 0; r < 4; r++) assert.equal(chooseIp(ips, r)?.ip, '10.0.0.3');
  });

  it('returns null when only paused and retired IPs have quota', () => {
    const ips = [snap('10.0.0.1', 100, 0, 'paused'), snap('10.0.0.2', 100, 0, 'retired')];
    assert.equal(chooseIp(ips, 0), null);
  });

  it('picks active IPs as well as warming ones', () => {
    const ips = [snap('10.0.0.1', 50, 0, 'warming'), snap('10.0.0.2', 10000, 0, 'active')];
    assert.equal(chooseIp(ips, 0)?.ip, '10.0.0.2');
  });

  it('rotates among IPs tied on remaining quota as rotation increases, in input order', () => {
    const ips = [
      snap('10.0.0.1', 100, 50),
      snap('10.0.0.2', 500, 10),
      snap('10.0.0.3', 100, 50),
      snap('10.0.0.4', 60, 10),
    ];
    // .1, .3 and .4 all have 50 left, but .2 has more: no tie.
    assert.equal(chooseIp(ips, 0)?.ip, '10.0.0.2');
    const tied = ips.filter((s) => s.ip !== '10.0.0.2');
    const picks = [0, 1, 2, 3, 4, 5].map((r) => chooseIp(tied, r)?.ip);
    assert.deepEqual(picks, ['10.0.0.1', '10.0.0.3', '10.0.0.4', '10.0.0.1', '10.0.0.3', '10.0.0.4']);
  });

  it('spreads load evenly when the caller increments rotation', () => {
    const ips = [snap('10.0.0.1', 100, 0), snap('10.0.0.2', 100, 0)];
    const counts = new Map<string, number>();
    for (let r = 0; r < 10; r++) {
      const ip = chooseIp(ips, r)?.ip ?? 'none';
      counts.set(ip, (counts.get(ip) ?? 0) + 1);
    }
    assert.deepEqual([...counts.entries()].sort(), [
      ['10.0.0.1', 5],
      ['10.0.0.2', 5],
    ]);
  });

  it('copes with negative and non-finite rotation values', () => {
    const ips = [snap('10.0.0.1', 100, 0), snap('10.0.0.2', 100, 0)];
    assert.equal(chooseIp(ips, -1)?.ip, '10.0.0.2');
    assert.equal(chooseIp(ips, Number.NaN)?.ip, '10.0.0.1');
    assert.equal(chooseIp(ips, Number.MAX_SAFE_INTEGER)?.ip, '10.0.0.2');
  });

  it('excludes IPs with less remaining than the need', () => {
    const ips = [snap('10.0.0.1', 50, 45), snap('10.0.0.2', 50, 48)];
    assert.equal(chooseIp(ips, 0, 5)?.ip, '10.0.0.1');
    assert.equal(chooseIp(ips, 0, 6), null);
  });

  it('needs one message of room by default', () => {
    assert.equal(chooseIp([snap('10.0.0.1', 50, 50)], 0), null);
    assert.equal(chooseIp([snap('10.0.0.1', 50, 49)], 0)?.ip, '10.0.0.1');
  });

  it('returns null for an empty list', () => {
    assert.equal(chooseIp([], 0), null);
  });

  it('returns the snapshot object it was given', () => {
    const s = snap('10.0.0.1', 50, 0);
    assert.equal(chooseIp([s], 3), s);
  });
});
