import fc from 'fast-check';
import { SipHash24 } from './siphash';

/** The 64 reference vectors of the SipHash paper: key 00..0f, message 00..n-1, for n = 0..63. */
const VECTORS = [
  0x726fdb47dd0e0e31n,
  0x74f839c593dc67fdn,
  0x0d6c8009d9a94f5an,
  0x85676696d7fb7e2dn,
  0xcf2794e0277187b7n,
  0x18765564cd99a68dn,
  0xcbc9466e58fee3cen,
  0xab0200f58b01d137n,
  0x93f5f5799a932462n,
  0x9e0082df0ba9e4b0n,
  0x7a5dbbc594ddb9f3n,
  0xf4b32f46226bada7n,
  0x751e8fbc860ee5fbn,
  0x14ea5627c0843d90n,
  0xf723ca908e7af2een,
  0xa129ca6149be45e5n,
  0x3f2acc7f57c29bdbn,
  0x699ae9f52cbe4794n,
  0x4bc1b3f0968dd39cn,
  0xbb6dc91da77961bdn,
  0xbed65cf21aa2ee98n,
  0xd0f2cbb02e3b67c7n,
  0x93536795e3a33e88n,
  0xa80c038ccd5ccec8n,
  0xb8ad50c6f649af94n,
  0xbce192de8a85b8ean,
  0x17d835b85bbb15f3n,
  0x2f2e6163076bcfadn,
  0xde4daaaca71dc9a5n,
  0xa6a2506687956571n,
  0xad87a3535c49ef28n,
  0x32d892fad841c342n,
  0x7127512f72f27ccen,
  0xa7f32346f95978e3n,
  0x12e0b01abb051238n,
  0x15e034d40fa197aen,
  0x314dffbe0815a3b4n,
  0x027990f029623981n,
  0xcadcd4e59ef40c4dn,
  0x9abfd8766a33735cn,
  0x0e3ea96b5304a7d0n,
  0xad0c42d6fc585992n,
  0x187306c89bc215a9n,
  0xd4a60abcf3792b95n,
  0xf935451de4f21df2n,
  0xa9538f0419755787n,
  0xdb9acddff56ca510n,
  0xd06c98cd5c0975ebn,
  0xe612a3cb9ecba951n,
  0xc766e62cfcadaf96n,
  0xee64435a9752fe72n,
  0xa192d576b245165an,
  0x0a8787bf8ecb74b2n,
  0x81b3e73d20b49b6fn,
  0x7fa8220ba3b2ecean,
  0x245731c13ca42499n,
  0xb78dbfaf3a8d83bdn,
  0xea1ad565322a1a0bn,
  0x60e61c23a3795013n,
  0x6606d7e446282b93n,
  0x6ca4ecb15c5f91e1n,
  0x9f626da15c9625f3n,
  0xe51b38608ef25f57n,
  0x958a324ceb064572n,
];

const MASK = (1n << 64n) - 1n;

/** A second, independent SipHash-2-4 on BigInt, straight from the paper's pseudo-code. */
function reference(key: Uint8Array, message: Uint8Array): bigint {
  const le = (b: Uint8Array, at: number, n: number) => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!);
    return v;
  };
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK;
  const k0 = le(key, 0, 8);
  const k1 = le(key, 8, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const n = message.length;
  const blocks = n - (n % 8);
  const words: bigint[] = [];
  for (let i = 0; i < blocks; i += 8) words.push(le(message, i, 8));
  words.push(le(message, blocks, n % 8) | (BigInt(n & 0xff) << 56n));
  for (const m of words) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let r = 0; r < 4; r++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

function value(h: SipHash24): bigint {
  return (BigInt(h.hi) << 32n) | BigInt(h.lo);
}

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);

describe('SipHash24', () => {
  it('gives the 64 reference vectors of the paper', () => {
    const h = new SipHash24(KEY);
    const message = Uint8Array.from({ length: 64 }, (_, i) => i);
    for (let n = 0; n < 64; n++) {
      h.hashRange(message, 0, n);
      expect(value(h)).toBe(VECTORS[n]);
      expect(reference(KEY, message.subarray(0, n))).toBe(VECTORS[n]);
    }
  });

  it('agrees with the BigInt reference on any key and any range of any bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(),
        fc.nat(),
        (key, bytes, a, b) => {
          const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
          const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
          const h = new SipHash24(key);
          h.hashRange(bytes, start, end);
          expect(value(h)).toBe(reference(key, bytes.slice(start, end)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('depends on the key', () => {
    const message = new TextEncoder().encode('device-000001');
    const a = new SipHash24(KEY);
    const other = KEY.slice();
    other[15] = other[15]! ^ 1;
    const b = new SipHash24(other);
    a.hashRange(message, 0, message.length);
    b.hashRange(message, 0, message.length);
    expect(value(a)).not.toBe(value(b));
  });

  it('refuses a key that is not 16 bytes', () => {
    expect(() => new SipHash24(new Uint8Array(8))).toThrow(RangeError);
  });
});
