// Which tenants send feedback to MailWizz, and where: a tenant with a MailWizz
// URL in the config (`tenants[].mailwizz.url`) has its bounces and complaints
// posted to `{url}/dswh/pmta`. Pure.

/** The part of a tenant's config this reads. */
export interface FeedbackTenantConfig {
  id: number;
  mailwizz?: { url?: string | null } | null;
}

/**
 * MailWizz's PowerMTA webhook under a MailWizz frontend URL: `{url}/dswh/pmta`.
 * A URL that already ends in `/dswh/pmta` is taken as it is; a query string stays at the end.
 */
export function webhookUrl(base: string): string {
  const u = new URL(base.trim());
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = /\/dswh\/pmta$/i.test(path) ? path : `${path}/dswh/pmta`;
  return u.toString();
}

export interface FeedbackTargets {
  /** The MailWizz URL of a tenant (FeedbackSender appends /dswh/pmta), or null when it sends no feedback. */
  urlFor(tenantId: number): string | null;
  /** For AccountingEffects' feedbackTenants: does this tenant send feedback? */
  enabled(tenantId: number): boolean;
}

/**
 * Reads the tenants through `tenants()` on every call, so a reloaded config
 * (a new array) takes effect at once; the lookup table is rebuilt only when
 * the array changes.
 */
export function feedbackTargets(tenants: () => readonly FeedbackTenantConfig[]): FeedbackTargets {
  let seen: readonly FeedbackTenantConfig[] | null = null;
  let urls = new Map<number, string>();
  const table = (): Map<number, string> => {
    const now = tenants();
    if (now !== seen) {
      seen = now;
      urls = new Map();
      for (const t of now) {
        const url = t.mailwizz?.url;
        // Kept as written: a URL the sender cannot use holds the records (and is logged), it does not drop them.
        if (typeof url === 'string' && url.trim() !== '') urls.set(t.id, url.trim());
      }
    }
    return urls;
  };
  return {
    urlFor: (id) => table().get(id) ?? null,
    enabled: (id) => table().has(id),
  };
}
