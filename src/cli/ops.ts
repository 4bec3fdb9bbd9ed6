import { apiClient, ApiCallError, table, type ApiClient } from './client.js';
import { parse, UsageError, withUsage } from './args.js';

// The operator commands: thin wrappers over the control API, tables for people
// and --json for scripts.
const COMMON = { config: { type: 'string' as const }, json: { type: 'boolean' as const } };

type Runner = (api: ApiClient, positionals: string[], values: Record<string, unknown>) => Promise<{ json: unknown; text: string }>;

function command(usage: string, options: Record<string, { type: 'string' | 'boolean' }>, run: Runner) {
  return (argv: string[]) =>
    withUsage(usage, async () => {
      const { values, positionals } = parse(argv, { ...COMMON, ...options }, true);
      if (values.help) {
        process.stdout.write(usage);
        return 0;
      }
      try {
        const out = await run(apiClient(values.config as string | undefined), positionals, values);
        process.stdout.write(values.json ? JSON.stringify(out.json, null, 2) + '\n' : out.text);
        return 0;
      } catch (err) {
        if (err instanceof UsageError) throw err;
        process.stderr.write(`pmta-agent: ${(err as Error).message}\n`);
        if (values.json && err instanceof ApiCallError) process.stdout.write(JSON.stringify(err.body) + '\n');
        return 1;
      }
    });
}

const need = (v: string | undefined, what: string): string => {
  if (!v) throw new UsageError(`missing ${what}`);
  return v;
};

export const runStatus = command('Usage: pmta-agent status [--json] [--config FILE]\n', {}, async (api) => {
  const s = await api.get('/api/v2/status');
  const lines = [
    `uptime          ${s.uptime_seconds}s (since ${s.started_at})`,
    `day             ${s.day}`,
    `smtp            ${s.smtp.listen}, ${s.smtp.sessions_open} session(s) open`,
    `powermta        ${s.pmta.target} ${s.pmta.reachable ? `reachable (${s.pmta.greeting})` : `UNREACHABLE: ${s.pmta.probe_error}`}${s.pmta.last_handoff_error ? `; last hand-off failed: ${s.pmta.last_handoff_error}` : ''}`,
    `spool           ${s.spool.messages} message(s)`,
    `reservations    ${s.reservations_in_flight} in flight`,
    `tenants / IPs   ${s.tenants} / ${s.ips}`,
  ];
  // Today's outcome per tenant, from the accounting stats: what an operator checks first after a send.
  const today: Record<string, unknown> = {};
  const { tenants } = (await api.get('/api/v2/tenants')) as { tenants: { slug: string }[] };
  for (const { slug } of tenants) {
    const t = (await api.get(`/api/v2/stats/${encodeURIComponent(slug)}/overview`)).totals;
    today[slug] = t;
    lines.push(
      `today ${slug.padEnd(10)}accepted ${t.accepted}, delivered ${t.delivered}, bounced ${t.bouncedHard + t.bouncedSoft + t.bouncedOther} (hard ${t.bouncedHard}), deferred ${t.deferred}, complaints ${t.complaints}`,
    );
  }
  return { json: { ...s, today }, text: lines.join('\n') + '\n' };
});

export const runQuota = command('Usage: pmta-agent quota <tenant> [--json]\n', {}, async (api, [tenant]) => {
  const q = await api.get(`/api/v2/quotas/${encodeURIComponent(need(tenant, 'tenant'))}`);
  const head = `${q.name} (${q.tenant}, id ${q.tenant_id}) on ${q.day}: ${q.remaining_today} of ${q.total_daily_capacity} left, ${q.spooled} spooled\n`;
  return {
    json: q,
    text:
      head +
      table(
        ['IP', 'VMTA', 'STATUS', 'PHASE', 'DAILY', 'SENT', 'HELD', 'LEFT'],
        q.ips.map((i: any) => [i.ip_address, i.vmta, i.status, i.phase, i.daily_quota, i.sent_today, i.reserved, i.remaining]),
      ),
  };
});

