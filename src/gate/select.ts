// Picks the sending IP for one message. Pure: the caller supplies today's
// caps and usage, and a rotation counter it bumps per pick.
import type { IpAddress, IpState, VmtaName } from '../types.js';

export interface IpSnapshot {
  ip: IpAddress;
  vmta: VmtaName;
  state: IpState;
  cap: number;
  /** Committed plus reserved today. */
  used: number;
}

export function remainingOf(s: IpSnapshot): number {
  const r = s.cap - s.used;
  // `r > 0` is false for NaN, so a corrupt snapshot reads as exhausted.
  return r > 0 ? r : 0;
}

function sendable(state: IpState): boolean {
  return state === 'warming' || state === 'active';
}

/**
 * The eligible IP (warming or active, at least `need` left today) with the
 * most remaining quota. Ties go to `ties[rotation mod ties.length]` in input
 * order, so a caller that increments `rotation` spreads equal IPs evenly
 * instead of always draining the first. Null when nothing is eligible.
 */
export function chooseIp(
  ips: readonly IpSnapshot[],
  rotation: number,
  need = 1,
): IpSnapshot | null {
  let best = -1;
  let ties: IpSnapshot[] = [];
  for (const s of ips) {
    if (!sendable(s.state)) continue;
    const r = remainingOf(s);
    if (r < need) continue;
    if (r > best) {
      best = r;
      ties = [s];
    } else if (r === best) {
      ties.push(s);
    }
  }
  const n = ties.length;
  if (n === 0) return null;
  const rot = Number.isFinite(rotation) ? Math.trunc(rotation) : 0;
  return ties[((rot % n) + n) % n] ?? null;
}
