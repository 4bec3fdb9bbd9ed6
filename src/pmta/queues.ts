// Pausing and resuming every queue of a VMTA through the operator's commands
// (`pmta pause queue */NAME`, `pmta resume queue */NAME`, guide §6.3.23 and
// §6.3.25). A paused IP's VMTA stays defined so its queued mail is held, not
// bounced (§8.5.2); the pause is what keeps that mail from leaving.
import { readFile } from 'node:fs/promises';
import { pmtaErrorLine, writeAtomic } from './apply.js';
import { describeCommand, runReload } from './reload.js';

export type QueueAction = 'pause' | 'resume';

export interface QueueCommandResult {
  vmta: string;
  ok: boolean;
  /** PowerMTA's output line on success (`Queue(s) paused.`), the reason otherwise. */
  detail: string;
}

// VMTA names are the agent's own (`<slug>-<ip>`): safe inside the shell line.
const VMTA_RE = /^[a-z0-9][a-z0-9.-]{0,127}$/;

/** The command for one VMTA: `{vmta}` in the template replaced by its name. */
export function queueCommand(template: string, vmta: string): string {
  if (!VMTA_RE.test(vmta)) throw new Error(`not a VMTA name the agent makes: ${JSON.stringify(vmta)}`);
  return template.replaceAll('{vmta}', vmta);
}

/** Runs the command for each VMTA in turn; a failure does not stop the others. */
export async function runQueueCommands(template: string, vmtas: readonly string[], timeoutMs: number): Promise<QueueCommandResult[]> {
  const out: QueueCommandResult[] = [];
  for (const vmta of vmtas) {
    const r = await runReload({ command: queueCommand(template, vmta), timeoutMs });
    const error = pmtaErrorLine(r.output);
    if (r.kind === 'ok' && error === null) out.push({ vmta, ok: true, detail: r.output.trim().split('\n')[0] ?? '' });
    else out.push({ vmta, ok: false, detail: error ?? describeCommand(r, 'queue command') });
  }
  return out;
}

/** The VMTAs of an applied config: all defined ones, and the paused among them. */
export interface QueueView {
  defined: ReadonlySet<string>;
  paused: ReadonlySet<string>;
}

export interface QueuePlan {
  /** Newly paused VMTAs PowerMTA already knows: held before the reload takes them out of the pool. */
  pauseBefore: string[];
  /** Every paused VMTA, after the reload: idempotent, and covers one the reload just defined. */
  pauseAfter: string[];
  /** VMTAs paused at the last apply and not now (resumed, or retired and draining), still defined. */
  resumeAfter: string[];
}

/**
 * What to pause and resume around an apply, from the last applied view and
 * the one about to be applied. The last view is kept on disk (saveQueueView),
 * so an IP resumed while the agent was down has its queues resumed at the
 * next start; null (a first start, or a lost file) resumes nothing, so a
 * queue the operator paused by hand is left alone.
 */
export function queuePlan(prev: QueueView | null, next: QueueView): QueuePlan {
  const sorted = (xs: Iterable<string>) => [...xs].sort();
  return {
    pauseBefore: prev ? sorted([...next.paused].filter((n) => prev.defined.has(n) && !prev.paused.has(n))) : [],
    pauseAfter: sorted(next.paused),
    resumeAfter: prev ? sorted([...prev.paused].filter((n) => !next.paused.has(n) && next.defined.has(n))) : [],
  };
}

/** The view of the last successful apply, for the next start (a JSON file in the state dir). */
export async function saveQueueView(file: string, view: QueueView): Promise<void> {
  const body = { defined: [...view.defined].sort(), paused: [...view.paused].sort() };
  await writeAtomic(file, JSON.stringify(body, null, 2) + '\n', 0o600);
}

/** The saved view, or null when there is none or it cannot be read (then nothing is resumed at start). */
export async function loadQueueView(file: string): Promise<QueueView | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { defined?: unknown; paused?: unknown };
    const names = (xs: unknown) => (Array.isArray(xs) ? xs.filter((x): x is string => typeof x === 'string' && VMTA_RE.test(x)) : null);
    const defined = names(parsed.defined);
    const paused = names(parsed.paused);
    if (!defined || !paused) return null;
    return { defined: new Set(defined), paused: new Set(paused) };
  } catch {
    return null;
  }
}
