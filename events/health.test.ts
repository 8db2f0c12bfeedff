// The health judge of rules version 2, as specifications: what counts, when it halts, when a phase may pass, and
// the false-halt promise checked by simulation (seeded, so a failure reproduces).
import fc from 'fast-check';
import { mulberry32 } from '../simulator/prng';
import {
  HealthVerdictSchema,
  LANE_CRITERION,
  SEQUENTIAL_ODDS_FACTORS,
  ThresholdsSchema,
  assessFleetSpike,
  assessHealth,
  breachBoundary,
  evaluateHealth,
  guaranteeSentence,
  overturnMargin,
  planThresholdsProblems,
  thresholdsProblems,
  type HealthCounts,
  type Thresholds,
} from './health';

/** Thresholds as a plan gives them after parsing: 2% max, pass after 50, 1% false halts. */
function thresholds(over: Record<string, unknown> = {}): Thresholds {
  return ThresholdsSchema.parse({ maxFailureRate: 0.02, minSample: 50, installTimeoutSec: 900, ...over });
}

function counts(succeeded: number, failedByCode: Record<string, number> = {}, timedOut = 0, inProgress = 0) {
  return { succeeded, failedByCode, timedOut, inProgress };
}

const sequential = thresholds();
const plain = thresholds({ rule: 'plain' });
const bootLoop = thresholds({
  errorCodes: { ignore: ['LOW_BATTERY'], criteria: [{ name: 'boot-loop', codes: ['E_BOOT'], maxFailureRate: 0.001 }] },
});

describe('thresholds', () => {
  it('default to the sequential rule, 1% false halts, no ignored code and no criterion', () => {
    expect(sequential).toMatchObject({ rule: 'sequential', falseHaltProbability: 0.01 });
    expect(sequential.errorCodes).toEqual({ ignore: [], criteria: [] });
  });

  it('refuse criteria that overlap each other or the ignored codes', () => {
    const t = thresholds({
      errorCodes: {
        ignore: ['A'],
        criteria: [
          { codes: ['A'], maxFailureRate: 0.01 },
          { name: 'x', codes: ['B'], maxFailureRate: 0.01 },
          { name: 'x', codes: ['B'], maxFailureRate: 0.01 },
        ],
      },
    });
    expect(thresholdsProblems(t)).toEqual([
      'error code A is both ignored and judged by criterion "A"',
      'criterion name "x" is used twice',
      'error code B is in two criteria ("x" and "x")',
    ]);
    expect(thresholdsProblems(bootLoop)).toEqual([]);
  });

  it('say what a version 1 key becomes: a weight w is a criterion at maxFailureRate / w', () => {
    const old = thresholds({ baselineFailureRate: 0.005, errorCodes: { weigh: { E_NET: 0.5, E_BOOT: 4 } } });
    const problems = planThresholdsProblems(old);
    expect(problems.map((p) => p.key)).toEqual(['errorCodes.weigh', 'baselineFailureRate']);
    expect(problems[0]?.message).toContain(
      '[{ codes: [E_NET], maxFailureRate: 0.04 }, { codes: [E_BOOT], maxFailureRate: 0.005 }]',
    );
  });

  it('refuse an unknown rule (a corrupted or future plan) instead of guessing', () => {
    expect(() => evaluateHealth(counts(10), { ...sequential, rule: 'bayes' as never })).toThrow('unknown health rule');
  });
});

describe('what counts', () => {
  it('timeouts are failures of the lane criterion; ignored codes are neither failure nor success', () => {
    const a = assessHealth(counts(90, { LOW_BATTERY: 5, E_X: 3 }, 2), bootLoop);
    expect(a).toMatchObject({ sample: 95, failures: 5, ignored: 5, criterionFailures: [5, 0] });
  });

  it('a code with its own criterion counts toward that criterion only, never twice', () => {
    const a = assessHealth(counts(100, { E_BOOT: 2, E_X: 1 }), bootLoop);
    expect(a.criterionFailures).toEqual([1, 2]);
    expect(a.failures).toBe(3);
    // Every device counts once in the sample, whatever its code: no failure count can exceed the sample.
    fc.assert(
      fc.property(fc.nat(500), fc.nat(500), fc.nat(500), fc.nat(50), (ok, boot, other, timedOut) => {
        const x = assessHealth(counts(ok, { E_BOOT: boot, E_X: other }, timedOut), bootLoop);
        return x.criterionFailures.every((f) => f <= x.sample) && x.failures <= x.sample;
      }),
    );
  });
});