export const runCheck = command('Usage: pmta-agent check <tenant> <n> [--json]\n', {}, async (api, [tenant, n]) => {
  const count = Number(need(n, 'number of emails'));
  if (!Number.isInteger(count) || count <= 0) throw new UsageError('the number of emails must be a positive integer');
  const r = await api.post(`/api/v2/quotas/${encodeURIComponent(need(tenant, 'tenant'))}/check`, { emails_to_send: count });
  const text = `${r.can_send ? 'yes' : 'no'}: ${r.message}\n` + (r.split.length ? table(['IP', 'COUNT'], r.split.map((s: any) => [s.ip_address, s.count])) : '');
  return { json: r, text };
});

export const runAddDomain = command(
  'Usage: pmta-agent add-domain --tenant T --domain D --ip A [--hostname H] [--json]\nAdds a sending domain and its IP (warmup starts today).\n',
  { tenant: { type: 'string' }, domain: { type: 'string' }, ip: { type: 'string' }, hostname: { type: 'string' } },
  async (api, _p, v) => {
    const tenant = need(v.tenant as string | undefined, '--tenant');
    const body = {
      domain: need(v.domain as string | undefined, '--domain'),
      ip: need(v.ip as string | undefined, '--ip'),
      ...(v.hostname ? { hostname: v.hostname } : {}),
    };
    const t = await api.post(`/api/v2/tenants/${encodeURIComponent(tenant)}/domains`, body);
    const ip = t.ips.find((i: any) => i.address === body.ip);
    return { json: t, text: `added ${body.domain} and ${body.ip} (${ip?.vmta}, warmup from ${ip?.warmup_start}) to ${t.slug}\n` };
  },
);

export const runIp = command(
  'Usage: pmta-agent ip pause|resume|retire <ip> --reason TEXT [--json]\n       pmta-agent ip list [--json]\n' +
    '       pmta-agent ip warmup <ip> --day N | --start YYYY-MM-DD [--hold-until YYYY-MM-DD] [--json]\n' +
    '         sets the IP\'s warmup position (audited); the config file\'s warmupStart only seeds a new IP\n',
  { reason: { type: 'string' }, day: { type: 'string' }, start: { type: 'string' }, 'hold-until': { type: 'string' } },
  async (api, [action, ip], v) => {
    if (action === 'warmup') {
      const body: Record<string, unknown> = {};
      if (v.day !== undefined) {
        const d = Number(v.day);
        if (!Number.isInteger(d) || d < 1) throw new UsageError('--day must be an integer >= 1');
        body.day = d;
      }
      if (v.start !== undefined) body.start = v.start;
      if (v['hold-until'] !== undefined) body.hold_until = v['hold-until'];
      if (Object.keys(body).length === 0) throw new UsageError('ip warmup needs --day, --start or --hold-until');
      const r = await api.post(`/api/v2/ips/${encodeURIComponent(need(ip, 'ip'))}/warmup`, body);
      return { json: r, text: `${r.ip}: warmup day ${r.warmup_day} (start ${r.warmup_start})${r.hold_until ? `, held until ${r.hold_until}` : ''}\n` };
    }
    if (action === 'list') {
      const r = await api.get('/api/v2/ips');
      return { json: r, text: table(['IP', 'TENANT', 'STATE', 'WARMUP START', 'VMTA'], r.ips.map((i: any) => [i.address, i.tenant, i.state, i.warmup_start, i.vmta])) };
    }
    if (action !== 'pause' && action !== 'resume' && action !== 'retire') throw new UsageError('ip needs pause, resume, retire, warmup or list');
    const r = await api.post(`/api/v2/ips/${encodeURIComponent(need(ip, 'ip'))}/${action}`, { reason: need(v.reason as string | undefined, '--reason') });
    return { json: r, text: r.changed ? `${r.ip}: ${r.previous} -> ${r.state}\n` : `${r.ip}: already ${r.state}\n` };
  },
);

