// A process that logs a burst through the stdout logger, then stops the way
// the test asks: `exit` (process.exit right after the burst) or `sigterm`
// (waits for SIGTERM, flushes, exits), as the daemon does.
import { createLogger } from '../../src/log/logger.js';

const [mode = 'exit', countArg = '20000'] = process.argv.slice(2);
const count = Number(countArg);
const log = createLogger();

if (mode === 'sigterm') {
  process.once('SIGTERM', () => {
    log.info('child.stopping');
    void log.flush().then(() => process.exit(0));
  });
  // Keeps the process alive until the signal.
  setInterval(() => {}, 1_000);
}
for (let i = 0; i < count; i++) log.info('child.line', { i, tenant: 'sos-expat', rcpts: ['a@example.net'], size: 1234 });
if (mode === 'exit') process.exit(0);
// Tells the parent (on stderr, which is unbuffered) that the burst was handed to the logger.
process.stderr.write('burst-logged\n');
