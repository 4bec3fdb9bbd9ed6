import { createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { FILE_MODE } from '../store/modes.js';

/**
 * A received message's bytes: in memory when it is small, else in a temp file.
 * Neither is durable; a message that must wait is written and fsynced by the
 * spool before its 250 (`Spool.admit`).
 */
export type Held = { kind: 'memory'; bytes: Buffer; size: number } | { kind: 'file'; path: string; size: number };

/**
 * Collects a message as it arrives. Up to `memoryLimit` bytes it stays in
 * memory: most mail is forwarded at once and never needs a file, and opening,
 * writing, closing and unlinking one per message was a tenth of the agent's
 * CPU at 100 messages per connection (issue 15). Past the limit what was held
 * goes to `file` and the rest streams after it, so a large message is never
 * held whole.
 */
export class HoldingSink {
  private chunks: Buffer[] = [];
  private size = 0;
  private out: WriteStream | null = null;
  private failure: Error | null = null;

  constructor(
    readonly file: string,
    private readonly memoryLimit: number,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    if (this.out === null) {
      if (this.size <= this.memoryLimit) {
        this.chunks.push(chunk);
        return;
      }
      this.out = createWriteStream(this.file, { mode: FILE_MODE });
      this.out.on('error', (err) => (this.failure ??= err));
      for (const c of this.chunks.splice(0)) this.out.write(c);
    }
    if (this.failure) throw this.failure;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  async end(): Promise<Held> {
    if (this.out === null) {
      const chunks = this.chunks;
      this.chunks = [];
      return heldInMemory(chunks, this.size);
    }
    this.out.end();
    await finished(this.out);
    return { kind: 'file', path: this.file, size: this.size };
  }

  /** Gives up: nothing of the message is kept. */
  async discard(): Promise<void> {
    this.chunks = [];
    const out = this.out;
    if (out === null) return;
    // The file is opened asynchronously: removing it before the stream has
    // closed left it to be created (and written) after the removal.
    out.destroy();
    // Only 'close': a write cut short by the destroy errors, and that is not news.
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    await fsp.rm(this.file, { force: true });
  }
}

/**
 * The chunks as one buffer, joined when first read: only the spool reads it (to
 * write the message in one call), so a message PowerMTA takes at once is never
 * copied. A message of some size arrives in several socket reads, and the join
 * was a copy of all of it per message.
 */
function heldInMemory(chunks: Buffer[], size: number): Held {
  let joined: Buffer | null = chunks.length === 1 ? chunks[0]! : null;
  return {
    kind: 'memory',
    size,
    get bytes() {
      joined ??= Buffer.concat(chunks, size);
      chunks = [];
      return joined;
    },
  };
}

/** Forgets a held message that does not go to the spool. */
export async function discardHeld(held: Held): Promise<void> {
  if (held.kind === 'file') await fsp.rm(held.path, { force: true });
}
