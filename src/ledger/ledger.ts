import type { DayKey, IpAddress } from '../types.js';

/** Units of one IP's daily quota held for a transaction in flight. */
export interface Reservation {
  readonly id: string;
  readonly ip: IpAddress;
  readonly day: DayKey;
  readonly n: number;
}

export interface IpUsage {
  committed: number;
  reserved: number;
}

/**
 * Reserve before forwarding, commit on PowerMTA's 250, release on failure.
 * Async so that a shared (Redis) ledger can implement the same contract.
 */
export interface QuotaLedger {
  /** All n units or none: null when committed + reserved + n would pass cap. */
  reserve(ip: IpAddress, day: DayKey, n: number, cap: number, now: Date, ttlMs: number): Promise<Reservation | null>;
  /** Count `used` units (default all) as sent and give the rest back. Idempotent. */
  commit(r: Reservation, used?: number): Promise<void>;
  /** Give every unit back. Idempotent; a no-op after commit. */
  release(r: Reservation): Promise<void>;
  usage(day: DayKey, ips: readonly IpAddress[]): Promise<Map<IpAddress, IpUsage>>;
  /**
   * Moves the expiry of reservations still held to now + ttlMs (their owner is
   * alive); returns the ids that are no longer held (swept or settled).
   */
  renew(rs: readonly Reservation[], now: Date, ttlMs: number): Promise<string[]>;
  /** True when a reservation this process still holds was swept meanwhile (GuardedLedger tracks it). */
  lost?(r: Reservation): boolean;
  /** Renews these reservations now if the regular renewal is overdue, so `lost` is current (GuardedLedger). */
  confirm?(rs: readonly Reservation[]): Promise<void>;
  /** Release reservations whose expiry is past; returns how many. */
  sweep(now: Date): Promise<number>;
  /** Reservations still held (for the drain check and the API). */
  inFlight(): Promise<Array<Reservation & { expiresAt: Date }>>;
}
