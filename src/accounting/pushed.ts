// Records pushed to the JSON webhook, remembered by a hash of their content:
// a log shipper that posts a record again (it lost our answer and retried, or
// re-read a file) does not get it counted twice. Two records PowerMTA wrote
// with every field equal are one event for the agent's purposes too.
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.js';
import type { Clock } from '../types.js';

/** The same for the same fields whatever their order or the case of their names. */
export function recordHash(fields: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(fields)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(pairs)).digest('base64url');
}

export class PushedRecords {
  private readonly insert: Statement<[string, number]>;
  private readonly drop: Statement<[number]>;

  constructor(
    db: Db,
    private readonly clock: Clock,
  ) {
    this.insert = db.prepare('INSERT OR IGNORE INTO acct_pushed (hash, at) VALUES (?, ?)');
    this.drop = db.prepare('DELETE FROM acct_pushed WHERE at < ?');
  }

  /** True the first time a record with this hash is pushed. Run it in the transaction that counts the record. */
  firstTime(hash: string): boolean {
    return this.insert.run(hash, this.clock.now().getTime()).changes === 1;
  }

  /** Forgets hashes older than `days` days (a shipper does not retry that late). */
  prune(days: number): number {
    return this.drop.run(this.clock.now().getTime() - days * 86_400_000).changes;
  }
}
