/**
 * Cohorts: which devices a phase exposes. Every device gets a deterministic bucket in [0, 10000) per
 * rollout, from a hash of the rollout id and the device id; a phase exposes the buckets below its bound.
 * Bounds only grow from phase to phase, so phases nest and a device never flips between cohorts, and
 * the same device lands in unrelated buckets in different rollouts (no device is always the canary).
 *
 * The hash is MurmurHash3 (x86, 32-bit, seed 0) over the UTF-8 bytes of `${rolloutId}:${deviceId}` —
 * the scheme feature-flag systems such as Unleash use for percentage rollouts: well known, specified by
 * test vectors, reproducible in any language, with full avalanche from its finalizer. Its definition is
 * part of the event log's meaning (replays recompute cohorts), so it must never change.
 *
 * Pure: no I/O, no clock, no randomness. Runs once per install event in the ingest, so it avoids
 * allocation: UTF-8 is written into one reused scratch buffer.
 */

/** Number of cohort buckets: a phase bound of 100 exposes 1% of a class, granularity is 0.01%. */
export const COHORT_BUCKETS = 10_000;

let scratch = new Uint8Array(256);

// Bound once: global lookups are slow in sandboxed realms (vm contexts such as Jest's and Temporal's).
const imul = Math.imul;
const floor = Math.floor;

/**
 * Writes the UTF-8 encoding of `text` (lone surrogates as U+FFFD, like TextEncoder) into `scratch` from
 * byte `at` on, growing it when needed (always leaving one spare byte after); returns the end offset.
 */
function encodeUtf8(text: string, at: number): number {
  if (scratch.length <= at + text.length * 3) {
    const grown = new Uint8Array(2 * (at + text.length * 3 + 1));
    grown.set(scratch.subarray(0, at));
    scratch = grown;
  }
  const out = scratch;
  let n = at;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >>> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if ((c & 0xfc00) === 0xd800 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x3ff) << 10) + (text.charCodeAt(++i) & 0x3ff);
        out[n++] = 0xf0 | (c >>> 18);
        out[n++] = 0x80 | ((c >>> 12) & 0x3f);
      } else {
        if ((c & 0xf800) === 0xd800) c = 0xfffd; // a lone surrogate
        out[n++] = 0xe0 | (c >>> 12);
      }
      out[n++] = 0x80 | ((c >>> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/**
 * MurmurHash3 x86 32-bit of the first `length` bytes of `bytes` with a seed, as an unsigned integer —
 * the reference algorithm (Austin Appleby, public domain), exported so its test vectors can be checked
 * and other languages can reproduce cohorts byte for byte.
 */
export function murmur3Bytes(bytes: Uint8Array, length: number = bytes.length, seed = 0): number {
  return murmur3Range(bytes, 0, length, seed);
}

/** MurmurHash3 x86 32-bit of `bytes[start..end)` with a seed (`murmur3Bytes` of that slice, without slicing). */
export function murmur3Range(bytes: Uint8Array, start: number, end: number, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const length = end - start;
  let h = seed | 0;
  const blocks = start + (length & ~3);
  let i = start;
  // Indices below `end` are in range (checked by the callers' contract), hence the `!`s.
  for (; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = imul(k, c1);
    k = (k << 15) | (k >>> 17);
    h ^= imul(k, c2);
    h = (h << 13) | (h >>> 19);
    h = (imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    let k = bytes[i]!;
    if (rest > 1) k |= bytes[i + 1]! << 8;
    if (rest > 2) k |= bytes[i + 2]! << 16;
    k = imul(k, c1);
    k = (k << 15) | (k >>> 17);
    h ^= imul(k, c2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3 x86 32-bit of a string's UTF-8 bytes (seed 0 unless given), as an unsigned integer:
 * `murmur3Bytes(new TextEncoder().encode(text))` without allocating.
 */
export function murmur3(text: string, seed = 0): number {
  const length = encodeUtf8(text, 0); // first: it may replace `scratch` with a larger buffer
  return murmur3Bytes(scratch, length, seed);
}

/**
 * The cohort bucket of a device in a rollout, in [0, COHORT_BUCKETS): MurmurHash3 of
 * `${rolloutId}:${deviceId}` scaled by multiply-high (floor(hash · 10000 / 2³²)), which maps the 32-bit
 * hash onto buckets uniformly up to a bias of one part in 429,496 without a modulo. Deterministic, so
 * the ingest, the decider and a replay years later agree on every device's cohort.
 */
export function cohortOf(deviceId: string, rolloutId: string): number {
  const prefix = encodeUtf8(rolloutId, 0);
  scratch[prefix] = 0x3a; // ':'
  const length = encodeUtf8(deviceId, prefix + 1); // first: it may replace `scratch` with a larger buffer
  return bucketOf(murmur3Bytes(scratch, length));
}

/** `cohortOfUtf8`'s own buffer: `${rolloutId}:` of the rollout it was last asked about, then a device id. */
let keyed = new Uint8Array(0);
let keyedRollout: string | null = null;
let keyedPrefix = 0;

/**
 * `cohortOf` for a device id given as its UTF-8 bytes `utf8[start..end)` (the ingest hashes ids straight
 * from the Kafka record, without making a string of them). The rollout's bytes are kept from call to call.
 */
export function cohortOfUtf8(utf8: Uint8Array, start: number, end: number, rolloutId: string): number {
  if (rolloutId !== keyedRollout) {
    keyedPrefix = encodeUtf8(rolloutId, 0) + 1;
    scratch[keyedPrefix - 1] = 0x3a; // ':'
    keyed = scratch.slice(0, keyedPrefix + 256);
    keyedRollout = rolloutId;
  }
  const length = keyedPrefix + end - start;
  if (keyed.length < length) {
    const grown = new Uint8Array(2 * length);
    grown.set(keyed.subarray(0, keyedPrefix));
    keyed = grown;
  }
  const out = keyed;
  for (let i = start, j = keyedPrefix; i < end; i++, j++) out[j] = utf8[i]!;
  return bucketOf(murmur3Range(out, 0, length));
}

/** The bucket of a 32-bit hash, scaled by multiply-high as `cohortOf` describes. */
function bucketOf(hash: number): number {
  return floor((hash * COHORT_BUCKETS) / 4294967296);
}

/**
 * Whether a phase with bucket bound `bound` (0..COHORT_BUCKETS) exposes the device: its bucket lies
 * below the bound. Because a device's bucket is fixed, raising the bound from phase to phase only adds
 * devices — a device exposed in one phase stays exposed in every later one.
 */
export function isExposed(deviceId: string, rolloutId: string, bound: number): boolean {
  return cohortOf(deviceId, rolloutId) < bound;
}

/**
 * The bucket bound of a phase that exposes `share` (0..1) of a class: share · COHORT_BUCKETS rounded to
 * the nearest bucket (0.01% granularity), so 0.01 → 100 and 1 → 10000. Throws a RangeError for a share
 * outside [0, 1], which a validated plan never contains.
 */
export function phaseBound(share: number): number {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`phase share ${share} is not within [0, 1]`);
  return Math.round(share * COHORT_BUCKETS);
}
