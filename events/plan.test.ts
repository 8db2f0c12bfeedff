/** The rollout plan file: what parses, what each class runs, and the precise errors a bad plan gets. */
import { readFileSync } from 'fs';
import { join } from 'path';
import YAML from 'yaml';
import {
  type PlanError,
  RolloutPlanSchema,
  formatDurationSec,
  formatPath,
  laneConfigOf,
  parseDurationSec,
  parsePlan,
  validatePlan,
} from './plan';

const example = (name: string) => readFileSync(join(__dirname, '..', 'examples', 'plans', name), 'utf8');

const minimal = {
  releaseId: 'bsi-26.3',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'laptop-x1'],
  phases: [
    { share: 1, bake: '30s' },
    { share: 25, bake: '10m', approval: 'manual' },
    { share: 100, bake: '24h' },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 100, installTimeoutSec: 1800 },
  breachPolicy: { action: 'retry', attempts: 2, backoff: '5m', then: 'rollback' },
};

function errorsOf(input: unknown): PlanError[] {
  const result = validatePlan(input);
  if (result.ok) throw new Error('expected the plan to be refused');
  return result.errors;
}

describe('plan: valid plans', () => {
  test('the bundled demo plan: 4 classes, laptop-x1 with its own build and stricter thresholds, short bakes', () => {
    const result = parsePlan(example('demo.yaml'), 'demo.yaml');
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan.deviceClasses).toHaveLength(4);
    const laptop = laneConfigOf(result.plan, 'laptop-x1');
    expect(laptop.artifact.build).toBe('26.3.2');
    expect(laptop.thresholds).toMatchObject({ maxFailureRate: 0.03, minSample: 50, rule: 'sequential' });
    expect(laptop.breachPolicy).toEqual({ action: 'rollback' });
    const phone = laneConfigOf(result.plan, 'phone-a');
    expect(phone.artifact.build).toBe('26.3.1');
    expect(phone.phases.map((p) => [p.cohortBound, p.minBakeSec, p.bakeSec])).toEqual([
      [100, 10, 20],
      [1000, 10, 30],
      [5000, 10, 30],
      [10000, undefined, 0],
    ]);
    expect(phone.breachPolicy).toEqual({ action: 'retry', attempts: 1, backoff: 10, then: 'rollback' });
    expect(phone.completion).toEqual({ patchedShare: 0.95, deadlineSec: 120, stallAfterSec: 30 });
  });

  test('the gated example: manual gates, a fleet-wide spike rule, a class with its own phases', () => {
    const result = parsePlan(example('gated.yaml'));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const phone = laneConfigOf(result.plan, 'phone-a');
    expect(phone.phases.map((p) => p.approval)).toEqual(['none', 'manual', 'none', 'manual']);
    expect(phone.phases[0]?.cohortBound).toBe(50);
    expect(laneConfigOf(result.plan, 'tablet-c').phases.map((p) => p.share)).toEqual([1, 100]);
    expect(result.plan.fleetHalt?.failureSpike).toEqual({ falseHaltProbability: 0.01 });
    expect(result.plan.rollbackTimeout).toBe(7200);
  });

  test('JSON is accepted too, and defaults are filled in', () => {
    const result = parsePlan(JSON.stringify(minimal));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.plan.rollbackTimeout).toBe(1800);
    expect(result.plan.classes).toEqual({});
    expect(result.plan.thresholds.rule).toBe('sequential');
  });

  test('parsing a validated plan again yields the same plan (it travels in rollout-started)', () => {
    const plan = RolloutPlanSchema.parse(minimal);
    expect(RolloutPlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  test('a class override replaces only the threshold keys it names', () => {
    const plan = RolloutPlanSchema.parse({
      ...minimal,
      thresholds: { ...minimal.thresholds, rule: 'plain' },
      classes: { 'laptop-x1': { thresholds: { minSample: 20 }, phases: [{ share: 100, bake: 60 }] } },
    });
    const laptop = laneConfigOf(plan, 'laptop-x1');
    expect(laptop.thresholds).toMatchObject({ rule: 'plain', minSample: 20, maxFailureRate: 0.05 });
    expect(laptop.phases).toEqual([{ share: 100, cohortBound: 10000, bakeSec: 60, approval: 'none' }]);
  });

  test('laneConfigOf refuses a class that is not in the plan', () => {
    expect(() => laneConfigOf(RolloutPlanSchema.parse(minimal), 'toaster')).toThrow(/toaster is not in plan bsi-26.3/);
  });
});

describe('plan: durations', () => {
  test.each([
    ['30s', 30],
    ['10m', 600],
    ['24h', 86400],
    ['2d', 172800],
    ['1h30m', 5400],
    [' 5m ', 300],
  ])('%p is %p seconds', (text, seconds) => expect(parseDurationSec(text)).toBe(seconds));
  test.each(['', '10', 'ten minutes', '5w', '-3s', '1.5h'])('%p is not a duration', (text) =>
    expect(parseDurationSec(text)).toBeUndefined(),
  );
  test('bakes above 30 days, fractions of a second and non-durations are refused', () => {
    for (const bake of ['31d', 1.5, -1, true]) {
      const errors = errorsOf({ ...minimal, phases: [{ share: 100, bake }] });
      expect(errors).toEqual([expect.objectContaining({ path: 'phases[0].bake', value: bake })]);
    }
  });
});

describe('plan: a bake is a duration or { min, max }', () => {
  const withBake = (bake: unknown) => ({ ...minimal, phases: [{ share: 100, bake }] });
  const phaseOf = (bake: unknown) => laneConfigOf(RolloutPlanSchema.parse(withBake(bake)), 'phone-a').phases[0];

  test('a plain duration gives the lane phase it always gave: one bake, no min', () => {
    expect(phaseOf('10m')).toEqual({ share: 100, cohortBound: 10000, bakeSec: 600, approval: 'none' });
  });

  test('{ min, max } gives the lane both, max as its bake; min = max and min 0 are allowed', () => {
    expect(phaseOf({ min: '2m', max: '30m' })).toEqual({
      share: 100,
      cohortBound: 10000,
      bakeSec: 1800,
      minBakeSec: 120,
      approval: 'none',
    });
    expect(phaseOf({ min: 60, max: '1m' })).toMatchObject({ bakeSec: 60, minBakeSec: 60 });
    expect(phaseOf({ min: 0, max: '1h' })).toMatchObject({ bakeSec: 3600, minBakeSec: 0 });
  });

  test('a parsed range parses again to the same plan (it travels in rollout-started)', () => {
    const plan = RolloutPlanSchema.parse(withBake({ min: '2m', max: '30m' }));
    expect(plan.phases?.[0]?.bake).toEqual({ min: 120, max: 1800 });
    expect(RolloutPlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  test('min above max, a missing end, a bad duration or an unknown key: each with its path, value and rule', () => {
    expect(errorsOf(withBake({ min: '40m', max: '30m' }))).toEqual([
      { path: 'phases[0].bake.min', value: '40m', rule: 'min must be at most max' },
    ]);
    expect(errorsOf(withBake({ min: '2m' }))).toEqual([
      { path: 'phases[0].bake.max', value: undefined, rule: 'required' },
    ]);
    expect(errorsOf(withBake({ min: 'soon', max: '30m' }))).toEqual([
      expect.objectContaining({ path: 'phases[0].bake.min', value: 'soon', rule: expect.stringMatching(/duration/) }),
    ]);
    expect(errorsOf(withBake({ min: '2m', max: '31d' }))).toEqual([
      expect.objectContaining({ path: 'phases[0].bake.max', value: '31d' }),
    ]);
    expect(errorsOf(withBake({ min: '2m', max: '30m', typical: '5m' }))).toEqual([
      { path: 'phases[0].bake.typical', value: '5m', rule: 'unknown field' },
    ]);
    for (const bake of [[120, 1800], true, null]) {
      expect(errorsOf(withBake(bake))).toEqual([
        {
          path: 'phases[0].bake',
          value: bake,
          rule: 'must be a duration like "10m", or { min, max } of two durations',
        },
      ]);
    }
  });

  test('the same in a YAML plan file, and in a class override', () => {
    const yaml = YAML.stringify({
      ...minimal,
      phases: [
        { share: 1, bake: { min: '5m', max: '1m' } },
        { share: 100, bake: 0 },
      ],
      classes: { 'laptop-x1': { phases: [{ share: 100, bake: { max: '1h' } }] } },
    });
    const result = parsePlan(yaml);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path)).toEqual(['phases[0].bake.min', 'classes.laptop-x1.phases[0].bake.min']);
  });

  test('durations are written back in the units plans use', () => {
    for (const [seconds, text] of [
      [0, '0s'],
      [45, '45s'],
      [130, '2m10s'],
      [5400, '1h30m'],
      [90061, '1d1h1m1s'],
    ] as const) {
      expect(formatDurationSec(seconds)).toBe(text);
      expect(parseDurationSec(text)).toBe(seconds);
    }
  });
});

describe('plan: precise errors (path, value, rule)', () => {
  test('phase shares must strictly increase, and the last must be 100', () => {
    const errors = errorsOf({
      ...minimal,
      classes: {
        'laptop-x1': {
          phases: [
            { share: 10, bake: 1 },
            { share: 25, bake: 1 },
            { share: 25, bake: 1 },
            { share: 90, bake: 1 },
          ],
        },
      },
    });
    expect(errors).toEqual([
      { path: 'classes.laptop-x1.phases[2].share', value: 25, rule: 'must be greater than the previous phase (25)' },
      { path: 'classes.laptop-x1.phases[3].share', value: 90, rule: 'the last phase must have share 100' },
    ]);
  });

  test('a share is a percent with at most 2 decimals (one cohort bucket is 0.01%)', () => {
    const errors = errorsOf({
      ...minimal,
      phases: [
        { share: 0.005, bake: 1 },
        { share: 100, bake: 1 },
      ],
    });
    expect(errors).toEqual([
      { path: 'phases[0].share', value: 0.005, rule: expect.stringMatching(/at most 2 decimals/) as unknown },
    ]);
    expect(errorsOf({ ...minimal, phases: [{ share: 120, bake: 1 }] })[0]).toMatchObject({
      path: 'phases[0].share',
      value: 120,
    });
  });

  test('duplicate class names, overrides for unknown classes, and an impossible fleet-halt rule', () => {
    const errors = errorsOf({
      ...minimal,
      deviceClasses: ['phone-a', 'laptop-x1', 'phone-a'],
      classes: { 'tablet-z': { breachPolicy: { action: 'pause' } } },
    });
    expect(errors).toEqual([
      { path: 'deviceClasses[2]', value: 'phone-a', rule: 'duplicate device class (first at deviceClasses[0])' },
      {
        path: 'classes.tablet-z',
        value: { breachPolicy: { action: 'pause' } },
        rule: 'override for unknown device class (deviceClasses: phone-a, laptop-x1)',
      },
    ]);
    expect(errorsOf({ ...minimal, classes: { 'tablet-z': {} }, fleetHalt: { breachedClasses: 3 } })).toEqual([
      {
        path: 'classes.tablet-z',
        value: {},
        rule: 'override for unknown device class (deviceClasses: phone-a, laptop-x1)',
      },
      { path: 'fleetHalt.breachedClasses', value: 3, rule: 'cannot exceed the number of device classes (2)' },
    ]);
  });

  test('unknown fields are named one by one; missing fields are "required"', () => {
    const { releaseId: _releaseId, ...noRelease } = minimal;
    expect(errorsOf({ ...noRelease, colour: 'red', artifact: { build: '1', size: 3 } })).toEqual([
      { path: 'releaseId', value: undefined, rule: 'required' },
      { path: 'artifact.size', value: 3, rule: 'unknown field' },
      { path: 'colour', value: 'red', rule: 'unknown field' },
    ]);
  });

  test('a breach policy must be one of the three shapes; retry needs attempts, backoff and then', () => {
    expect(errorsOf({ ...minimal, breachPolicy: { action: 'explode' } })).toEqual([
      {
        path: 'breachPolicy.action',
        value: 'explode',
        rule: expect.stringMatching(/must be \{ action: pause \}/) as unknown,
      },
    ]);
    expect(
      errorsOf({ ...minimal, breachPolicy: { action: 'retry', attempts: 0, backoff: '1m', then: 'pause' } })[0],
    ).toMatchObject({
      path: 'breachPolicy.attempts',
      value: 0,
    });
  });

  test('thresholds are checked as the health judge needs them, also after a class override', () => {
    expect(errorsOf({ ...minimal, thresholds: { ...minimal.thresholds, maxFailureRate: 1.5 } })[0]).toMatchObject({
      path: 'thresholds.maxFailureRate',
      value: 1.5,
    });
    const twice = { codes: ['E_BOOT'], maxFailureRate: 0.001 };
    const unsound = errorsOf({
      ...minimal,
      thresholds: { ...minimal.thresholds, errorCodes: { ignore: ['E_BOOT'], criteria: [twice] } },
      classes: { 'laptop-x1': { thresholds: { errorCodes: { criteria: [twice, { ...twice, name: 'again' }] } } } },
    });
    expect(unsound.map((e) => e.path)).toEqual(['thresholds', 'classes.laptop-x1.thresholds']);
    expect(unsound[0]?.rule).toMatch(/E_BOOT is both ignored and judged by criterion "E_BOOT"/);
    expect(unsound[1]?.rule).toMatch(/E_BOOT is in two criteria \("E_BOOT" and "again"\)/);
  });

  test('rules version 1 keys are refused in plan files, each with what to write instead', () => {
    const errors = errorsOf({
      ...minimal,
      thresholds: { ...minimal.thresholds, baselineFailureRate: 0.01, errorCodes: { weigh: { E_NET: 0.5, E_OK: 0 } } },
      classes: { 'laptop-x1': { thresholds: { falsePassProbability: 0.05 } } },
      fleetHalt: { failureSpike: { ...minimal.thresholds } },
    });
    expect(errors.map((e) => e.path)).toEqual([
      'thresholds.errorCodes.weigh',
      'thresholds.baselineFailureRate',
      'classes.laptop-x1.thresholds.falsePassProbability',
      'fleetHalt.failureSpike',
    ]);
    expect(errors[0]).toMatchObject({ value: { E_NET: 0.5, E_OK: 0 } });
    expect(errors[0]?.rule).toMatch(/\{ codes: \[E_NET\], maxFailureRate: 0.1 \}, ignore E_OK \(weight 0\)/);
    expect(errors[3]?.rule).toMatch(/falseHaltProbability/);
    // An empty weigh (what rules version 1 wrote as its default) is harmless and accepted.
    expect(validatePlan({ ...minimal, thresholds: { ...minimal.thresholds, errorCodes: { weigh: {} } } }).ok).toBe(
      true,
    );
  });

  test('a fleet-halt rule needs at least one trigger', () => {
    expect(errorsOf({ ...minimal, fleetHalt: {} })).toEqual([
      { path: 'fleetHalt', value: {}, rule: 'needs breachedClasses and/or failureSpike' },
    ]);
  });

  test('YAML syntax errors come back with file, line and column, never a stack trace', () => {
    const result = parsePlan('releaseId: x\nphases: [\n  { share: 1\n', 'bad.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]).toMatchObject({
      path: '(syntax)',
      line: expect.any(Number) as unknown,
      column: expect.any(Number) as unknown,
    });
    expect(result.errors[0]?.rule).toMatch(/^bad\.yaml:\d+:\d+: /);
    expect(result.errors[0]?.rule).not.toMatch(/\n/);
  });

  test('duplicate keys are a syntax error, not a silent overwrite', () => {
    const result = parsePlan('releaseId: a\nreleaseId: b\n');
    expect(result).toMatchObject({
      ok: false,
      errors: [
        {
          path: '(syntax)',
          line: 2,
          column: 1,
          rule: expect.stringMatching(/^plan:2:1: Map keys must be unique/) as unknown,
        },
      ],
    });
  });

  test('an empty file, or a file that is not a mapping, is refused', () => {
    expect(parsePlan('', 'empty.yaml')).toEqual({
      ok: false,
      errors: [{ path: '(root)', value: null, rule: 'empty.yaml is empty' }],
    });
    expect(parsePlan('- 1\n- 2\n')).toMatchObject({ ok: false, errors: [{ path: '(root)', value: [1, 2] }] });
  });

  test('a syntax error without a position still names the source', () => {
    const parseDocument = jest.spyOn(YAML, 'parseDocument').mockReturnValueOnce({
      errors: [{ message: 'boom', code: 'IMPOSSIBLE', linePos: undefined }],
    } as unknown as ReturnType<typeof YAML.parseDocument>);
    expect(parsePlan('x', 'weird.yaml')).toEqual({
      ok: false,
      errors: [{ path: '(syntax)', value: undefined, rule: 'weird.yaml: boom' }],
    });
    parseDocument.mockRestore();
  });

  test('paths read the way people write them', () => {
    expect(formatPath([])).toBe('(root)');
    expect(formatPath(['classes', 'laptop-x1', 'phases', 2, 'share'])).toBe('classes.laptop-x1.phases[2].share');
    expect(formatPath([0, 'a'])).toBe('[0].a');
  });
});

describe('parsePlan refuses resource-exhaustion YAML', () => {
  test('an alias bomb is a bad plan with the reason, not an exception', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`),
    ].join('\n');
    const result = parsePlan(bomb, 'bomb.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]?.rule).toMatch(/^bomb\.yaml: .*alias/i);
  });
});

describe('plan: the two-person rule', () => {
  test('approvals.twoPersonRule carries the starter into every lane; absent or false, nothing is added', () => {
    const on = validatePlan({ ...minimal, approvals: { twoPersonRule: true } });
    if (!on.ok) throw new Error(JSON.stringify(on.errors));
    expect(laneConfigOf(on.plan, 'phone-a', 3, 'sre-ana').approvals).toEqual({
      twoPersonRule: true,
      startedBy: 'sre-ana',
    });
    const off = validatePlan({ ...minimal, approvals: { twoPersonRule: false } });
    if (!off.ok) throw new Error(JSON.stringify(off.errors));
    expect(laneConfigOf(off.plan, 'phone-a', 3, 'sre-ana')).not.toHaveProperty('approvals');
    const absent = validatePlan(minimal);
    if (!absent.ok) throw new Error(JSON.stringify(absent.errors));
    // A plan without the field resolves to exactly what it resolved to before the rule existed.
    expect(laneConfigOf(absent.plan, 'phone-a', 3, 'sre-ana')).toEqual(laneConfigOf(absent.plan, 'phone-a', 3));
  });

  test('unknown keys and wrong types under approvals are refused with the path', () => {
    expect(errorsOf({ ...minimal, approvals: { twoPerson: true } })).toEqual([
      expect.objectContaining({ path: 'approvals.twoPerson', rule: 'unknown field' }),
    ]);
    expect(errorsOf({ ...minimal, approvals: { twoPersonRule: 'yes' } })[0]?.path).toBe('approvals.twoPersonRule');
  });
});

describe('plan: completion (patched, not just exposed)', () => {
  test('absent: lanes carry no completion rule and complete at their last phase, as before', () => {
    const result = validatePlan(minimal);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(laneConfigOf(result.plan, 'phone-a')).not.toHaveProperty('completion');
  });

  test('given: durations in seconds, defaults for keys it leaves out, per-class overrides key by key', () => {
    const result = validatePlan({
      ...minimal,
      completion: { deadline: '48h' },
      classes: { 'laptop-x1': { completion: { patchedShare: 0.99, expectedDevices: 12000 } } },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(laneConfigOf(result.plan, 'phone-a').completion).toEqual({
      patchedShare: 0.95,
      deadlineSec: 48 * 3600,
      stallAfterSec: 2 * 3600,
    });
    expect(laneConfigOf(result.plan, 'laptop-x1').completion).toEqual({
      patchedShare: 0.99,
      deadlineSec: 48 * 3600,
      stallAfterSec: 2 * 3600,
      expectedDevices: 12000,
    });
    // Parsing its own output again gives the same plan.
    expect(RolloutPlanSchema.parse(result.plan)).toEqual(result.plan);
  });

  test('a class override alone gives that class the rule with defaults; the others keep completing as before', () => {
    const result = validatePlan({ ...minimal, classes: { 'phone-a': { completion: { expectedDevices: 500 } } } });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(laneConfigOf(result.plan, 'phone-a').completion).toEqual({
      patchedShare: 0.95,
      deadlineSec: 72 * 3600,
      stallAfterSec: 2 * 3600,
      expectedDevices: 500,
    });
    expect(laneConfigOf(result.plan, 'laptop-x1')).not.toHaveProperty('completion');
  });

  test('bad completion keys get a precise error each', () => {
    expect(
      errorsOf({
        ...minimal,
        completion: { patchedShare: 95, deadline: '0s', stallAfter: 'soon', expectedDevices: 10, later: true },
        classes: { 'phone-a': { completion: { expectedDevices: 1.5, patchedShare: 0 } } },
      }),
    ).toEqual(
      expect.arrayContaining([
        {
          path: 'completion.patchedShare',
          value: 95,
          rule: 'must be a share of the class (at most 1, e.g. 0.95 for 95 %), not a percentage',
        },
        { path: 'completion.deadline', value: '0s', rule: 'must be longer than 0s' },
        {
          path: 'completion.stallAfter',
          value: 'soon',
          rule: 'must be whole seconds (0..2592000) or a duration like "30s", "10m", "24h" (max 30d)',
        },
        {
          path: 'completion.expectedDevices',
          value: 10,
          rule: 'is the size of one class: give it as classes.<class>.completion.expectedDevices',
        },
        { path: 'completion.later', value: true, rule: 'unknown field' },
        { path: 'classes.phone-a.completion.expectedDevices', value: 1.5, rule: 'must be a whole number of devices' },
        {
          path: 'classes.phone-a.completion.patchedShare',
          value: 0,
          rule: 'must be a share of the class above 0 and at most 1, e.g. 0.95',
        },
      ]),
    );
  });
});
