/**
 * Exact calibration of the sequential rule's halt bound. Ville's inequality makes ln(1/α) a valid bound for a
 * mixture likelihood ratio, but a loose one: the ratio jumps past the bound (a failure multiplies it by up to
 * p₁/p₀), so a build at the threshold is halted less often than α, and every bad build is halted later than it could
 * be. This module finds the lowest bound whose chance of ever being crossed at the threshold is still at most α, by
 * dynamic programming over the binomial path of (outcomes, failures).
 *
 * Why the computed probability bounds the lane's false-halt chance:
 * - Every outcome judged: the path is checked after every single outcome. A lane judges after deltas (groups of
 *   outcomes), a subset of those looks, so it can only cross less often.
 * - Any rate at or below the threshold: couple the paths (outcome i fails iff Uᵢ < p); a lower p has no more
 *   failures at every n, and the bound is crossed at more failures only (the mixture grows with F), so a path at
 *   p ≤ θ crosses only if the path at θ does.
 * - Timeouts later corrected only lower the failure count of a path.
 * - Any horizon: the chance of crossing after the last step computed is bounded by Ville's inequality applied from
 *   there on, E[M_N; not crossed by N] · e^(−bound), and added.
 * - Blocks: for small thresholds the path is advanced `step` outcomes at a time; a block counts as crossed when its
 *   final failure count reaches the boundary of its first outcome (the boundary never falls as n grows and the
 *   failure count never falls within a block), which can only over-count crossings.
 * The assumption every sampling judge makes stays: the order devices report in does not depend on their outcome
 * beyond what the install timeout catches.
 *
 * Pure and deterministic (plain floating-point arithmetic, fixed iteration counts): the same inputs give the same
 * bound on every machine running IEEE-754 doubles, so a lane's recorded bound replays exactly.
 */

/** The mixture a bound is calibrated for: alternatives as odds factors over the threshold's, with their weights. */
export interface MixtureSpec {
  factors: readonly number[];
  weights: readonly number[];
}

/** A calibrated bound and what was computed for it. */
export interface Calibration {
  /** The halt bound on the log mixture likelihood ratio. */
  bound: number;
  /** Computed chance, at the threshold, that the bound is ever crossed (DP mass plus the Ville tail); ≤ α. */
  crossing: number;
  /** ln(1/α): the bound Ville's inequality alone gives. */
  villeBound: number;
}

// Bound once: global lookups are slow in sandboxed realms (vm contexts such as Jest's and Temporal's).
const log = Math.log;
const exp = Math.exp;

/** Per-alternative constants of a mixture at one threshold: ln(p1/p0), ln((1−p1)/(1−p0)), ln(weight). */
export interface Mixture {
  failLog: Float64Array;
  passLog: Float64Array;
  logWeight: Float64Array;
}

export function mixtureOf(threshold: number, spec: MixtureSpec): Mixture {
  const k = spec.factors.length;
  const failLog = new Float64Array(k);
  const passLog = new Float64Array(k);
  const logWeight = new Float64Array(k);
  const odds = threshold / (1 - threshold);
  const total = spec.weights.reduce((s, w) => s + w, 0);
  for (let i = 0; i < k; i++) {
    const p1 = (spec.factors[i]! * odds) / (1 + spec.factors[i]! * odds);
    failLog[i] = log(p1 / threshold);
    passLog[i] = log((1 - p1) / (1 - threshold));
    logWeight[i] = log(spec.weights[i]! / total);
  }
  return { failLog, passLog, logWeight };
}

/** The log of the weighted mixture of likelihood ratios at F failures in n outcomes (log-sum-exp). */
export function mixtureLogRatio(m: Mixture, failures: number, sample: number): number {
  const passes = sample - failures;
  let top = -Infinity;
  for (let i = 0; i < m.failLog.length; i++) {
    const term = failures * m.failLog[i]! + passes * m.passLog[i]! + m.logWeight[i]!;
    if (term > top) top = term;
  }
  let sum = 0;
  for (let i = 0; i < m.failLog.length; i++) {
    sum += exp(failures * m.failLog[i]! + passes * m.passLog[i]! + m.logWeight[i]! - top);
  }
  return top + log(sum);
}

/** Binomial(step, p) probabilities of 0, 1, … increments, cut where they fall below 1e-16 (the rest is returned). */
function increments(step: number, p: number): { probs: Float64Array; rest: number } {
  const probs: number[] = [];
  let term = Math.pow(1 - p, step);
  let acc = 0;
  for (let j = 0; j <= step; j++) {
    if (j > 0) term *= ((step - j + 1) / j) * (p / (1 - p));
    if (term < 1e-16 && j > step * p) break;
    probs.push(term);
    acc += term;
  }
  return { probs: Float64Array.from(probs), rest: Math.max(0, 1 - acc) };
}

