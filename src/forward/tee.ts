import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { HeaderCollector } from '../stamp/collect.js';
import { headerProblem, parseHeaders, type HeaderInfo } from '../stamp/headers.js';
import type { ForwardOutcome } from './forwarder.js';
import type { Held, HoldingSink } from './held.js';

export interface Teed {
  size: number;
  /** The message as received, in memory or in a temp file. */
  held: Held;
  info: HeaderInfo | null;
  /** Why the header block cannot go to PowerMTA (the stamper refuses it too), or null. */
  headerProblem: string | null;
  /** null when no forward was attempted. */
  outcome: ForwardOutcome | null;
}

/**
 * Receives a message into `sink` and, when `forward` is given, streams it to
 * PowerMTA at the same time. If PowerMTA fails mid-message its branch is
 * dropped and the sink still gets every byte, so the message can be spooled.
 * Nothing is fsynced here: only a message that goes to the spool needs that,
 * and the spool does it.
 */
export async function tee(source: Readable, sink: HoldingSink, forward: ((stream: Readable) => Promise<ForwardOutcome>) | null): Promise<Teed> {
  const headers = new HeaderCollector();
  let info: HeaderInfo | null = null;
  let problem: string | null = null;
  let size = 0;
  let toPmta: PassThrough | null = null;
  let outcome: Promise<ForwardOutcome> | null = null;
  let pmtaDone = false;
  if (forward) {
    toPmta = new PassThrough();
    // The PowerMTA branch failing is told by its outcome; the sink branch goes on.
    toPmta.on('error', () => undefined);
    outcome = forward(toPmta).finally(() => {
      pmtaDone = true;
    });
  }
  let held: Held;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (info === null) {
        const block = headers.push(chunk);
        if (block) {
          info = parseHeaders(block.block.toString('utf8'));
          problem = headerProblem(block.block.toString('latin1'), block.truncated, headers.maxBytes);
        }
      }
      const branch = toPmta && !pmtaDone && !toPmta.destroyed ? toPmta : null;
      branch?.write(chunk);
      await sink.write(chunk);
      // Check the flags after each wait: a 'drain' that fired while we waited on the other branch is gone.
      if (branch && !branch.destroyed && branch.writableNeedDrain) await Promise.race([once(branch, 'drain').catch(() => undefined), outcome]);
    }
    if (info === null) {
      const block = headers.end();
      if (block) {
        info = parseHeaders(block.block.toString('utf8'));
        problem = headerProblem(block.block.toString('latin1'), block.truncated, headers.maxBytes);
      }
    }
    held = await sink.end();
  } catch (err) {
    await sink.discard();
    toPmta?.destroy(err as Error);
    if (outcome) await outcome.catch(() => undefined);
    throw err;
  }
  if (toPmta && !pmtaDone && !toPmta.destroyed) toPmta.end();
  return { size, held, info, headerProblem: problem, outcome: outcome ? await outcome : null };
}
