import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startSimulator } from '../../src/sim/simulator.js';
import { spawnDaemon } from '../helpers/child.js';
import { childConfig } from '../helpers/child-config.js';
import { send, tmpDir } from '../helpers/env.js';

/** A connection that reads its first reply and then says nothing; records the last reply it got when it ends. */
function idleConnection(port: number, ended: string[]): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n')) resolve(sock);
    });
    sock.on('error', reject);
    sock.on('close', () => ended.push(text.split('\r\n').filter(Boolean).pop() ?? ''));
  });
}

describe('the daemon under a crowd of idle connections', () => {
  it('serves a normal MailWizz session while 500 unauthenticated connections sit idle', async () => {
    const { dir, cleanup } = tmpDir();
    const sim = await startSimulator({ port: 0, acctDir: path.join(dir, 'acct') });
    const daemon = await spawnDaemon(path.join(dir, 'config.json'), childConfig(path.join(dir, 'state'), sim.port));
    const ended: string[] = [];
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < 500; i++) idle.push(await idleConnection(daemon.port, ended));
      // Idle, not just arrived: only a connection that has waited a second may be pushed out.
      await new Promise((r) => setTimeout(r, 1_100));
      const r = await send(daemon.port, {});
      assert.ok(r.ok, JSON.stringify(r));
      assert.match(r.response, /^250 /);
      // Every idle connection that was closed was told why, and the listener never
      // held more than maxClients + maxUnauthenticatedClients (200 + 100).
      assert.ok(ended.length >= 200, `${ended.length} idle connections closed`);
      for (const last of ended) assert.match(last, /^421 4\.7\.0 /);
      assert.ok(idle.filter((s) => !s.destroyed).length <= 300);
    } finally {
      for (const s of idle) s.destroy();
      daemon.proc.kill('SIGTERM');
      await daemon.exited;
      await sim.close();
      cleanup();
    }
  });
});
