import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full GC left
 * before it collects again: 60% (V8 picks a factor up to 4x on its own). The
 * daemon keeps about 25 MB live, but a message in flight that outlives two
 * young-generation collections is promoted, so under load the old generation
 * filled with dead messages up to 60-80 MB between the few full GCs V8 chose
 * (issue 15: peak RSS 170 MB under the relay bench; 120 MB with this, for 3-4%
 * more CPU per message; since the gate stopped promoting objects per message,
 * far less reaches the old generation and the bound costs under 1%). A full GC
 * of this heap takes a few ms.
 *
 * This flag is read at every GC, so it can be set here, by the daemon itself
 * (node refuses it in NODE_OPTIONS); the young generation's size cannot, and
 * is set in the systemd unit (NODE_OPTIONS=--max-semi-space-size).
 */
export const HEAP_GROWING_PERCENT = 60;

export function tuneHeapForDaemon(execArgv: readonly string[] = process.execArgv): void {
  // A value given on node's command line (an operator's, or a measurement's) stands.
  if (execArgv.some((a) => a.startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
