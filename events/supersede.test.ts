/**
 * Superseding a rollout, as specifications: which old rollouts may be superseded and what the new one records
 * (`supersedesOf`), how a superseding lane's config reuses the old lane's cohort salt and exposed bound
 * (`supersedingConfig`), and that the salt reaches the fleet orders and the buckets: the first cohort offered the fix
 * is exactly the set of devices the old lane exposed.
 */
import { cohortOf } from './cohort';
import { isRefusal, type LaneInput, type RolloutInput } from './commands';
import { DomainEventSchema, type DomainEvent } from './domain-events';
import { fleetCommandsOf } from './fleet-commands';
import { exposureOfferId, initialLaneState, stepLane, type LaneState } from './lane';
import { RolloutPlanSchema, cohortSaltOf, laneConfigOf, type RolloutPlan } from './plan';
import { decideRollout, fold, stepRollout, type RolloutState } from './rollout';
import { supersedesOf, supersedingConfig } from './supersede';

const at = (sec: number) => new Date(Date.parse('2026-12-01T00:00:00Z') + sec * 1000).toISOString();
const OLD = 'bsi-26.3-old';

function plan(extra: Record<string, unknown> = {}): RolloutPlan {
  return RolloutPlanSchema.parse({
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.1' },
    deviceClasses: ['laptop-x1', 'phone-a'],
    phases: [
      { share: 1, bake: 60 },
      { share: 10, bake: 60 },
      { share: 50, bake: 60 },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 20, installTimeoutSec: 600, rule: 'plain' },
    breachPolicy: { action: 'pause' },
    ...extra,
  });
}

/** The old rollout folded from what its deciders decided: laptop-x1 breaches in phase 2 (10 %), phone-a is healthy. */
function oldRollout(): RolloutState {
  const p = plan();
  let rollout = fold([]);
  const lanes: Record<string, LaneState> = {};
  const report = (lane: string, input: LaneInput, t: number) => {
    const step = stepLane(lanes[lane] ?? initialLaneState(), input);
    if (isRefusal(step)) throw new Error(step.reason);
    lanes[lane] = step.state;
    const r = stepRollout(rollout, { type: 'lane-report', lane, events: [...step.events], at: at(t) });
    if (isRefusal(r)) throw new Error(r.reason);
    rollout = r.state;
  };
  const start: RolloutInput = { type: 'start-rollout', rolloutId: OLD, plan: p, actor: 'a', reason: 'r', at: at(0) };
  const started = stepRollout(rollout, start);
  if (isRefusal(started)) throw new Error(started.reason);
  rollout = started.state;
  const delta = (lane: string, phase: number, ok: number, failed: number, t: number): LaneInput => ({
    type: 'health-delta',
    lane,
    offerId: exposureOfferId(lane, phase, 1),
    delta: {
      counts: { succeeded: ok, failedByCode: failed > 0 ? { E_BOOT: failed } : {}, timedOut: 0, inProgress: 0 },
      ranges: [{ partition: 0, fromOffset: String(t * 100), toOffset: String(t * 100 + 99) }],
    },
    at: at(t),
  });
  for (const lane of p.deviceClasses) {
    report(lane, { type: 'start-lane', rolloutId: OLD, lane, config: laneConfigOf(p, lane), at: at(1) }, 1);
    report(lane, delta(lane, 0, 100, 0, 10), 10);
    report(lane, { type: 'timer-fired', lane, kind: 'bake', at: at(61) }, 61);
  }
  report('laptop-x1', delta('laptop-x1', 1, 50, 50, 70), 70);
  return rollout;
}