describe('the sequential rule: a mixture SPRT of the threshold against 1.5× … 10× its odds', () => {
  it('breaches when the log of the equally weighted mixture reaches ln(k/α)', () => {
    const [f, n] = [9, 100];
    const p0 = 0.02;
    const terms = SEQUENTIAL_ODDS_FACTORS.map((factor) => {
      const p1 = (factor * (p0 / (1 - p0))) / (1 + factor * (p0 / (1 - p0)));
      return Math.exp(f * Math.log(p1 / p0) + (n - f) * Math.log((1 - p1) / (1 - p0)));
    });
    const llr = Math.log(terms.reduce((s, x) => s + x, 0) / terms.length);
    const a = assessHealth(counts(n - f, { E: f }), sequential);
    expect(a.llrs?.[0]).toBeCloseTo(llr, 10);
    expect(a.bounds?.[0]).toBeCloseTo(Math.log(100), 12);
    expect(a.verdict).toBe(llr >= Math.log(100) ? 'breach' : 'healthy');
    // With a code criterion the budget is split: each criterion is tested at α / 2.
    expect(assessHealth(counts(100), bootLoop).bounds).toEqual([Math.log(200), Math.log(200)]);
  });

  it('halts a spike after a handful of devices, and never on one early failure', () => {
    expect(evaluateHealth(counts(0, { E: 1 }), sequential).verdict).not.toBe('breach');
    expect(evaluateHealth(counts(6, { E: 4 }), sequential).verdict).toBe('breach');
    expect(breachBoundary(sequential, 10)).toBe(4);
    expect(breachBoundary(sequential, 1000)).toBeGreaterThan(0.02 * 1000);
  });

  it('a build at the threshold never breaches on its expected counts, at any size', () => {
    for (const n of [50, 100, 1000, 10_000, 1_000_000]) {
      expect(evaluateHealth(counts(n * 0.98, { E: n * 0.02 }), sequential).verdict).not.toBe('breach');
    }
  });

  it('halts a build at twice the threshold once the evidence accumulates', () => {
    expect(evaluateHealth(counts(960, { E: 40 }), sequential).verdict).toBe('breach');
  });

  it('a per-code criterion halts on its own codes long before the lane criterion would', () => {
    const v = evaluateHealth(counts(992, { E_BOOT: 8 }), bootLoop);
    expect(v.verdict).toBe('breach');
    expect(v.evidence.breachedBy).toBe('boot-loop');
    expect(v.evidence.explanation).toMatch(/boot-loop failures 8 \(0.8%\) significantly above 0.1%/);
    expect(evaluateHealth(counts(992, { E_X: 8 }), bootLoop).verdict).not.toBe('breach');
  });

  it('the evidence of every breach states the guarantee', () => {
    const v = evaluateHealth(counts(6, { E: 4 }), bootLoop);
    expect(v.evidence.guarantee).toBe(
      'For every true failure rate at or below 2% and at or below 0.1% for boot-loop, the probability that this lane ' +
        'is ever halted by the rule is at most 1%, over its whole life.',
    );
    expect(guaranteeSentence(plain)).toMatch(/promises no false-halt probability/);
    expect(HealthVerdictSchema.parse(v)).toEqual(v);
  });
});

describe('a phase may pass only on evidence that cannot be overturned', () => {
  it('waits for minSample outcomes of the attempt, then for one of the phase’s own', () => {
    expect(evaluateHealth(counts(49), sequential).evidence.waitingOn).toBe('min-sample');
    expect(evaluateHealth(counts(50), sequential, { phaseOutcomes: 0 }).evidence.waitingOn).toBe('phase-outcomes');
    expect(evaluateHealth(counts(50), sequential, { phaseOutcomes: 1 }).verdict).toBe('healthy');
  });

  it('waits while counting every device still installing as failed would breach', () => {
    const margin = overturnMargin(sequential, 1, 100);
    expect(margin).toBeGreaterThan(0);
    expect(evaluateHealth(counts(99, { E: 1 }, 0, margin), sequential).verdict).toBe('healthy');
    const v = evaluateHealth(counts(99, { E: 1 }, 0, margin + 1), sequential);
    expect(v).toMatchObject({ verdict: 'insufficient-evidence', evidence: { waitingOn: 'in-progress' } });
    expect(v.evidence.explanation).toMatch(/devices still installing could overturn it/);
    expect(overturnMargin(sequential, 10, 10)).toBe(-1);
  });

  it('the plain rule waits the same way: its rate with the devices still out must stay at or under the threshold', () => {
    expect(evaluateHealth(counts(100, {}, 0, 2), plain).verdict).toBe('healthy');
    expect(evaluateHealth(counts(100, {}, 0, 3), plain).verdict).toBe('insufficient-evidence');
    expect(evaluateHealth(counts(97, { E: 3 }), plain).verdict).toBe('breach');
  });
});

