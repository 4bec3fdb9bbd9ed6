// Domain names shared by every module. Branded strings keep an IP address from
// being passed where a VMTA name is expected.
export type Brand<T, B extends string> = T & { readonly __brand: B };

export type TenantSlug = Brand<string, 'TenantSlug'>;
export type IpAddress = Brand<string, 'IpAddress'>;
export type VmtaName = Brand<string, 'VmtaName'>;
/** A calendar day in the configured time zone, `YYYY-MM-DD`. */
export type DayKey = Brand<string, 'DayKey'>;

export const IP_STATES = ['warming', 'active', 'paused', 'retired'] as const;
export type IpState = (typeof IP_STATES)[number];

/** The whole daemon reads time from a clock so tests can move it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  private ms: number;
  constructor(start: Date | string | number) {
    this.ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.ms);
  }
  set(to: Date | string | number): void {
    this.ms = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Contract: `<tenant-slug>-<ip with dots as dashes>`. IPv6 colons become dashes too. */
export function vmtaName(slug: string, ip: string): VmtaName {
  return `${slug}-${ip.replace(/[.:]/g, '-')}` as VmtaName;
}

export function poolName(slug: string): string {
  return `${slug}-pool`;
}