export const runPmta = command(
  'Usage: pmta-agent pmta render|apply|lint [--json]\n  render  print the PowerMTA config the agent owns\n  apply   lint it, write it atomically, run pmta.testCommand, reload PowerMTA (the previous file comes back if either fails)\n  lint    see pmta-agent pmta lint --help\n',
  {},
  async (api, [action]) => {
    if (action === 'render') {
      const text = await api.get('/api/v2/powermta/config/download');
      return { json: { config: text }, text: String(text) };
    }
    if (action === 'apply') {
      let r;
      try {
        r = await api.post('/api/v2/powermta/apply', {});
      } catch (err) {
        // A failed apply answers 502 with the result: show it, then fail.
        if (err instanceof ApiCallError && err.status === 502) throw new Error(`apply ${(err.body as { kind: string; reason: string }).kind}: ${(err.body as { reason: string }).reason}`);
        throw err;
      }
      return { json: r, text: r.kind === 'unchanged' ? 'unchanged: PowerMTA already has this config\n' : `applied; backup ${r.backup ?? '(none)'}\n` };
    }
    throw new UsageError('pmta needs render or apply');
  },
);

export const runForecast = command(
  'Usage: pmta-agent forecast <tenant> [--days N] [--add-ip-every D] [--max-ips N] [--json]\nExpected daily capacity per day ahead, from the schedule and current states.\n',
  { days: { type: 'string' }, 'add-ip-every': { type: 'string' }, 'max-ips': { type: 'string' } },
  async (api, [tenant], v) => {
    const qs = new URLSearchParams();
    if (v.days) qs.set('days', String(v.days));
    if (v['add-ip-every']) qs.set('add_ip_every', String(v['add-ip-every']));
    if (v['max-ips']) qs.set('max_ips', String(v['max-ips']));
    const r = await api.get(`/api/v2/quotas/${encodeURIComponent(need(tenant, 'tenant'))}/forecast?${qs}`);
    // One row a week keeps the table readable; --json has every day.
    const rows = r.forecast.filter((_: unknown, i: number) => i % 7 === 0 || i === r.forecast.length - 1);
    return {
      json: r,
      text: table(
        ['DAY', 'TOTAL/DAY', 'IPS'],
        rows.map((d: any) => [d.day, d.total, d.ips.filter((i: any) => i.cap > 0).map((i: any) => `${i.ip}:${i.cap}`).join(' ')]),
      ),
    };
  },
);

export const runSuppression = command(
  'Usage: pmta-agent suppression add|remove <tenant> <email> [--reason TEXT] [--json]\n       pmta-agent suppression list <tenant> [--limit N] [--offset N] [--json]\n',
  { reason: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } },
  async (api, [action, tenant, email], v) => {
    const t = encodeURIComponent(need(tenant, 'tenant'));
    if (action === 'list') {
      const qs = new URLSearchParams({ limit: String(v.limit ?? 100), offset: String(v.offset ?? 0) });
      const r = await api.get(`/api/v2/suppression/${t}?${qs}`);
      return {
        json: r,
        text: `${r.total} suppressed address(es)\n` + table(['EMAIL', 'REASON', 'SOURCE', 'SINCE'], r.entries.map((e: any) => [e.email, e.reason, e.source, e.createdAt ?? e.created_at])),
      };
    }
    if (action === 'add') {
      const r = await api.post(`/api/v2/suppression/${t}`, { email: need(email, 'email'), ...(v.reason ? { detail: v.reason } : {}) });
      return { json: r, text: r.added ? `added ${r.email}\n` : `${r.email} was already suppressed\n` };
    }
    if (action === 'remove') {
      const r = await api.del(`/api/v2/suppression/${t}/${encodeURIComponent(need(email, 'email'))}`);
      return { json: r, text: `removed ${r.email}\n` };
    }
    throw new UsageError('suppression needs add, remove or list');
  },
);

export const runUser = command(
  'Usage: pmta-agent user delete <tenant> <username> [--json]\n  delete  revoke an SMTP user: its next AUTH fails and its open sessions end at their next command\n',
  {},
  async (api, [action, tenant, username]) => {
    if (action !== 'delete') throw new UsageError('user needs delete');
    const r = await api.del(`/api/v2/tenants/${encodeURIComponent(need(tenant, 'tenant'))}/users/${encodeURIComponent(need(username, 'username'))}`);
    return { json: r, text: `deleted ${r.username}\n${r.warning ? `warning: ${r.warning}\n` : ''}` };
  },
);
