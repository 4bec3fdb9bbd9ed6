// The agent's IPs (and their tenants) by the VMTA name the agent gave
// PowerMTA and by address, for attributing accounting records.
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { IpAddress } from '../types.js';

const STALE_CHECK_EVERY = 256;

export interface ResolvedIp {
  ipAddress: IpAddress;
  tenantId: number;
}

/** The agent's IPs by VMTA name and by address; null when unknown. */
export interface IpDirectory {
  vmta(name: string): ResolvedIp | null;
  ip(address: string): ResolvedIp | null;
}

/**
 * The directory over the Registry's snapshot. The Registry replaces every tenant
 * object on reload, so an identity check notices a reload; it runs every
 * STALE_CHECK_EVERY calls (and on a miss), since a lookup runs per record.
 */
export function registryResolver(registry: Registry): IpDirectory {
  let byVmta = new Map<string, ResolvedIp>();
  let byIp = new Map<string, ResolvedIp>();
  let sentinel: TenantRecord | undefined;
  const build = (): void => {
    const tenants = registry.tenants();
    sentinel = tenants[0];
    byVmta = new Map();
    byIp = new Map();
    for (const t of tenants) {
      for (const ip of t.ips) {
        const r: ResolvedIp = { ipAddress: ip.address, tenantId: t.id };
        byVmta.set(ip.vmta.toLowerCase(), r);
        byIp.set(ip.address, r);
      }
    }
  };
  const stale = (): boolean =>
    sentinel === undefined ? registry.tenants().length > 0 : registry.tenant(sentinel.id) !== sentinel;
  build();
  let calls = 0;
  // Runs per record: plain lookups, no closure made per call.
  const byName = (name: string): ResolvedIp | undefined => byVmta.get(name) ?? byVmta.get(name.toLowerCase());
  const check = (): void => {
    if (++calls >= STALE_CHECK_EVERY) {
      calls = 0;
      if (stale()) build();
    }
  };
  return {
    vmta(name) {
      check();
      const r = byName(name);
      if (r !== undefined) return r;
      if (!stale()) return null;
      build();
      return byName(name) ?? null;
    },
    ip(address) {
      check();
      const r = byIp.get(address);
      if (r !== undefined) return r;
      if (!stale()) return null;
      build();
      return byIp.get(address) ?? null;
    },
  };
}
