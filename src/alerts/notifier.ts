import type { Config } from '../config/schema.js';
import { redactUrl } from '../http/redact.js';
import type { Logger } from '../log/logger.js';

export interface Alert {
  kind: string;
  title: string;
  detail: Record<string, unknown>;
}

/**
 * Alerts go to the log always, and to a JSON webhook and a Telegram chat when
 * configured: in the background, with a timeout and a few retries, so a slow
 * alert target never holds up mail.
 */
export class Notifier {
  constructor(
    private readonly cfg: () => Config['alerts'],
    private readonly log: Logger,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  private readonly latest: Array<{ at: string; kind: string; title: string }> = [];

  /** The last alerts since start, newest first (the status page shows them). */
  recent(): ReadonlyArray<{ at: string; kind: string; title: string }> {
    return this.latest;
  }

  notify(alert: Alert): void {
    this.log.warn(`alert.${alert.kind}`, { title: alert.title, ...alert.detail });
    this.latest.unshift({ at: new Date().toISOString(), kind: alert.kind, title: alert.title });
    if (this.latest.length > 20) this.latest.pop();
    const { webhookUrl, telegram } = this.cfg();
    if (webhookUrl) void this.send('webhook', webhookUrl, redactUrl(webhookUrl), { kind: alert.kind, title: alert.title, detail: alert.detail, at: new Date().toISOString() });
    if (telegram) {
      const text = `pmta-agent: ${alert.title}\n${Object.entries(alert.detail)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('\n')}`;
      // The bot token is part of the URL: never log the URL itself.
      void this.send('telegram', `https://api.telegram.org/bot${telegram.botToken}/sendMessage`, 'https://api.telegram.org/bot***/sendMessage', { chat_id: telegram.chatId, text });
    }
  }

  /** `shown` stands for the URL in the logs; fetch's own errors can quote the URL, so they are scrubbed with it. */
  private async send(target: string, url: string, shown: string, body: unknown): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await this.fetchFn(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(5_000),
          // Never follow: a redirect would send the alert (and a Telegram bot token in the path) somewhere not configured.
          redirect: 'manual',
        });
        if (res.ok) return;
        this.log.warn('alert.send_failed', { target, url: shown, status: res.status, attempt });
      } catch (err) {
        this.log.warn('alert.send_failed', { target, url: shown, error: (err as Error).message.split(url).join(shown), attempt });
      }
      await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 1)));
    }
  }
}
