import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/schema.js';
import type { MailParams } from '../forward/forwarder.js';
import type { Logger } from '../log/logger.js';
import type { TenantRecord } from '../tenants/registry.js';
import { acceptWithoutProxyCheck } from './accept.js';
import { AuthThrottle } from './auth-throttle.js';
import { scanDataNatively } from './data-scan.js';
import { Credentials } from './credentials.js';
import { useOwnEnhancedCodes } from './enhanced-codes.js';
import { greetWithoutPause } from './greeting.js';
import { Reception, type ReceptionDeps, type Transaction } from './reception.js';
import { replies, SmtpReplyError, type Reply } from './replies.js';
import { WaitingRoom } from './waiting-room.js';

export type IngressDeps = ReceptionDeps;

/**
 * BODY= and SMTPUTF8 from MAIL FROM (smtp-server has checked them: BODY is 7BIT or
 * 8BITMIME, SMTPUTF8 a bare flag), so PowerMTA hears what MailWizz declared.
 */
function mailParamsOf(args: SMTPServerAddress['args']): MailParams {
  const params: MailParams = {};
  if (!args) return params;
  const body = typeof args.BODY === 'string' ? args.BODY.toUpperCase() : undefined;
  if (body === '7BIT' || body === '8BITMIME') params.body = body;
  if (args.SMTPUTF8 === true) params.smtputf8 = true;
  return params;
}

interface SessionUser {
  tenant: string;
  username: string;
  /** The hash the session authenticated against: a reset password ends the session too. */
  passwordHash: string;
}

export interface Ingress {
  /** The same transaction steps for messages composed by the API. */
  reception: Reception;
  server: SMTPServer;
  listen(): Promise<{ host: string; port: number }>;
  /** Sessions currently open. */
  sessions(): number;
  /** Connections that have not authenticated yet. */
  unauthenticated(): number;
  /** Messages between end of DATA and their reply. */
  inFlight(): number;
  /** Stop accepting connections; open sessions go on. */
  stopListening(): void;
  /** Resolves when no message is between DATA and its reply. */
  idle(): Promise<void>;
  /** Close what is left: idle sessions get 421 after closeMs. */
  close(closeMs?: number): Promise<void>;
}

/**
 * `cfg` is read once, for the listener; `current` is the config as SIGHUP leaves it,
 * for the limits that apply to each new connection and each failed AUTH.
 */
/** A connection waiting to authenticate may be pushed out to make room only after this long (MailWizz's bursts authenticate well within it). */
const PUSHED_OUT_AFTER_MS = 1_000;

