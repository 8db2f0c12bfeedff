/** Severity defaults: what a severity chooses, what the plan keeps, and the errors a plan without either gets. */
import { haltModel } from './halt-model';
import { calibrationOf, ThresholdsSchema } from './health';
import { laneConfigOf, validatePlan, type PlanError, type RolloutPlan } from './plan';
import { canaryShare, severityMinSample, severityPhases, SEVERITY_DEFAULTS } from './severity';

const base = {
  releaseId: 'bsi-26.4',
  artifact: { build: '26.4.1' },
  deviceClasses: ['phone-a', 'laptop-x1'],
  thresholds: { maxFailureRate: 0.02, installTimeoutSec: 1800 },
  breachPolicy: { action: 'pause' },
};

function planOf(input: Record<string, unknown>): RolloutPlan {
  const result = validatePlan({ ...base, ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.plan;
}

function errorsOf(input: Record<string, unknown>): PlanError[] {
  const result = validatePlan({ ...base, ...input });
  if (result.ok) throw new Error('expected the plan to be refused');
  return result.errors;
}

describe('severity: the schema', () => {
  test('a plan without phases and without severity is refused with a clear rule', () => {
    const errors = errorsOf({ thresholds: { ...base.thresholds, minSample: 100 } });
    expect(errors).toContainEqual({ path: 'phases', value: undefined, rule: 'required unless severity is set' });
  });

  test('minSample is required without a severity, and exploited means nothing without one', () => {
    const errors = errorsOf({ phases: [{ share: 100, bake: 0 }], exploited: true });
    expect(errors.map((e) => [e.path, e.rule])).toEqual([
      ['thresholds.minSample', 'required unless severity is set'],
      ['exploited', 'only means something with a severity (it speeds its defaults)'],
    ]);
  });

  test('an unknown severity names the choices', () => {
    expect(errorsOf({ severity: 'urgent' })).toEqual([
      { path: 'severity', value: 'urgent', rule: 'must be one of critical, high, medium, low' },
    ]);
  });
});

describe('severity: the defaults a lane runs', () => {
  test('critical on a class of known size: a canary of 1.5 × minSample devices, then everything, 48 h completion', () => {
    const plan = planOf({ severity: 'critical', classes: { 'phone-a': { completion: { expectedDevices: 100_000 } } } });
    const config = laneConfigOf(plan, 'phone-a');
    const minSample = config.thresholds.minSample;
    expect(config.phases.map((p) => [p.share, p.minBakeSec, p.bakeSec])).toEqual([
      [Math.round((1.5 * minSample * 10_000) / 100_000) / 100, 6 * 3600, 12 * 3600],
      [100, undefined, 0],
    ]);
    expect(config.completion).toEqual({
      patchedShare: 0.95,
      deadlineSec: 48 * 3600,
      stallAfterSec: 7200,
      expectedDevices: 100_000,
    });
    // The class of unknown size gets the 1 % canary.
    expect(laneConfigOf(plan, 'laptop-x1').phases[0]?.share).toBe(1);
  });

  test('the default minSample halts a 3× build with 99 % probability by then, and not one outcome sooner', () => {
    const t = ThresholdsSchema.parse({ maxFailureRate: 0.02, minSample: 1, installTimeoutSec: 1800 });
    const calibrated = { ...t, calibration: calibrationOf(t) };
    const n = severityMinSample(t, false);
    expect(haltModel(calibrated, 0.06, n).haltProbability).toBeGreaterThanOrEqual(0.99);
    expect(haltModel(calibrated, 0.06, n - 1).haltProbability).toBeLessThan(0.99);
    const exploited = severityMinSample(t, true);
    expect(exploited).toBeLessThan(n);
    expect(haltModel(calibrated, 0.06, exploited).haltProbability).toBeGreaterThanOrEqual(0.95);
  });

  test('every severity asks for proof below 2 × maxFailureRate before a phase passes; the plan may change it', () => {
    for (const severity of ['critical', 'high', 'medium', 'low']) {
      expect(laneConfigOf(planOf({ severity }), 'phone-a').thresholds.proveBelowMultiple).toBe(2);
    }
    const own = planOf({ severity: 'high', thresholds: { ...base.thresholds, proveBelowMultiple: 3 } });
    expect(laneConfigOf(own, 'phone-a').thresholds.proveBelowMultiple).toBe(3);
    // Without a severity a plan asks for no proof unless it says so, and keeps what lanes always did.
    const plain = planOf({ phases: [{ share: 100, bake: '1h' }], thresholds: { ...base.thresholds, minSample: 100 } });
    expect(laneConfigOf(plain, 'phone-a').thresholds.proveBelowMultiple).toBeUndefined();
    expect(errorsOf({ severity: 'high', thresholds: { ...base.thresholds, proveBelowMultiple: 1 } })).toContainEqual(
      expect.objectContaining({ path: 'thresholds.proveBelowMultiple' }),
    );
  });

  test('exploited halves every bake and lowers the minimum sample', () => {
    const plain = laneConfigOf(planOf({ severity: 'high' }), 'phone-a');
    const fast = laneConfigOf(planOf({ severity: 'high', exploited: true }), 'phone-a');
    expect(fast.phases.map((p) => [p.share, p.minBakeSec, p.bakeSec])).toEqual(
      plain.phases.map((p) => [p.share, p.minBakeSec === undefined ? undefined : p.minBakeSec / 2, p.bakeSec / 2]),
    );
    expect(fast.thresholds.minSample).toBeLessThan(plain.thresholds.minSample);
  });

  test("the plan's own keys win: phases, minSample and completion given are kept", () => {
    const phases = [
      { share: 5, bake: '1h' },
      { share: 100, bake: 0 },
    ];
    const plan = planOf({
      severity: 'critical',
      phases,
      thresholds: { ...base.thresholds, minSample: 50 },
      completion: { deadline: '6h' },
    });
    const config = laneConfigOf(plan, 'phone-a');
    expect(config.phases.map((p) => [p.share, p.bakeSec, p.minBakeSec])).toEqual([
      [5, 3600, undefined],
      [100, 0, undefined],
    ]);
    expect(config.thresholds.minSample).toBe(50);
    expect(config.completion?.deadlineSec).toBe(6 * 3600);
    // A class's own phases win over the severity's too.
    const perClass = planOf({ severity: 'low', classes: { 'phone-a': { phases: [{ share: 100, bake: 0 }] } } });
    expect(laneConfigOf(perClass, 'phone-a').phases.map((p) => p.share)).toEqual([100]);
    expect(laneConfigOf(perClass, 'laptop-x1').phases.map((p) => p.share)).toEqual([1, 5, 25, 100]);
  });

  test('a canary as large as the next phase replaces it (a small class), and shares stay within 0.01–50 %', () => {
    expect(severityPhases('high', false, 5000, 668).map((p) => p.share)).toEqual([20.04, 100]);
    expect(canaryShare(100_000, 668)).toBe(1);
    expect(canaryShare(100, 668)).toBe(50);
    expect(canaryShare(100_000_000, 668)).toBe(0.01);
    expect(canaryShare(undefined, 668)).toBe(1);
  });

  test('every severity ends at 100 % with strictly rising shares, and is slower than the one above it', () => {
    const order = ['critical', 'high', 'medium', 'low'] as const;
    const deadlines = order.map((s) => SEVERITY_DEFAULTS[s].completionDeadlineSec);
    expect([...deadlines].sort((a, b) => a - b)).toEqual(deadlines);
    for (const severity of order) {
      const config = laneConfigOf(planOf({ severity }), 'phone-a');
      const shares = config.phases.map((p) => p.share);
      expect(shares[shares.length - 1]).toBe(100);
      shares.slice(1).forEach((share, i) => expect(share).toBeGreaterThan(shares[i]!));
    }
  });
});

describe('severity: rate limits', () => {
  const sized = (severity: string, extra: Record<string, unknown> = {}) =>
    laneConfigOf(
      planOf({ severity, classes: { 'phone-a': { completion: { expectedDevices: 240_000 } } }, ...extra }),
      'phone-a',
    );

  test('critical and high pace nothing: every device gets the fix once it checks in', () => {
    expect(sized('critical').pacing).toBeUndefined();
    expect(sized('high').pacing).toBeUndefined();
  });

  test('medium ramps as AWS IoT Jobs does, from the class in 40 h to the class in 4 h; low caps at the class in a day', () => {
    expect(sized('medium').pacing).toMatchObject({
      classSize: 240_000,
      baseRatePerMinute: 100,
      maxPerMinute: 1000,
      ramp: { factor: 2, every: 24_000, counting: 'notified' },
    });
    expect(sized('low').pacing).toMatchObject({ classSize: 240_000, baseRatePerMinute: 167, maxPerMinute: 167 });
  });

  test("without a class size a severity paces nothing; the plan's own rate limit wins over the severity's", () => {
    expect(laneConfigOf(planOf({ severity: 'low' }), 'phone-a').pacing).toBeUndefined();
    const own = planOf({
      severity: 'low',
      classes: { 'phone-a': { completion: { expectedDevices: 240_000 }, rateLimit: { maxPerMinute: 50 } } },
    });
    expect(laneConfigOf(own, 'phone-a').pacing).toMatchObject({ maxPerMinute: 50 });
  });
});
