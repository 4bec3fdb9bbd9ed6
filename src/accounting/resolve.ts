// Which of the agent's IPs (and so which tenant) an accounting record belongs
// to: by the VMTA name the agent gave PowerMTA, or by the sending IP.
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { IpAddress } from '../types.js';

const STALE_CHECK_EVERY = 256;

export interface ResolvedIp {
  ipAddress: IpAddress;
  tenantId: number;
}

/** Maps a record's VMTA (or, failing that, its source IP) to the agent's IP and tenant; null when unknown. */
export type Resolver = (vmta: string, sourceIp: string) => ResolvedIp | null;

/**
 * A resolver over the Registry's snapshot. The Registry replaces every tenant
 * object on reload, so an identity check notices a reload; it runs every
 * STALE_CHECK_EVERY calls (and on a miss), since the resolver runs per record.
 */
export function registryResolver(registry: Registry): Resolver {
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
  const lookup = (vmta: string, sourceIp: string): ResolvedIp | null => {
    if (vmta !== '') {
      const r = byVmta.get(vmta) ?? byVmta.get(vmta.toLowerCase());
      if (r !== undefined) return r;
    }
    return sourceIp === '' ? null : (byIp.get(sourceIp) ?? null);
  };
  build();
  let calls = 0;
  return (vmta, sourceIp) => {
    if (++calls >= STALE_CHECK_EVERY) {
      calls = 0;
      if (stale()) build();
    }
    const r = lookup(vmta, sourceIp);
    if (r !== null || !stale()) return r;
    build();
    return lookup(vmta, sourceIp);
  };
}

