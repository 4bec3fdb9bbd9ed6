// A real SMTP server on loopback that stands in for PowerMTA's injection
// listener (`process-x-virtual-mta yes`) and writes PowerMTA-style accounting.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { systemClock, type Clock } from '../types.js';
import { ACCT_COLUMNS, formatRecord } from './acct-csv.js';
import { AcctWriter } from './acct-writer.js';
import { HeaderBlockReader } from './headers.js';
import { loadSimConfig, type SimConfigLoad } from './config.js';
import { domainOf, recordsFor, type RecordBehaviour } from './records.js';

export interface SimOptions {
  host?: string;
  port?: number;
  acctDir: string;
  bounceDomains?: string[];
  complainAddresses?: string[];
  /** Delivered, then bounced back by the receiver later (an `rb` record). */
  remoteBounceAddresses?: string[];
  deferDomains?: string[];
  /** Addresses, or `@domain` for a whole domain: refused at RCPT TO. */
  rejectRcpts?: string[];
  /** Addresses: answered 451 at RCPT TO (PowerMTA will not take them now). */
  tempfailRcpts?: string[];
  slowMs?: number;
  deferAll?: boolean;
  keepMessages?: boolean;
  /**
   * The PowerMTA config to run with (the agent's rendered file). Read at
   * start and on reload(); a file the linter refuses is refused as PowerMTA
   * would (start fails, a reload keeps the previous one). With a config, a
   * message naming a VMTA or pool it does not define is refused (§3.3.7.31).
   */
  configFile?: string;
  clock?: Clock;
  log?: (line: string) => void;
}

export interface ReceivedMessage {
  mailFrom: string;
  rcptTo: string[];
  /** The first `X-Virtual-MTA` value. */
  vmta: string;
  vmtaHeaderCount: number;
  job: string | null;
  messageId: string | null;
  size: number;
  sha256: string;
  raw?: Buffer;
  receivedAt: Date;
}

type Behaviour = Pick<SimOptions, 'bounceDomains' | 'complainAddresses' | 'remoteBounceAddresses' | 'deferDomains' | 'rejectRcpts' | 'tempfailRcpts' | 'slowMs' | 'deferAll'>;

export interface Simulator {
  readonly host: string;
  readonly port: number;
  readonly received: ReceivedMessage[];
  configure(patch: Partial<Behaviour>): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  rotate(): Promise<string>;
  /** Like `pmta reload`: re-reads configFile; a refused file leaves the previous config in force. */
  reload(): Promise<SimConfigLoad>;
  /** The VMTA and pool names of the config in force; null without a config. */
  readonly vmtas: ReadonlySet<string> | null;
  close(): Promise<void>;
}

const MAX_MESSAGE_BYTES = 50 * 1024 * 1024;

interface Rules extends RecordBehaviour {
  rejectAddresses: Set<string>;
  rejectDomains: Set<string>;
  tempfailAddresses: Set<string>;
  slowMs: number;
  deferAll: boolean;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

const lower = (xs: string[]): Set<string> => new Set(xs.map((x) => x.trim().toLowerCase()));
const domains = (xs: string[]): Set<string> => new Set(xs.map((x) => x.trim().toLowerCase().replace(/^@/, '')));

class PmtaSimulator implements Simulator {
  readonly host: string;
  readonly received: ReceivedMessage[] = [];
  private boundPort: number;
  private readonly server: SMTPServer;
  private readonly sockets = new Set<Socket>();
  private readonly clock: Clock;
  private readonly keep: boolean;
  private readonly log: (line: string) => void;
  private rules: Rules = {
    bounceDomains: new Set(),
    deferDomains: new Set(),
    complainAddresses: new Set(),
    remoteBounceAddresses: new Set(),
    rejectAddresses: new Set(),
    rejectDomains: new Set(),
    tempfailAddresses: new Set(),
    slowMs: 0,
    deferAll: false,
  };
  private listening = false;
  private closed = false;
  private names: ReadonlySet<string> | null = null;
  private readonly configFile: string | null;
  /** Bumped by stop(): work begun before it is dropped, as if the process had died. */
  private generation = 0;

