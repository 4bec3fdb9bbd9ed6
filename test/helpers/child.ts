import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface ChildDaemon {
  proc: ChildProcess;
  port: number;
  apiUrl: string;
  lines: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/** The built daemon as its own process, as systemd would run it. */
export async function spawnDaemon(configFile: string, config: unknown): Promise<ChildDaemon> {
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const proc = spawn(process.execPath, [CLI, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let apiUrl = '';
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          lines.push(obj);
          if (obj.event === 'daemon.started') {
            apiUrl = `http://${String(obj.api)}`;
            resolve(Number(String(obj.smtp).split(':').pop()));
          }
        } catch {
          /* not a log line */
        }
      }
    });
    void exited.then((code) => reject(new Error(`daemon exited (${code}) before listening: ${stderr}`)));
  });
  return { proc, port, apiUrl, lines, exited };
}

/** Peak resident memory of a process so far, in bytes (Linux /proc). */
export async function peakRss(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/^VmHWM:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}
