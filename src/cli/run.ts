import { ConfigError, loadConfig } from '../config/load.js';
import { startDaemon } from '../daemon.js';
import { createLogger } from '../log/logger.js';
import { withConfigFile } from './config-file.js';
import { tuneHeapForDaemon } from './heap.js';
import type { DevSimulator } from './dev-simulator.js';

const USAGE = `Usage: pmta-agent run [--config FILE]
Starts the daemon (SMTP ingress, quota gate, spool dispatcher). With dev.simulator in the file
(npm start), the PowerMTA simulator too; refused when NODE_ENV=production, as the systemd unit sets.
`;

export function runDaemonCommand(argv: string[]): Promise<number> {
  return withConfigFile(USAGE, argv, async (cfg, file) => {
    if (cfg.dev.simulator !== null && process.env.NODE_ENV === 'production') {
      process.stderr.write(`${file}: dev.simulator: the PowerMTA simulator is for development only; refused with NODE_ENV=production\n`);
      return 1;
    }
    tuneHeapForDaemon();
    const log = createLogger({ level: cfg.log.level });
    let sim: DevSimulator | null = null;
    let daemon;
    try {
      // The simulator's module only where it runs (npm start), not in a production daemon.
      if (cfg.dev.simulator !== null) sim = await (await import('./dev-simulator.js')).startDevSimulator(cfg);
      daemon = await startDaemon(sim ? sim.pin(cfg) : cfg, { log });
    } catch (err) {
      await sim?.close();
      // startDaemon closed what it had opened; whatever still holds the event loop
      // must not keep a failed daemon alive: systemd restarts it only once it exits.
      log.error('daemon.start_failed', { error: err as Error });
      process.stderr.write(`pmta-agent: start failed: ${(err as Error).message}\n`);
      setTimeout(() => process.exit(1), 1_000).unref();
      return 1;
    }
    const pin = sim ? sim.pin : (c: typeof cfg) => c;
    if (sim) log.warn('dev.simulator_started', { pmta: sim.address, acctDir: cfg.pmta.accountingDir, ...sim.behaviour, note: 'development only: the PowerMTA simulator stands in for PowerMTA' });
    return new Promise<number>((resolve) => {
      const shutdown = (signal: string) => {
        daemon.log.info('daemon.signal', { signal });
        daemon.stop().then(
          async () => {
            await sim?.close();
            // A lingering socket must not keep a stopped daemon alive under systemd.
            setTimeout(() => process.exit(0), 2_000).unref();
            resolve(0);
          },
          (err) => {
            daemon.log.error('daemon.stop_failed', { error: err as Error });
            void daemon.log.flush().then(() => resolve(1));
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      // SIGHUP (systemctl reload): re-read the file; a bad file is refused and the old config kept.
      process.on('SIGHUP', () => {
        let next;
        try {
          next = loadConfig(file);
        } catch (err) {
          daemon.log.error('config.reload_refused', {
            file,
            problems: err instanceof ConfigError ? err.problems : [(err as Error).message],
          });
          return;
        }
        daemon.reload(pin(next)).catch((err) => daemon.log.error('config.reload_failed', { file, error: err as Error }));
      });
    });
  });
}
