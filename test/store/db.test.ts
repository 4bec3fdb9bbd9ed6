import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb } from '../../src/store/db.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';

test('a store from before reservations were keyed WITHOUT ROWID keeps its held and expired reservations, and settles them', async () => {
  const t = tmpDir();
  try {
    const file = path.join(t.dir, 'agent.db');
    const db = openDb(file);
    const version = db.pragma('user_version', { simple: true }) as number;
    // The table as the migrations before the last one left it, holding a reservation of a crashed process.
    db.exec(`DROP TABLE reservations;
      CREATE TABLE reservations (id TEXT PRIMARY KEY, ip TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held','expired')));
      CREATE INDEX reservations_expiry ON reservations(expires_at);
      INSERT INTO reservations VALUES ('old-1', '45.123.10.1', '2026-11-25', 2, 1000, 'held'), ('old-2', '45.123.10.1', '2026-11-25', 1, 1000, 'expired');
      INSERT INTO quota_usage (ip, day, committed, reserved) VALUES ('45.123.10.1', '2026-11-25', 0, 2);`);
    db.pragma(`user_version = ${version - 1}`);
    db.close();

    const again = openDb(file);
    try {
      assert.equal(again.pragma('user_version', { simple: true }), version);
      assert.match((again.prepare("SELECT sql FROM sqlite_master WHERE name = 'reservations'").get() as { sql: string }).sql, /WITHOUT ROWID/);
      const ledger = new SqliteLedger(again);
      const day = '2026-11-25' as DayKey;
      const ip = '45.123.10.1' as IpAddress;
      assert.deepEqual((await ledger.inFlight()).map((r) => [r.id, r.n]), [['old-1', 2]]);
      await ledger.commit({ id: 'old-1', ip, day, n: 2 });
      await ledger.commit({ id: 'old-2', ip, day, n: 1 }); // swept before, taken by PowerMTA after all: still counts
      assert.deepEqual((await ledger.usage(day, [ip])).get(ip), { committed: 3, reserved: 0 });
    } finally {
      again.close();
    }
  } finally {
    t.cleanup();
  }
});
