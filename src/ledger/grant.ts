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
  for (const r of reservationsOf(g)) await ledger.commit(r);
}

/** Both reservations of a grant go back (the mail provably did not reach PowerMTA). */
export async function releaseGrant(ledger: QuotaLedger, g: Grant): Promise<void> {
  for (const r of reservationsOf(g)) await ledger.release(r);
}
