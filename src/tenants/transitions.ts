import type { IpState } from '../types.js';

/** Where a state change comes from: an operator (API/CLI), the config file, another agent, or the agent's own guards. */
export type StateSource = 'operator' | 'config' | 'shared-store' | 'health-guard' | 'warmup';

export type Transition = { ok: true } | { ok: false; reason: string };

/**
 * The one rule book for IP state changes, whatever asks for them. Retired is
 * final (its reputation is gone or the address is returned). A pause the health
 * guard made is lifted by an operator only: the config file or a value from
 * another agent must not put a sick IP back into service behind its back.
 */
export function ipTransition(current: { state: IpState; by: string | null }, next: IpState, source: StateSource): Transition {
  if (current.state === next) return { ok: true };
  if (current.state === 'retired') return { ok: false, reason: 'the IP is retired, and retired is final' };
  if (current.state === 'paused' && current.by === 'health-guard' && source !== 'operator' && source !== 'health-guard') {
    return { ok: false, reason: 'the IP was paused by the health guard; only an operator resumes it' };
  }
  return { ok: true };
}
