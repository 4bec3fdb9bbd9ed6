// How long a retired IP's VMTA stays defined so the mail PowerMTA still holds
// for it is delivered rather than bounced (a message whose VMTA no longer
// exists at delivery time bounces, guide §8.5.2). Pure decision plus a small
// JSON file that remembers when each VMTA was first seen retired.
import { readFile } from 'node:fs/promises';
import { writeAtomic } from './apply.js';

/** VMTA name -> ISO time it was first seen retired. */
export type DrainState = Record<string, string>;

/**
 * The retired VMTAs still draining at `now`: each drains for `drainMs` from
 * the first time it was seen retired. Names no longer retired leave the state
 * (a re-retired IP drains again). With drainMs 0 nothing drains.
 */
export function drainStep(prev: DrainState, retired: Iterable<string>, now: Date, drainMs: number): { state: DrainState; draining: Set<string> } {
  const state: DrainState = {};
  const draining = new Set<string>();
  for (const name of retired) {
    const since = prev[name] !== undefined && !Number.isNaN(Date.parse(prev[name]!)) ? prev[name]! : now.toISOString();
    state[name] = since;
    if (now.getTime() - Date.parse(since) < drainMs) draining.add(name);
  }
  return { state, draining };
}

export async function loadDrainState(file: string): Promise<DrainState> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    // Missing or damaged: every retired VMTA drains once more, which only keeps a name defined longer.
    return {};
  }
}

export async function saveDrainState(file: string, state: DrainState): Promise<void> {
  await writeAtomic(file, JSON.stringify(state, null, 2) + '\n', 0o600);
}
