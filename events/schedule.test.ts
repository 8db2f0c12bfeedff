/**
 * A rollout's schedule, as specifications: the plan's `schedule` key (what it accepts, what it refuses and how it
 * says so), and the rollout decider around it: given the rollout log, when the schedule's clock ticks (or an operator
 * acts), then these rollout-level events.
 */
import { type RolloutInput, isRefusal } from './commands';
import { type DomainEvent, DomainEventSchema } from './domain-events';
import { exposureOfferId, initialLaneState, stepLane } from './lane';
import { RolloutPlanSchema, laneConfigOf, validatePlan, type RolloutPlan } from './plan';
import { awaitsScheduledStart, decideRollout, fold, nextScheduleTime, stepRollout, type RolloutState } from './rollout';
import { ScheduleSchema, describeSchedule, waitUntilOf } from './schedule';

const T0 = Date.parse('2026-12-08T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const ROLLOUT = 'r-sched';

const base = {
  releaseId: 'bsi-26.3',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'phone-b'],
  phases: [
    { share: 10, bake: 60 },
    { share: 100, bake: 60 },
  ],
  thresholds: { maxFailureRate: 0.1, minSample: 10, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
};
const plan = (schedule: Record<string, unknown>, extra: Record<string, unknown> = {}): RolloutPlan =>
  RolloutPlanSchema.parse({ ...base, schedule, ...extra });

describe('plan: schedule key', () => {
  test('accepts ISO times with a zone and normalises them to UTC', () => {
    const p = plan({ startAt: '2026-12-08T02:00:00+01:00', endAt: '2026-12-08T03:30Z', endBehavior: 'cancel' });
    expect(p.schedule).toEqual({
      startAt: '2026-12-08T01:00:00.000Z',
      endAt: '2026-12-08T03:30:00.000Z',
      endBehavior: 'cancel',
    });
    // Parsing its own output again changes nothing (the plan is recorded in rollout-started).
    expect(RolloutPlanSchema.parse(p)).toEqual(p);
  });

  test.each([
    [{ startAt: '2026-12-08T01:00:00' }, 'schedule.startAt', /with a zone/],
    [{ startAt: '2026-12-08' }, 'schedule.startAt', /with a zone/],
    [{ startAt: 'tomorrow' }, 'schedule.startAt', /ISO 8601/],
    [{ startAt: 1765155600 }, 'schedule.startAt', /ISO 8601/],
    [{ startAt: '2026-02-30T01:00:00Z' }, 'schedule.startAt', /not a real date/],
    [{ endAt: '2026-12-08T24:00:00Z' }, 'schedule.endAt', /not a real date/],
    [{ startAt: '2026-12-08T02:00:00Z', endAt: '2026-12-08T02:00:00Z' }, 'schedule.endAt', /after startAt/],
    [{ startAt: '2026-12-08T02:00:00Z', endAt: '2026-12-08T02:30:00+01:00' }, 'schedule.endAt', /after startAt/],
    [{ startAt: '2026-12-08T02:00:00Z', endBehavior: 'stop' }, 'schedule.endBehavior', /give endAt too/],
    [{ endAt: '2026-12-08T02:00:00Z', endBehavior: 'force-cancel' }, 'schedule.endBehavior', /stop or cancel/],
    [{}, 'schedule', /needs startAt, endAt or both/],
    [{ startAt: '2026-12-08T02:00:00Z', timezone: 'UTC' }, 'schedule.timezone', /unknown field/],
  ])('refuses %j with a clear error at its path', (schedule, path, rule) => {
    const result = validatePlan({ ...base, schedule });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const error = result.errors.find((e) => e.path === path);
    expect(error).toBeDefined();
    expect(error?.rule).toMatch(rule);
  });

  test('endBehavior defaults to stop; a startAt in the past starts at once', () => {
    const s = ScheduleSchema.parse({ startAt: '2026-12-08T01:00:00Z', endAt: '2026-12-08T05:00:00Z' });
    expect(waitUntilOf(s, '2026-12-08T00:59:59.000Z')).toBe('2026-12-08T01:00:00.000Z');
    expect(waitUntilOf(s, '2026-12-08T01:00:00.000Z')).toBeNull();
    expect(describeSchedule(s, '2026-12-08T02:00:00.000Z')).toMatch(/has passed: a rollout started now starts at once/);
    expect(describeSchedule(s, '2026-12-08T00:00:00.000Z')).toMatch(/waits until 2026-12-08T01:00:00.000Z.*stops/);
  });
});

/** Decides and folds like the rollout workflow; throws on a refusal. */
function runner(p: RolloutPlan, startAt = 0) {
  let state: RolloutState = fold([]);
  const log: DomainEvent[] = [];
  let lanes = Object.fromEntries(p.deviceClasses.map((lane) => [lane, initialLaneState()]));
  const step = (input: RolloutInput): readonly DomainEvent[] => {
    const answer = stepRollout(state, input);
    if (isRefusal(answer)) throw new Error(answer.reason);
    for (const event of answer.events) expect(DomainEventSchema.parse(event)).toEqual(event);
    if (input.type === 'lane-report') log.push(...input.events);
    log.push(...answer.events);
    state = answer.state;
    return answer.events;
  };
  const laneStep = (lane: string, input: Parameters<typeof stepLane>[1], t: number) => {
    const answer = stepLane(lanes[lane]!, input);
    if (isRefusal(answer)) throw new Error(answer.reason);
    lanes = { ...lanes, [lane]: answer.state };
    return step({ type: 'lane-report', lane, events: [...answer.events], at: at(t) });
  };
  step({ type: 'start-rollout', rolloutId: ROLLOUT, plan: p, actor: 'sre-ana', reason: 'BSI 26.3', at: at(startAt) });
  return {
    get state() {
      return state;
    },
    log,
    step,
    laneStep,
    tick: (t: number) => step({ type: 'schedule-tick', at: at(t) }),
    startLanes: (t: number) => {
      for (const lane of p.deviceClasses) {
        laneStep(lane, { type: 'start-lane', rolloutId: ROLLOUT, lane, config: laneConfigOf(p, lane), at: at(t) }, t);
      }
    },
  };
}

describe('rollout: a scheduled start', () => {
  const p = plan({ startAt: at(3600), endAt: at(7200), endBehavior: 'stop' });

  test('a start before startAt records the schedule and waits; the tick at startAt starts the classes', () => {
    const r = runner(p);
    expect(r.log.map((e) => e.type)).toEqual(['rollout-started', 'rollout-scheduled']);
    expect(r.log[1]).toMatchObject({ data: { waitUntil: at(3600), endAt: at(7200), endBehavior: 'stop' } });
    expect(awaitsScheduledStart(r.state)).toBe(true);
    expect(nextScheduleTime(r.state)).toBe(at(3600));
    expect(r.tick(3599)).toEqual([]);
    expect(r.tick(3600)).toMatchObject([{ type: 'schedule-started', data: { startAt: at(3600) } }]);
    expect(awaitsScheduledStart(r.state)).toBe(false);
    expect(nextScheduleTime(r.state)).toBe(at(7200));
    // A timer that fires again (a continue-as-new between) decides nothing more.
    expect(r.tick(3601)).toEqual([]);
  });

  test('a startAt already past starts at once', () => {
    const r = runner(p, 4000);
    expect(r.log[1]).toMatchObject({ type: 'rollout-scheduled', data: { waitUntil: null, endAt: at(7200) } });
    expect(awaitsScheduledStart(r.state)).toBe(false);
  });

  test('an endAt already past refuses the start', () => {
    const answer = decideRollout(fold([]), {
      type: 'start-rollout',
      rolloutId: ROLLOUT,
      plan: p,
      actor: 'sre-ana',
      reason: 'late',
      at: at(7200),
    });
    expect(isRefusal(answer) && answer.reason).toMatch(/schedule ended at .*nothing to start/);
  });

  test('an operator aborts a rollout that waits for its start; its timer then decides nothing', () => {
    const r = runner(p);
    const events = r.step({ type: 'abort', lane: null, actor: 'sre-bo', reason: 'wrong build', at: at(60) });
    expect(events.map((e) => e.type)).toEqual(['operator-command-accepted', 'rollout-aborted']);
    expect(r.state.status).toBe('aborted');
    expect(nextScheduleTime(r.state)).toBeNull();
    expect(decideRollout(r.state, { type: 'schedule-tick', at: at(3600) })).toEqual([]);
  });

  test('an end that comes before the start was acted on ends the rollout without a class started', () => {
    const r = runner(p);
    const events = r.tick(7300);
    expect(events).toMatchObject([
      { type: 'schedule-ended', data: { endAt: at(7200), endBehavior: 'stop', stopLanes: [], lanesStarted: false } },
      { type: 'rollout-aborted', actor: 'schedule', reason: expect.stringMatching(/before the rollout started/) },
    ]);
    expect(r.state.status).toBe('aborted');
  });

  test('a plan without a schedule records what it always did', () => {
    const r = runner(RolloutPlanSchema.parse(base));
    expect(r.log.map((e) => e.type)).toEqual(['rollout-started']);
    expect(r.state.schedule).toBeUndefined();
    expect(nextScheduleTime(r.state)).toBeNull();
    expect(r.tick(10)).toEqual([]);
  });
});

describe('rollout: the end of a schedule', () => {
  test('stop stops every lane that could still offer a cohort; the rollout completes once they ended', () => {
    const p = plan({ endAt: at(7200), endBehavior: 'stop' });
    const r = runner(p);
    r.startLanes(1);
    const events = r.tick(7200);
    expect(events).toMatchObject([
      { type: 'schedule-ended', data: { endBehavior: 'stop', stopLanes: ['phone-a', 'phone-b'], lanesStarted: true } },
    ]);
    expect(r.state.status).toBe('running');
    expect(r.state.schedule?.ended).toEqual({ at: at(7200), endBehavior: 'stop', stopLanes: ['phone-a', 'phone-b'] });
    // The workflow signals the stopped lanes to abort; their reports complete the rollout.
    const abort = { type: 'abort' as const, lane: null, actor: 'schedule', reason: 'schedule ended', at: at(7201) };
    r.laneStep('phone-a', abort, 7201);
    const last = r.laneStep('phone-b', abort, 7201);
    expect(last).toMatchObject([
      { type: 'rollout-completed', data: { lanes: { 'phone-a': 'aborted', 'phone-b': 'aborted' } } },
    ]);
    expect(r.state.status).toBe('completed');
    expect(nextScheduleTime(r.state)).toBeNull();
  });

  test('stop leaves a lane that only counts its patched share', () => {
    const p = plan(
      { endAt: at(7200) },
      {
        phases: [{ share: 100, bake: 60 }],
        completion: { patchedShare: 0.99, deadline: '72h' },
        classes: { 'phone-a': { completion: { expectedDevices: 1000 } } },
      },
    );
    const r = runner(p);
    r.startLanes(1);
    // phone-a passes its only phase and starts patching; phone-b is still baking.
    r.laneStep(
      'phone-a',
      {
        type: 'health-delta',
        lane: 'phone-a',
        offerId: exposureOfferId('phone-a', 0, 1),
        delta: {
          counts: { succeeded: 50, failedByCode: {}, timedOut: 0, inProgress: 0 },
          ranges: [{ partition: 0, fromOffset: '0', toOffset: '49' }],
        },
        at: at(30),
      },
      30,
    );
    r.laneStep('phone-a', { type: 'timer-fired', lane: 'phone-a', kind: 'bake', at: at(61) }, 61);
    expect(r.state.lanes['phone-a']?.waitingFor?.kind).toBe('patching');
    expect(r.tick(7200)).toMatchObject([
      { type: 'schedule-ended', data: { endBehavior: 'stop', stopLanes: ['phone-b'] } },
    ]);
  });

  test('cancel aborts the rollout as rollout abort does, recorded as by the schedule', () => {
    const p = plan({ startAt: at(60), endAt: at(7200), endBehavior: 'cancel' });
    const r = runner(p);
    r.tick(60);
    r.startLanes(61);
    expect(r.tick(7200)).toMatchObject([
      { type: 'schedule-ended', data: { endBehavior: 'cancel', stopLanes: [], lanesStarted: true } },
      { type: 'rollout-aborted', actor: 'schedule', reason: expect.stringMatching(/endBehavior cancel/) },
    ]);
    expect(r.state.status).toBe('aborted');
  });

  test('a rollout that completed before its end decides nothing at the end', () => {
    const p = plan({ endAt: at(7200) }, { phases: [{ share: 100, bake: 0 }] });
    const r = runner(p);
    r.startLanes(1);
    for (const lane of p.deviceClasses) {
      r.laneStep(
        lane,
        {
          type: 'health-delta',
          lane,
          offerId: exposureOfferId(lane, 0, 1),
          delta: {
            counts: { succeeded: 50, failedByCode: {}, timedOut: 0, inProgress: 0 },
            ranges: [{ partition: 0, fromOffset: '0', toOffset: '49' }],
          },
          at: at(30),
        },
        30,
      );
      r.laneStep(lane, { type: 'timer-fired', lane, kind: 'bake', at: at(31) }, 31);
    }
    expect(r.state.status).toBe('completed');
    expect(r.tick(7200)).toEqual([]);
  });
});
