/**
 * mulberry32: a small, fast, well-distributed 32-bit PRNG. Seeded streams make the simulator, the chaos suite
 * and the benchmarks reproduce run for run; it is not for anything that needs unpredictability.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