describe('supersedesOf: which rollout may be superseded', () => {
  const old = oldRollout();

  test('the old rollout halted laptop-x1 at 10 %: the link names it with the exposed bound', () => {
    expect(old.lanes['laptop-x1']).toMatchObject({ status: 'paused', cohortBound: 1000 });
    expect(old.lanes['laptop-x1']?.pause?.cause).toBe('breach');
    // phone-a still runs: the old rollout is not finished with.
    expect(supersedesOf(old, plan(), 'bsi-26.3-fix')).toEqual({
      refused: true,
      reason: expect.stringMatching(/is still running \(phone-a running\)/),
    });
    const finished: RolloutState = {
      ...old,
      lanes: { ...old.lanes, 'phone-a': { ...old.lanes['phone-a']!, status: 'completed' } },
    };
    expect(supersedesOf(finished, plan(), 'bsi-26.3-fix')).toEqual({
      rolloutId: OLD,
      lanes: { 'laptop-x1': { cohortBound: 1000, status: 'paused' } },
    });
    const aborted: RolloutState = { ...old, status: 'aborted' };
    expect(supersedesOf(aborted, plan({ deviceClasses: ['laptop-x1'] }), 'fix')).toMatchObject({ rolloutId: OLD });
  });

  test('refuses with a reason: unknown, itself, no shared class, no halted class', () => {
    const aborted: RolloutState = { ...old, status: 'aborted' };
    expect(supersedesOf(fold([]), plan(), 'fix')).toMatchObject({ reason: expect.stringMatching(/has not started/) });
    expect(supersedesOf(aborted, plan(), OLD)).toMatchObject({
      reason: expect.stringMatching(/cannot supersede itself/),
    });
    expect(supersedesOf(aborted, plan({ deviceClasses: ['tablet-z'] }), 'fix')).toMatchObject({
      reason: expect.stringMatching(/names no class of rollout bsi-26.3-old \(its classes: laptop-x1, phone-a\)/),
    });
    expect(supersedesOf(aborted, plan({ deviceClasses: ['phone-a'] }), 'fix')).toMatchObject({
      reason: expect.stringMatching(/halted none of the plan's classes \(phone-a running\)/),
    });
  });

  test('the new rollout records the link in rollout-started; the decider refuses a link to a foreign class', () => {
    const link = { rolloutId: OLD, lanes: { 'laptop-x1': { cohortBound: 1000, status: 'rolled-back' as const } } };
    const start = (p: RolloutPlan): RolloutInput => ({
      type: 'start-rollout',
      rolloutId: 'fix',
      plan: p,
      supersedes: link,
      actor: 'a',
      reason: 'fixed build',
      at: at(0),
    });
    const events = decideRollout(fold([]), start(plan())) as DomainEvent[];
    expect(events[0]).toMatchObject({ type: 'rollout-started', data: { supersedes: link } });
    expect(DomainEventSchema.parse(events[0])).toEqual(events[0]);
    expect(fold(events).supersedes).toEqual(link);
    expect(decideRollout(fold([]), start(plan({ deviceClasses: ['phone-a'] })))).toMatchObject({
      reason: expect.stringMatching(/must be classes of the plan/),
    });
  });
});

describe('supersedingConfig: the old salt and the old exposed bound first', () => {
  const link = { rolloutId: OLD, lanes: { 'laptop-x1': { cohortBound: 1000, status: 'rolled-back' as const } } };

  test('the first phase covers the old bound, then the plan phases above it; other classes are unchanged', () => {
    const p = plan();
    const config = supersedingConfig(laneConfigOf(p, 'laptop-x1'), link);
    expect(config.cohortSalt).toBe(OLD);
    expect(config.phases.map((ph) => [ph.share, ph.cohortBound, ph.bakeSec])).toEqual([
      [10, 1000, 60],
      [50, 5000, 60],
      [100, 10000, 0],
    ]);
    expect(supersedingConfig(laneConfigOf(p, 'phone-a'), link)).toEqual(laneConfigOf(p, 'phone-a'));
    expect(supersedingConfig(laneConfigOf(p, 'phone-a'), undefined)).toEqual(laneConfigOf(p, 'phone-a'));
    // A plan whose first phase already covers the old bound keeps its phases.
    const wide = supersedingConfig(
      laneConfigOf(
        plan({
          phases: [
            { share: 20, bake: 60 },
            { share: 100, bake: 0 },
          ],
        }),
        'laptop-x1',
      ),
      link,
    );
    expect(wide.phases.map((ph) => ph.cohortBound)).toEqual([2000, 10000]);
    expect(wide.cohortSalt).toBe(OLD);
  });

  test("the fix's first order addresses exactly the devices the old lane exposed", () => {
    const config = supersedingConfig(laneConfigOf(plan(), 'laptop-x1'), link);
    expect(cohortSaltOf(config, 'fix')).toBe(OLD);
    expect(cohortSaltOf(laneConfigOf(plan(), 'laptop-x1'), 'fix')).toBe('fix');
    const step = stepLane(initialLaneState(), {
      type: 'start-lane',
      rolloutId: 'fix',
      lane: 'laptop-x1',
      config,
      at: at(0),
    });
    if (isRefusal(step)) throw new Error(step.reason);
    const orders = fleetCommandsOf(step.events, config);
    expect(orders).toMatchObject([{ kind: 'expose', rolloutId: 'fix', cohortBound: 1000, cohortSalt: OLD }]);
    const devices = Array.from({ length: 5000 }, (_, i) => `laptop-${i}`);
    const oldExposed = devices.filter((id) => cohortOf(id, OLD) < 1000);
    const fixFirst = devices.filter((id) => cohortOf(id, orders[0]!.cohortSalt ?? orders[0]!.rolloutId) < 1000);
    expect(fixFirst).toEqual(oldExposed);
    // Under the new rollout's own salt the first 10 % would be other devices, mostly.
    const unsalted = devices.filter((id) => cohortOf(id, 'fix') < 1000);
    expect(unsalted.filter((id) => oldExposed.includes(id)).length).toBeLessThan(oldExposed.length / 2);
    // A lane without a salt orders what it always did.
    const plain = laneConfigOf(plan(), 'phone-a');
    const plainStep = stepLane(initialLaneState(), {
      type: 'start-lane',
      rolloutId: 'fix',
      lane: 'phone-a',
      config: plain,
      at: at(0),
    });
    if (isRefusal(plainStep)) throw new Error(plainStep.reason);
    expect(fleetCommandsOf(plainStep.events, plain)[0]).not.toHaveProperty('cohortSalt');
  });
});
