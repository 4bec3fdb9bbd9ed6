import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { acceptWithoutProxyCheck } from '../../src/ingress/accept.js';
import { rawSmtp } from '../helpers/raw-smtp.js';

async function serverSeeing(host: string, opts: { useProxy?: boolean } = {}) {
  const sessions: SMTPServerSession[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    ...(opts.useProxy ? { useProxy: true } : {}),
    onConnect(session, cb) {
      sessions.push({ ...session });
      cb();
    },
  });
  const patched = acceptWithoutProxyCheck(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  const a = server.server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return { server, sessions, patched, port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('sessions are set up without the PROXY-header step', () => {
  it('applies to the installed smtp-server (an upgrade that changes SMTPServer._handleProxy fails here, not in production)', async () => {
    const s = await serverSeeing('127.0.0.1');
    try {
      assert.equal(s.patched, true);
    } finally {
      await s.close();
    }
  });

  it('gives each session its own 16-character base-32 id and the true local and remote address', async () => {
    const s = await serverSeeing('127.0.0.1');
    try {
      for (let i = 0; i < 3; i++) {
        const c = await rawSmtp(s.port);
        assert.match(c.greeting, /^220 /);
        assert.match(await c.cmd('EHLO mailwizz.local'), /^250[- ]/);
        c.close();
      }
      assert.equal(s.sessions.length, 3);
      assert.equal(new Set(s.sessions.map((x) => x.id)).size, 3, 'distinct ids');
      for (const x of s.sessions) {
        assert.match(x.id, /^[0-9a-v]{16}$/);
        assert.equal(x.localAddress, '127.0.0.1');
        assert.equal(x.localPort, s.port);
        assert.equal(x.remoteAddress, '127.0.0.1');
        assert.ok(x.remotePort > 0);
      }
    } finally {
      await s.close();
    }
  });

  it('on a wildcard listener reads each connection\'s own local address', async () => {
    const s = await serverSeeing('0.0.0.0');
    try {
      const c = await rawSmtp(s.port);
      assert.match(c.greeting, /^220 /);
      c.close();
      assert.equal(s.sessions[0]!.localAddress, '127.0.0.1');
      assert.equal(s.sessions[0]!.localPort, s.port);
    } finally {
      await s.close();
    }
  });

  it('leaves a server that reads PROXY headers as the library made it', async () => {
    const s = await serverSeeing('127.0.0.1', { useProxy: true });
    try {
      assert.equal(s.patched, false);
    } finally {
      await s.close();
    }
  });
});
