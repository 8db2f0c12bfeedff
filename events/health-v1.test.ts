import fc from 'fast-check';
// The judge of rules version 1, which lanes started before version 2 keep for life: its specification, unchanged.
import {
  addCounts,
  emptyCounts,
  HealthCountsSchema,
  HealthVerdictSchema,
  ThresholdsSchema,
  type HealthCounts,
  type Thresholds,
} from './health';
import {
  assessHealthV1 as assessHealth,
  evaluateHealthV1 as evaluateHealth,
  SEQUENTIAL_ODDS_FACTORS_V1 as SEQUENTIAL_ODDS_FACTORS,
  thresholdsProblemsV1 as thresholdsProblems,
} from './health-v1';

/** Thresholds as a plan would give them after parsing: 2% max, judge after 100, 1% false halts. */
function thresholds(over: Partial<Thresholds> = {}): Thresholds {
  return ThresholdsSchema.parse({ maxFailureRate: 0.02, minSample: 100, installTimeoutSec: 900, ...over });
}

function counts(succeeded: number, failedByCode: Record<string, number> = {}, timedOut = 0, inProgress = 0) {
  return HealthCountsSchema.parse({ succeeded, failedByCode, timedOut, inProgress });
}

const plain = thresholds({ rule: 'plain' });
const sequential = thresholds();

describe('thresholds', () => {
  it('default to the sequential rule with a 1% false-halt probability and a baseline of a quarter of the max', () => {
    expect(sequential.rule).toBe('sequential');
    expect(sequential.falseHaltProbability).toBe(0.01);
    expect(sequential.errorCodes).toEqual({ ignore: [], criteria: [] });
    expect(evaluateHealth(counts(10), sequential).evidence.baselineFailureRate).toBe(0.005);
  });

  it('refuse a baseline at or above the max failure rate, in words and when judging', () => {
    const bad = thresholds({ baselineFailureRate: 0.02 });
    expect(thresholdsProblems(bad)).toEqual([expect.stringContaining('must be below maxFailureRate 0.02')]);
    expect(thresholdsProblems(sequential)).toEqual([]);
    expect(() => evaluateHealth(counts(10), bad)).toThrow(RangeError);
    // The plain rule has no baseline, so the same thresholds judge fine under it.
    expect(evaluateHealth(counts(100), { ...bad, rule: 'plain' }).verdict).toBe('healthy');
  });

  it('refuse an unknown rule (a corrupted or future plan) instead of guessing', () => {
    expect(() => evaluateHealth(counts(10), { ...sequential, rule: 'bayes' as never })).toThrow(
      'unknown health rule bayes',
    );
  });
});

describe('counts', () => {
  it('start empty and add field by field, per error code, without touching the inputs', () => {
    const a = counts(3, { E1: 1 }, 1, 2);
    const b = counts(4, { E1: 2, E2: 5 }, 0, 1);
    expect(addCounts(emptyCounts(), a)).toEqual(a);
    expect(addCounts(a, b)).toEqual(counts(7, { E1: 3, E2: 5 }, 1, 3));
    expect(a).toEqual(counts(3, { E1: 1 }, 1, 2));
    expect(HealthCountsSchema.parse(emptyCounts())).toEqual(emptyCounts());
  });

  it('add associatively and commutatively, so deltas fold in any grouping', () => {
    const arbCounts = fc.record({
      succeeded: fc.nat(1000),
      failedByCode: fc.dictionary(fc.constantFrom('E1', 'E2', 'E3'), fc.nat(50)),
      timedOut: fc.nat(50),
      inProgress: fc.nat(50),
    });
    fc.assert(
      fc.property(arbCounts, arbCounts, arbCounts, (a, b, c) => {
        expect(addCounts(addCounts(a, b), c)).toEqual(addCounts(a, addCounts(b, c)));
        expect(addCounts(a, b)).toEqual(addCounts(b, a));
      }),
    );
  });
});

