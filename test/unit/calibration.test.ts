import { calibrateBound, crossingProbability } from '../../events/calibration';
import { SEQUENTIAL_ODDS_FACTORS, SEQUENTIAL_WEIGHTS, ThresholdsSchema, breachBoundary } from '../../events/health';
import { laneConfigOf, validatePlan, type RolloutPlanInput } from '../../events/plan';
import { mulberry32 } from '../../simulator/prng';

const spec = { factors: SEQUENTIAL_ODDS_FACTORS, weights: SEQUENTIAL_WEIGHTS };

/** Share of `walks` Bernoulli(p) paths of `outcomes` steps whose failures ever reach `boundary[n]`. */
function simulatedCrossing(boundary: Int32Array, p: number, walks: number, seed: number): number {
  const rand = mulberry32(seed);
  let crossed = 0;
  for (let w = 0; w < walks; w++) {
    let failures = 0;
    for (let n = 1; n < boundary.length; n++) {
      if (rand() < p) failures++;
      if (failures >= boundary[n]!) {
        crossed++;
        break;
      }
    }
  }
  return crossed / walks;
}

function boundaryOf(threshold: number, alpha: number, bound: number, outcomes: number): Int32Array {
  const t = ThresholdsSchema.parse({
    maxFailureRate: threshold,
    minSample: 1,
    installTimeoutSec: 60,
    falseHaltProbability: alpha,
    calibration: { weights: [...SEQUENTIAL_WEIGHTS], bounds: [bound] },
  });
  const boundary = new Int32Array(outcomes + 1);
  for (let n = 0; n <= outcomes; n++) boundary[n] = breachBoundary(t, n);
  return boundary;
}

describe('calibrated halt bound', () => {
  it.each([
    [0.02, 0.01],
    [0.02, 0.005],
    [0.001, 0.005],
    [0.3, 0.01],
  ])('at threshold %p and α %p is below ln(1/α), and its computed crossing chance is at most α', (threshold, alpha) => {
    const c = calibrateBound(threshold, alpha, spec);
    expect(c.bound).toBeLessThan(c.villeBound);
    expect(c.villeBound - c.bound).toBeGreaterThan(0.1);
    expect(c.crossing).toBeLessThanOrEqual(alpha);
    // Tight: a bound 0.1 nats lower would be crossed more often than α.
    expect(crossingProbability(threshold, spec, c.bound - 0.1)).toBeGreaterThan(alpha);
  });

  it('agrees with a simulation of the path checked after every outcome, where the chance is large enough to see', () => {
    // At bound 2 the chance of crossing within 1,500 outcomes is about 0.1: the dynamic programme must match the
    // simulated share, not merely bound it from above.
    const boundary = boundaryOf(0.02, 0.01, 2, 1500);
    const simulated = simulatedCrossing(boundary, 0.02, 4000, 7);
    const computed = crossingProbability(0.02, spec, 2, 1e-9);
    expect(computed).toBeGreaterThan(0.05);
    expect(Math.abs(simulated - computed)).toBeLessThan(4 * Math.sqrt((computed * (1 - computed)) / 4000) + 0.01);
  });

  it('keeps P(ever halted) within α at the threshold and below it, checked after every outcome', () => {
    const alpha = 0.01;
    const { bound } = calibrateBound(0.02, alpha, spec);
    const boundary = boundaryOf(0.02, alpha, bound, 1500);
    const walks = 3000;
    const sampling = 3 * Math.sqrt((alpha * (1 - alpha)) / walks);
    const atThreshold = simulatedCrossing(boundary, 0.02, walks, 11);
    const below = simulatedCrossing(boundary, 0.015, walks, 12);
    expect(atThreshold).toBeLessThanOrEqual(alpha + sampling);
    expect(below).toBeLessThanOrEqual(atThreshold + sampling);
    // And it is not the loose Ville bound: that one halts a build at the threshold clearly less often than α.
    const ville = simulatedCrossing(boundaryOf(0.02, alpha, -Math.log(alpha), 1500), 0.02, walks, 11);
    expect(ville).toBeLessThan(atThreshold);
  });

  it('is a decreasing function of the bound', () => {
    const a = crossingProbability(0.05, spec, 3);
    const b = crossingProbability(0.05, spec, 3.5);
    const c = crossingProbability(0.05, spec, 4);
    expect(a).toBeGreaterThan(b);
    expect(b).toBeGreaterThan(c);
  });
});

describe('rules version 3 lanes', () => {
  const plan: RolloutPlanInput = {
    releaseId: 'cal',
    artifact: { build: '1' },
    deviceClasses: ['a', 'b'],
    phases: [
      { share: 10, bake: '1h' },
      { share: 100, bake: 0 },
    ],
    thresholds: {
      maxFailureRate: 0.02,
      minSample: 50,
      installTimeoutSec: 600,
      errorCodes: { criteria: [{ codes: ['E_BOOT_LOOP'], maxFailureRate: 0.001 }] },
    },
    classes: { b: { thresholds: { rule: 'plain' } } },
    breachPolicy: { action: 'pause' },
  };

  it('record a calibrated bound per criterion when the lane starts; version 2 lanes and the plain rule none', () => {
    const parsed = validatePlan(plan);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const v3 = laneConfigOf(parsed.plan, 'a');
    expect(v3.rulesVersion).toBe(3);
    const cal = v3.thresholds.calibration;
    expect(cal?.weights).toEqual([...SEQUENTIAL_WEIGHTS]);
    expect(cal?.bounds).toHaveLength(2);
    // Each criterion at α / 2: the bound is below ln(2 / 0.01) and calibrated to its own threshold.
    for (const bound of cal?.bounds ?? []) expect(bound).toBeLessThan(Math.log(2 / 0.01));
    expect(cal?.bounds[0]).not.toBe(cal?.bounds[1]);
    expect(laneConfigOf(parsed.plan, 'a', 2).thresholds.calibration).toBeUndefined();
    expect(laneConfigOf(parsed.plan, 'b').thresholds.calibration).toBeUndefined();
  });

  it('refuse a plan file that sets the calibration itself', () => {
    const input = { ...plan, thresholds: { ...plan.thresholds, calibration: { weights: [1], bounds: [0.1] } } };
    const parsed = validatePlan(input);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors).toEqual([
      expect.objectContaining({ path: 'thresholds.calibration', rule: expect.stringMatching(/set by the engine/) }),
    ]);
  });
});
