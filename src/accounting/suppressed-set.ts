/** Bits per entry the set is sized for: with 4 probes, about 1 false "maybe" in 400. */
const BITS_PER_ENTRY = 16;
const PROBES = 4;
const MIN_BITS = 1 << 16;

/**
 * Which (tenant, address) pairs may be on a suppression list: a Bloom filter.
 * "No" is certain, "maybe" is checked against the table, so the gate's check
 * of a recipient that is not suppressed (nearly all of them) costs two string
 * hashes instead of a SQLite lookup. Entries are only ever added (a removed
 * address stays a "maybe": one lookup, never a wrong refusal); the set is sized
 * for the list it was built from and says when it is full, so its owner builds
 * a larger one.
 */
export class SuppressedSet {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private readonly capacity: number;
  private count = 0;

  constructor(expected: number) {
    let size = MIN_BITS;
    while (size < expected * 2 * BITS_PER_ENTRY) size *= 2;
    this.bits = new Uint32Array(size / 32);
    this.mask = size - 1;
    this.capacity = size / BITS_PER_ENTRY;
  }

  /** More entries than it was sized for: "maybe" comes more often than intended. */
  get full(): boolean {
    return this.count > this.capacity;
  }

  /** `email` in the list's normal form (normalizeEmail). */
  add(tenantId: number, email: string): void {
    const [h1, h2] = hashes(tenantId, email);
    for (let i = 0; i < PROBES; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      this.bits[b >>> 5]! |= 1 << (b & 31);
    }
    this.count++;
  }

  mayHave(tenantId: number, email: string): boolean {
    const [h1, h2] = hashes(tenantId, email);
    for (let i = 0; i < PROBES; i++) {
      const b = (h1 + Math.imul(i, h2)) & this.mask;
      if ((this.bits[b >>> 5]! & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two 32-bit FNV-1a hashes of the tenant and the address, from different offsets; the second made odd. */
function hashes(tenantId: number, email: string): [number, number] {
  let h1 = 0x811c9dc5 ^ tenantId;
  let h2 = 0x01000193 ^ Math.imul(tenantId, 0x9e3779b1);
  for (let i = 0; i < email.length; i++) {
    const c = email.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  return [h1 >>> 0, (h2 | 1) >>> 0];
}
