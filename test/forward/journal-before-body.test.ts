import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { Forwarder } from '../../src/forward/forwarder.js';
import { forwardPlan, handOff } from '../../src/forward/handoff.js';
import { openDb, type Db } from '../../src/store/db.js';
import { forwardWorld, TENANT } from './fixture.js';

type World = Awaited<ReturnType<typeof forwardWorld>>;

/**
 * The journal row must be durable before PowerMTA can have the message: a
 * crash after PowerMTA's 250 then still counts the units. Checked where it
 * matters, at a real SMTP server standing in for PowerMTA: when the first
 * byte of the body arrives there, another connection to the SQLite file
 * already sees the row.
 */
describe('the fast path writes its journal row before the message reaches PowerMTA', () => {
  let w: World;
  let observer: Db;
  let server: SMTPServer;
  let port: number;
  /** What another connection saw of the journal when each body began to arrive. */
  const seenAtBody: Array<Array<{ message_id: string; accepted: string | null }>> = [];

  before(async () => {
    w = await forwardWorld();
    observer = openDb(w.db.name);
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, done) {
        let first = true;
        stream.on('data', () => {
          if (!first) return;
          first = false;
          seenAtBody.push(observer.prepare('SELECT message_id, accepted FROM handoffs ORDER BY id').all() as Array<{ message_id: string; accepted: string | null }>);
        });
        stream.on('end', () => done(null, 'queued as T1'));
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  after(async () => {
    observer.close();
    w.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('another connection sees the row (without an answer yet) when the body starts to arrive; the answer and the units follow the 250', async () => {
    const forwarder = new Forwarder({ host: '127.0.0.1', port, maxConnections: 1, maxMessagesPerConnection: 10, connectTimeoutMs: 5000, replyTimeoutMs: 5000, clientName: 't' });
    try {
      const msg = await w.message(['a@x.net', 'b@x.net'], [], { inMemory: true });
      const plan = forwardPlan({ ...w.deps, forwarder }, TENANT, msg.mailFrom, msg.granted);
      assert.ok(plan);
      const outcome = await forwarder.forward(plan.req, Readable.from([(msg.body as { bytes: Buffer }).bytes]));
      assert.equal(outcome.kind, 'accepted', JSON.stringify(outcome));
      assert.deepEqual(seenAtBody, [[{ message_id: 'm1.abc@sos-mail.com', accepted: null }]]);
      const result = await handOff({ ...w.deps, forwarder }, msg, outcome, plan);
      assert.equal(result.kind, 'forwarded');
      assert.deepEqual(observer.prepare('SELECT accepted, settled FROM handoffs').all(), [{ accepted: '["a@x.net","b@x.net"]', settled: 0 }], 'the answer, committed before the reply');
      w.journal.flush();
      assert.deepEqual(observer.prepare('SELECT settled FROM handoffs').all(), [{ settled: 1 }], 'settled with the next batch of marks');
      assert.deepEqual(await w.usage(), { committed: 2, reserved: 0 });
    } finally {
      forwarder.close();
    }
  });

  it('a row the store cannot commit stops the hand-off before any of the message reaches PowerMTA (a local failure), and its units go back', async () => {
    const forwarder = new Forwarder({ host: '127.0.0.1', port, maxConnections: 1, maxMessagesPerConnection: 10, connectTimeoutMs: 5000, replyTimeoutMs: 5000, clientName: 't' });
    const bodies = seenAtBody.length;
    const msg = await w.message(['c@x.net'], [], { inMemory: true });
    // Another process holds the write lock; this one does not wait for it.
    w.db.pragma('busy_timeout = 0');
    observer.exec('BEGIN IMMEDIATE');
    let outcome;
    try {
      const plan = forwardPlan({ ...w.deps, forwarder }, TENANT, msg.mailFrom, msg.granted);
      assert.ok(plan);
      outcome = await forwarder.forward(plan.req, Readable.from([(msg.body as { bytes: Buffer }).bytes]));
      assert.equal(outcome.kind, 'unavailable', JSON.stringify(outcome));
      assert.equal(outcome.kind === 'unavailable' && outcome.local, true);
      assert.equal(seenAtBody.length, bodies, 'no body reached the server');
    } finally {
      observer.exec('ROLLBACK');
      w.db.pragma('busy_timeout = 5000');
      forwarder.close();
    }
    const before = await w.usage();
    await handOff({ ...w.deps, forwarder }, msg, outcome, null);
    assert.deepEqual(await w.usage(), { committed: before.committed, reserved: before.reserved - 1 }, 'nothing reached PowerMTA: the unit is released');
  });
});
