/**
 * Crafted MurmurHash3 x86_32 multicollisions that hold for every seed: the device ids an attacker would send
 * to merge device states under the old table key (two seeded MurmurHash3 values).
 *
 * The construction (after Aumasson and Bernstein's hash-flooding attacks): a 4-byte block m enters the state
 * as k = rotl(m·c1, 15)·c2, and the block's step is h ← rotl(h ⊕ k, 13)·5 + n. The map m → k is a bijection,
 * so any k can be chosen. Flipping bit 18 of k flips bit 31 of the state after the rotation, and a flip of
 * the top bit survives ·5 and + n unchanged; flipping bit 31 of the next block's k cancels it. So the 8-byte
 * blocks (m₀, m₁) and (m₀', m₁') with k(m₀') = k(m₀) ⊕ 2¹⁸ and k(m₁') = k(m₁) ⊕ 2³¹ leave the state the same
 * whatever it was before, i.e. for every seed; t such pairs give 2ᵗ inputs of one length and one hash.
 *
 * These are byte strings, not valid wire device ids: `IdSchema` allows printable ASCII only, and no two
 * printable blocks have contributions 2¹⁸ apart (`device-keys.test.ts` checks all 94⁴ of them), so this
 * seed-independent construction cannot be sent through the ingest as is. The old seeds were public
 * constants, though, so an attacker needed no seed-independence: seed-specific collisions of both 32-bit
 * halves at once cost about 2³² hash evaluations offline. The keyed hash closes both.
 */
import { mulberry32 } from '../../simulator/prng';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The inverse of an odd number modulo 2³² (Newton's iteration). */
function inverse(a: number): number {
  let x = a;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x;
}
const C1_INV = inverse(C1);
const C2_INV = inverse(C2);

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));

/** The block's contribution to the state, before it is xored in. */
export function blockKey(m: number): number {
  return Math.imul(rotl(Math.imul(m, C1), 15), C2);
}

/** The block whose contribution is `k`. */
function blockOf(k: number): number {
  return Math.imul(rotl(Math.imul(k, C2_INV), 32 - 15), C1_INV);
}

/** Whether all four bytes of a block are printable ASCII (what `IdSchema` allows). */
export function printableBlock(m: number): boolean {
  for (let s = 0; s < 32; s += 8) {
    const c = (m >>> s) & 0xff;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** The block whose contribution differs from `m`'s by `delta`. */
export function partnerBlock(m: number, delta: number): number {
  return blockOf(blockKey(m) ^ delta);
}

function putBlock(out: Uint8Array, at: number, m: number): void {
  for (let s = 0; s < 4; s++) out[at + s] = (m >>> (8 * s)) & 0xff;
}

/**
 * 2^`pairs` distinct byte strings of one length, `prefix` (a multiple of 4 bytes) then `pairs` 8-byte
 * colliding segments, that all have one MurmurHash3 x86_32 value for every seed.
 */
export function murmurMulticollision(prefix: string, pairs: number, seed = 1): Uint8Array[] {
  if (prefix.length % 4 !== 0) throw new Error('the prefix must fill whole 4-byte blocks');
  // The project's PRNG, for reproducible blocks: its draws are k / 2^32, so scaling back gives the 32-bit output.
  const random = mulberry32(seed);
  const next = () => random() * 4294967296;
  const segments: [number, number][][] = [];
  for (let p = 0; p < pairs; p++) {
    const m0 = next() | 0;
    const m1 = next() | 0;
    segments.push([
      [m0, m1],
      [partnerBlock(m0, 0x00040000), partnerBlock(m1, 0x80000000 | 0)],
    ]);
  }
  const head = Buffer.from(prefix, 'latin1');
  const out: Uint8Array[] = [];
  for (let mask = 0; mask < 1 << pairs; mask++) {
    const bytes = new Uint8Array(head.length + 8 * pairs);
    bytes.set(head);
    for (let p = 0; p < pairs; p++) {
      const [a, b] = segments[p]![(mask >>> p) & 1]!;
      putBlock(bytes, head.length + 8 * p, a);
      putBlock(bytes, head.length + 8 * p + 4, b);
    }
    out.push(bytes);
  }
  return out;
}
