import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { buildPmtaModel } from '../../src/pmta/model.js';
import { renderPmtaConfig } from '../../src/pmta/render.js';
import { startSimulator } from '../../src/sim/simulator.js';
import { TWO_TENANTS } from '../pmta/fixtures.js';
import { message, send, tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../src/sim/cli.js', import.meta.url));
const BAD = '<acct-file /var/log/pmta/acct.csv>\n    record-fields d,b,t *,header_Message-Id\n    move-interval 1h\n</acct-file>\n';

async function refusal(p: Promise<unknown>): Promise<{ responseCode?: number; response?: string }> {
  return p.then(
    () => assert.fail('expected a refusal'),
    (e: { responseCode?: number; response?: string }) => e,
  );
}

test('the simulator handed the rendered file routes only to the VMTAs and pools it defines', async () => {
  const { dir, cleanup } = await tempDir();
  const conf = join(dir, 'pmta-agent.conf');
  await writeFile(conf, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
  const sim = await startSimulator({ acctDir: dir, configFile: conf });
  try {
    assert.ok(sim.vmtas?.has('sos-expat-45-123-10-1'));
    assert.ok(sim.vmtas?.has('sos-expat-pool'));
    await send(sim.port, 'b@sos-mail.com', ['x@gmail.com'], message(['X-Virtual-MTA: sos-expat-45-123-10-1', 'Subject: ok']));
    await send(sim.port, 'b@sos-mail.com', ['x@gmail.com'], message(['X-Virtual-MTA: sos-expat-pool', 'Subject: ok']));
    // A retired IP has no VMTA: PowerMTA refuses the name at injection (§3.3.7.31).
    const err = await refusal(send(sim.port, 'b@sos-mail.com', ['x@gmail.com'], message(['X-Virtual-MTA: ulixai-91-200-5-11', 'Subject: no'])));
    assert.equal(err.responseCode, 550);
    assert.equal(err.response, "550 5.5.0 specified Virtual MTA 'ulixai-91-200-5-11' does not exist");
    assert.equal(sim.received.length, 2);
  } finally {
    await sim.close();
    await cleanup();
  }
});

test('the simulator refuses to start on a file PowerMTA would refuse, and a reload to one keeps the previous config', async () => {
  const { dir, cleanup } = await tempDir();
  const conf = join(dir, 'pmta-agent.conf');
  await writeFile(conf, BAD);
  await assert.rejects(startSimulator({ acctDir: dir, configFile: conf }), /PowerMTA would not start with .*\nError in line 2 of .*record-fields/);

  await writeFile(conf, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
  const sim = await startSimulator({ acctDir: dir, configFile: conf });
  try {
    await writeFile(conf, BAD);
    const r = await sim.reload();
    assert.equal(r.ok, false);
    assert.deepEqual(r.lines.map((l) => l.replace(conf, 'FILE').replace(/ \(guide.*$/, '')), [
      'Error in line 2 of FILE: record-fields: "d,b,t" is not one of d, b, t, tq, r, f, rb, rs',
      'Error in line 2 of FILE: record-fields takes one record type and one comma list of fields, without spaces (§3.3.11.12)',
      'Error in line 3 of FILE: move-interval without move-to is silently ignored (§3.3.11.2): give both, or neither',
    ]);
    assert.ok(sim.vmtas?.has('sos-expat-45-123-10-1'), 'the previous config stays in force');
  } finally {
    await sim.close();
    await cleanup();
  }
});

test('sim test-config prints PowerMTA error lines and exits 1; a good file exits 0 silently', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const bad = join(dir, 'bad.conf');
    const good = join(dir, 'good.conf');
    await writeFile(bad, BAD);
    await writeFile(good, renderPmtaConfig(buildPmtaModel(TWO_TENANTS)));
    const run = promisify(execFile);
    const ok = await run(process.execPath, [CLI, 'test-config', good]);
    assert.equal(ok.stdout, '');
    const failed = await run(process.execPath, [CLI, 'test-config', bad]).then(
      () => assert.fail('expected exit 1'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, new RegExp(`^Error in line 2 of ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'));
  } finally {
    await cleanup();
  }
});