  constructor(
    opts: SimOptions,
    private readonly acct: AcctWriter,
  ) {
    this.host = opts.host ?? '127.0.0.1';
    this.boundPort = opts.port ?? 0;
    this.clock = opts.clock ?? systemClock;
    this.keep = opts.keepMessages ?? true;
    this.log = opts.log ?? (() => undefined);
    this.configFile = opts.configFile ?? null;
    this.configure(opts);
    this.server = new SMTPServer({
      name: 'pmta-sim',
      banner: 'PowerMTA simulator',
      logger: false,
      authOptional: true,
      // PowerMTA's injection listener is plain SMTP on a trusted network.
      disabledCommands: ['AUTH', 'STARTTLS'],
      hideENHANCEDSTATUSCODES: true,
      disableReverseLookup: true,
      size: MAX_MESSAGE_BYTES,
      maxClients: 1000,
      onRcptTo: (address, _session, cb) => cb(this.checkRcpt(address.address)),
      onData: (stream, session, cb) => {
        this.handleData(stream, session).then(
          (reply) => cb(null, reply),
          (err: Error) => cb(err),
        );
      },
    });
    this.server.on('error', (err: Error) => this.emit('sim.error', { message: err.message }));
    this.server.server.on('connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
  }

  get port(): number {
    return this.boundPort;
  }

  configure(patch: Partial<Behaviour>): void {
    const r = { ...this.rules };
    if (patch.bounceDomains) r.bounceDomains = domains(patch.bounceDomains);
    if (patch.deferDomains) r.deferDomains = domains(patch.deferDomains);
    if (patch.complainAddresses) r.complainAddresses = lower(patch.complainAddresses);
    if (patch.remoteBounceAddresses) r.remoteBounceAddresses = lower(patch.remoteBounceAddresses);
    if (patch.tempfailRcpts) r.tempfailAddresses = lower(patch.tempfailRcpts);
    if (patch.rejectRcpts) {
      const all = patch.rejectRcpts.map((x) => x.trim().toLowerCase());
      r.rejectAddresses = new Set(all.filter((x) => !x.startsWith('@')));
      r.rejectDomains = domains(all.filter((x) => x.startsWith('@')));
    }
    if (patch.slowMs !== undefined) r.slowMs = Math.max(0, patch.slowMs);
    if (patch.deferAll !== undefined) r.deferAll = patch.deferAll;
    // Replaced whole so a message in flight sees one consistent set of rules.
    this.rules = r;
  }

  get vmtas(): ReadonlySet<string> | null {
    return this.names;
  }

  async reload(): Promise<SimConfigLoad> {
    if (this.configFile === null) return { ok: true, issues: [], lines: [], names: new Set() };
    const loaded = loadSimConfig(this.configFile, await readFile(this.configFile, 'utf8'));
    if (loaded.ok) this.names = loaded.names;
    this.emit(loaded.ok ? 'sim.config.loaded' : 'sim.config.refused', { file: this.configFile, vmtas: loaded.names.size, errors: loaded.lines });
    return loaded;
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('simulator is closed');
    if (this.listening) return;
    if (this.configFile !== null && this.names === null) {
      const loaded = await this.reload();
      if (!loaded.ok) throw new Error(`PowerMTA would not start with ${this.configFile}:\n${loaded.lines.join('\n')}`);
    }
    const srv = this.server.server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        srv.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        srv.off('error', onError);
        resolve();
      };
      srv.once('error', onError);
      srv.once('listening', onListening);
      srv.listen(this.boundPort, this.host);
    });
    this.boundPort = (srv.address() as AddressInfo).port;
    this.listening = true;
  }

  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    this.generation++;
    const closed = new Promise<void>((resolve) => this.server.server.close(() => resolve()));
    // server.close() alone waits for clients to leave; PowerMTA going away does not.
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }

  rotate(): Promise<string> {
    return this.acct.rotate(this.clock.now());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    await this.acct.close();
  }

  private checkRcpt(address: string): Error | undefined {
    const addr = address.toLowerCase();
    if (this.rules.tempfailAddresses.has(addr)) return smtpError(451, `4.7.1 <${address}>: try again later`);
    if (this.rules.rejectAddresses.has(addr) || this.rules.rejectDomains.has(domainOf(addr))) {
      return smtpError(550, `5.1.1 <${address}>: Recipient address rejected: User unknown`);
    }
    return undefined;
  }

  private clientGone(session: SMTPServerSession): boolean {
    for (const sock of this.sockets) {
      if (sock.remotePort === session.remotePort && sock.remoteAddress === session.remoteAddress) return sock.destroyed;
    }
    return true;
  }

  private async handleData(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const generation = this.generation;
    const hash = createHash('sha256');
    const headers = new HeaderBlockReader();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      headers.push(chunk);
      if (this.keep) chunks.push(chunk);
    }
    if (stream.sizeExceeded) {
      this.emit('sim.refused', { code: 552, reason: 'too big', size });
      throw smtpError(552, `5.3.4 Message exceeds fixed maximum message size ${MAX_MESSAGE_BYTES}`);
    }

    if (this.rules.slowMs > 0) await delay(this.rules.slowMs);
    if (generation !== this.generation) throw smtpError(421, '4.3.2 Service shutting down');
    // A client that hung up before our reply never saw a 250, so the message was
    // not accepted: taking it anyway would turn the client's retry into a duplicate.
    if (this.clientGone(session)) {
      this.emit('sim.dropped', { reason: 'client disconnected before the reply', size });
      throw smtpError(421, '4.4.2 Client gone');
    }
    const rules = this.rules;
    if (rules.deferAll) {
      this.emit('sim.refused', { code: 451, reason: 'defer-all' });
      throw smtpError(451, '4.3.0 Temporary failure, try again later');
    }

    const fields = headers.headers();
    const values = (name: string): string[] => fields.filter(([n]) => n === name).map(([, v]) => v);
    const vmtas = values('x-virtual-mta');
    const vmta = vmtas[0];
    if (vmta === undefined) {
      this.emit('sim.refused', { code: 550, reason: 'no X-Virtual-MTA' });
      throw smtpError(550, '5.7.1 X-Virtual-MTA header required');
    }

    if (this.names !== null && !this.names.has(vmta.trim().toLowerCase())) {
      this.emit('sim.refused', { code: 550, reason: 'unknown virtual-mta', vmta });
      // The text of the 5.0r5 guide (§9.5.2 note); the SMTP code is not given there.
      throw smtpError(550, `5.5.0 specified Virtual MTA '${vmta.trim()}' does not exist`);
    }

    const msg: ReceivedMessage = {
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map((a) => a.address),
      vmta,
      vmtaHeaderCount: vmtas.length,
      job: values('x-job')[0] ?? null,
      messageId: values('message-id')[0] ?? null,
      size,
      sha256: hash.digest('hex'),
      receivedAt: this.clock.now(),
    };
    if (this.keep) msg.raw = Buffer.concat(chunks, size);
    this.received.push(msg);

    const lines = recordsFor(msg, rules, this.clock.now()).map((r) => formatRecord(ACCT_COLUMNS, r));
    try {
      // Replying only once the records are in the file lets tests read them right after the 250.
      await this.acct.append(lines);
    } catch (err) {
      this.emit('sim.error', { message: `accounting write failed: ${(err as Error).message}` });
    }
    const queueId = randomBytes(6).toString('hex').toUpperCase();
    this.emit('sim.received', { queueId, vmta, job: msg.job, messageId: msg.messageId, rcpts: msg.rcptTo, size });
    return `2.0.0 Ok: queued as ${queueId}`;
  }

  private emit(event: string, fields: Record<string, unknown>): void {
    this.log(JSON.stringify({ event, ...fields }));
  }
}

export async function startSimulator(opts: SimOptions): Promise<Simulator> {
  const acct = await AcctWriter.open(opts.acctDir, ACCT_COLUMNS.join(','));
  const sim = new PmtaSimulator(opts, acct);
  try {
    await sim.start();
  } catch (err) {
    await sim.close();
    throw err;
  }
  return sim;
}