export function createIngress(cfg: Config['smtp'], deps: IngressDeps, current: () => Config['smtp'] = () => cfg): Ingress {
  useOwnEnhancedCodes();
  const txs = new Map<string, Transaction>();
  const open = new Set<string>();
  // Each session's lines carry its id, and its tenant once it has logged in.
  const sessionLogs = new Map<string, Logger>();
  const logOf = (session: SMTPServerSession) => sessionLogs.get(session.id) ?? deps.log.child({ session: session.id });
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

  const reception = new Reception(deps);
  const releaseTx = async (sessionId: string) => {
    const tx = txs.get(sessionId);
    txs.delete(sessionId);
    if (tx) await reception.abort(tx);
  };

  const tenantOf = (session: SMTPServerSession): TenantRecord | undefined => {
    const user = session.user as SessionUser | undefined;
    return user ? deps.registry.tenant(user.tenant) : undefined;
  };

  /** A session whose user was deleted, moved or given a new password since its AUTH: it ends at this command. */
  const revoked = (session: SMTPServerSession): boolean => {
    const user = session.user as SessionUser | undefined;
    if (!user) return false;
    const now = deps.registry.user(user.username);
    if (now && now.tenant === user.tenant && now.passwordHash === user.passwordHash) return false;
    deps.log.warn('smtp.session_revoked', { session: session.id, username: user.username, tenant: user.tenant });
    deps.metrics.smtpReplies.inc({ stage: 'auth', class: '4xx' });
    return true;
  };

  const credentials = new Credentials(deps.registry, deps.authCache);
  const throttle = new AuthThrottle(() => ({ baseMs: current().authFailureDelayMs, maxMs: current().authFailureMaxDelayMs }));
  // The room's size is part of the listener's total limit, so it stays as started; the deadline follows SIGHUP.
  const waiting = new WaitingRoom(() => ({
    max: cfg.maxUnauthenticatedClients,
    timeoutMs: current().unauthenticatedTimeoutMs,
    minWaitMs: PUSHED_OUT_AFTER_MS,
  }));
  const maxConnections = cfg.maxClients + cfg.maxUnauthenticatedClients;
  const failureTimers = new Set<NodeJS.Timeout>();

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
    // Not offered, though pipelined commands are still read in order: SwiftMailer 6.3 pipelines MAIL and
    // RCPT when offered, and after a refused MAIL FROM it leaves their replies unread, so the next
    // message on the connection reads stale replies and fails and the one after stalls in DATA until
    // MailWizz's timeout (test/e2e/php-mailers.test.ts). On loopback the round trips cost nothing.
    hidePIPELINING: true,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH is required, but checked at MAIL FROM so the reply is the contract's 530 5.7.0.
    authOptional: true,
    allowInsecureAuth: true,
    size: cfg.maxMessageBytes,
    // No maxClients here: smtp-server would refuse before onConnect, where the waiting
    // room first pushes out an idle connection to make room.
    maxRecipients: cfg.maxRecipients,
    socketTimeout: cfg.socketTimeoutMs,
    closeTimeout: 5_000,
    // Loopback clients (MailWizz) have no useful PTR; a lookup per connection only adds latency.
    disableReverseLookup: true,

    onConnect(session, cb) {
      // A connection accepted just before the listener closed: tell it to come back.
      if (stopped) return cb(fail(replies.shuttingDown()));
      open.add(session.id);
      sessionLogs.set(session.id, deps.log.child({ session: session.id }));
      waiting.enter(session.id, (why) => {
        const reply = why === 'crowded' ? replies.waitingRoomFull() : replies.authTimeout(current().unauthenticatedTimeoutMs);
        logOf(session).info('smtp.unauthenticated_closed', { remote: session.remoteAddress, why });
        deps.metrics.smtpReplies.inc({ stage: 'connect', class: '4xx' });
        for (const conn of server.connections) if (conn.id === session.id) conn.send(reply.code, reply.text);
        // Gone now for the count below, before its socket has finished closing.
        open.delete(session.id);
      });
      if (open.size > maxConnections) {
        waiting.leave(session.id);
        open.delete(session.id);
        sessionLogs.delete(session.id);
        deps.metrics.smtpReplies.inc({ stage: 'connect', class: '4xx' });
        return cb(fail(replies.tooManyConnections()));
      }
      cb();
    },

    onAuth(auth, session, cb) {
      waiting.checking(session.id, true);
      const username = auth.username ?? '';
      credentials.check(username, auth.password ?? '').then(
        (result) => {
          if (!result.ok) {
            waiting.checking(session.id, false);
            // Answered late, and later for each failure from the same address.
            const delayMs = throttle.failed(session.remoteAddress);
            logOf(session).warn('smtp.auth_failed', { username, remote: session.remoteAddress, delayMs });
            deps.metrics.smtpReplies.inc({ stage: 'auth', class: '5xx' });
            const timer = setTimeout(() => {
              failureTimers.delete(timer);
              cb(fail(replies.badCredentials()));
            }, delayMs);
            failureTimers.add(timer);
            return;
          }
          waiting.leave(session.id);
          const log = logOf(session).child({ tenant: result.tenant });
          sessionLogs.set(session.id, log);
          log.debug('smtp.auth_ok', { username });
          cb(null, { user: { tenant: result.tenant, username, passwordHash: result.passwordHash } satisfies SessionUser });
        },
        (err) => {
          logOf(session).error('smtp.auth_error', { username, error: err as Error });
          cb(fail(replies.badCredentials()));
        },
      );
    },

    onMailFrom(address, session, cb) {
      (async () => {
        await releaseTx(session.id); // a transaction abandoned with RSET or a new MAIL
        if (revoked(session)) throw fail(replies.credentialsRevoked());
        const tenant = tenantOf(session);
        if (!tenant) {
          deps.metrics.smtpReplies.inc({ stage: 'mail', class: '5xx' });
          throw fail(replies.authRequired());
        }
        const step = reception.begin(tenant, address.address, logOf(session), mailParamsOf(address.args));
        if (!step.ok) throw fail(step.reply);
        txs.set(session.id, step.value);
      })().then(() => cb(), cb);
    },

    onRcptTo(address, session, cb) {
      (async () => {
        if (revoked(session)) {
          await releaseTx(session.id);
          throw fail(replies.credentialsRevoked());
        }
        const tx = txs.get(session.id);
        if (!tx) throw fail(replies.authRequired());
        const refusal = await reception.addRecipient(tx, address.address);
        if (refusal) throw fail(refusal);
      })().then(() => cb(), cb);
    },

    onData(stream, session, cb) {
      dataInFlight++;
      (async (): Promise<string> => {
        const cut = revoked(session);
        if (cut) await releaseTx(session.id);
        const tx = txs.get(session.id);
        txs.delete(session.id);
        if (!tx) {
          stream.resume();
          await new Promise((r) => stream.once('end', r));
          throw fail(cut ? replies.credentialsRevoked() : replies.authRequired());
        }
        const { reply } = await reception.receive(tx, stream, {
          tooBig: () => stream.sizeExceeded,
          maxBytes: cfg.maxMessageBytes,
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
      sessionLogs.delete(session.id);
      waiting.leave(session.id);
      void releaseTx(session.id);
    },
  });

  server.on('error', (err) => deps.log.error('smtp.server_error', { error: err }));
  if (!greetWithoutPause(server)) {
    deps.log.warn('smtp.greeting_pause_kept', { note: 'this smtp-server version is not the one the greeting patch knows; each connection waits 100 ms for its greeting' });
  }
  if (!scanDataNatively()) {
    deps.log.warn('smtp.data_scan_patch_skipped', { note: 'this smtp-server version is not the one the DATA scan patch knows; the end of DATA is found by the library\'s byte loop' });
  }
  if (!acceptWithoutProxyCheck(server)) {
    deps.log.warn('smtp.accept_patch_skipped', { note: 'this smtp-server version is not the one the accept patch knows; sessions are set up as the library does' });
  }

  return {
    server,
    sessions: () => open.size,
    unauthenticated: () => waiting.size(),
    listen: () =>
      new Promise((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(cfg.port, cfg.host, () => {
          server.server.off('error', reject);
          const a = server.server.address();
          resolve({ host: cfg.host, port: typeof a === 'object' && a ? a.port : cfg.port });
        });
      }),
    reception,
    inFlight: () => dataInFlight,
    stopListening: () => {
      stopped = true;
      server.server.close();
    },
    idle: () => (dataInFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
    close: async (closeMs = 1_000) => {
      (server.options as { closeTimeout?: number }).closeTimeout = closeMs;
      waiting.clear();
      for (const timer of failureTimers) timer.unref();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Sessions cut between RCPT and DATA: their units go back now, not at expiry.
      for (const id of [...txs.keys()]) await releaseTx(id);
    },
  };
}
