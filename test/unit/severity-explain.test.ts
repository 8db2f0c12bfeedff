/** `rollout validate --explain` on a plan with a severity: what it chose, marked against what the plan gave. */
import { renderPreview } from '../../cli/explain-view';
import { validatePlan } from '../../events/plan';
import { previewPlan } from '../../events/preview';

const plan = (() => {
  const result = validatePlan({
    releaseId: 'bsi-26.4-urgent',
    artifact: { build: '26.4.1' },
    deviceClasses: ['phone-a', 'laptop-x1'],
    severity: 'critical',
    exploited: true,
    thresholds: { maxFailureRate: 0.02, installTimeoutSec: 1800 },
    breachPolicy: { action: 'pause' },
    completion: { deadline: '24h' },
    classes: {
      'phone-a': { completion: { expectedDevices: 100_000 } },
      'laptop-x1': { thresholds: { minSample: 300 }, phases: [{ share: 100, bake: 0 }] },
    },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.plan;
})();

describe('explain: severity', () => {
  const previews = previewPlan(plan, undefined);

  test('the preview says, per class, which settings the severity chose and which the plan or the class gave', () => {
    expect(previews.map((p) => p.severity)).toEqual([
      {
        severity: 'critical',
        exploited: true,
        canarySizedFor: 100_000,
        settings: [
          { key: 'phases', from: 'severity' },
          { key: 'thresholds.minSample', from: 'severity' },
          { key: 'thresholds.proveBelowMultiple', from: 'severity' },
          { key: 'completion', from: 'plan' },
          { key: 'rateLimit', from: 'severity' },
        ],
      },
      {
        severity: 'critical',
        exploited: true,
        canarySizedFor: null,
        settings: [
          { key: 'phases', from: 'class' },
          { key: 'thresholds.minSample', from: 'class' },
          { key: 'thresholds.proveBelowMultiple', from: 'severity' },
          { key: 'completion', from: 'plan' },
          { key: 'rateLimit', from: 'severity' },
        ],
      },
    ]);
    expect(previews[1]?.minSample).toBe(300);
  });

  test('the text names the severity, each value and where it came from', () => {
    const text = renderPreview(previews);
    const minSample = previews[0]!.minSample;
    const canary = previews[0]!.phases[0]!.share;
    expect(text).toContain('severity critical, exploited (bakes halved, minSample catches a 3× build at 95 %):');
    expect(text).toContain(`phases: ${canary}% → 100%, canary sized for 100000 devices  [chosen by severity critical]`);
    expect(text).toContain(`thresholds.minSample: ${minSample}  [chosen by severity critical]`);
    expect(text).toContain('completion: deadline 1d  [given by the plan]');
    expect(text).toContain(
      'thresholds.proveBelowMultiple: 2: a phase passes only once its failure rate is proven below 2 × maxFailureRate  [chosen by severity critical]',
    );
    expect(text).toContain('A phase passes only once the evidence proves the failure rate below 4%');
    expect(text).toContain('thresholds.minSample: 300  [given by the class]');
    expect(text).toContain('phases: 100%, canary of 1 %: the plan gives no class size');
    expect(text).toContain(
      'rateLimit: none: every device gets the fix once it checks in  [chosen by severity critical]',
    );
  });

  test('a plan without a severity shows no severity lines', () => {
    const result = validatePlan({
      ...plan,
      severity: undefined,
      exploited: undefined,
      phases: [{ share: 100, bake: 0 }],
      thresholds: { ...plan.thresholds, minSample: 10 },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const previewsWithout = previewPlan(result.plan, 1000);
    expect(previewsWithout.every((p) => p.severity === null)).toBe(true);
    expect(renderPreview(previewsWithout)).not.toContain('severity');
  });
});
