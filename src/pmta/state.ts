// From the agent's tenants (registry snapshot) and today's warmup day to the
// plain input of buildPmtaModel. Pure: "today" is a parameter.
import path from 'node:path';
import type { TenantRecord } from '../tenants/registry.js';
import { vmtaName, type DayKey } from '../types.js';
import { capFor, type WarmupSchedule } from '../warmup/schedule.js';
import type { PmtaDkimInput, PmtaStateInput, PmtaTenantInput } from './model.js';
import type { ProcessorOptions } from './processors.js';
import type { ThrottleOptions } from './throttles.js';

/** The live accounting file inside pmta.accountingDir; rotated files sit next to it. */
export const ACCT_FILE_NAME = 'acct.csv';

export function pmtaTenantInputs(
  tenants: readonly TenantRecord[],
  today: DayKey,
  schedule: WarmupSchedule,
  draining: ReadonlySet<string> = new Set(),
): PmtaTenantInput[] {
  return tenants.map((t) => ({
    slug: t.slug,
    name: t.name,
    domains: [...t.domains],
    ips: t.ips.map((ip) => {
      const phase = capFor(ip, today, schedule);
      const drains = ip.state === 'retired' && draining.has(vmtaName(t.slug, ip.address));
      return { address: ip.address, hostname: ip.hostname, state: ip.state, phase: phase.phase, dailyCap: phase.dailyCap, ...(drains ? { draining: true } : {}) };
    }),
  }));
}

export interface PmtaStateOptions {
  tenants: readonly TenantRecord[];
  today: DayKey;
  schedule: WarmupSchedule;
  /** pmta.sourceHost */
  sourceHost: string;
  /** pmta.accountingDir */
  accountingDir: string;
  /** accounting.mode "pipe": the program PowerMTA pipes its records to, as argv, instead of the file. */
  acctPipe?: readonly string[] | null;
  /** Keys that exist (the caller ran ensureDkimKey or listed the directory). */
  dkim: readonly PmtaDkimInput[];
  throttles?: ThrottleOptions;
  /** VMTA names of retired IPs still draining (drain.ts). */
  draining?: ReadonlySet<string>;
  processors?: ProcessorOptions;
}

export function pmtaStateInput(o: PmtaStateOptions): PmtaStateInput {
  return {
    tenants: pmtaTenantInputs(o.tenants, o.today, o.schedule, o.draining),
    source: { host: o.sourceHost },
    acctFile: path.join(o.accountingDir, ACCT_FILE_NAME),
    ...(o.acctPipe ? { acctPipe: o.acctPipe } : {}),
    dkim: o.dkim,
    ...(o.throttles ? { throttles: o.throttles } : {}),
    ...(o.processors ? { processors: o.processors } : {}),
  };
}
