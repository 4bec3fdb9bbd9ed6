// Runs the configured reload command (`pmta reload` by default) with a
// deadline. The command is a shell line the operator wrote, so it runs under
// /bin/sh -c in its own process group: on timeout the whole group is killed,
// not just the shell, or a hung `pmta` child would outlive us.
import { spawn } from 'node:child_process';

export type ReloadOutcome =
  | { kind: 'ok'; output: string; ms: number }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }
  | { kind: 'timeout'; timeoutMs: number; output: string; ms: number }
  | { kind: 'spawn-error'; message: string; output: string; ms: number };

export interface ReloadOptions {
  command: string;
  timeoutMs: number;
  /** stdout and stderr together are cut to this many characters for the report. */
  maxOutputChars?: number;
  /** After SIGTERM to the group on timeout, SIGKILL follows this much later. */
  killGraceMs?: number;
}

export const DEFAULT_MAX_OUTPUT_CHARS = 4000;

export function describeReload(o: ReloadOutcome): string {
  return describeCommand(o, 'reload command');
}

/** One sentence for an outcome of any PowerMTA command (`reload command`, `test command`...). */
export function describeCommand(o: ReloadOutcome, what: string): string {
  switch (o.kind) {
    case 'ok':
      return `${what} succeeded`;
    case 'exited':
      return o.signal ? `${what} killed by ${o.signal}` : `${what} exited with code ${o.code}`;
    case 'timeout':
      return `${what} timed out after ${o.timeoutMs} ms`;
    case 'spawn-error':
      return `${what} could not start: ${o.message}`;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export function runReload(opts: ReloadOptions): Promise<ReloadOutcome> {
  const max = opts.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS;
  const grace = opts.killGraceMs ?? 1000;
  const started = Date.now();
  return new Promise((resolve) => {
    let output = '';
    let truncated = false;
    const collect = (chunk: Buffer): void => {
      if (output.length >= max) {
        truncated = true;
        return;
      }
      output += chunk.toString('utf8');
      if (output.length > max) {
        output = output.slice(0, max);
        truncated = true;
      }
    };
    const text = (): string => (truncated ? `${output}\n[output truncated]` : output);

    let settled = false;
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (o: ReloadOutcome): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      resolve(o);
    };

    const child = spawn('/bin/sh', ['-c', opts.command], {
      detached: true, // its own process group, so the timeout can kill the group
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) => finish({ kind: 'spawn-error', message: err.message, output: text(), ms: Date.now() - started }));

    const onDone = (code: number | null, signal: NodeJS.Signals | null): void => {
      const ms = Date.now() - started;
      if (timedOut) finish({ kind: 'timeout', timeoutMs: opts.timeoutMs, output: text(), ms });
      else if (code === 0) finish({ kind: 'ok', output: text(), ms });
      else finish({ kind: 'exited', code, signal, output: text(), ms });
    };
    // 'close' waits for the pipes too, so the output is complete; a grandchild
    // that escaped the group could hold them open, hence the deadline below.
    child.on('close', onDone);

    timers.push(
      setTimeout(() => {
        if (child.pid === undefined) return;
        timedOut = true;
        killGroup(child.pid, 'SIGTERM');
        timers.push(
          setTimeout(() => {
            if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
            timers.push(
              setTimeout(() => {
                child.stdout.destroy();
                child.stderr.destroy();
                finish({ kind: 'timeout', timeoutMs: opts.timeoutMs, output: text(), ms: Date.now() - started });
              }, 500),
            );
          }, grace),
        );
      }, opts.timeoutMs),
    );
  });
}
