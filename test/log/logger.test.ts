import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createLogger, REDACTED } from '../../src/log/logger.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'log-child.js');

function collect(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const log = createLogger({ level, now: () => new Date('2026-11-25T10:00:00Z'), write: (l) => (raw.push(l), lines.push(JSON.parse(l))) });
  return { log, lines, raw };
}

/** Runs the child and returns its stdout lines, parsed, with how it ended. */
function runChild(mode: 'exit' | 'sigterm', count: number): Promise<{ lines: Array<Record<string, unknown>>; code: number | null }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CHILD, mode, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d.toString()));
    proc.stderr.on('data', (d) => {
      if (d.toString().includes('burst-logged')) proc.kill('SIGTERM');
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      try {
        resolve({ lines: out.split('\n').filter(Boolean).map((l) => JSON.parse(l)), code });
      } catch (err) {
        reject(err);
      }
    });
  });
}

describe('log lines (pino)', () => {
  it('writes one JSON object per line with time, level, event and the fields', () => {
    const { log, lines, raw } = collect();
    log.info('smtp.message', { tenant: 'sos-expat', rcpts: ['a@example.net'], size: 12, reason: undefined });
    assert.equal(raw.length, 1);
    assert.ok(!raw[0]!.includes('\n'), 'one line');
    assert.deepEqual(lines[0], { time: '2026-11-25T10:00:00.000Z', level: 'info', event: 'smtp.message', tenant: 'sos-expat', rcpts: ['a@example.net'], size: 12 });
  });

  it('drops lines under the configured level', () => {
    const { log, lines } = collect('warn');
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    assert.deepEqual(
      lines.map((l) => [l.level, l.event]),
      [
        ['warn', 'c'],
        ['error', 'd'],
      ],
    );
  });

  it('logs an error as its message and errno code, without the stack', () => {
    const { log, lines } = collect();
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' });
    log.error('forward.failed', { error: err });
    log.error('acct.read_failed', { err: new Error('gone') });
    assert.deepEqual(lines[0]!.error, { message: 'connect ECONNREFUSED 127.0.0.1:25', code: 'ECONNREFUSED' });
    assert.deepEqual(lines[1]!.err, { message: 'gone' });
  });

  it('redacts passwords, tokens and private keys at the top and nested, and in child bindings; a config key stays readable', () => {
    const { log, lines, raw } = collect();
    log.warn('oops', {
      password: 'hunter2',
      user: { name: 'sos', pass: 'hunter3' },
      request: { headers: { authorization: 'Bearer abc' } },
      token: 'tok-1',
      dkim: { privateKey: '-----BEGIN PRIVATE KEY-----' },
      tls: { key: '-----BEGIN EC PRIVATE KEY-----' },
      key: 'smtp.maxClients',
    });
    log.child({ apiKey: 'k-1', session: 's1' }).info('bound');
    for (const secret of ['hunter2', 'hunter3', 'Bearer abc', 'tok-1', 'BEGIN PRIVATE KEY', 'BEGIN EC PRIVATE KEY', 'k-1']) assert.ok(!raw.join('\n').includes(secret), secret);
    assert.equal(lines[0]!.password, REDACTED);
    assert.deepEqual(lines[0]!.user, { name: 'sos', pass: REDACTED });
    assert.deepEqual(lines[0]!.request, { headers: { authorization: REDACTED } });
    assert.equal(lines[0]!.key, 'smtp.maxClients', 'a config key is a name, not a secret');
    assert.equal(lines[1]!.session, 's1');
  });

  it('child loggers add their bindings to every line, nested children too', () => {
    const { log, lines } = collect();
    const session = log.child({ session: 'abc123' });
    session.debug('smtp.auth_failed', { username: 'x' });
    session.child({ tenant: 'ulixai' }).info('smtp.message', { size: 1 });
    log.info('daemon.started');
    assert.deepEqual(
      lines.map(({ time: _t, level: _l, ...rest }) => rest),
      [
        { session: 'abc123', username: 'x', event: 'smtp.auth_failed' },
        { session: 'abc123', tenant: 'ulixai', size: 1, event: 'smtp.message' },
        { event: 'daemon.started' },
      ],
    );
  });

  it('loses no line of a burst when the process exits right after it', async () => {
    const { lines, code } = await runChild('exit', 20_000);
    assert.equal(code, 0);
    assert.equal(lines.length, 20_000);
    assert.deepEqual(
      lines.map((l) => l.i),
      Array.from({ length: 20_000 }, (_, i) => i),
      'in order',
    );
  });

  it('loses no line of a burst when SIGTERM stops the process, and the stop line comes last', async () => {
    const { lines, code } = await runChild('sigterm', 20_000);
    assert.equal(code, 0);
    assert.equal(lines.filter((l) => l.event === 'child.line').length, 20_000);
    assert.equal(lines.at(-1)!.event, 'child.stopping');
  });
});
