// Fuzzing plan files (≥ 10,000 cases): arbitrary text, arbitrary YAML/JSON documents and mutations of a valid
// plan go through `parsePlan`, the parser `rollout validate` and `rollout start` use. Each is accepted (a plan
// that validates again, unchanged) or refused with at least one error naming a path and a rule; nothing throws,
// and YAML alias bombs and deep nesting are refused quickly. Plus the CLI's plan-file size limit.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { validatePlan } from '../../events/plan';
import { parsePlan } from '../../events/plan';
import { DEFAULT_MAX_PLAN_BYTES, loadLimits, planFileProblem } from '../../cli/limits';

const RUNS = 10_000;

const base = {
  releaseId: 'bsi-26.3',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'laptop-x1'],
  phases: [
    { share: 1, bake: '10m' },
    { share: 10, bake: '1h', approval: 'manual' },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 60 },
  breachPolicy: { action: 'retry', attempts: 1, backoff: '10s', then: 'rollback' },
  classes: { 'laptop-x1': { artifact: { build: '26.3.2' } } },
};

const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 0.5, 100.001, 1e300, Number.MAX_SAFE_INTEGER, '', '0s', '-5m', '1h30m', '99999d', null),
  fc.string({ maxLength: 30 }),
  fc.constantFrom('__proto__', 'constructor', 'x'.repeat(5000)),
);
const PATHS = [
  ['releaseId'],
  ['rolloutId'],
  ['artifact', 'build'],
  ['deviceClasses'],
  ['deviceClasses', 0],
  ['phases'],
  ['phases', 0, 'share'],
  ['phases', 1, 'bake'],
  ['phases', 2, 'approval'],
  ['thresholds', 'maxFailureRate'],
  ['thresholds', 'minSample'],
  ['thresholds', 'rule'],
  ['breachPolicy', 'action'],
  ['breachPolicy', 'attempts'],
  ['classes', 'laptop-x1'],
  ['classes', 'unknown-class'],
  ['fleetHalt'],
  ['extra'],
] as const;

/** The valid plan with a few fields set to hostile values (or removed), as YAML or JSON text. */
const mutatedPlan = fc
  .record({
    edits: fc.array(fc.tuple(fc.constantFrom(...PATHS), fc.option(hostile)), { minLength: 0, maxLength: 3 }),
    json: fc.boolean(),
  })
  .map(({ edits, json }) => {
    const plan = structuredClone(base) as Record<string, unknown>;
    for (const [path, value] of edits) {
      let node = plan as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) {
        const next = node[key];
        if (typeof next !== 'object' || next === null) break;
        node = next as Record<string | number, unknown>;
      }
      const last = path[path.length - 1]!;
      if (value === null) delete node[last];
      else node[last] = value;
    }
    return json ? JSON.stringify(plan) : stringify(plan);
  });

const planText: fc.Arbitrary<string> = fc.oneof(
  mutatedPlan,
  fc.string({ maxLength: 400 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)),
  fc.constantFrom(
    '',
    '---\n---\n',
    '!!js/function "function(){}"',
    'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    '{"__proto__": {"polluted": true}, "releaseId": "x"}',
    `${'['.repeat(300)}${']'.repeat(300)}`,
    `${'- '.repeat(200)}x`,
  ),
);

test(`${RUNS} plan texts: accepted as a valid plan, or refused with path and rule`, () => {
  const tally = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(planText, (text) => {
      const t0 = Date.now();
      const result = parsePlan(text, 'fuzz.yaml');
      expect(Date.now() - t0).toBeLessThan(2000);
      if (result.ok) {
        tally.ok++;
        // An accepted plan is a fixed point of validation: nothing half-valid gets through.
        expect(validatePlan(result.plan)).toEqual({ ok: true, plan: result.plan });
      } else {
        tally.refused++;
        expect(result.errors.length).toBeGreaterThan(0);
        for (const e of result.errors) {
          expect(typeof e.path).toBe('string');
          expect(e.rule.length).toBeGreaterThan(0);
        }
      }
    }),
    { numRuns: RUNS, seed: 8_2026 },
  );
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(tally.ok).toBeGreaterThan(100);
  expect(tally.refused).toBeGreaterThan(1000);
});

test('the CLI refuses a plan file above the size limit without reading it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-plan-'));
  const small = join(dir, 'small.yaml');
  const big = join(dir, 'big.yaml');
  writeFileSync(small, stringify(base));
  writeFileSync(big, `# ${'x'.repeat(DEFAULT_MAX_PLAN_BYTES)}\n${stringify(base)}`);
  const { maxPlanBytes } = loadLimits({});
  expect(maxPlanBytes).toBe(DEFAULT_MAX_PLAN_BYTES);
  expect(planFileProblem(small, maxPlanBytes)).toBeUndefined();
  expect(planFileProblem(big, maxPlanBytes)).toMatch(/more than the limit of 262144 \(BSI_MAX_PLAN_BYTES\)/);
  expect(planFileProblem(dir, maxPlanBytes)).toMatch(/not a regular file/);
  expect(() => loadLimits({ BSI_MAX_PLAN_BYTES: 'lots' })).toThrow(/BSI_MAX_PLAN_BYTES="lots"/);
  expect(loadLimits({ BSI_MAX_ACTIVE_ROLLOUTS: '3' }).maxActiveRollouts).toBe(3);
});
