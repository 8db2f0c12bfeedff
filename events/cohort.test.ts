import fc from 'fast-check';
import type * as Cohort from './cohort';
import {
  COHORT_BUCKETS,
  cohortOf,
  cohortOfUtf8,
  isExposed,
  murmur3,
  murmur3Bytes,
  murmur3Range,
  phaseBound,
} from './cohort';

const ROLLOUT = 'bsi-26.3.1-2025-11-27';
const encoder = new TextEncoder();

/** Upper-tail normal score of a chi-square statistic with `df` degrees of freedom (Wilson–Hilferty). */
function chiSquareZ(chi2: number, df: number): number {
  const v = 2 / (9 * df);
  return (Math.cbrt(chi2 / df) - (1 - v)) / Math.sqrt(v);
}

/** Pearson chi-square of observed counts against a uniform expectation. */
function chiSquareUniform(observed: Uint32Array, total: number): number {
  const expected = total / observed.length;
  let chi2 = 0;
  for (const o of observed) chi2 += (o - expected) ** 2 / expected;
  return chi2;
}

const MILLION = 1_000_000;
const ids = Array.from({ length: MILLION }, (_, i) => `device-${i.toString(36).padStart(6, '0')}`);

describe('the hash (MurmurHash3 x86 32-bit over UTF-8)', () => {
  it('matches the reference test vectors', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65, 0x87]))).toBe(0xf55b516b);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43, 0x65]))).toBe(0x7e4a8634);
    expect(murmur3Bytes(new Uint8Array([0x21, 0x43]))).toBe(0xa0f7b07a);
    expect(murmur3Bytes(new Uint8Array([0x21]))).toBe(0x72661cf4);
  });

  it('hashes the same bytes as TextEncoder for any string, surrogates and long strings included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 2000 })), (s) => {
        expect(murmur3(s)).toBe(murmur3Bytes(encoder.encode(s)));
      }),
    );
    expect(murmur3('\ud800')).toBe(murmur3Bytes(encoder.encode('\ufffd')));
  });

  it('avalanches: every input bit flips every output bit about half the time', () => {
    let state = 7;
    const keys = 1000;
    const flips = new Float64Array(128 * 32);
    const key = new Uint8Array(16);
    for (let k = 0; k < keys; k++) {
      for (let b = 0; b < 16; b++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        key[b] = state >>> 24;
      }
      const base = murmur3Bytes(key);
      for (let bit = 0; bit < 128; bit++) {
        key[bit >> 3]! ^= 1 << (bit & 7);
        const diff = (base ^ murmur3Bytes(key)) >>> 0;
        key[bit >> 3]! ^= 1 << (bit & 7);
        for (let o = 0; o < 32; o++) if ((diff >>> o) & 1) flips[bit * 32 + o]! += 1;
      }
    }
    // Binomial(1000, ½) has a standard deviation of 1.6%: allow five.
    for (const f of flips) expect(Math.abs(f / keys - 0.5)).toBeLessThan(0.08);
  });
});

