// What the status page shows, read through the JSON API itself (in process, with
// the signed-in token): the routes' own services and queries, and the token's
// scopes and tenant limits decide exactly as they do for curl.
import type { Config } from '../config/schema.js';
import type { ApiToken } from '../auth/tokens.js';

export type ApiCall = (path: string, init?: { method?: string; json?: unknown }) => Promise<{ status: number; body: any }>;

export interface TenantView {
  slug: string;
  name: string;
  quota: any;
  forecast: Array<{ day: string; total: number }>;
  performance: { days: Array<{ day: string; accepted: number; hardBounceRate: number; complaintRate: number }>; ips: Array<{ ip: string; hardBounceRate: number; complaintRate: number; accepted: number }> } | null;
}

export interface PageData {
  who: Pick<ApiToken, 'name' | 'scopes' | 'tenants'>;
  /** Pause and resume need admin; a read token sees the page without the forms. */
  canChange: boolean;
  csrf: string;
  flash?: { kind: 'ok' | 'error'; text: string } | undefined;
  today: string;
  /** null: the token may not read what spans every tenant (limited to some tenants). */
  status: any | null;
  tenants: TenantView[];
  audit: any[] | null;
  thresholds: { pauseBounce: number; holdBounce: number; pauseComplaint: number; holdComplaint: number; minSample: number; windowDays: number };
}

export const RATE_DAYS = 14;
export const FORECAST_DAYS = 28;

export async function gatherPage(call: ApiCall, who: ApiToken, cfg: Config, csrf: string): Promise<Omit<PageData, 'flash'>> {
  const [status, list, audit] = await Promise.all([call('/api/v2/status'), call('/api/v2/tenants'), call('/api/v2/audit?limit=20')]);
  const slugs: string[] = list.status === 200 ? list.body.tenants.map((t: { slug: string }) => t.slug) : [...(who.tenants ?? [])];
  const tenants = await Promise.all(
    slugs.map(async (slug): Promise<TenantView | null> => {
      const [quota, forecast, perf] = await Promise.all([
        call(`/api/v2/quotas/${encodeURIComponent(slug)}`),
        call(`/api/v2/quotas/${encodeURIComponent(slug)}/forecast?days=${FORECAST_DAYS}`),
        call(`/api/v2/stats/${encodeURIComponent(slug)}/performance?days=${RATE_DAYS}`),
      ]);
      if (quota.status !== 200) return null;
      return {
        slug,
        name: quota.body.name,
        quota: quota.body,
        forecast: forecast.status === 200 ? forecast.body.forecast : [],
        performance: perf.status === 200 ? perf.body : null,
      };
    }),
  );
  const visible = tenants.filter((t): t is TenantView => t !== null);
  return {
    who: { name: who.name, scopes: who.scopes, tenants: who.tenants },
    canChange: who.scopes.includes('admin'),
    csrf,
    today: visible[0]?.quota.day ?? status.body?.day ?? '',
    status: status.status === 200 ? status.body : null,
    tenants: visible,
    audit: audit.status === 200 ? audit.body.entries : null,
    thresholds: {
      pauseBounce: cfg.health.maxHardBounceRate,
      holdBounce: cfg.warmup.progression.holdBounceRate,
      pauseComplaint: cfg.health.maxComplaintRate,
      holdComplaint: cfg.warmup.progression.holdComplaintRate,
      minSample: cfg.health.minSample,
      windowDays: cfg.health.windowDays,
    },
  };
}