/**
 * Simulates a build failing at `rate` (some of it through silent devices that time out, some codes ignored, some
 * in a criterion at its own maximum), judged after every `every` devices (an eager ingest's deltas), for
 * `devices` outcomes. Returns whether the rule ever breached.
 */
function everHalts(t: Thresholds, rate: number, bootRate: number, devices: number, seed: number, every = 1): boolean {
  const rand = mulberry32(seed);
  const c: HealthCounts = {
    succeeded: 0,
    failedByCode: { E_X: 0, E_BOOT: 0, LOW_BATTERY: 0 },
    timedOut: 0,
    inProgress: 0,
  };
  for (let i = 0; i < devices; i++) {
    const r = rand();
    if (r < bootRate) c.failedByCode.E_BOOT! += 1;
    else if (r < bootRate + rate / 2) c.failedByCode.E_X! += 1;
    else if (r < bootRate + rate) c.timedOut += 1;
    else if (r < bootRate + rate + 0.01) c.failedByCode.LOW_BATTERY! += 1;
    else c.succeeded += 1;
    if (i % every === every - 1 && assessHealth(c, t).verdict === 'breach') return true;
  }
  return false;
}

describe('the promise: P(ever halted) ≤ α for every rate at or below the threshold', () => {
  it('holds at the threshold itself, judged after every device, with timeouts, ignored codes and a criterion', () => {
    const runs = 1000;
    let halts = 0;
    for (let run = 0; run < runs; run++)
      if (everHalts(bootLoop, 0.02, 0.001, 2000, 1000 + run, run % 2 ? 1 : 7)) halts++;
    // α = 1%; the binomial 99.9% upper margin over 1,000 runs is ≈ 1 point.
    expect(halts / runs).toBeLessThanOrEqual(0.01 + 3.1 * Math.sqrt((0.01 * 0.99) / runs));
  });

  it('a build just below the threshold is rarely halted, and a 3× build always', () => {
    let good = 0;
    let bad = 0;
    const ignoring = thresholds({ errorCodes: { ignore: ['LOW_BATTERY'] } });
    for (let run = 0; run < 200; run++) {
      if (everHalts(ignoring, 0.018, 0, 2000, 5000 + run, 5)) good++;
      if (everHalts(ignoring, 0.06, 0, 2000, 9000 + run, 5)) bad++;
    }
    expect(good).toBeLessThanOrEqual(5);
    expect(bad).toBe(200);
  });
});

describe('proof before a pass (proveBelowMultiple)', () => {
  const proving = thresholds({ minSample: 668, proveBelowMultiple: 2 });

  it('holds a 3× build whose first devices happened to fail rarely, which the absence of a breach alone would pass', () => {
    // 32 failures in 1,017 outcomes (3.1 %): a canary of a build failing at 6 % that drew half its expected failures.
    const lucky = counts(985, { E_X: 32 });
    expect(evaluateHealth(lucky, thresholds({ minSample: 668 })).verdict).toBe('healthy');
    const held = evaluateHealth(lucky, proving);
    expect(held.verdict).toBe('insufficient-evidence');
    expect(held.evidence.waitingOn).toBe('proof');
    expect(held.evidence.proof?.below).toBeCloseTo(0.04, 12);
    expect(held.evidence.proof?.bound).toBeCloseTo(Math.log(100), 12);
    expect(held.evidence.proof!.llr).toBeLessThan(Math.log(100));
    expect(held.evidence.explanation).toContain('not yet proven below 4%');
  });

  it('passes a good build as soon as the minimum sample is in, with the proof in its evidence', () => {
    const good = evaluateHealth(counts(664, { E_X: 4 }), proving);
    expect(good.verdict).toBe('healthy');
    expect(good.evidence.proof!.llr).toBeGreaterThanOrEqual(good.evidence.proof!.bound);
    // Below the minimum sample the verdict still waits on it, even when the proof is already in.
    expect(evaluateHealth(counts(400, { E_X: 2 }), proving).evidence.waitingOn).toBe('min-sample');
  });

  it('proves a build at 2 × the threshold below it at most α of the time, judged after every device', () => {
    // The halt rule is left out (it would stop most of these runs first), so this is the proof's own error alone.
    const t = thresholds({ minSample: 1, proveBelowMultiple: 2, maxFailureRate: 0.02, rule: 'plain' });
    const runs = 1000;
    let proven = 0;
    for (let run = 0; run < runs; run++) {
      const rand = mulberry32(40_000 + run);
      const c = counts(0, { E_X: 0 });
      for (let i = 0; i < 3000; i++) {
        if (rand() < 0.04) c.failedByCode.E_X! += 1;
        else c.succeeded += 1;
        const a = assessHealth(c, t);
        if (a.verdict === 'breach') break;
        if (a.proof!.proven) {
          proven++;
          break;
        }
      }
    }
    expect(proven / runs).toBeLessThanOrEqual(0.01 + 3.1 * Math.sqrt((0.01 * 0.99) / runs));
  });

  it('is judged on the lane criterion: failures of a code criterion count against their own threshold only', () => {
    const withCriterion = thresholds({
      minSample: 100,
      proveBelowMultiple: 2,
      errorCodes: { ignore: [], criteria: [{ name: 'network', codes: ['E_NET'], maxFailureRate: 0.2 }] },
    });
    const a = assessHealth(counts(900, { E_NET: 100 }), withCriterion);
    expect(a.verdict).toBe('healthy');
    expect(a.proof?.proven).toBe(true);
  });
});

