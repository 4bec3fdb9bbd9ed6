import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDb, type Db } from '../../src/store/db.js';
import { groupCommit } from '../../src/store/group-commit.js';
import { tmpDir } from '../helpers/env.js';

describe('group commit (the fast path writes of a turn in one transaction)', () => {
  let db: Db;
  let other: Db;
  let cleanup: () => void;
  before(() => {
    const t = tmpDir();
    cleanup = t.cleanup;
    db = openDb(path.join(t.dir, 'group.db'));
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    other = openDb(db.name);
  });
  after(() => {
    other.close();
    db.close();
    cleanup();
  });
  const count = () => (other.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;

  it('the writes of one turn are committed together; each caller hears of its own only after the commit', async () => {
    const g = groupCommit(db);
    assert.equal(g, groupCommit(db), 'one per connection');
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const writes = ['a', 'b', 'c'].map((k, i) => g.write(() => insert.run(k, i).changes));
    assert.equal(count(), 0, 'nothing is committed before the end of the turn');
    const first = await writes[0];
    assert.equal(first, 1);
    assert.equal(count(), 3, 'when the first caller hears of its write, the whole group is visible to another connection');
    assert.deepEqual(await Promise.all(writes), [1, 1, 1]);
  });

  it('a write that fails reaches only its own caller: the others of its group are committed', async () => {
    const g = groupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    let rolledBack = 0;
    g.onRollback(() => rolledBack++);
    const ok1 = g.write(() => insert.run('d', 1).changes);
    const dup = g.write(() => insert.run('a', 9).changes);
    const ok2 = g.write(() => insert.run('e', 2).changes);
    assert.equal(await ok1, 1);
    await assert.rejects(dup, /UNIQUE/);
    assert.equal(await ok2, 1);
    assert.ok(rolledBack >= 1, 'caches hear that a group rolled back');
    assert.deepEqual(other.prepare("SELECT k, v FROM t WHERE k IN ('a', 'd', 'e') ORDER BY k").all(), [
      { k: 'a', v: 0 },
      { k: 'd', v: 1 },
      { k: 'e', v: 2 },
    ]);
  });

  it('flush commits the queued writes at once (a reader that must see them)', () => {
    const g = groupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    let done = false;
    g.add({ run: () => insert.run('f', 3), done: () => (done = true), fail: () => undefined });
    assert.equal(g.size, 1);
    g.flush();
    assert.equal(done, true);
    assert.equal((other.prepare("SELECT v FROM t WHERE k = 'f'").get() as { v: number }).v, 3);
  });

  it('writeNow commits the queued writes and its own in one go, before it returns; its own error is thrown to it alone', async () => {
    const g = groupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    const queued = g.write(() => insert.run('g', 4).changes);
    assert.equal(g.writeNow(() => insert.run('h', 5).changes), 1);
    assert.equal(g.size, 0);
    assert.deepEqual(other.prepare("SELECT k FROM t WHERE k IN ('g', 'h') ORDER BY k").all(), [{ k: 'g' }, { k: 'h' }], 'both committed when writeNow returns');
    assert.equal(await queued, 1);
    const alsoQueued = g.write(() => insert.run('i', 6).changes);
    assert.throws(() => g.writeNow(() => insert.run('g', 7)), /UNIQUE/);
    assert.equal(await alsoQueued, 1, 'the write queued before it is committed all the same');
  });
});
