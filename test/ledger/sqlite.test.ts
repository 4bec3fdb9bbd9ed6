import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { openDb, type Db } from '../../src/store/db.js';
import type { DayKey, IpAddress } from '../../src/types.js';
import { tmpDir } from '../helpers/env.js';
import { ledgerContract } from './contract.js';

const ip = '45.123.10.1' as IpAddress;
const now = new Date('2026-11-25T10:00:00Z');

describe('SQLite quota ledger', () => {
  let db: Db;
  let ledger: SqliteLedger;
  let cleanup: () => void;
  before(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'ledger.db'));
    ledger = new SqliteLedger(db);
  });
  after(() => {
    db.close();
    cleanup();
  });

  ledgerContract(() => ledger);

  it('holds the cap across two connections to the same file (two processes)', async () => {
    const other = new SqliteLedger(openDb(db.name));
    const day2 = '2026-11-27' as DayKey;
    const granted = [];
    for (let i = 0; i < 30; i++) {
      const r = await (i % 2 ? ledger : other).reserve(ip, day2, 1, 20, now, 60_000);
      if (r) granted.push(r);
    }
    assert.equal(granted.length, 20);
    for (const r of granted) await ledger.release(r);
  });
});