describe('the fleet-spike rule: every class against its own threshold, pooled', () => {
  const high = thresholds({ maxFailureRate: 0.05 });
  it('halts a moderate rise across classes that no class alone shows', () => {
    const lanes = [0, 1, 2, 3, 4, 5].map(() => ({ counts: counts(930, { E: 70 }), thresholds: high, handled: false }));
    expect(lanes.every((l) => evaluateHealth(l.counts, l.thresholds).verdict !== 'breach')).toBe(true);
    expect(assessFleetSpike(lanes, 0.01).breach).toBe(true);
  });

  it('does not mix normal rates: a class at its own (higher) threshold does not halt a calm fleet', () => {
    const atThreshold = { counts: counts(9500, { E: 500 }), thresholds: high, handled: false };
    const calm = { counts: counts(9990, { E: 10 }), thresholds: sequential, handled: false };
    expect(assessFleetSpike([atThreshold, calm, calm], 0.01).breach).toBe(false);
  });

  it('a breach already handled never counts toward a fleet halt, though its clean evidence still may clear it', () => {
    const breached = { counts: counts(60, { E: 40 }), thresholds: sequential, handled: true };
    const quiet = { counts: counts(1000, { E: 20 }), thresholds: sequential, handled: false };
    expect(assessFleetSpike([{ ...breached, handled: false }, quiet], 0.01).breach).toBe(true);
    expect(assessFleetSpike([breached, quiet], 0.01).breach).toBe(false);
    expect(assessFleetSpike([breached, quiet], 0.01).llr).toBe(assessFleetSpike([quiet], 0.01).llr);
  });

  it('keeps its promise when every class sits at its own threshold (simulation)', () => {
    const rand = mulberry32(77);
    let halts = 0;
    const runs = 400;
    const t = [sequential, high, thresholds({ maxFailureRate: 0.01 })];
    for (let run = 0; run < runs; run++) {
      const lanes = t.map((th) => ({ counts: counts(0, { E: 0 }), thresholds: th, handled: false }));
      for (let step = 0; step < 1000; step++) {
        for (const lane of lanes) {
          if (rand() < lane.thresholds.maxFailureRate) lane.counts.failedByCode.E! += 1;
          else lane.counts.succeeded += 1;
        }
        if (step % 10 === 9 && assessFleetSpike(lanes, 0.01).breach) {
          halts++;
          break;
        }
      }
    }
    expect(halts / runs).toBeLessThanOrEqual(0.01 + 3.1 * Math.sqrt((0.01 * 0.99) / runs));
  });
});

describe('properties', () => {
  it('more failures never turn a breach into anything else; more successes never make a breach of a pass', () => {
    fc.assert(
      fc.property(fc.nat(2000), fc.nat(200), fc.nat(50), (ok, fail, more) => {
        const before = assessHealth(counts(ok, { E: fail }), sequential).verdict;
        const worse = assessHealth(counts(ok, { E: fail + more }), sequential).verdict;
        return before !== 'breach' || worse === 'breach';
      }),
    );
  });

  it('is deterministic and valid against its schema; the lane criterion comes first in the evidence', () => {
    fc.assert(
      fc.property(fc.nat(3000), fc.nat(100), fc.nat(100), fc.nat(20), (ok, fail, boot, out) => {
        const c = counts(ok, { E_X: fail, E_BOOT: boot }, 0, out);
        const v = evaluateHealth(c, bootLoop, { phaseOutcomes: 1 });
        expect(evaluateHealth(c, bootLoop, { phaseOutcomes: 1 })).toEqual(v);
        expect(HealthVerdictSchema.parse(v)).toEqual(v);
        expect(v.evidence.criteria?.[0]?.name).toBe(LANE_CRITERION);
        expect(v.verdict).toBe(assessHealth(c, bootLoop, { phaseOutcomes: 1 }).verdict);
      }),
      { numRuns: 200 },
    );
  });
});