describe('what counts as a failure', () => {
  it('given no final outcome, nothing is judged: insufficient evidence, under either rule', () => {
    for (const t of [plain, sequential]) {
      const { verdict, evidence } = evaluateHealth(counts(0, {}, 0, 7), t);
      expect(verdict).toBe('insufficient-evidence');
      expect(evidence).toMatchObject({ sample: 0, failures: 0, failureRate: 0, rule: 'min-sample', inProgress: 7 });
      expect(evidence.explanation).toContain('no final outcomes yet [7 in progress]');
    }
  });

  it('timeouts count as failures of weight 1 (a crashed device reports nothing)', () => {
    const { evidence } = evaluateHealth(counts(95, { E1: 2 }, 3), plain);
    expect(evidence).toMatchObject({ sample: 100, failures: 5, failureRate: 0.05, timedOut: 3 });
    expect(evidence.explanation).toContain('[3 timed out]');
  });

  it('ignored error codes are neither failures nor successes', () => {
    const t = thresholds({ rule: 'plain', errorCodes: { ignore: ['LOW_BATTERY'], criteria: [], weigh: {} } });
    const { verdict, evidence } = evaluateHealth(counts(99, { LOW_BATTERY: 40, E1: 1 }), t);
    expect(evidence).toMatchObject({ sample: 100, failures: 1, ignored: 40 });
    expect(verdict).toBe('healthy');
    expect(evidence.explanation).toContain('[40 ignored]');
    // An ignored code that is also weighed stays ignored.
    const both = thresholds({ errorCodes: { ignore: ['LOW_BATTERY'], criteria: [], weigh: { LOW_BATTERY: 3 } } });
    expect(evaluateHealth(counts(99, { LOW_BATTERY: 40 }), both).evidence.failures).toBe(0);
  });

  it('weighted error codes count as fractional or multiple failures, and the rate uses them', () => {
    const t = thresholds({ rule: 'plain', errorCodes: { ignore: [], criteria: [], weigh: { NET: 0.5, BOOTLOOP: 3 } } });
    const { verdict, evidence } = evaluateHealth(counts(96, { NET: 3, BOOTLOOP: 1 }), t);
    expect(evidence.sample).toBe(100);
    expect(evidence.failures).toBeCloseTo(4.5);
    expect(evidence.failureRate).toBeCloseTo(0.045);
    expect(verdict).toBe('breach');
    expect(evidence.explanation).toMatch(/^4\.5 of 100 failed \(4\.5%\) > 2% after ≥ 100$/);
  });

  it('a weight of 0 makes a code count like a success', () => {
    const t = thresholds({ rule: 'plain', errorCodes: { ignore: [], criteria: [], weigh: { BENIGN: 0 } } });
    expect(evaluateHealth(counts(50, { BENIGN: 50 }), t)).toMatchObject({
      verdict: 'healthy',
      evidence: { sample: 100, failures: 0 },
    });
  });

  it('a code the device did not give is a plain failure', () => {
    expect(evaluateHealth(counts(97, { unknown: 3 }), plain).evidence.failures).toBe(3);
  });
});

describe('the plain rule (rate over threshold once the minimum sample is reached)', () => {
  it('given fewer final outcomes than minSample, waits, however bad the rate', () => {
    const { verdict, evidence } = evaluateHealth(counts(49, { E1: 50 }), plain);
    expect(verdict).toBe('insufficient-evidence');
    expect(evidence.rule).toBe('min-sample');
    expect(evidence.explanation).toBe('50 of 99 failed (50.51%); judged after ≥ 100 outcomes');
    expect(evidence.llr).toBeUndefined();
  });

  it('at exactly minSample and exactly the threshold, is healthy (the rule is "over")', () => {
    const { verdict, evidence } = evaluateHealth(counts(98, { E1: 2 }), plain);
    expect(verdict).toBe('healthy');
    expect(evidence).toMatchObject({ rule: 'plain', sample: 100, failureRate: 0.02, threshold: 0.02, minSample: 100 });
    expect(evidence.explanation).toBe('2 of 100 failed (2%) ≤ 2% after ≥ 100');
  });

  it('at minSample and over the threshold, breaches', () => {
    const { verdict, evidence } = evaluateHealth(counts(97, { E1: 3 }), plain);
    expect(verdict).toBe('breach');
    expect(evidence.explanation).toBe('3 of 100 failed (3%) > 2% after ≥ 100');
  });

  it('reads like the audit trail example', () => {
    const t = thresholds({ rule: 'plain', maxFailureRate: 0.05, minSample: 400 });
    expect(evaluateHealth(counts(381, { E1: 31 }), t).evidence.explanation).toBe(
      '31 of 412 failed (7.52%) > 5% after ≥ 400',
    );
  });
});

