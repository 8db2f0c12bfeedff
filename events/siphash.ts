/**
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit pseudo-random function for short inputs. With a
 * secret 128-bit key an adversary who does not know the key cannot find two inputs with the same output any
 * faster than by trying ~2³² of them against the live system, unlike MurmurHash3, whose collisions can be
 * built offline for every seed at once.
 *
 * Written on pairs of 32-bit halves (JavaScript has no fast 64-bit integers; BigInt allocates), for byte
 * ranges, so the ingest hashes a device id straight from the Kafka record. The reference test vectors of the
 * paper (key 00..0f, messages 00..n-1 for n < 64) are checked by `siphash.test.ts`.
 *
 * Pure: no I/O, no clock, no randomness; the key is given.
 */

/**
 * A SipHash-2-4 instance for one 128-bit key. `hashRange` leaves the 64-bit result in `hi`/`lo` (unsigned
 * 32-bit halves) instead of returning a pair, so the hot path allocates nothing.
 */
export class SipHash24 {
  /** High 32 bits of the last result (unsigned). */
  hi = 0;
  /** Low 32 bits of the last result (unsigned). */
  lo = 0;
  // The initial state: the key xor the constants "somepseudorandomlygeneratedbytes", as 32-bit halves.
  private readonly v0h: number;
  private readonly v0l: number;
  private readonly v1h: number;
  private readonly v1l: number;
  private readonly v2h: number;
  private readonly v2l: number;
  private readonly v3h: number;
  private readonly v3l: number;

  /** Takes the 16-byte key (k0 = bytes 0..7, k1 = bytes 8..15, little-endian, as the reference does). */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`a SipHash key has 16 bytes, not ${key.length}`);
    const word = (i: number) => key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    const k0l = word(0);
    const k0h = word(4);
    const k1l = word(8);
    const k1h = word(12);
    this.v0h = (k0h ^ 0x736f6d65) | 0;
    this.v0l = (k0l ^ 0x70736575) | 0;
    this.v1h = (k1h ^ 0x646f7261) | 0;
    this.v1l = (k1l ^ 0x6e646f6d) | 0;
    this.v2h = (k0h ^ 0x6c796765) | 0;
    this.v2l = (k0l ^ 0x6e657261) | 0;
    this.v3h = (k1h ^ 0x74656462) | 0;
    this.v3l = k1l ^ 0x79746573;
  }

  /**
   * SipHash-2-4 of `bytes[start..end)`; the result is in `hi`/`lo`. A 64-bit addition is two 32-bit ones; the
   * carry out of the low half is computed without a branch (`((a & b) | ((a | b) & ~sum)) >>> 31`): it is a
   * coin flip per addition, and a mispredicted branch costs more than the whole addition.
   */
  hashRange(bytes: Uint8Array, start: number, end: number): void {
    let v0h = this.v0h;
    let v0l = this.v0l;
    let v1h = this.v1h;
    let v1l = this.v1l;
    let v2h = this.v2h;
    let v2l = this.v2l;
    let v3h = this.v3h;
    let v3l = this.v3l;
    let t: number;
    const length = end - start;
    const blocks = start + (length & ~7);
    // One pass per 8-byte block, then one for the last block (the tail bytes and the length's low byte).
    for (let i = start; ; i += 8) {
      let ml: number;
      let mh: number;
      const last = i >= blocks;
      if (!last) {
        ml = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
        mh = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
      } else {
        ml = 0;
        mh = (length & 0xff) << 24;
        for (let j = (length & 7) - 1; j >= 0; j--) {
          if (j >= 4) mh |= bytes[i + j]! << (8 * (j - 4));
          else ml |= bytes[i + j]! << (8 * j);
        }
      }
      v3l ^= ml;
      v3h ^= mh;
      for (let r = 0; r < 2; r++) {
        // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
        t = (v0l + v1l) | 0;
        v0h = (v0h + v1h + (((v0l & v1l) | ((v0l | v1l) & ~t)) >>> 31)) | 0;
        v0l = t;
        t = (v1h << 13) | (v1l >>> 19);
        v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l;
        v1h = t ^ v0h;
        t = v0h;
        v0h = v0l;
        v0l = t;
        // v2 += v3; v3 = rotl(v3, 16) ^ v2
        t = (v2l + v3l) | 0;
        v2h = (v2h + v3h + (((v2l & v3l) | ((v2l | v3l) & ~t)) >>> 31)) | 0;
        v2l = t;
        t = (v3h << 16) | (v3l >>> 16);
        v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
        v3h = t ^ v2h;
        // v0 += v3; v3 = rotl(v3, 21) ^ v0
        t = (v0l + v3l) | 0;
        v0h = (v0h + v3h + (((v0l & v3l) | ((v0l | v3l) & ~t)) >>> 31)) | 0;
        v0l = t;
        t = (v3h << 21) | (v3l >>> 11);
        v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
        v3h = t ^ v0h;
        // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
        t = (v2l + v1l) | 0;
        v2h = (v2h + v1h + (((v2l & v1l) | ((v2l | v1l) & ~t)) >>> 31)) | 0;
        v2l = t;
        t = (v1h << 17) | (v1l >>> 15);
        v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
        v1h = t ^ v2h;
        t = v2h;
        v2h = v2l;
        v2l = t;
      }
      v0l ^= ml;
      v0h ^= mh;
      if (last) break;
    }
    // The finalization repeats the round written out above rather than sharing one loop with it: folding the two
    // into one pass costs ~13 ns (14 %) per short id on the ingest's hot path (bench/device-key.ts).
    v2l ^= 0xff;
    for (let r = 0; r < 4; r++) {
      t = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (((v0l & v1l) | ((v0l | v1l) & ~t)) >>> 31)) | 0;
      v0l = t;
      t = (v1h << 13) | (v1l >>> 19);
      v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l;
      v1h = t ^ v0h;
      t = v0h;
      v0h = v0l;
      v0l = t;
      t = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (((v2l & v3l) | ((v2l | v3l) & ~t)) >>> 31)) | 0;
      v2l = t;
      t = (v3h << 16) | (v3l >>> 16);
      v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
      v3h = t ^ v2h;
      t = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (((v0l & v3l) | ((v0l | v3l) & ~t)) >>> 31)) | 0;
      v0l = t;
      t = (v3h << 21) | (v3l >>> 11);
      v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
      v3h = t ^ v0h;
      t = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (((v2l & v1l) | ((v2l | v1l) & ~t)) >>> 31)) | 0;
      v2l = t;
      t = (v1h << 17) | (v1l >>> 15);
      v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
      v1h = t ^ v2h;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    this.hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
    this.lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  }
}
