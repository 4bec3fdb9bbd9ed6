import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHmac } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// Format: scrypt$N$r$p$salt(base64)$hash(base64). Parameters travel with the hash
// so they can be raised later without invalidating existing ones.
const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 256 * 1024 * 1024,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * MailWizz opens a new connection (and AUTH) per message by default, so a 50 ms
 * scrypt per login would cap throughput at ~20 msg/s per core. A successful check
 * is remembered as an HMAC under a key that lives only in this process: the cache
 * never holds the password, and a different password never matches it.
 */
export class AuthCache {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, { mac: Buffer; hash: string; expires: number }>();
  /** Checks in progress: a burst of logins with the same credentials runs scrypt once. */
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private mac(username: string, password: string): Buffer {
    return createHmac('sha256', this.key).update(username).update('\0').update(password).digest();
  }

  async check(username: string, password: string, storedHash: string): Promise<boolean> {
    const entry = this.entries.get(username);
    const mac = this.mac(username, password);
    if (entry && entry.hash === storedHash && entry.expires > this.now() && timingSafeEqual(entry.mac, mac)) return true;
    const key = `${mac.toString('hex')}:${storedHash}`;
    let check = this.pending.get(key);
    if (!check) {
      check = verifyPassword(password, storedHash).finally(() => this.pending.delete(key));
      this.pending.set(key, check);
    }
    const ok = await check;
    if (ok && this.ttlMs > 0) this.entries.set(username, { mac, hash: storedHash, expires: this.now() + this.ttlMs });
    return ok;
  }

  clear(): void {
    this.entries.clear();
  }
}
