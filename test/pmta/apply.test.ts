import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyPmtaConfig, ApplyStatus, backupPathOf, PmtaApplier, type ApplyResult } from '../../src/pmta/apply.js';
import { runReload } from '../../src/pmta/reload.js';
import { createLogger } from '../../src/log/logger.js';

let dir: string;
let conf: string;
let calls: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pmta-apply-'));
  conf = path.join(dir, 'pmta-agent.conf');
  calls = path.join(dir, 'reload-calls.log');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A reload command that appends one line per call to `calls`, then runs `then`. */
function recording(then: string): string {
  return `echo call >> '${calls}'; ${then}`;
}

function reloadCalls(): number {
  return existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean).length : 0;
}

function leftovers(): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.tmp'));
}

function kindOf(r: ApplyResult): string {
  return r.kind;
}

describe('applyPmtaConfig', () => {
  it('writes a first file and reloads once when there was no file', async () => {
    const r = await applyPmtaConfig({ path: conf, content: '# new\n', reloadCommand: recording('true'), timeoutMs: 5000 });
    assert.equal(r.kind, 'applied');
    assert.equal(r.kind === 'applied' && r.backup, null);
    assert.equal(readFileSync(conf, 'utf8'), '# new\n');
    assert.equal(reloadCalls(), 1);
    assert.deepEqual(leftovers(), []);
  });

  it('keeps the previous file as <path>.bak, puts the new one in place and reloads', async () => {
    writeFileSync(conf, '# old\n');
    chmodSync(conf, 0o640);
    const r = await applyPmtaConfig({ path: conf, content: '# new\n', reloadCommand: recording('true'), timeoutMs: 5000 });
    assert.equal(r.kind, 'applied');
    assert.equal(r.kind === 'applied' && r.backup, backupPathOf(conf));
    assert.equal(readFileSync(conf, 'utf8'), '# new\n');
    assert.equal(readFileSync(`${conf}.bak`, 'utf8'), '# old\n');
    assert.equal(statSync(conf).mode & 0o777, 0o640, 'keeps the mode the operator gave the file');
    assert.equal(reloadCalls(), 1);
    assert.deepEqual(leftovers(), []);
  });

  it('neither writes nor reloads when the file already holds the content', async () => {
    writeFileSync(conf, '# same\n');
    const before = statSync(conf).mtimeMs;
    await sleep(20);
    const r = await applyPmtaConfig({ path: conf, content: '# same\n', reloadCommand: recording('true'), timeoutMs: 5000 });
    assert.deepEqual(r, { kind: 'unchanged' });
    assert.equal(statSync(conf).mtimeMs, before);
    assert.equal(existsSync(`${conf}.bak`), false);
    assert.equal(reloadCalls(), 0);
  });

  it('puts the previous file back and reloads a second time when the reload exits non-zero', async () => {
    writeFileSync(conf, '# old\n');
    const r = await applyPmtaConfig({
      path: conf,
      content: '# broken\n',
      reloadCommand: recording(`echo "error: unknown directive on line 3" >&2; exit 3`),
      timeoutMs: 5000,
    });
    assert.equal(kindOf(r), 'rolled-back');
    if (r.kind !== 'rolled-back') return;
    // PowerMTA's own error line is the reason when it printed one; the exit code otherwise.
    assert.equal(r.reason, 'error: unknown directive on line 3');
    assert.match(r.reloadOutput, /unknown directive on line 3/);
    assert.equal(r.secondReload.kind, 'exited', 'the second reload ran (and, with this command, failed too)');
    assert.equal(readFileSync(conf, 'utf8'), '# old\n');
    assert.equal(reloadCalls(), 2);
    assert.deepEqual(leftovers(), []);
  });

  it('reports a second reload that succeeds after the rollback', async () => {
    writeFileSync(conf, '# old\n');
    // Fails while the new file is in place, succeeds once the old one is back.
    const cmd = recording(`grep -q broken '${conf}' && exit 1; exit 0`);
    const r = await applyPmtaConfig({ path: conf, content: '# broken\n', reloadCommand: cmd, timeoutMs: 5000 });
    assert.equal(r.kind, 'rolled-back');
    assert.equal(r.kind === 'rolled-back' && r.secondReload.kind, 'ok');
    assert.equal(readFileSync(conf, 'utf8'), '# old\n');
    assert.equal(reloadCalls(), 2);
  });

  it('removes the new file again when a first file is refused, since there is nothing to go back to', async () => {
    const r = await applyPmtaConfig({ path: conf, content: '# broken\n', reloadCommand: recording('exit 1'), timeoutMs: 5000 });
    assert.equal(r.kind, 'rolled-back');
    assert.equal(existsSync(conf), false);
    assert.equal(reloadCalls(), 2);
  });

  it('treats a reload that hangs past the timeout as a failure: kills it, rolls back, reloads again', async () => {
    writeFileSync(conf, '# old\n');
    const started = Date.now();
    const r = await applyPmtaConfig({ path: conf, content: '# new\n', reloadCommand: recording('sleep 5'), timeoutMs: 300 });
    const took = Date.now() - started;
    assert.equal(r.kind, 'rolled-back');
    if (r.kind !== 'rolled-back') return;
    assert.equal(r.reason, 'reload command timed out after 300 ms');
    assert.equal(r.reload.kind, 'timeout');
    assert.equal(r.secondReload.kind, 'timeout');
    assert.ok(took < 4000, `both reloads were cut short (took ${took} ms)`);
    assert.equal(readFileSync(conf, 'utf8'), '# old\n');
    assert.equal(reloadCalls(), 2);
  });

  it('fails without reloading when the directory cannot be written', async () => {
    const r = await applyPmtaConfig({ path: path.join(dir, 'missing', 'x.conf'), content: '# x\n', reloadCommand: recording('true'), timeoutMs: 5000 });
    assert.equal(r.kind, 'failed');
    assert.match(r.kind === 'failed' ? r.reason : '', /cannot write/);
    assert.equal(reloadCalls(), 0);
  });

  it('runs two applies to the same file one after the other, never interleaved', async () => {
    const trace = path.join(dir, 'trace.log');
    const cmd = `echo start >> '${trace}'; sleep 0.2; echo end >> '${trace}'`;
    const [a, b] = await Promise.all([
      applyPmtaConfig({ path: conf, content: '# a\n', reloadCommand: cmd, timeoutMs: 5000 }),
      applyPmtaConfig({ path: conf, content: '# b\n', reloadCommand: cmd, timeoutMs: 5000 }),
    ]);
    assert.equal(a.kind, 'applied');
    assert.equal(b.kind, 'applied');
    assert.deepEqual(readFileSync(trace, 'utf8').split('\n').filter(Boolean), ['start', 'end', 'start', 'end']);
    assert.equal(readFileSync(conf, 'utf8'), '# b\n');
    assert.equal(readFileSync(`${conf}.bak`, 'utf8'), '# a\n');
  });
});

