// MailWizz merge tags and how a template name reads a variable. Both only read
// data: own properties of the variables, the render clock.

/**
 * MailWizz merge tags and the variables they read. The tag's own name as a key
 * (`FNAME`) wins over the variable name (`first_name`); the first key present
 * with a string, number or boolean value is used. Tags without variables are
 * computed from the render clock in the render time zone; the formats are
 * MailWizz's (`CampaignHelper::getCommonTagsSearchReplace`: `date('Y')`,
 * `date('m')`, `date('d')`, `date('m/d/Y')`, `date('F')`).
 *
 * | tag                         | variable          | when missing                            |
 * |-----------------------------|-------------------|-----------------------------------------|
 * | `[FNAME]`                   | `first_name`      | ''                                      |
 * | `[LNAME]`                   | `last_name`       | ''                                      |
 * | `[FULL_NAME]`               | `full_name`       | `[FNAME] + ' ' + [LNAME]`, trimmed      |
 * | `[EMAIL]`                   | `email`           | ''                                      |
 * | `[SUBSCRIBER_EMAIL]`        | `email`           | ''                                      |
 * | `[SUBSCRIBER_UID]`          | `subscriber_uid`  | ''                                      |
 * | `[COMPANY_NAME]`            | `company_name`    | ''                                      |
 * | `[COMPANY_WEBSITE]`         | `company_website` | ''                                      |
 * | `[LIST_NAME]`               | `list_name`       | ''                                      |
 * | `[UNSUBSCRIBE_URL]`         | `unsubscribe_url` | ''                                      |
 * | `[CURRENT_YEAR]`            | (computed)        | `2026`                                  |
 * | `[CURRENT_MONTH]`           | (computed)        | `11`                                    |
 * | `[CURRENT_DAY]`             | (computed)        | `25`                                    |
 * | `[CURRENT_DATE]`            | (computed)        | `11/25/2026`                            |
 * | `[CURRENT_MONTH_FULL_NAME]` | (computed)        | `November`                              |
 */
export const MERGE_TAGS = {
  FNAME: { variable: 'first_name' },
  LNAME: { variable: 'last_name' },
  FULL_NAME: { variable: 'full_name' },
  EMAIL: { variable: 'email' },
  SUBSCRIBER_EMAIL: { variable: 'email' },
  SUBSCRIBER_UID: { variable: 'subscriber_uid' },
  COMPANY_NAME: { variable: 'company_name' },
  COMPANY_WEBSITE: { variable: 'company_website' },
  LIST_NAME: { variable: 'list_name' },
  UNSUBSCRIBE_URL: { variable: 'unsubscribe_url' },
  CURRENT_YEAR: { variable: null },
  CURRENT_MONTH: { variable: null },
  CURRENT_DAY: { variable: null },
  CURRENT_DATE: { variable: null },
  CURRENT_MONTH_FULL_NAME: { variable: null },
} as const satisfies Record<string, { variable: string | null }>;

export type MergeTag = keyof typeof MERGE_TAGS;

/** Values a template reads. Only own keys count; objects, arrays, null and undefined render as ''. */
export type TemplateVariables = Readonly<Record<string, unknown>>;

export function isMergeTag(s: string): s is MergeTag {
  return Object.hasOwn(MERGE_TAGS, s);
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/**
 * A variable's value: the key as written (`user.name`), else for a dotted name
 * the walk through plain nested objects. Only own properties are read, so
 * `constructor`, `__proto__` and `toString` are missing unless the caller set them.
 */
export function lookupVariable(vars: TemplateVariables, name: string): string | undefined {
  if (Object.hasOwn(vars, name)) return scalar(vars[name]);
  if (!name.includes('.')) return undefined;
  let at: unknown = vars;
  for (const key of name.split('.')) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return scalar(at);
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function dateParts(now: Date, timeZone: string): { year: string; month: string; day: string } {
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const parts = fmt.formatToParts(now);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { year: get('year'), month: get('month'), day: get('day') };
}

/** The value of a merge tag; the date tags are read in `timeZone` (UTC when not given). */
export function tagValue(tag: MergeTag, vars: TemplateVariables, opts: { now: Date; timeZone?: string | undefined }): string {
  const fromVars = (t: MergeTag): string | undefined => {
    const variable = MERGE_TAGS[t].variable;
    return lookupVariable(vars, t) ?? (variable === null ? undefined : lookupVariable(vars, variable));
  };
  switch (tag) {
    case 'FULL_NAME':
      return fromVars('FULL_NAME') ?? `${fromVars('FNAME') ?? ''} ${fromVars('LNAME') ?? ''}`.trim();
    case 'CURRENT_YEAR':
    case 'CURRENT_MONTH':
    case 'CURRENT_DAY':
    case 'CURRENT_DATE':
    case 'CURRENT_MONTH_FULL_NAME': {
      const d = dateParts(opts.now, opts.timeZone ?? 'UTC');
      if (tag === 'CURRENT_YEAR') return d.year;
      if (tag === 'CURRENT_MONTH') return d.month;
      if (tag === 'CURRENT_DAY') return d.day;
      if (tag === 'CURRENT_DATE') return `${d.month}/${d.day}/${d.year}`;
      return MONTHS[Number(d.month) - 1] ?? '';
    }
    default:
      return fromVars(tag) ?? '';
  }
}
