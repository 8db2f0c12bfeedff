// The judge in the lane, as specifications over whole simulated lanes (the real decider on a simulated class:
// simulator/lane-sim.ts): a build just below the threshold passes every phase of the default plan, a 3× build is
// halted, silent devices during a bake shorter than the install timeout halt the lane in that phase, and the
// preview's numbers (events/preview.ts) agree with the lanes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { renderPreview } from '../../cli/explain-view';
import { parseClassSizes } from '../../cli/validate';
import { UserError } from '../../cli/errors';
import { ThresholdsSchema } from '../../events/health';
import { laneConfigOf, parsePlan, validatePlan, type LaneConfig, type RolloutPlan } from '../../events/plan';
import { haltModel, previewPlan } from '../../events/preview';
import { DEFAULT_CLASS_MODEL, classCohorts, simulateLane, type ClassModel } from '../../simulator/lane-sim';

const root = path.join(__dirname, '..', '..');

/** A plan with the default thresholds (sequential rule, α 1%) and phases 1 / 5 / 25 / 100 % with 1 h bakes. */
function defaultPlan(over: Record<string, unknown> = {}): RolloutPlan {
  const result = validatePlan({
    releaseId: 'judge-test',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a'],
    phases: [
      { share: 1, bake: '1h' },
      { share: 5, bake: '1h' },
      { share: 25, bake: '1h' },
      { share: 100, bake: 0 },
    ],
    thresholds: {
      maxFailureRate: 0.02,
      minSample: 50,
      installTimeoutSec: 1800,
      errorCodes: { ignore: ['E_LOW_BATTERY'] },
    },
    breachPolicy: { action: 'pause' },
    ...over,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.plan;
}

const model: ClassModel = { ...DEFAULT_CLASS_MODEL, devices: 6000 };
const cohorts = classCohorts(model.devices, 'judge-test');

function lanes(config: LaneConfig, rate: number, runs: number, m: ClassModel = model) {
  return Array.from({ length: runs }, (_, i) => simulateLane(config, rate, 7000 + i, m, cohorts));
}

describe('the judge in the lane (simulated classes through the real decider)', () => {
  const config = laneConfigOf(defaultPlan(), 'phone-a');

  it('a build just below the threshold passes every phase of the default plan', () => {
    const runs = lanes(config, 0.019, 30);
    const completed = runs.filter((r) => r.end === 'completed');
    // α = 1% over the lane's life: at most one of 30 may be a false halt (P(≥ 2) < 4%).
    expect(completed.length).toBeGreaterThanOrEqual(29);
    for (const r of completed) expect(r.passMin).toHaveLength(config.phases.length);
  });

  it('a build at three times the threshold is halted, long before the whole class has it', () => {
    const runs = lanes(config, 0.06, 30);
    expect(runs.every((r) => r.haltMin >= 0 && r.end === 'paused')).toBe(true);
    const mean = runs.reduce((s, r) => s + r.exposed, 0) / runs.length;
    expect(mean).toBeLessThan(0.25 * model.devices);
  });

  it('devices going silent during a bake shorter than the install timeout halt the lane in that phase', () => {
    // 10 min bakes, a 30 min timeout; a third of the devices crash silently and report nothing.
    const short = laneConfigOf(
      defaultPlan({
        phases: [
          { share: 2, bake: '10m' },
          { share: 5, bake: '10m' },
          { share: 100, bake: 0 },
        ],
      }),
      'phone-a',
    );
    const silent: ClassModel = { ...model, silentShare: 1, checkInPeriodMin: 5 };
    for (const r of lanes(short, 0.35, 10, silent)) {
      expect(r.haltMin).toBeGreaterThanOrEqual(30); // the timeouts, not the bake's end, decided
      expect(r.passMin).toEqual([]); // never passed phase 0
      expect(r.exposed).toBeLessThanOrEqual(Math.ceil(0.02 * model.devices) + 10);
    }
    // Rules version 1 passed phase 0 with the silent devices still out, and exposed the next phase before the halt.
    const v1 = { ...short, rulesVersion: undefined };
    for (const r of lanes(v1, 0.35, 10, silent)) {
      expect(r.passMin.length).toBeGreaterThan(0);
      expect(r.exposed).toBeGreaterThan(Math.ceil(0.02 * model.devices) + 10);
    }
  });

  it('a rate-limited lane is simulated step by step: every step offers its devices, and none comes early', () => {
    // 6,000 devices at 60 a minute: steps of 100 buckets (60 devices) a minute; the class is offered in 100 minutes.
    const paced = laneConfigOf(
      defaultPlan({
        rateLimit: { maxPerMinute: 60 },
        classes: { 'phone-a': { completion: { expectedDevices: model.devices, patchedShare: 0.01 } } },
      }),
      'phone-a',
    );
    expect(paced.pacing?.maxPerMinute).toBe(60);
    const fast = { ...model, checkInPeriodMin: 1 };
    const [run] = lanes(paced, 0, 1, fast);
    // Every device of the class started installing (before: only each phase's first step was offered).
    expect(run!.exposedTotal).toBe(model.devices);
    // Phase 0 (1 %, 60 devices) is one step; phase 1 (5 %) needs 4 more steps of a minute after its 1 h bake.
    expect(run!.passMin[0]).toBeGreaterThanOrEqual(60);
    expect(run!.passMin[1]! - run!.passMin[0]!).toBeGreaterThanOrEqual(60 + 3);
  });
});

describe('the preview (rollout validate --explain)', () => {
  it('agrees with the binomial model it states, and the model with the rule', () => {
    const t = ThresholdsSchema.parse({ maxFailureRate: 0.02, minSample: 50, installTimeoutSec: 1800 });
    const atThreshold = haltModel(t, 0.02, 10_000);
    expect(atThreshold.haltProbability).toBeLessThanOrEqual(0.01);
    expect(atThreshold.haltProbability).toBeGreaterThan(0.001);
    const twice = haltModel(t, 0.04, 10_000);
    expect(twice.haltProbability).toBeGreaterThan(0.999);
    expect(twice.expectedOutcomes).toBeGreaterThan(500);
    expect(twice.expectedOutcomes).toBeLessThan(900);
    // The plain rule at its threshold: halted far more often than α (no guarantee), and the model says so.
    const plain = ThresholdsSchema.parse({
      maxFailureRate: 0.02,
      minSample: 50,
      installTimeoutSec: 1800,
      rule: 'plain',
    });
    expect(haltModel(plain, 0.02, 10_000).haltProbability).toBeGreaterThan(0.3);
  });

  it('previews the demo plan: the guarantee, bad builds, phases, and the short-bake warnings', () => {
    const parsed = parsePlan(readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
    if (!parsed.ok) throw new Error('demo plan invalid');
    const previews = previewPlan(parsed.plan, parseClassSizes(['25000', 'laptop-x1=10000'], parsed.plan));
    const laptop = previews.find((p) => p.deviceClass === 'laptop-x1')!;
    expect(laptop.classSize).toBe(10_000);
    expect(laptop.guarantee).toMatch(/at or below 3% and at or below 0.5% for boot-loop .* at most 1%/);
    expect(laptop.badBuilds.map((b) => b.multiple)).toEqual([2, 5]);
    expect(laptop.badBuilds[1]!.expectedOutcomes).toBeLessThan(laptop.badBuilds[0]!.expectedOutcomes);
    expect(laptop.phases.every((p) => p.outcomesToPass !== null)).toBe(true);
    expect(laptop.warnings.some((w) => /bakes 20 s, less than installTimeoutSec 60 s/.test(w))).toBe(true);
    const text = renderPreview(previews);
    expect(text).toMatch(/^phone-a \(25000 devices, sequential rule, rules version 3\)/);
    expect(text).toContain('For every true failure rate at or below 5%');
  });

  it('shows the min and max of a { min, max } bake, and a plain bake as one duration', () => {
    const parsed = parsePlan(readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
    if (!parsed.ok) throw new Error('demo plan invalid');
    const [phone] = previewPlan(parsed.plan, 25_000);
    expect(phone!.phases.map((p) => [p.minBakeSec, p.bakeSec])).toEqual([
      [10, 20],
      [10, 30],
      [10, 30],
      [null, 0],
    ]);
    const lines = renderPreview([phone!]).split('\n');
    expect(lines.find((l) => /^ {4}0 {2}1%/.test(l))).toMatch(
      /bake min 10s, max 20s \(ends once proven healthy after min\)/,
    );
    expect(lines.find((l) => /^ {4}3 {2}100%/.test(l))).toMatch(/ {2}bake 0s(?! min)/);
    expect(renderPreview(previewPlan(defaultPlan(), 100_000))).toMatch(/ {4}0 {2}1% {2}bake 1h {2}/);
  });

  it('says when a class is done: on its patched share or deadline, or, without a completion rule, once exposed', () => {
    const parsed = parsePlan(readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
    if (!parsed.ok) throw new Error('demo plan invalid');
    const [phone] = previewPlan(parsed.plan, 25_000);
    expect(phone!.completion).toMatchObject({ patchedShare: 0.95 });
    expect(renderPreview([phone!])).toMatch(
      /done once 95% of the class reports success \(class size estimated from the devices heard of\), or at the latest \S+ after its last phase is exposed; flagged stalled after \S+ without a report/,
    );
    const [plain] = previewPlan(defaultPlan(), 100_000);
    expect(plain!.completion).toBeNull();
    expect(renderPreview([plain!])).toContain('done once its last phase is exposed (no completion rule');
  });

  it('warns about a phase that can never gather its evidence and a class too small to catch a 2× build', () => {
    const plan = defaultPlan();
    const [small] = previewPlan(plan, 300);
    expect(small!.phases[0]).toMatchObject({ newDevices: 3, outcomesToPass: null });
    expect(small!.warnings.join('\n')).toMatch(/phase 0 \(1%\) can never pass: its 3 devices .* minSample 50/);
    expect(small!.warnings.join('\n')).toMatch(/twice the threshold .* too small/);
    const [big] = previewPlan(plan, 100_000);
    expect(big!.warnings).toEqual([]);
  });

  it('refuses a bad --class-size with the value and the rule', () => {
    const plan = defaultPlan();
    expect(parseClassSizes(['1200'], plan)).toEqual({ 'phone-a': 1200 });
    for (const bad of ['0', '-5', 'x', 'tablet=10', '1e9', '12345678901']) {
      expect(() => parseClassSizes([bad], plan)).toThrow(UserError);
    }
    expect(() => parseClassSizes(['tablet=10'], plan)).toThrow(/unknown device class tablet/);
  });
});
