import { hashPassword } from '../auth/password.js';
import { parse, withUsage } from './args.js';

const USAGE = 'Usage: pmta-agent hash-password < password.txt\nReads one password on stdin and prints the passwordHash value for the config.\n';

export function runHashPassword(argv: string[]): Promise<number> {
  return withUsage(USAGE, async () => {
    const { values } = parse(argv, {});
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (password.length < 2) {
      process.stderr.write('pmta-agent: hash-password: no password on stdin\n');
      return 1;
    }
    process.stdout.write(`${await hashPassword(password)}\n`);
    return 0;
  });
}
