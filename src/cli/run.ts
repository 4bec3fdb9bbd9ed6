import { ConfigError, loadConfig } from '../config/load.js';
import { startDaemon } from '../daemon.js';
import { createLogger } from '../log/logger.js';
import { withConfigFile } from './config-file.js';

const USAGE = 'Usage: pmta-agent run [--config FILE]\nStarts the daemon (SMTP ingress, quota gate, spool dispatcher).\n';

export function runDaemonCommand(argv: string[]): Promise<number> {
  return withConfigFile(USAGE, argv, async (cfg, file) => {
    const log = createLogger({ level: cfg.log.level });
    let daemon;
    try {
      daemon = await startDaemon(cfg, { log });
    } catch (err) {
      // startDaemon closed what it had opened; whatever still holds the event loop
      // must not keep a failed daemon alive: systemd restarts it only once it exits.
      log.error('daemon.start_failed', { error: err as Error });
      process.stderr.write(`pmta-agent: start failed: ${(err as Error).message}\n`);
      setTimeout(() => process.exit(1), 1_000).unref();
      return 1;
    }
    return new Promise<number>((resolve) => {
      const shutdown = (signal: string) => {
        daemon.log.info('daemon.signal', { signal });
        daemon.stop().then(
          () => {
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
        daemon.reload(next).catch((err) => daemon.log.error('config.reload_failed', { file, error: err as Error }));
      });
    });
  });
}
