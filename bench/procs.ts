// Child processes for the bench: the PowerMTA simulator and the agent daemon.
//
// Both run as their own `node` processes, started through the real CLI, so the
// agent is measured as it is deployed and the load generator (in the bench
// process) talks to the simulator and to the agent in exactly the same way.
// Every child is registered here and killed on the way out, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The CLI entry point as built: dist/bench/procs.js -> dist/src/cli/main.js. */
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const live = new Set<ChildProcess>();

// Last resort: if the bench dies without running its cleanup (an uncaught
// exception, process.exit), no child may outlive it. 'exit' handlers must be
// synchronous, so this is SIGKILL, not the graceful SIGTERM of stop().
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

type Line = Record<string, unknown>;

export class Proc {
  readonly pid: number;
  private readonly stderrTail: string[] = [];
  private readonly waiters: Array<{ test: (l: Line) => boolean; resolve: (l: Line) => void }> = [];
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;
  /** Lines that were not JSON, or whose level is warn/error: shown in the report. */
  readonly notable: string[] = [];
  private readonly onLine: (line: Line) => void;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    onLine: (line: Line) => void = () => undefined,
    /** Reads stdout lines that are not JSON log lines (smtp-sink's counters); true when it took the line. */
    private readonly onText: (text: string) => boolean = () => false,
  ) {
    if (child.pid === undefined) throw new Error(`${name}: failed to start`);
    this.pid = child.pid;
    this.onLine = onLine;
    live.add(child);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after stdout and stderr are drained, so a
      // start failure is reported with the child's last words.
      child.once('close', (code) => {
        live.delete(child);
        this.exitCode = code;
        resolve(code);
      });
    });
    // stdout must be read continuously: the simulator prints a line per message,
    // and a full pipe would block the child and measure the bench, not the child.
    createInterface({ input: child.stdout! }).on('line', (text) => this.line(text));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      this.stderrTail.push(text);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
    });
  }

  private line(text: string): void {
    if (this.onText(text)) return;
    let parsed: Line;
    try {
      parsed = JSON.parse(text) as Line;
    } catch {
      this.note(text);
      return;
    }
    if (parsed.level === 'warn' || parsed.level === 'error' || parsed.event === 'sim.error') this.note(text);
    this.onLine(parsed);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.test(parsed)) {
        this.waiters.splice(i, 1);
        w.resolve(parsed);
      }
    }
  }

  private note(text: string): void {
    if (this.notable.length < 50) this.notable.push(text);
  }

  /** Resolves with the first stdout line matching `test`; rejects if the child exits first or time runs out. */
  waitForLine(test: (l: Line) => boolean, timeoutMs: number, what: string): Promise<Line> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const waiter = {
        test,
        resolve: (l: Line) => {
          settled = true;
          clearTimeout(timer);
          resolve(l);
        },
      };
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.name}: ${why} waiting for ${what}${this.stderr()}`));
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.waiters.push(waiter);
      void this.exited.then((code) => fail(`exited with code ${code}`));
    });
  }

  hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  stderr(): string {
    return this.stderrTail.length ? `\n  stderr: ${this.stderrTail.join('\n  stderr: ')}` : '';
  }

  /** Peak resident set size (VmHWM) so far, in KiB; null where /proc is not available. */
  peakRssKb(): number | null {
    try {
      const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /**
   * CPU time (user + system) used so far, in seconds, from /proc/PID/stat;
   * null where /proc is not available. With 2 cores shared by the load
   * generator, the simulator and the agent, CPU per message says which
   * process the rate is bound by.
   */
  cpuSeconds(): number | null {
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of the line (11 and 12 here), in
      // clock ticks: USER_HZ, 100 on Linux.
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return null;
    }
  }

  /** SIGTERM and wait for the exit; SIGKILL if it takes longer than `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The systemd unit as built: dist/bench/procs.js -> systemd/pmta-agent.service. */