describe('runReload', () => {
  it('kills the whole process group on timeout, not just the shell', async () => {
    const late = path.join(dir, 'late');
    const r = await runReload({ command: `(sleep 1; echo late > '${late}') & wait`, timeoutMs: 200, killGraceMs: 100 });
    assert.equal(r.kind, 'timeout');
    await sleep(1300);
    assert.equal(existsSync(late), false);
  });

  it('keeps at most maxOutputChars of the output, marked as truncated', async () => {
    const r = await runReload({ command: 'head -c 100000 /dev/zero | tr "\\0" x; exit 2', timeoutMs: 5000, maxOutputChars: 1000 });
    assert.equal(r.kind, 'exited');
    assert.equal(r.output, `${'x'.repeat(1000)}\n[output truncated]`);
  });

  it('captures stdout and stderr of a successful reload', async () => {
    const r = await runReload({ command: 'echo out; echo err >&2', timeoutMs: 5000 });
    assert.equal(r.kind, 'ok');
    assert.match(r.output, /out/);
    assert.match(r.output, /err/);
  });
});

describe('applyPmtaConfig: lint and pmta test config before the reload', () => {
  const GOOD = '<source 127.0.0.1>\n    smtp-service yes\n</source>\n';

  it('refuses a file the linter finds errors in: nothing written, nothing run, the reason in PowerMTA form', async () => {
    writeFileSync(conf, '# old\n');
    const bad = '<acct-file /var/log/pmta/acct.csv>\n    record-fields d,b *,header_Message-Id\n</acct-file>\n';
    const r = await applyPmtaConfig({ path: conf, content: bad, reloadCommand: recording('true'), testCommand: recording('true'), timeoutMs: 5000 });
    assert.equal(r.kind, 'refused');
    if (r.kind !== 'refused') return;
    assert.match(r.reason, new RegExp(`^Error in line 2 of ${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: record-fields`));
    assert.ok(r.issues.length >= 1);
    assert.equal(readFileSync(conf, 'utf8'), '# old\n');
    assert.equal(reloadCalls(), 0);
    assert.equal(existsSync(`${conf}.bak`), false);
  });

  it('runs the test command on the written file, then the reload', async () => {
    writeFileSync(conf, '# old\n');
    const order = path.join(dir, 'order.log');
    const r = await applyPmtaConfig({
      path: conf,
      content: GOOD,
      testCommand: `grep -q smtp-service '${conf}' && echo test >> '${order}'`,
      reloadCommand: `echo reload >> '${order}'`,
      timeoutMs: 5000,
    });
    assert.equal(r.kind, 'applied');
    assert.deepEqual(readFileSync(order, 'utf8').split('\n').filter(Boolean), ['test', 'reload']);
  });

  it('puts the previous file back without reloading when the test exits non-zero', async () => {
    writeFileSync(conf, '# old\n');
    const r = await applyPmtaConfig({ path: conf, content: GOOD, testCommand: 'exit 4', reloadCommand: recording('true'), timeoutMs: 5000 });
    assert.equal(r.kind, 'test-failed');
    assert.equal(r.kind === 'test-failed' && r.reason, 'test command exited with code 4');
    assert.equal(readFileSync(conf, 'utf8'), '# old\n');
    assert.equal(reloadCalls(), 0);
    assert.deepEqual(leftovers(), []);
  });

  it("counts PowerMTA's Error line as a failure even after exit 0 (exit codes are undocumented) and reports that line", async () => {
    const r = await applyPmtaConfig({
      path: conf,
      content: GOOD,
      testCommand: `echo 'Error in line 11 of /etc/pmta/config: argument missing'; exit 0`,
      reloadCommand: recording('true'),
      timeoutMs: 5000,
    });
    assert.equal(r.kind, 'test-failed');
    if (r.kind !== 'test-failed') return;
    assert.equal(r.errorLine, 'Error in line 11 of /etc/pmta/config: argument missing');
    assert.equal(r.reason, r.errorLine);
    assert.equal(existsSync(conf), false, 'with no previous file the new one is removed');
    assert.equal(reloadCalls(), 0);
  });

  it('alerts and marks the status failing when the test refuses the file', async () => {
    const alerts: ApplyResult[] = [];
    const lines: string[] = [];
    const applier = new PmtaApplier({
      path: conf,
      reloadCommand: recording('true'),
      testCommand: `echo 'Error in line 3 of /etc/pmta/config: unknown directive'`,
      timeoutMs: 5000,
      log: createLogger({ write: (l) => lines.push(l) }),
      onFailure: (x) => void alerts.push(x),
    });
    const r = await applier.apply(GOOD);
    assert.equal(r.kind, 'test-failed');
    assert.equal(alerts.length, 1);
    assert.equal(applier.status.failing, true);
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.event === 'pmta.config.test-failed');
    assert.equal(logged?.reason, 'Error in line 3 of /etc/pmta/config: unknown directive');
  });
});

