// The status page as HTML, from the data the API answered: pure, no I/O.
import { addDays } from '../days.js';
import type { DayKey } from '../types.js';
import { dayRange, percent, ratesChart, warmupChart } from './charts.js';
import { html, raw, type Html } from './html.js';
import type { PageData, TenantView } from './data.js';
import { RATE_DAYS } from './data.js';

function layout(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="/ui/style.css"></head>
<body>${body}</body></html>`.text;
}

export function loginPage(error?: string): string {
  return layout(
    'pmta-agent: sign in',
    html`<main class="login"><h1>pmta-agent</h1>
<form method="post" action="/ui/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}
<p class="hint">A token of <code>api.tokens</code> (<code>pmta-agent token new</code>). A <code>read</code> token sees the page; pausing an IP needs <code>admin</code>.</p>
</form></main>`,
  );
}

const when = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function overview(d: PageData): Html {
  const s = d.status;
  if (!s) return html`<section class="card"><p>This token is limited to ${(d.who.tenants ?? []).join(', ')}: the agent-wide status is not shown.</p></section>`;
  const pmta = s.pmta;
  const apply = s.pmta_config?.last_apply;
  return html`<section class="card overview" id="overview"><h2>Agent</h2><dl>
<dt>Day</dt><dd>${s.day} (${s.now ? when(s.now) : ''})</dd>
<dt>PowerMTA</dt><dd class="${pmta.reachable ? 'ok' : 'bad'}" id="pmta">${pmta.target} ${pmta.reachable ? html`reachable <small>${pmta.greeting}</small>` : html`UNREACHABLE: ${pmta.probe_error ?? pmta.last_error}`}</dd>
<dt>Spool</dt><dd>${s.spool.messages} message(s)</dd>
<dt>SMTP</dt><dd>${s.smtp.listen}, ${s.smtp.sessions_open} session(s)</dd>
<dt>Reservations</dt><dd>${s.reservations_in_flight} in flight</dd>
<dt>Last config apply</dt><dd class="${s.pmta_config?.failing ? 'bad' : ''}">${apply ? html`${apply.result.kind} at ${when(apply.at)}${apply.result.reason ? html` <small>${apply.result.reason}</small>` : ''}` : 'none yet'}</dd>
<dt>Uptime</dt><dd>${s.uptime_seconds}s</dd>
</dl></section>`;
}

function actions(d: PageData, ip: any): Html | string {
  if (!d.canChange) return '';
  const act = ip.status === 'paused' ? 'resume' : ip.status === 'retired' ? null : 'pause';
  if (!act) return '';
  return html`<form method="post" action="/ui/ips/${encodeURIComponent(ip.ip_address)}/${act}" class="inline">
<input type="hidden" name="csrf" value="${d.csrf}">
<input name="reason" required placeholder="reason" aria-label="reason to ${act} ${ip.ip_address}">
<button type="submit" name="action" value="${act}">${act === 'pause' ? 'Pause' : 'Resume'}</button></form>`;
}

function tenantSection(d: PageData, t: TenantView): Html {
  const q = t.quota;
  const rates = new Map((t.performance?.ips ?? []).map((r) => [r.ip, r]));
  const days = dayRange(addDays(d.today as DayKey, -(RATE_DAYS - 1)), d.today);
  const perDay = t.performance?.days ?? [];
  const warm = warmupChart({
    from: days[0]!,
    past: perDay.map((x) => ({ day: x.day, value: x.accepted })),
    forecast: t.forecast.map((f) => ({ day: f.day, value: f.total })),
    today: d.today,
  });
  const rc = ratesChart({
    days,
    hardBounce: perDay.map((x) => ({ day: x.day, value: x.hardBounceRate })),
    complaint: perDay.map((x) => ({ day: x.day, value: x.complaintRate })),
    thresholds: d.thresholds,
  });
  return html`<section class="card tenant" id="tenant-${t.slug}"><h2>${t.name} <small>${t.slug}</small></h2>
<p class="summary">Today: ${q.sent_today} sent of ${q.total_daily_capacity}, ${q.remaining_today} left, <strong>${q.spooled}</strong> spooled${q.stale ? html` <span class="bad">(quota store unavailable: last counters)</span>` : ''}</p>
<div class="scroll"><table class="ips"><thead><tr><th>IP</th><th>State</th><th>Warmup day</th><th>Phase</th><th>Cap today</th><th>Sent</th><th>Held</th><th>Left</th><th>Hard bounces ${RATE_DAYS}d</th><th>Complaints ${RATE_DAYS}d</th>${d.canChange ? html`<th>Change</th>` : ''}</tr></thead><tbody>
${q.ips.map((ip: any) => {
  const r = rates.get(ip.ip_address);
  return html`<tr data-ip="${ip.ip_address}"><td>${ip.ip_address}<br><small>${ip.vmta}</small></td><td class="state ${ip.status}">${ip.status}</td><td>${ip.warmup_day}</td><td>${ip.phase}</td><td>${ip.daily_quota}</td><td>${ip.sent_today}</td><td>${ip.reserved}</td><td>${ip.remaining}</td>
<td class="${r && r.hardBounceRate > d.thresholds.pauseBounce ? 'bad' : ''}">${r ? percent(r.hardBounceRate) : '-'}</td><td class="${r && r.complaintRate > d.thresholds.pauseComplaint ? 'bad' : ''}">${r ? percent(r.complaintRate) : '-'}</td>${d.canChange ? html`<td>${actions(d, ip)}</td>` : ''}</tr>`;
})}
</tbody></table></div>
<div class="charts"><figure>${raw(warm)}<figcaption>Warmup: sent per day (bars) and the daily cap ahead (line) for all of ${t.slug}'s IPs</figcaption></figure>
<figure>${raw(rc.bounces)}<figcaption>Hard-bounce rate per day. The health guard pauses an IP over ${percent(d.thresholds.pauseBounce)} over ${d.thresholds.windowDays} day(s) (at least ${d.thresholds.minSample} messages); the warmup holds over ${percent(d.thresholds.holdBounce)}</figcaption></figure>
<figure>${raw(rc.complaints)}<figcaption>Complaint rate per day: pause over ${percent(d.thresholds.pauseComplaint)}, hold over ${percent(d.thresholds.holdComplaint)}</figcaption></figure></div>
</section>`;
}

function alertsAndAudit(d: PageData): Html {
  const alerts: any[] = d.status?.alerts?.recent ?? [];
  return html`<section class="card" id="alerts"><h2>Recent alerts</h2>${
    d.status === null ? html`<p>Not shown to a token limited to some tenants.</p>` : alerts.length === 0 ? html`<p>None since the agent started.</p>` : html`<ul>${alerts.map((a) => html`<li><time>${when(a.at)}</time> <strong>${a.kind}</strong> ${a.title}</li>`)}</ul>`
  }</section>
<section class="card" id="audit"><h2>Audit log</h2>${
    d.audit === null
      ? html`<p>Not shown to a token limited to some tenants.</p>`
      : html`<div class="scroll"><table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Subject</th><th>Detail</th></tr></thead><tbody>${d.audit.map(
          (e) => html`<tr><td>${when(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.subject}</td><td class="detail">${e.detail ?? ''}</td></tr>`,
        )}</tbody></table></div>`
  }</section>`;
}

export function statusPage(d: PageData): string {
  return layout(
    'pmta-agent status',
    html`<header><h1>pmta-agent</h1><form method="post" action="/ui/logout" class="inline"><span class="who">${d.who.name} (${d.who.scopes.join(', ')})</span>
<input type="hidden" name="csrf" value="${d.csrf}"><button type="submit">Sign out</button></form></header>
<main>${d.flash ? html`<p class="flash ${d.flash.kind}" role="status">${d.flash.text}</p>` : ''}
${overview(d)}
${d.tenants.map((t) => tenantSection(d, t))}
${alertsAndAudit(d)}</main>`,
  );
}

