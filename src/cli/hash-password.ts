import { hashPassword } from '../auth/password.js';
import { parse, withUsage } from './args.js';

const USAGE =
  'Usage: pmta-agent hash-password < password.txt\nReads one password on stdin (on a terminal: asked for, not echoed) and prints the passwordHash value for the config.\n';

export function runHashPassword(argv: string[]): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values } = parse(argv, {});
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const password = process.stdin.isTTY ? await askHidden('Password: ') : await readAll();
    if (password === null) return 130;
    if (password.length < 2) {
      process.stderr.write('pmta-agent: hash-password: no password on stdin\n');
      return 1;
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  });
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** One line from the terminal in raw mode, nothing echoed (a password on screen stays in scrollback). null on Ctrl-C. */
function askHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  // Echo off before the prompt: whatever is typed once the prompt shows is not echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve) => {
    let line = '';
    const finish = (value: string | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(line);
        if (ch === '\u0003') return finish(null);
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line += ch;
      }
    };
    stdin.on('data', onData);
  });
}