describe('the sequential rule (always-valid mixture SPRT of the baseline against the max failure rate)', () => {
  const halt = Math.log(100); // ln(1/α), α = 1%
  const step = { failure: Math.log(4), success: Math.log(0.98 / 0.995) };
  /** The binomial LLR of p1 against p0, and the equal mixture over odds 1×, 3×, 10× those of p1. */
  const llrOf = (f: number, n: number, p0: number, p1: number) =>
    f * Math.log(p1 / p0) + (n - f) * Math.log((1 - p1) / (1 - p0));
  const mixtureOf = (f: number, n: number, p0: number, p1: number) => {
    const odds = p1 / (1 - p1);
    const ratios = SEQUENTIAL_ODDS_FACTORS.map((k) => Math.exp(llrOf(f, n, p0, (k * odds) / (1 + k * odds))));
    return Math.log(ratios.reduce((a, b) => a + b, 0) / ratios.length);
  };

  it('mixes the alternatives 1×, 3× and 10× the threshold odds, compares with ln(1/α); accepts on ln β', () => {
    expect(SEQUENTIAL_ODDS_FACTORS).toEqual([1, 3, 10]);
    const { evidence } = evaluateHealth(counts(50, { E1: 2 }), sequential);
    expect(evidence.llr).toBeCloseTo(mixtureOf(2, 52, 0.005, 0.02), 12);
    expect(evidence.acceptLlr).toBeCloseTo(2 * step.failure + 50 * step.success, 12);
    expect(evidence.bound).toBeCloseTo(halt, 12);
    expect(evidence.acceptBound).toBeCloseTo(Math.log(0.05), 12);
  });

  it('stays numerically stable at very large samples (log-sum-exp)', () => {
    const { verdict, evidence } = evaluateHealth(counts(9_000_000, { E1: 1_000_000 }), sequential);
    expect(verdict).toBe('breach');
    expect(Number.isFinite(evidence.llr)).toBe(true);
  });

  it('halts a real spike at a small sample, long before the plain minimum sample', () => {
    // 20% failing: three failures among the first fifteen devices.
    const { verdict, evidence } = evaluateHealth(counts(12, { E1: 3 }), sequential);
    expect(verdict).toBe('breach');
    expect(evidence.rule).toBe('sequential');
    expect(evidence.sample).toBeLessThan(sequential.minSample);
    expect(evidence.explanation).toBe(
      '3 of 15 failed (20%): significantly above the 0.5% baseline (mixture LLR 7.48 ≥ 4.61, false-halt probability ≤ 1%)',
    );
  });

  it('halts on timeouts alone: devices that crash and go silent', () => {
    expect(evaluateHealth(counts(16, {}, 4, 30), sequential).verdict).toBe('breach');
  });

  it('does not halt one early failure, nor a few failures spread over many devices: that happens to good builds', () => {
    const { verdict, evidence } = evaluateHealth(counts(0, { E1: 1 }), sequential);
    expect(verdict).toBe('insufficient-evidence');
    expect(evidence.rule).toBe('min-sample');
    expect(evidence.explanation).toBe(
      '1 of 1 failed (100%); judged after ≥ 100 outcomes; ' +
        'mixture LLR 2.8 < 4.61 to halt, LLR(2% vs 0.5%) = 1.39 > -3 to accept',
    );
    expect(evaluateHealth(counts(57, { E1: 3 }), sequential).verdict).toBe('insufficient-evidence');
  });

  it('does not halt a good build at its expected rate, at any size', () => {
    for (const n of [200, 1000, 10_000, 1_000_000]) {
      expect(evaluateHealth(counts(n * 0.995, { E1: n * 0.005 }), sequential).verdict).toBe('healthy');
    }
  });

  it('accepts a clean build early, before minSample, when the LLR falls to ln β', () => {
    const t = thresholds({ minSample: 1000 });
    const { verdict, evidence } = evaluateHealth(counts(200), t);
    expect(verdict).toBe('healthy');
    expect(evidence.rule).toBe('sequential');
    expect(evidence.explanation).toBe('0 of 200 failed (0%): significantly below 2% (LLR(2% vs 0.5%) = -3.04 ≤ -3)');
    expect(evaluateHealth(counts(150), t).verdict).toBe('insufficient-evidence');
    expect(evaluateHealth(counts(150), { ...t, falsePassProbability: 0.2 }).verdict).toBe('healthy');
  });

  it('also calls a build healthy by the plan criterion: ≥ minSample outcomes at or under the rate', () => {
    const { verdict, evidence } = evaluateHealth(counts(99, { E1: 1 }), sequential);
    expect(verdict).toBe('healthy');
    expect(evidence.rule).toBe('plain');
    expect(evidence.explanation).toBe(
      '1 of 100 failed (1%) ≤ 2% after ≥ 100; mixture LLR -1.16 < 4.61 to halt, LLR(2% vs 0.5%) = -0.12 > -3 to accept',
    );
  });

  it('waits when the rate is over the threshold but not significant: no halt on noise', () => {
    const { verdict, evidence } = evaluateHealth(counts(97, { E1: 3 }), sequential);
    expect(verdict).toBe('insufficient-evidence');
    expect(evidence.rule).toBe('sequential');
    expect(evidence.explanation).toBe(
      '3 of 100 failed (3%) > 2% after ≥ 100 but not significant ' +
        '(mixture LLR 2.02 < 4.61 to halt, LLR(2% vs 0.5%) = 2.69 > -3 to accept)',
    );
    // The plain rule with the same numbers halts.
    expect(evaluateHealth(counts(97, { E1: 3 }), plain).verdict).toBe('breach');
  });

  it('halts a build at the max failure rate once the evidence accumulates', () => {
    expect(evaluateHealth(counts(980, { E1: 20 }), sequential).verdict).toBe('breach');
  });

  it('takes fractional failures from weights', () => {
    const t = thresholds({ errorCodes: { ignore: [], criteria: [], weigh: { NET: 0.5 } } });
    const { evidence } = evaluateHealth(counts(50, { NET: 3 }), t);
    expect(evidence.acceptLlr).toBeCloseTo(1.5 * step.failure + 51.5 * step.success, 12);
    expect(evidence.llr).toBeCloseTo(mixtureOf(1.5, 53, 0.005, 0.02), 12);
    expect(evidence.explanation).toMatch(/^1\.5 of 53 failed/);
  });

  it('uses a plan-given baseline and false-halt probability', () => {
    const t = thresholds({ baselineFailureRate: 0.001, falseHaltProbability: 0.001 });
    const { evidence } = evaluateHealth(counts(10, { E1: 1 }), t);
    expect(evidence.acceptLlr).toBeCloseTo(Math.log(20) + 10 * Math.log(0.98 / 0.999), 12);
    expect(evidence.llr).toBeCloseTo(mixtureOf(1, 11, 0.001, 0.02), 12);
    expect(evidence.bound).toBeCloseTo(Math.log(1000), 12);
    expect(evidence.baselineFailureRate).toBe(0.001);
  });

  it('keeps its false-halt promise when a good build is judged after every device (Monte Carlo)', () => {
    // 2,000 good builds at the baseline rate, 3,000 devices each, judged after every device — a success only
    // lowers the LLR, so only the devices that fail need the judge.
    let state = 12345;
    const uniform = () => {
      state = (state + 0x6d2b79f5) | 0;
      let r = Math.imul(state ^ (state >>> 15), 1 | state);
      r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
      return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
    };
    let halted = 0;
    const logSurvive = Math.log(1 - 0.005);
    for (let run = 0; run < 2000; run++) {
      const c = emptyCounts();
      // Successes before the next failure are geometric: jump from failure to failure.
      for (;;) {
        c.succeeded += Math.floor(Math.log(1 - uniform()) / logSurvive);
        if (c.succeeded + (c.failedByCode.E1 ?? 0) >= 3000) break;
        c.failedByCode.E1 = (c.failedByCode.E1 ?? 0) + 1;
        if (assessHealth(c, sequential).verdict === 'breach') {
          halted++;
          break;
        }
      }
    }
    expect(halted / 2000).toBeLessThanOrEqual(0.01);
    expect(halted).toBeGreaterThan(0); // the simulation does reach the bound sometimes: not vacuous
  });
});

