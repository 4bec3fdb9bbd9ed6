import { constants as fsc } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Flushes a file, or a directory's entries, to disk. A new name from a rename,
 * link or unlink survives a crash only once its directory is synced (fsync(2)),
 * and Linux syncs a directory only through a descriptor opened read-only.
 */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncPath on a directory: makes the renames, links and unlinks in it durable. */
export const fsyncDir: (dir: string) => Promise<void> = fsyncPath;