/**
 * The chance, at true rate `threshold`, that the mixture's log ratio ever reaches `bound` (upper bound; see the
 * module comment). `tailTarget` ends the computation once the Ville tail is that small.
 */
export function crossingProbability(threshold: number, spec: MixtureSpec, bound: number, tailTarget = 1e-6): number {
  const m = mixtureOf(threshold, spec);
  // Outcomes per step: one below a 2 % threshold's scale would cost steps for nothing, so small thresholds step in
  // blocks of about 0.02 / θ outcomes.
  const step = Math.max(1, Math.floor(0.02 / threshold));
  const { probs, rest } = increments(step, threshold);
  const maxSteps = Math.ceil(4_000_000 / step);
  // Survivor mass by failure count, in the first `width` cells; `spare` is the other buffer.
  let survivors = new Float64Array(64);
  let spare = new Float64Array(64);
  let width = 1;
  survivors[0] = 1;
  let crossed = 0;
  let boundaryF = 0;
  /** The fewest failures at n outcomes that reach the bound (n + 1: none); the boundary never falls as n grows. */
  const boundaryAt = (n: number): number => {
    let f = Math.min(boundaryF, n + 1);
    while (f <= n && mixtureLogRatio(m, f, n) < bound) f++;
    return f;
  };
  let n = 0;
  for (let s = 1; s <= maxSteps; s++) {
    // A path crosses within outcomes n+1 … n+step only if its count at n+step reaches the boundary at n+1.
    boundaryF = boundaryAt(n + 1);
    const limit = boundaryF;
    const next = spare.length >= limit ? spare.fill(0, 0, limit) : new Float64Array(limit * 2);
    for (let f = 0; f < width; f++) {
      const mass = survivors[f]!;
      if (mass === 0) continue;
      crossed += mass * rest;
      for (let j = 0; j < probs.length; j++) {
        const g = f + j;
        if (g < limit) next[g]! += mass * probs[j]!;
        else crossed += mass * probs[j]!;
      }
    }
    spare = survivors;
    survivors = next;
    width = limit;
    n += step;
    if (s % 64 === 0 || s === maxSteps) {
      let tail = 0;
      for (let f = 0; f < width; f++) {
        if (survivors[f]! > 0) tail += survivors[f]! * exp(mixtureLogRatio(m, f, n) - bound);
      }
      if (tail < tailTarget || s === maxSteps) return Math.min(1, crossed + tail);
    }
  }
  return 1;
}

/**
 * The lowest halt bound (rounded up to 1e-4 nats) whose computed chance of ever being crossed at `threshold` is at
 * most `alpha`; never above Ville's ln(1/α), which needs no computation. The chance falls about exponentially with
 * the bound, so a secant on its logarithm finds the bound in a few evaluations. Deterministic: fixed steps.
 */
export function calibrateBound(threshold: number, alpha: number, spec: MixtureSpec): Calibration {
  const villeBound = -log(alpha);
  const tailTarget = alpha * 0.02;
  const at = (bound: number) => crossingProbability(threshold, spec, bound, tailTarget);
  let best = { bound: villeBound, crossing: at(villeBound) };
  if (best.crossing > alpha) return { bound: villeBound, crossing: alpha, villeBound };
  let [b1, c1] = [villeBound, best.crossing];
  let b2 = villeBound - 0.3;
  let c2 = at(b2);
  if (c2 <= alpha) best = { bound: b2, crossing: c2 };
  // Aim a hair below α so that rounding the bound up lands on the safe side.
  const aim = log(alpha * 0.998);
  for (let i = 0; i < 5; i++) {
    const slope = (log(c2) - log(c1)) / (b2 - b1);
    if (!(slope < 0)) break;
    const next = Math.ceil(Math.min(villeBound, Math.max(villeBound - 3, b2 + (aim - log(c2)) / slope)) * 1e4) / 1e4;
    if (next === b2) break;
    const c = at(next);
    if (c <= alpha && next < best.bound) best = { bound: next, crossing: c };
    [b1, c1, b2, c2] = [b2, c2, next, c];
    if (c <= alpha && c >= alpha * 0.99) break;
  }
  return { bound: best.bound, crossing: best.crossing, villeBound };
}

const memo = new Map<string, Calibration>();

/** `calibrateBound`, remembered per process (a lane start, a preview and a what-if ask for the same few). */
export function calibratedBound(threshold: number, alpha: number, spec: MixtureSpec): Calibration {
  const key = `${threshold}|${alpha}|${spec.factors.join(',')}|${spec.weights.join(',')}`;
  let c = memo.get(key);
  if (c === undefined) {
    c = calibrateBound(threshold, alpha, spec);
    memo.set(key, c);
  }
  return c;
}