describe('cohortOf', () => {
  it('hashes a long id right on the first call of a process (the scratch buffer grows before it is read)', () => {
    const long = 'd'.repeat(200);
    const expected = Math.floor((murmur3Bytes(encoder.encode(`r:${long}`)) * COHORT_BUCKETS) / 2 ** 32);
    for (const call of ['cohortOf', 'murmur3'] as const) {
      jest.isolateModules(() => {
        // A fresh copy of the module: its scratch buffer is still the initial 256 bytes.
        const fresh = jest.requireActual<typeof Cohort>('./cohort');
        if (call === 'cohortOf') expect(fresh.cohortOf(long, 'r')).toBe(expected);
        else expect(fresh.murmur3(long, 3)).toBe(murmur3Bytes(encoder.encode(long), undefined, 3));
      });
    }
  });

  it('gives the same bucket for a device id passed as UTF-8 bytes inside a larger buffer', () => {
    // First in this file, so that a 300-byte id grows the fresh scratch buffer here.
    const long = 'd'.repeat(300);
    expect(cohortOfUtf8(Buffer.from(`{"deviceId":"${long}"}`), 13, 313, 'r')).toBe(cohortOf(long, 'r'));
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (before, device, after, rollout) => {
        const bytes = encoder.encode(before + device + after);
        const start = encoder.encode(before).length;
        const end = start + encoder.encode(device).length;
        expect(cohortOfUtf8(bytes, start, end, rollout)).toBe(cohortOf(device, rollout));
        expect(murmur3Range(bytes, start, end, 7)).toBe(murmur3(device, 7));
      }),
    );
  });

  it('is a deterministic integer bucket in [0, 10000), pinned for all time', () => {
    expect(COHORT_BUCKETS).toBe(10_000);
    fc.assert(
      fc.property(fc.string(), fc.string(), (device, rollout) => {
        const bucket = cohortOf(device, rollout);
        expect(Number.isInteger(bucket)).toBe(true);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(COHORT_BUCKETS);
        expect(cohortOf(device, rollout)).toBe(bucket);
        const reference = murmur3Bytes(encoder.encode(`${rollout}:${device}`));
        expect(bucket).toBe(Math.floor((reference * COHORT_BUCKETS) / 2 ** 32));
      }),
    );
    // Golden values: replays of old rollouts recompute these, so they must never change.
    expect([cohortOf('device-1', 'rollout-A'), cohortOf('a1b2c3', ROLLOUT), cohortOf('Gerät-ü', 'r')]).toEqual([
      9255, 5577, 8943,
    ]);
  });

  it('does not depend on earlier calls (the scratch buffer grows and is reused safely)', () => {
    const before = cohortOf('device-42', ROLLOUT);
    cohortOf('x'.repeat(10_000), '€'.repeat(5_000));
    cohortOf('', '');
    expect(cohortOf('device-42', ROLLOUT)).toBe(before);
    expect(cohortOf('€'.repeat(300), '😀'.repeat(300))).toBe(
      Math.floor((murmur3Bytes(encoder.encode(`${'😀'.repeat(300)}:${'€'.repeat(300)}`)) * COHORT_BUCKETS) / 2 ** 32),
    );
  });

  it('spreads a million device ids uniformly over the buckets (chi-square)', () => {
    const fine = new Uint32Array(COHORT_BUCKETS);
    const coarse = new Uint32Array(100);
    for (const id of ids) {
      const bucket = cohortOf(id, ROLLOUT);
      fine[bucket]! += 1;
      coarse[(bucket / 100) | 0]! += 1;
    }
    // Both statistics within 3.5 standard normal units of their chi-square law (two-sided p > 0.0005).
    expect(Math.abs(chiSquareZ(chiSquareUniform(fine, MILLION), COHORT_BUCKETS - 1))).toBeLessThan(3.5);
    expect(Math.abs(chiSquareZ(chiSquareUniform(coarse, MILLION), 99))).toBeLessThan(3.5);
  });

  it('gives the same devices independent buckets in different rollouts', () => {
    // Joint 100 × 100 grid of (bucket in rollout A, bucket in rollout B): uniform iff independent and uniform.
    const joint = new Uint32Array(100 * 100);
    let bothCanary = 0;
    let sumA = 0;
    let sumB = 0;
    let sumAB = 0;
    let sumAA = 0;
    let sumBB = 0;
    for (const id of ids) {
      const a = cohortOf(id, ROLLOUT);
      const b = cohortOf(id, 'bsi-26.3.2-2025-12-04');
      joint[((a / 100) | 0) * 100 + ((b / 100) | 0)]! += 1;
      if (a < 100 && b < 100) bothCanary++;
      sumA += a;
      sumB += b;
      sumAB += a * b;
      sumAA += a * a;
      sumBB += b * b;
    }
    expect(Math.abs(chiSquareZ(chiSquareUniform(joint, MILLION), 100 * 100 - 1))).toBeLessThan(3.5);
    const n = MILLION;
    const r =
      (sumAB / n - (sumA / n) * (sumB / n)) / Math.sqrt((sumAA / n - (sumA / n) ** 2) * (sumBB / n - (sumB / n) ** 2));
    expect(Math.abs(r)).toBeLessThan(0.005); // standard error 0.001
    // 1% canaries overlap like independent draws: 100 expected, standard deviation 10.
    expect(Math.abs(bothCanary - 100)).toBeLessThan(50);
  });
});

describe('phases', () => {
  it('nest: a device exposed under a bound stays exposed under every larger bound', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.nat(COHORT_BUCKETS), fc.nat(COHORT_BUCKETS), (device, rollout, x, y) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        if (isExposed(device, rollout, lo)) expect(isExposed(device, rollout, hi)).toBe(true);
      }),
    );
  });

  it('expose nobody at bound 0, everybody at 10000, and about the share in between', () => {
    const sample = ids.slice(0, 100_000);
    expect(sample.some((id) => isExposed(id, ROLLOUT, 0))).toBe(false);
    expect(sample.every((id) => isExposed(id, ROLLOUT, COHORT_BUCKETS))).toBe(true);
    for (const share of [0.01, 0.05, 0.25]) {
      const exposed = sample.filter((id) => isExposed(id, ROLLOUT, phaseBound(share))).length / sample.length;
      const sd = Math.sqrt((share * (1 - share)) / sample.length);
      expect(Math.abs(exposed - share)).toBeLessThan(4 * sd);
    }
  });

  it('turn a share into a bucket bound at 0.01% granularity, refusing shares outside [0, 1]', () => {
    expect([0, 0.0001, 0.01, 0.05, 0.07, 0.25, 1].map(phaseBound)).toEqual([0, 1, 100, 500, 700, 2500, 10_000]);
    expect(() => phaseBound(1.5)).toThrow(RangeError);
    expect(() => phaseBound(-0.1)).toThrow('phase share -0.1 is not within [0, 1]');
    expect(() => phaseBound(Number.NaN)).toThrow(RangeError);
  });
});