describe('PmtaApplier', () => {
  it('records every result with its time, logs, and calls the alert hook for a rollback', async () => {
    writeFileSync(conf, '# old\n');
    const lines: string[] = [];
    const alerts: ApplyResult[] = [];
    const status = new ApplyStatus();
    const applier = new PmtaApplier({
      path: conf,
      reloadCommand: 'exit 7',
      timeoutMs: 5000,
      status,
      log: createLogger({ write: (l) => lines.push(l) }),
      onFailure: (r) => {
        alerts.push(r);
      },
      now: () => new Date('2026-11-25T10:00:00Z'),
    });
    const r = await applier.apply('# new\n');
    assert.equal(r.kind, 'rolled-back');
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0], r);
    assert.deepEqual(status.last(), { at: '2026-11-25T10:00:00.000Z', result: r });
    assert.equal(status.failing, true);
    assert.equal(status.lastSuccess(), null);
    assert.ok(lines.some((l) => JSON.parse(l).event === 'pmta.reload.failed'));

    const ok = new PmtaApplier({ path: conf, reloadCommand: 'true', timeoutMs: 5000, status, onFailure: (x) => void alerts.push(x) });
    const r2 = await ok.apply('# new\n');
    assert.equal(r2.kind, 'applied');
    assert.equal(status.failing, false);
    assert.equal(status.lastSuccess()?.result, r2);
    assert.equal(alerts.length, 1);
  });
});
