import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { newApiToken } from '../auth/tokens.js';
import { parseConfig } from '../config/load.js';
import { startDaemon } from '../daemon.js';
import { createLogger } from '../log/logger.js';
import { startSimulator } from '../sim/simulator.js';
import { parse, withUsage } from './args.js';

const USAGE = 'Usage: pmta-agent demo [--messages N]\nRuns the agent and the PowerMTA simulator on loopback, sends N messages (default 60) as MailWizz would, and prints the quota before and after.\n';

/**
 * The README's demo: the real daemon and the simulator in one process, a
 * throw-away state directory, and a fresh IP in its first warmup week (50 a day),
 * so the reader sees quota consumed, the overflow spooled, and nothing refused.
 */
export function runDemo(argv: string[]): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values } = parse(argv, { messages: { type: 'string' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const count = Number(values.messages ?? 60);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-agent-demo-'));
    const out = (s: string) => process.stdout.write(s + '\n');
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct'), keepMessages: false });
    const token = newApiToken();
    const cfg = parseConfig({
      smtp: { port: 0 },
      api: { port: 0, token },
      pmta: { port: sim.port, configPath: path.join(dir, 'pmta', 'pmta-agent.conf'), reloadCommand: 'true', testCommand: null, pauseQueueCommand: null, resumeQueueCommand: null, accountingDir: path.join(dir, 'acct') },
      store: { stateDir: dir },
      log: { level: 'error' },
      tenants: [
        {
          id: 1,
          slug: 'sos-expat',
          name: 'SOS-Expat',
          users: [{ username: 'sos-expat', password: 'demo-password' }],
          domains: ['sos-mail.com'],
          ips: [{ address: '45.123.10.1', hostname: 'mail1.sos-mail.com', state: 'warming' }],
        },
      ],
    });
    const daemon = await startDaemon(cfg, { log: createLogger({ level: 'error' }) });
    const api = async (p: string) =>
      (await (await fetch(`http://127.0.0.1:${daemon.apiAddress.port}${p}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        remaining_today: number;
        total_daily_capacity: number;
        spooled: number;
        ips: Array<{ ip_address: string; phase: string; daily_quota: number; sent_today: number; remaining: number }>;
      };
    try {
      out(`agent SMTP 127.0.0.1:${daemon.smtpAddress.port}, API 127.0.0.1:${daemon.apiAddress.port}, PowerMTA simulator 127.0.0.1:${sim.port}`);
      const show = async (when: string) => {
        const q = await api('/api/v2/quotas/sos-expat');
        const ip = q.ips[0]!;
        out(`${when}: IP ${ip.ip_address} (${ip.phase}) sent ${ip.sent_today} of ${ip.daily_quota}, remaining ${ip.remaining}; spooled ${q.spooled}`);
        return q;
      };
      const before = await show('before');
      const transport = nodemailer.createTransport({
        pool: true,
        maxMessages: 100, // a MailWizz delivery server with "max connection messages" raised, as the agent advises
        host: '127.0.0.1',
        port: daemon.smtpAddress.port,
        secure: false,
        ignoreTLS: true,
        auth: { user: 'sos-expat', pass: 'demo-password' },
      });
      const replies = new Map<string, number>();
      for (let i = 0; i < count; i++) {
        const info = (await transport.sendMail({
          from: 'SOS-Expat <news@sos-mail.com>',
          to: `subscriber${i}@example.net`,
          subject: `Demo campaign message ${i + 1}`,
          text: 'Hello from the pmta-agent demo.',
          headers: { 'Feedback-ID': 'demo-campaign:sub:list:cust' },
        })) as { response: string };
        const kind = /Queued as/.test(info.response) ? 'spooled (250, over quota)' : 'forwarded to PowerMTA (250)';
        replies.set(kind, (replies.get(kind) ?? 0) + 1);
      }
      transport.close();
      out(`sent ${count} messages as MailWizz: ${[...replies].map(([k, n]) => `${n} ${k}`).join(', ')}`);
      const after = await show('after');
      out(`quota change: remaining ${before.remaining_today} -> ${after.remaining_today}; PowerMTA received ${sim.received.length}`);
      return 0;
    } finally {
      await daemon.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
