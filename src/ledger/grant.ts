import type { IpRecord } from '../tenants/registry.js';
import type { QuotaLedger, Reservation } from './ledger.js';

/** The units one recipient holds: its day's reservation, its hour's when the IP is paced, and the IP. */
export interface Grant {
  reservation: Reservation;
  /** The unit of this clock hour's allowance, when the IP is paced. */
  hourly: Reservation | null;
  ip: IpRecord;
}

/** The reservations of a grant, day first. */
export function reservationsOf(g: Grant): Reservation[] {
  return g.hourly ? [g.reservation, g.hourly] : [g.reservation];
}

/** Both reservations of a grant count as sent (PowerMTA's 250, or a fate nobody knows). */
export async function commitGrant(ledger: QuotaLedger, g: Grant): Promise<void> {
  await commitGrants(ledger, [g]);
}

/**
 * Every reservation of these grants counts as sent. Asked for all at once, so a
 * group-committing ledger settles them in one transaction; waits for every one
 * and throws the first failure (commits are idempotent: the caller retries all).
 */
export async function commitGrants(ledger: QuotaLedger, gs: readonly Grant[]): Promise<void> {
  const results = await Promise.allSettled(gs.flatMap((g) => reservationsOf(g).map((r) => ledger.commit(r))));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Both reservations of a grant go back (the mail provably did not reach PowerMTA). */
export async function releaseGrant(ledger: QuotaLedger, g: Grant): Promise<void> {
  await releaseGrants(ledger, [g]);
}

/** Every reservation of these grants goes back, asked for at once (release never throws through GuardedLedger). */
export async function releaseGrants(ledger: QuotaLedger, gs: readonly Grant[]): Promise<void> {
  await Promise.all(gs.flatMap((g) => reservationsOf(g).map((r) => ledger.release(r))));
}
