import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHmac, createSecretKey } from 'node:crypto';
import { promisify } from 'node:util';

const scryptNow = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// A scrypt holds 128*N*r bytes while it runs (16 MB for our hashes) and libuv runs up
// to four at once, so a burst of logins that miss the AuthCache (every user after a
// restart or when their entries expire together, wrong passwords) held up to 64 MB
// more and kept the threadpool from the spool's file writes (issue 15, peak RSS:
// 8 logins at once took the daemon from 99 to 165 MB). One at a time, in order: a
// burst's last login waits about 40 ms per login before it, and logins that hit the
// cache (nearly all of them) do not wait at all.
export const SCRYPTS_AT_ONCE = 1;
let scryptsRunning = 0;
const scryptQueue: Array<() => void> = [];

async function scrypt(pw: string, salt: Buffer, len: number, opts: object): Promise<Buffer> {
  // A finished scrypt hands its slot to the next in line, so the count never passes the limit.
  if (scryptsRunning >= SCRYPTS_AT_ONCE) await new Promise<void>((resolve) => scryptQueue.push(resolve));
  else scryptsRunning++;
  try {
    return await scryptNow(pw, salt, len, opts);
  } finally {
    const next = scryptQueue.shift();
    if (next) next();
    else scryptsRunning--;
  }
}

/** How many scrypt computations run now (at most SCRYPTS_AT_ONCE). */
export function scryptsInFlight(): number {
  return scryptsRunning;
}

// Format: scrypt$N$r$p$salt(base64)$hash(base64). Parameters travel with the hash
// so they can be raised later without invalidating existing ones.
const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 256 * 1024 * 1024;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export interface ScryptHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const int = (s: string) => (/^[1-9]\d{0,9}$/.test(s) ? Number(s) : NaN);

/**
 * A stored hash, or why it cannot be one. Anything but a well-formed scrypt hash
 * with sane parameters is refused: an empty key would compare equal to any
 * password's empty derivation, and tiny parameters make a leaked hash cheap to crack.
 */
export function parsePasswordHash(encoded: string): ScryptHash | { problem: string } {
  const parts = encoded.split('$');
  if (parts[0] !== 'scrypt') return { problem: 'unknown algorithm: must be a scrypt hash from `pmta-agent hash-password`' };
  if (parts.length !== 6) return { problem: 'must be scrypt$N$r$p$salt$key, as `pmta-agent hash-password` prints it' };
  const [, ns, rs, ps, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const n = int(ns);
  const r = int(rs);
  const p = int(ps);
  // N a power of two from 2^14 (the interactive-login floor of RFC 7914's era) to 2^20;
  // memory 128*N*r must fit verify's limit.
  if (!(n >= 2 ** 14 && n <= 2 ** 20 && (n & (n - 1)) === 0)) return { problem: `scrypt N ${ns} must be a power of two from 16384 to 1048576` };
  if (!(r >= 8 && r <= 32)) return { problem: `scrypt r ${rs} must be from 8 to 32` };
  if (!(p >= 1 && p <= 16)) return { problem: `scrypt p ${ps} must be from 1 to 16` };
  if (128 * n * r > MAXMEM / 2) return { problem: `scrypt N*r ${n}*${r} needs more memory than verification allows` };
  if (!BASE64.test(saltB64) || !BASE64.test(keyB64)) return { problem: 'salt and key must be base64' };
  const salt = Buffer.from(saltB64, 'base64');
  const key = Buffer.from(keyB64, 'base64');
  if (salt.length < 16) return { problem: `salt must be at least 16 bytes, not ${salt.length}` };
  if (key.length !== KEYLEN) return { problem: `key must be ${KEYLEN} bytes, not ${key.length}` };
  return { n, r, p, salt, key };
}

/** False for a wrong password, and for a hash that is not a valid one (never a zero-length compare). */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const h = parsePasswordHash(encoded);
  if ('problem' in h) return false;
  const actual = await scrypt(password, h.salt, KEYLEN, { N: h.n, r: h.r, p: h.p, maxmem: MAXMEM });
  return timingSafeEqual(actual, h.key);
}

/**
 * MailWizz opens a new connection (and AUTH) per message by default, so a 50 ms
 * scrypt per login would cap throughput at ~20 msg/s per core. A successful check
 * is remembered as an HMAC under a key that lives only in this process: the cache
 * never holds the password, and a different password never matches it.
 */
export class AuthCache {
  // A KeyObject once, not a raw key imported again by every login's HMAC.
  private readonly key = createSecretKey(randomBytes(32));
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
