import { readFileSync, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { AuthCache } from '../auth/password.js';
import type { Config } from '../config/schema.js';
import type { Gate, Granted } from '../gate/gate.js';
import type { QuotaLedger } from '../ledger/ledger.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import type { Registry, TenantRecord } from '../tenants/registry.js';
import type { Clock } from '../types.js';
import { forwardPlan, handOff, type HandOffDeps, type HandOffResult } from '../forward/handoff.js';
import { teeToFile } from '../forward/tee.js';
import { Spool } from '../forward/spool.js';
import { useOwnEnhancedCodes } from './enhanced-codes.js';
import { replies, SmtpReplyError, type Reply } from './replies.js';

export interface IngressDeps extends HandOffDeps {
  metrics: Metrics;
  registry: Registry;
  gate: Gate;
  ledger: QuotaLedger;
  authCache: AuthCache;
  clock: Clock;
  log: Logger;
}

interface SessionUser {
  tenant: string;
  username: string;
}

/** Envelope state of the transaction in progress on one connection. */
interface Transaction {
  tenant: TenantRecord;
  granted: Array<{ rcpt: string; grant: Granted }>;
  deferred: string[];
  deferReason: string;
}

export interface Ingress {
  server: SMTPServer;
  listen(): Promise<{ host: string; port: number }>;
  /** Sessions currently open. */
  sessions(): number;
  /** Messages between end of DATA and their reply. */
  inFlight(): number;
  /** Stop accepting connections; open sessions go on. */
  stopListening(): void;
  /** Resolves when no message is between DATA and its reply. */
  idle(): Promise<void>;
  /** Close what is left: idle sessions get 421 after closeMs. */
  close(closeMs?: number): Promise<void>;
}

export function createIngress(cfg: Config['smtp'], deps: IngressDeps): Ingress {
  useOwnEnhancedCodes();
  const txs = new Map<string, Transaction>();
  const open = new Set<string>();
  let dataInFlight = 0;
  let idleWaiters: Array<() => void> = [];
  const dataDone = () => {
    dataInFlight--;
    if (dataInFlight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const fn of w) fn();
    }
  };
  const fail = (reply: Reply) => new SmtpReplyError(reply);

  const releaseTx = async (sessionId: string) => {
    const tx = txs.get(sessionId);
    txs.delete(sessionId);
    if (tx) for (const g of tx.granted) await deps.ledger.release(g.grant.reservation);
  };

  const tenantOf = (session: SMTPServerSession): TenantRecord | undefined => {
    const user = session.user as SessionUser | undefined;
    return user ? deps.registry.tenant(user.tenant) : undefined;
  };

  let stopped = false;
  const tls = cfg.tls.key && cfg.tls.cert ? { key: readFileSync(cfg.tls.key), cert: readFileSync(cfg.tls.cert) } : null;

  const server = new SMTPServer({
    name: cfg.hostname,
    banner: 'pmta-agent ESMTP',
    logger: false,
    secure: false,
    ...(tls ?? {}),
    // STARTTLS only with real certificates: Symfony's mailer upgrades whenever it is offered.
    disabledCommands: tls ? [] : ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH is required, but checked at MAIL FROM so the reply is the contract's 530 5.7.0.
    authOptional: true,
    allowInsecureAuth: true,
    size: cfg.maxMessageBytes,
    maxClients: cfg.maxClients,
    maxRecipients: cfg.maxRecipients,
    socketTimeout: cfg.socketTimeoutMs,
    closeTimeout: 5_000,
    // Loopback clients (MailWizz) have no useful PTR; a lookup per connection only adds latency.
    disableReverseLookup: true,

    onConnect(session, cb) {
      // A connection accepted just before the listener closed: tell it to come back.
      if (stopped) return cb(fail(replies.shuttingDown()));
      open.add(session.id);
      cb();
    },

    onAuth(auth, session, cb) {
      const username = auth.username ?? '';
      const user = deps.registry.user(username);
      const check = user ? deps.authCache.check(username, auth.password ?? '', user.passwordHash) : Promise.resolve(false);
      check.then(
        (ok) => {
          if (!ok || !user) {
            deps.log.warn('smtp.auth_failed', { session: session.id, username, remote: session.remoteAddress });
            deps.metrics.smtpReplies.inc({ stage: 'auth', class: '5xx' });
            return cb(fail(replies.badCredentials()));
          }
          deps.log.debug('smtp.auth_ok', { session: session.id, username, tenant: user.tenant });
          cb(null, { user: { tenant: user.tenant, username } satisfies SessionUser });
        },
        (err) => {
          deps.log.error('smtp.auth_error', { session: session.id, username, error: err as Error });
          cb(fail(replies.badCredentials()));
        },
      );
    },

    onMailFrom(address, session, cb) {
      (async () => {
        await releaseTx(session.id); // a transaction abandoned with RSET or a new MAIL
        const tenant = tenantOf(session);
        if (!tenant) {
          deps.metrics.smtpReplies.inc({ stage: 'mail', class: '5xx' });
          throw fail(replies.authRequired());
        }
        const domain = address.address.split('@').pop()?.toLowerCase() ?? '';
        if (!tenant.domains.has(domain)) {
          deps.log.warn('smtp.sender_refused', { session: session.id, tenant: tenant.slug, mailFrom: address.address });
          deps.metrics.smtpReplies.inc({ stage: 'mail', class: '5xx' });
          throw fail(replies.senderNotAllowed(domain));
        }
        txs.set(session.id, { tenant, granted: [], deferred: [], deferReason: '' });
      })().then(() => cb(), cb);
    },

    onRcptTo(address, session, cb) {
      (async () => {
        const tx = txs.get(session.id);
        if (!tx) throw fail(replies.authRequired());
        const first = tx.granted[0];
        const grant = await deps.gate.reserve(tx.tenant, 1, first?.grant.ip.address);
        if (grant) {
          tx.granted.push({ rcpt: address.address, grant });
          return;
        }
        if (tx.granted.length === 0 && tx.deferred.length === 0) {
          // Checked here, while MailWizz can still be told, not after it sent the body.
          const limit = deps.spool.overLimit(tx.tenant.slug, 0, deps.spoolLimits(tx.tenant));
          if (limit) {
            deps.log.error('spool.limit_reached', { tenant: tx.tenant.slug, limit });
            deps.metrics.smtpReplies.inc({ stage: 'rcpt', class: '4xx' });
            throw fail(replies.spoolFull(tx.tenant.slug, limit));
          }
        }
        tx.deferred.push(address.address);
        tx.deferReason ||= first ? `IP ${first.grant.ip.address} has no quota left for more recipients` : await deps.gate.whyNoQuota(tx.tenant);
      })().then(() => cb(), cb);
    },

    onData(stream, session, cb) {
      dataInFlight++;
      (async (): Promise<string> => {
        const tx = txs.get(session.id);
        txs.delete(session.id);
        const arrivedAt = deps.clock.now();
        const id = Spool.newId(arrivedAt);
        const file = deps.spool.tmpPathFor(id);
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const plan = tx ? forwardPlan(deps, tx.tenant, mailFrom, tx.granted) : null;
        let teed;
        const started = process.hrtime.bigint();
        const timedForward = plan
          ? async (s: Readable) => {
              const outcome = await deps.forwarder.forward(plan, s);
              deps.metrics.forwardSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
              return outcome;
            }
          : null;
        try {
          teed = await teeToFile(stream, file, timedForward);
        } catch (err) {
          await fsp.rm(file, { force: true });
          if (tx) for (const g of tx.granted) await deps.ledger.release(g.grant.reservation);
          deps.log.error('smtp.data_failed', { session: session.id, error: err as Error });
          throw fail(replies.localError());
        }
        if (!tx) {
          await fsp.rm(file, { force: true });
          throw fail(replies.authRequired());
        }
        if (stream.sizeExceeded) {
          // Too big for us means too big for PowerMTA's limit too; whatever it said, it is refused.
          await fsp.rm(file, { force: true });
          for (const g of tx.granted) await deps.ledger.release(g.grant.reservation);
          throw fail(replies.tooBig(cfg.maxMessageBytes));
        }
        const messageId = teed.info?.messageId ?? null;
        const result = await handOff(
          deps,
          {
            id,
            tenant: tx.tenant,
            file,
            size: teed.size,
            mailFrom,
            messageId,
            granted: tx.granted,
            deferred: tx.deferred,
            deferReason: tx.deferReason,
            arrivedAt,
          },
          teed.outcome,
        );
        const reply = replyFor(result, tx.tenant.slug);
        deps.metrics.smtpReplies.inc({ stage: 'data', class: `${String(reply.code)[0]}xx` });
        deps.metrics.messages.inc({ tenant: tx.tenant.slug, path: result.kind });
        if (result.kind === 'forwarded' && tx.granted[0])
          deps.metrics.recipients.inc({ tenant: tx.tenant.slug, ip: tx.granted[0].grant.ip.address }, tx.granted.length - result.spooled);
        deps.log.info('smtp.message', {
          session: session.id,
          tenant: tx.tenant.slug,
          messageId,
          rcpts: session.envelope.rcptTo.map((r) => r.address),
          size: teed.size,
          path: result.kind,
          ip: tx.granted[0]?.grant.ip.address ?? null,
          vmta: result.kind === 'forwarded' ? result.vmta : null,
          reason: result.kind === 'spooled' ? result.reason : undefined,
          reply: `${reply.code} ${reply.text}`,
        });
        if (reply.code !== 250) throw fail(reply);
        return reply.text;
      })()
        .then(
          (text) => cb(null, text),
          (err) => cb(err instanceof SmtpReplyError ? err : fail(replies.localError())),
        )
        .finally(dataDone);
    },

    onClose(session) {
      open.delete(session.id);
      void releaseTx(session.id);
    },
  });

  server.on('error', (err) => deps.log.error('smtp.server_error', { error: err }));

  return {
    server,
    sessions: () => open.size,
    listen: () =>
      new Promise((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(cfg.port, cfg.host, () => {
          server.server.off('error', reject);
          const a = server.server.address();
          resolve({ host: cfg.host, port: typeof a === 'object' && a ? a.port : cfg.port });
        });
      }),
    inFlight: () => dataInFlight,
    stopListening: () => {
      stopped = true;
      server.server.close();
    },
    idle: () => (dataInFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
    close: async (closeMs = 1_000) => {
      (server.options as { closeTimeout?: number }).closeTimeout = closeMs;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Sessions cut between RCPT and DATA: their units go back now, not at expiry.
      for (const id of [...txs.keys()]) await releaseTx(id);
    },
  };
}

function replyFor(result: HandOffResult, tenant: string): Reply {
  switch (result.kind) {
    case 'forwarded':
      return replies.forwarded(result.response);
    case 'spooled':
      return replies.queued(result.id, result.reason);
    case 'refused':
      return replies.pmtaRefused(result.code, result.response);
    case 'spool-full':
      return replies.spoolFull(tenant, result.limit);
  }
}