const UNIT = fileURLToPath(new URL('../../systemd/pmta-agent.service', import.meta.url));

/**
 * The environment the systemd unit gives the daemon (its `Environment=` lines:
 * NODE_ENV, the malloc and V8 memory settings), so the bench measures the
 * agent as it is deployed.
 */
export function deployedEnvironment(unitText = readFileSync(UNIT, 'utf8')): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of unitText.matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!;
  return env;
}

function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  // process.execPath, not a shell: the pid we hold is the node process itself,
  // which is what /proc/PID/status must describe and what SIGTERM must reach.
  // BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": profile the children under the bench's load.
  const nodeArgs = process.env.BENCH_AGENT_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  return spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

export interface SimProc extends Proc {
  readonly port: number;
  /** Messages the simulator accepted so far (its `sim.received` lines). */
  received(): number;
  /** Messages it refused so far (`sim.refused`). */
  refused(): number;
}

export async function startSim(acctDir: string): Promise<SimProc> {
  const counts = { received: 0, refused: 0 };
  const proc = new Proc('sim', spawnCli(['sim', '--smtp', '127.0.0.1:0', '--acct-dir', acctDir]), (l) => {
    if (l.event === 'sim.received') counts.received++;
    else if (l.event === 'sim.refused') counts.refused++;
  });
  try {
    const ready = await proc.waitForLine((l) => l.event === 'sim.listening', 15_000, 'sim.listening');
    return Object.assign(proc, { port: Number(ready.port), received: () => counts.received, refused: () => counts.refused });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** Where Postfix's smtp-sink is, or null: the bench's baseline, a C sink without smtp-server's greeting pause. */
export function findSmtpSink(): string | null {
  const dirs = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(':')];
  for (const dir of dirs) {
    const file = `${dir}/smtp-sink`;
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}

export interface SinkProc extends Proc {
  readonly port: number;
  /** Messages it accepted so far (its `mesg=` counter). */
  received(): number;
}

/**
 * Postfix's smtp-sink on loopback: it answers every command at once and discards
 * the mail. `-c` makes it print `sess=N quit=N mesg=N` counters, which is how the
 * bench counts what arrived. As root it needs a user to drop to (`-u nobody`).
 */
export async function startSink(binary: string): Promise<SinkProc> {
  const port = await freePort();
  const args = ['-c', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), `127.0.0.1:${port}`, '1024'];
  let messages = 0;
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = new Proc('smtp-sink', child, undefined, (text) => {
    const m = /mesg=(\d+)/.exec(text);
    if (m) messages = Number(m[1]);
    return m !== null;
  });
  try {
    await waitForPort(proc, port, 15_000);
    return Object.assign(proc, { port, received: () => messages });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

export interface AgentProc extends Proc {
  readonly port: number;
}

/**
 * Starts `pmta-agent run` with a config whose smtp.port is fixed (see
 * freePort). The bench runs the daemon at log level warn so that a log line
 * per message does not take CPU from the measurement, which also silences the
 * info-level `daemon.started` line; so readiness is "the port accepts TCP".
 * The daemon listens only once everything else is wired, so that is enough.
 * It gets the unit's environment (deployedEnvironment), as in production.
 */
export async function startAgent(name: string, configFile: string, port: number): Promise<AgentProc> {
  const proc = new Proc(name, spawnCli(['run', '--config', configFile], deployedEnvironment()));
  try {
    await waitForPort(proc, port, 15_000);
    return Object.assign(proc, { port });
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

async function waitForPort(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (proc.hasExited()) throw new Error(`${proc.name}: exited before listening on port ${port}${proc.stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name}: nothing listening on port ${port} after ${timeoutMs} ms${proc.stderr()}`);
}

/**
 * A port free right now: listen on 0, read it, close. Another process could
 * take it before the daemon binds; on loopback during a bench that is a
 * theoretical race, and it would show as a start failure, not a wrong number.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops every child still running, in parallel. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
