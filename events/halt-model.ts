/**
 * The exact binomial model of the health judge on a lane's own criterion, shared by the preview (`rollout validate
 * --explain`) and the severity defaults (`severity.ts`). Pure: no I/O.
 */
import { breachBoundary, laneBreaches, type Thresholds } from './health';

/**
 * The exact binomial model of the rule on its lane criterion: outcomes one at a time, each failing at `rate`, the
 * rule consulted after every one, for at most `horizon` outcomes. Returns the halt probability and the expected
 * outcomes until the halt (the horizon when it does not halt). Once a breach is possible the boundary never falls
 * as outcomes grow (one more success only lowers the statistic), so it is walked up; mass below 1e-14 is dropped.
 * With `stopAtProbability` it stops as soon as the halt probability reaches it: `outcomes` is then the fewest outcomes
 * by which the rule halts such a build with that probability (the severity defaults' minimum sample); otherwise it is
 * where the walk ended.
 */
export function haltModel(
  t: Thresholds,
  rate: number,
  horizon: number,
  stopAtProbability = 1,
): { haltProbability: number; expectedOutcomes: number; outcomes: number } {
  let size = 64;
  let mass = new Float64Array(size);
  let next = new Float64Array(size);
  mass[0] = 1;
  let [lo, hi] = [0, 0];
  let boundary = 1;
  let possible = false;
  let halted = 0;
  let expected = 0;
  let n = 0;
  while (n < horizon && 1 - halted > 1e-12 && lo <= hi && halted < stopAtProbability) {
    n++;
    if (!laneBreaches(t, n, n)) [boundary, possible] = [n + 1, false];
    else if (!possible) [boundary, possible] = [breachBoundary(t, n), true];
    else while (!laneBreaches(t, boundary, n)) boundary++;
    if (hi + 2 > size) {
      size *= 2;
      const grown = new Float64Array(size);
      grown.set(mass);
      mass = grown;
      next = new Float64Array(size);
    }
    next.fill(0, lo, hi + 2);
    for (let f = lo; f <= hi; f++) {
      const m = mass[f]!;
      next[f]! += m * (1 - rate);
      next[f + 1]! += m * rate;
    }
    let newHi = hi + 1;
    for (let f = Math.max(lo, boundary); f <= newHi; f++) {
      halted += next[f]!;
      expected += next[f]! * n;
      next[f] = 0;
    }
    newHi = Math.min(newHi, boundary - 1);
    while (lo <= newHi && next[lo]! < 1e-14) lo++;
    while (newHi >= lo && next[newHi]! < 1e-14) newHi--;
    hi = newHi;
    [mass, next] = [next, mass];
  }
  return { haltProbability: halted, expectedOutcomes: expected + Math.max(0, 1 - halted) * horizon, outcomes: n };
}