describe('properties', () => {
  const arbThresholds = fc
    .record({
      maxFailureRate: fc.double({ min: 0.001, max: 0.5, noNaN: true }),
      minSample: fc.integer({ min: 1, max: 2000 }),
      rule: fc.constantFrom('plain' as const, 'sequential' as const),
      falseHaltProbability: fc.double({ min: 0.0001, max: 0.2, noNaN: true }),
      weight: fc.double({ min: 0, max: 5, noNaN: true }),
    })
    .map(({ weight, ...t }) =>
      thresholds({ ...t, errorCodes: { ignore: ['IGN'], criteria: [], weigh: { W: weight } } }),
    );
  const arbCounts = fc.record({
    succeeded: fc.nat(5000),
    failedByCode: fc.record({ E1: fc.nat(300), W: fc.nat(300), IGN: fc.nat(300) }),
    timedOut: fc.nat(300),
    inProgress: fc.nat(300),
  });
  const rank = { healthy: 0, 'insufficient-evidence': 1, breach: 2 } as const;

  it('more failures never turn a breach into anything else', () => {
    fc.assert(
      fc.property(arbThresholds, arbCounts, fc.nat(50), fc.nat(50), (t, c, extraFail, extraTimeout) => {
        if (evaluateHealth(c, t).verdict !== 'breach') return;
        const worse: HealthCounts = {
          ...c,
          failedByCode: { ...c.failedByCode, E1: (c.failedByCode.E1 ?? 0) + extraFail },
          timedOut: c.timedOut + extraTimeout,
        };
        expect(evaluateHealth(worse, t).verdict).toBe('breach');
      }),
    );
  });

  it('more successes never make the verdict worse for the sequential rule', () => {
    fc.assert(
      fc.property(arbThresholds, arbCounts, fc.nat(500), (t, c, extra) => {
        const s = { ...t, rule: 'sequential' as const };
        const before = evaluateHealth(c, s).verdict;
        const after = evaluateHealth({ ...c, succeeded: c.succeeded + extra }, s).verdict;
        expect(rank[after]).toBeLessThanOrEqual(rank[before]);
      }),
    );
  });

  it('is deterministic, valid against its schema, and agrees with assessHealth', () => {
    fc.assert(
      fc.property(arbThresholds, arbCounts, (t, c) => {
        const v = evaluateHealth(c, t);
        expect(evaluateHealth(structuredClone(c), structuredClone(t))).toEqual(v);
        expect(HealthVerdictSchema.parse(v)).toEqual(v);
        const a = assessHealth(c, t);
        expect(a.verdict).toBe(v.verdict);
        expect(a.rule).toBe(v.evidence.rule);
      }),
    );
  });

  it('in-progress devices never change the verdict', () => {
    fc.assert(
      fc.property(arbThresholds, arbCounts, fc.nat(1000), (t, c, n) => {
        expect(evaluateHealth({ ...c, inProgress: n }, t).verdict).toBe(evaluateHealth(c, t).verdict);
      }),
    );
  });
});
