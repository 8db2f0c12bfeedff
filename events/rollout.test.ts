/**
 * The rollout decider and the whole-rollout fold, as specifications: given the rollout log, when an
 * input arrives, then these rollout-level events (or this refusal). Lane logs are produced by the lane
 * decider itself, the way the lane workflows would produce them.
 */
import fc from 'fast-check';
import { type LaneInput, type RolloutInput, isRefusal } from './commands';
import { type DomainEvent, DomainEventSchema } from './domain-events';
import { decideLane, exposureOfferId, foldLane, initialLaneState, stepLane } from './lane';
import { type RolloutPlan, RolloutPlanSchema, laneConfigOf } from './plan';
import {
  type RolloutState,
  RolloutStateSchema,
  decideRollout,
  evolveRollout,
  fold,
  initialRolloutState,
  stepRollout,
} from './rollout';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const ROLLOUT = 'r-fleet';
const CLASSES = ['phone-a', 'phone-b', 'tablet-c'];

function plan(extra: Record<string, unknown> = {}): RolloutPlan {
  return RolloutPlanSchema.parse({
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.1' },
    deviceClasses: CLASSES,
    phases: [
      { share: 10, bake: 60 },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.1, minSample: 10, installTimeoutSec: 600, rule: 'plain' },
    breachPolicy: { action: 'pause' },
    fleetHalt: { breachedClasses: 2 },
    ...extra,
  });
}

const start = (p = plan()): RolloutInput => ({
  type: 'start-rollout',
  rolloutId: ROLLOUT,
  plan: p,
  actor: 'sre-ana',
  reason: 'BSI 26.3',
  at: at(0),
});
const command = (
  type: 'pause' | 'resume' | 'approve' | 'retry' | 'rollback' | 'abort',
  lane: string | null = null,
  t = 50,
): RolloutInput => ({
  type,
  lane,
  actor: 'sre-ana',
  reason: `${type} please`,
  at: at(t),
});

/** A tiny rollout workflow: the rollout log after start, then each lane's inputs reported to the rollout. */
function world(p: RolloutPlan = plan()) {
  let rollout = initialRolloutState();
  const log: DomainEvent[] = [];
  const lanes = new Map<string, ReturnType<typeof initialLaneState>>();
  const rolloutStep = (next: RolloutInput) => {
    const answer = stepRollout(rollout, next);
    if (isRefusal(answer)) throw new Error(answer.reason);
    if (next.type === 'lane-report') log.push(...next.events);
    log.push(...answer.events);
    rollout = answer.state;
    return answer.events;
  };
  const laneStep = (lane: string, next: LaneInput, t: number) => {
    const answer = stepLane(lanes.get(lane) ?? initialLaneState(), next);
    if (isRefusal(answer)) throw new Error(answer.reason);
    lanes.set(lane, answer.state);
    return rolloutStep({ type: 'lane-report', lane, events: [...answer.events], at: at(t) });
  };
  rolloutStep(start(p));
  for (const lane of p.deviceClasses) {
    laneStep(lane, { type: 'start-lane', rolloutId: ROLLOUT, lane, config: laneConfigOf(p, lane), at: at(1) }, 1);
  }
  const outcomes = (lane: string, ok: number, fail: number, t: number) =>
    laneStep(
      lane,
      {
        type: 'health-delta',
        lane,
        offerId: lanes.get(lane)?.offerId ?? exposureOfferId(lane, 0, 1),
        delta: {
          counts: { succeeded: ok, failedByCode: fail ? { E_BOOT: fail } : {}, timedOut: 0, inProgress: 0 },
          ranges: [{ partition: 0, fromOffset: String(t * 100), toOffset: String(t * 100 + 99) }],
        },
        at: at(t),
      },
      t,
    );
  return {
    log,
    get state() {
      return rollout;
    },
    step: rolloutStep,
    lane: (name: string) => lanes.get(name),
    laneStep,
    outcomes,
    breach: (lane: string, t: number) => outcomes(lane, 5, 15, t),
    complete: (lane: string, t: number) => {
      outcomes(lane, 20, 0, t);
      laneStep(lane, { type: 'timer-fired', lane, kind: 'bake', at: at(t + 60) }, t + 60);
      outcomes(lane, 20, 0, t + 61);
      return laneStep(lane, { type: 'timer-fired', lane, kind: 'bake', at: at(t + 62) }, t + 62);
    },
  };
}

function given(events: readonly DomainEvent[]) {
  const state = fold(events);
  return {
    state,
    when(next: RolloutInput) {
      const answer = decideRollout(state, next);
      return {
        then(
          expected: { type: DomainEvent['type']; data?: Record<string, unknown>; actor?: string; reason?: string }[],
        ) {
          if (isRefusal(answer)) throw new Error(`refused: ${answer.reason}`);
          expect(answer.map((e) => e.type)).toEqual(expected.map((e) => e.type));
          expect(answer).toMatchObject(expected);
          answer.forEach((event, i) => {
            expect(DomainEventSchema.parse(event)).toEqual(event);
            expect(event.eventId).toBe(`${ROLLOUT}/_/${state.nextSeq + i}`);
          });
        },
        thenNothing: () => expect(answer).toEqual([]),
        thenRefused(reason: RegExp) {
          expect(isRefusal(answer)).toBe(true);
          if (isRefusal(answer)) expect(answer.reason).toMatch(reason);
        },
      };
    },
  };
}

describe('rollout: start', () => {
  test('start records the full plan, who started it and why', () => {
    given([])
      .when(start())
      .then([
        {
          type: 'rollout-started',
          data: { plan: plan() },
          actor: 'sre-ana',
          reason: 'BSI 26.3',
          lane: null,
          seq: 0,
        } as never,
      ]);
  });
  test('the view lists every planned lane, pending until it starts', () => {
    const w = world();
    const view = fold(w.log.slice(0, 1));
    expect(Object.keys(view.lanes)).toEqual(CLASSES);
    expect(view.lanes['phone-b']?.status).toBe('pending');
    expect(fold(w.log).lanes['phone-b']).toMatchObject({ status: 'running', cohortBound: 1000 });
  });
  test('a rollout starts once', () =>
    given(world().log)
      .when(start())
      .thenRefused(/already started/));
  test('a plan that fixes its rollout id must be started under that id', () => {
    given([])
      .when(start(plan({ rolloutId: 'other' })))
      .thenRefused(/fixes rolloutId other, not r-fleet/);
  });
  test('nothing but start before the rollout started', () => {
    given([])
      .when(command('abort'))
      .thenRefused(/has not started/);
    given([])
      .when({ type: 'lane-report', lane: 'phone-a', events: [], at: at(1) })
      .thenRefused(/has not started/);
  });
});

describe('rollout: fleet-wide halt', () => {
  test('one breached class is that lane’s business; the second halts every running lane, with the reason', () => {
    const w = world();
    expect(w.breach('phone-a', 10)).toEqual([]);
    const halt = w.breach('phone-b', 11);
    expect(halt).toMatchObject([
      {
        type: 'fleet-halted',
        data: {
          cause: 'breached-classes',
          breachedLanes: ['phone-a', 'phone-b'],
          haltLanes: ['tablet-c'],
          reason: '2 device classes breached (phone-a, phone-b), limit 2: halting tablet-c',
        },
      },
    ]);
    w.laneStep('tablet-c', { type: 'fleet-halt', lane: 'tablet-c', reason: 'fleet halt', at: at(12) }, 12);
    expect(w.state.lanes['tablet-c']?.status).toBe('paused');
    expect(w.state.halts).toBe(1);
  });

  test('each further breach beyond the limit halts again whatever runs by then', () => {
    const w = world();
    w.breach('phone-a', 10);
    w.breach('phone-b', 11);
    expect(w.breach('tablet-c', 12)).toMatchObject([
      { type: 'fleet-halted', data: { haltLanes: [], reason: expect.stringMatching(/no running lane/) as unknown } },
    ]);
  });

  test('a fleet-wide failure spike halts every running lane once, with the evidence', () => {
    const spike = { maxFailureRate: 0.1, minSample: 30, installTimeoutSec: 600, rule: 'plain' };
    const w = world(
      plan({
        fleetHalt: { failureSpike: spike },
        thresholds: { maxFailureRate: 0.5, minSample: 10, installTimeoutSec: 600, rule: 'plain' },
      }),
    );
    expect(w.outcomes('phone-a', 16, 4, 10)).toEqual([]); // 20% in phone-a: below its own 50% threshold
    const halt = w.outcomes('phone-b', 16, 4, 11); // fleet: 8 of 40 = 20% > 10% after ≥ 30
    expect(halt).toMatchObject([
      {
        type: 'fleet-halted',
        data: { cause: 'failure-spike', breachedLanes: [], haltLanes: CLASSES, evidence: { sample: 40, failures: 8 } },
      },
    ]);
    expect(w.state.spikeHalted).toBe(true);
    expect(w.outcomes('phone-a', 0, 10, 12)).toEqual([]); // fires once
  });

  test('a healthy fleet does not halt on the spike rule', () => {
    const spike = { maxFailureRate: 0.1, minSample: 30, installTimeoutSec: 600, rule: 'plain' };
    const w = world(plan({ fleetHalt: { failureSpike: spike } }));
    expect(w.outcomes('phone-a', 40, 0, 10)).toEqual([]);
  });

  test('an operator pause without a lane halts the fleet, with who and why', () => {
    given(world().log)
      .when(command('pause'))
      .then([
        { type: 'operator-command-accepted', data: { command: 'pause' }, actor: 'sre-ana' },
        {
          type: 'fleet-halted',
          data: { cause: 'operator', reason: 'operator sre-ana: pause please', haltLanes: CLASSES },
          actor: 'sre-ana',
          reason: 'pause please',
        },
      ]);
  });

  test('an operator pause with no running lane is refused', () => {
    const w = world();
    for (const lane of CLASSES) w.laneStep(lane, { type: 'fleet-halt', lane, reason: 'x', at: at(5) }, 5);
    given(w.log)
      .when(command('pause'))
      .thenRefused(/no running lane/);
  });
});

describe('rollout: completion and abort', () => {
  test('the rollout completes when every lane is completed, rolled back or aborted', () => {
    const w = world();
    expect(w.complete('phone-a', 10)).toEqual([]);
    w.laneStep(
      'phone-b',
      { type: 'abort', lane: 'phone-b', actor: 'sre-ana', reason: 'model recalled', at: at(20) },
      20,
    );
    const done = w.complete('tablet-c', 30);
    expect(done).toMatchObject([
      {
        type: 'rollout-completed',
        data: { lanes: { 'phone-a': 'completed', 'phone-b': 'aborted', 'tablet-c': 'completed' } },
      },
    ]);
    expect(w.state.status).toBe('completed');
  });

  test('a completed rollout accepts no command, and late reports change nothing', () => {
    const w = world();
    for (const lane of CLASSES) w.complete(lane, 10);
    given(w.log)
      .when(command('pause', 'phone-a'))
      .thenRefused(/rollout is completed: it accepts no more commands/);
    given(w.log)
      .when({ type: 'lane-report', lane: 'phone-a', events: [], at: at(500) })
      .thenNothing();
  });

  test('abort without a lane aborts the rollout, with who and why; then every command is refused', () => {
    const w = world();
    given(w.log)
      .when(command('abort'))
      .then([
        { type: 'operator-command-accepted', data: { command: 'abort' } },
        { type: 'rollout-aborted', actor: 'sre-ana', reason: 'abort please' },
      ]);
    const aborted = [...w.log, ...(decideRollout(fold(w.log), command('abort')) as DomainEvent[])];
    given(aborted)
      .when(command('resume', 'phone-a'))
      .thenRefused(/rollout is aborted/);
    expect(fold(aborted).status).toBe('aborted');
  });
});

describe('rollout: lane-scoped commands', () => {
  test('a lane-scoped command the lane accepts yields no rollout-level event (the lane decides it)', () => {
    given(world().log).when(command('pause', 'phone-a')).thenNothing();
  });
  test('the lane’s refusal surfaces at the rollout', () => {
    given(world().log)
      .when(command('resume', 'phone-a'))
      .thenRefused(/phone-a is not paused/);
  });
  test('an unknown class is refused with the known ones', () => {
    given(world().log)
      .when(command('pause', 'toaster'))
      .thenRefused(/unknown device class toaster \(classes: phone-a, phone-b, tablet-c\)/);
  });
  test('resume, approve, retry and rollback need a lane', () => {
    for (const type of ['resume', 'approve', 'retry', 'rollback'] as const) {
      given(world().log)
        .when(command(type))
        .thenRefused(new RegExp(`${type} needs a lane`));
    }
  });
  test('a report from an unknown lane, or carrying another lane’s events, is refused', () => {
    const w = world();
    given(w.log)
      .when({ type: 'lane-report', lane: 'toaster', events: [], at: at(5) })
      .thenRefused(/unknown device class toaster/);
    const phoneB = w.log.filter((e) => e.lane === 'phone-b');
    given(w.log)
      .when({ type: 'lane-report', lane: 'phone-a', events: phoneB, at: at(5) })
      .thenRefused(/carries event r-fleet\/phone-b\/0/);
  });
});

describe('rollout: fold properties', () => {
  type Step = { lane: number; kind: 'good' | 'bad' | 'bake' | 'abort' | 'halt'; dt: number };
  const stepArb = fc.record({
    lane: fc.integer({ min: 0, max: 2 }),
    kind: fc.constantFrom<Step['kind']>('good', 'bad', 'bake', 'abort', 'halt'),
    dt: fc.integer({ min: 1, max: 70 }),
  });

  function simulate(steps: readonly Step[]): DomainEvent[] {
    const w = world();
    let t = 2;
    for (const step of steps) {
      t += step.dt;
      const lane = CLASSES[step.lane] as string;
      const laneState = w.lane(lane);
      if (laneState === undefined || w.state.status !== 'running') continue;
      const next: LaneInput =
        step.kind === 'bake'
          ? { type: 'timer-fired', lane, kind: 'bake', at: at(t) }
          : step.kind === 'abort'
            ? { type: 'abort', lane, actor: 'p', reason: 'p', at: at(t) }
            : step.kind === 'halt'
              ? { type: 'fleet-halt', lane, reason: 'p', at: at(t) }
              : {
                  type: 'health-delta',
                  lane,
                  offerId: laneState.offerId ?? '',
                  delta: {
                    counts: {
                      succeeded: 8,
                      failedByCode: step.kind === 'bad' ? { E: 8 } : {},
                      timedOut: 0,
                      inProgress: 0,
                    },
                    ranges: [{ partition: 1, fromOffset: String(t * 10), toOffset: String(t * 10 + 9) }],
                  },
                  at: at(t),
                };
      if (isRefusal(decideLane(laneState, next))) continue;
      w.laneStep(lane, next, t);
    }
    return w.log;
  }

  test('fold is deterministic, plain JSON, and folding a prefix then the rest equals folding all', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.nat(), (steps, cut) => {
        const log = simulate(steps);
        const whole: RolloutState = fold(log);
        expect(fold(log)).toEqual(whole);
        expect(JSON.parse(JSON.stringify(whole))).toEqual(whole);
        expect(RolloutStateSchema.parse(whole)).toEqual(whole);
        const k = cut % (log.length + 1);
        expect(fold(log.slice(k), fold(log.slice(0, k)))).toEqual(whole);
        for (const lane of CLASSES) expect(whole.lanes[lane]).toEqual(foldLane(log.filter((e) => e.lane === lane)));
        expect(log.every((e) => DomainEventSchema.safeParse(e).success)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  test('evolveRollout ignores nothing it should not: operator acceptances only advance the seq', () => {
    const log = world().log;
    const accepted = decideRollout(fold(log), command('pause'));
    if (isRefusal(accepted)) throw new Error(accepted.reason);
    const first = accepted[0] as DomainEvent;
    const s = evolveRollout(fold(log), first);
    expect(s.nextSeq).toBe(first.seq + 1);
    expect(s.halts).toBe(0);
  });

  test('stepRollout returns refusals unchanged', () => {
    expect(stepRollout(initialRolloutState(), command('abort'))).toEqual({
      refused: true,
      reason: 'the rollout has not started',
    });
  });
});

describe('rollout: defensive edges', () => {
  test('inputs and events outside the schemas are programming errors and throw (zod guards the boundary)', () => {
    const state = fold(world().log);
    expect(() => decideRollout(state, { type: 'teleport', actor: 'a', reason: 'r', at: at(1) } as never)).toThrow(
      /unexpected command/,
    );
    expect(() => evolveRollout(state, { type: 'rollout-teleported', lane: null, seq: 5, at: at(1) } as never)).toThrow(
      /unexpected event/,
    );
  });
});

describe('rollout: a lane whose workflow closed before the lane finished', () => {
  const lost = (lane: string, t = 30, cause: 'terminated' | 'failed' = 'terminated'): RolloutInput => ({
    type: 'lane-lost',
    lane,
    cause,
    detail: `${cause}: by the test`,
    at: at(t),
  });

  test('is recorded once with its cause and last status; the rollout stays open and cannot complete', () => {
    const w = world();
    given(w.log)
      .when(lost('phone-a'))
      .then([
        {
          type: 'lane-lost',
          data: { lane: 'phone-a', cause: 'terminated', detail: 'terminated: by the test', lastStatus: 'running' },
        },
      ]);
    const after = stepRollout(w.state, lost('phone-a'));
    if (isRefusal(after)) throw new Error(after.reason);
    expect(after.state.lostLanes).toEqual({
      'phone-a': { cause: 'terminated', detail: 'terminated: by the test', lastStatus: 'running', at: at(30) },
    });
    expect(RolloutStateSchema.parse(after.state)).toEqual(after.state);
    given([...w.log, ...after.events])
      .when(lost('phone-a', 31, 'failed'))
      .thenNothing();
    // The other classes complete; without phone-a the rollout does not.
    w.step(lost('phone-a'));
    w.complete('phone-b', 40);
    expect(w.complete('tablet-c', 40)).toEqual([]);
    expect(w.state.status).toBe('running');
    expect(w.state.lanes['tablet-c']?.status).toBe('completed');
  });

  test('a loss of a lane that had finished (a late or duplicate notice) changes nothing', () => {
    const w = world();
    w.complete('phone-a', 10);
    given(w.log).when(lost('phone-a', 80)).thenNothing();
    given(w.log)
      .when(lost('no-such-class'))
      .thenRefused(/unknown device class no-such-class/);
  });

  test('counts with the breached classes for the fleet-wide halt (its health is unknown)', () => {
    const w = world();
    w.breach('phone-a', 10);
    given(w.log)
      .when(lost('phone-b'))
      .then([
        { type: 'lane-lost', data: { lane: 'phone-b' } },
        {
          type: 'fleet-halted',
          data: {
            cause: 'breached-classes',
            breachedLanes: ['phone-a'],
            lostLanes: ['phone-b'],
            haltLanes: ['tablet-c'],
            reason: '2 device classes breached or lost (phone-a, phone-b), limit 2: halting tablet-c',
          },
        },
      ]);
  });
});

describe('rollout: restarting a lost lane', () => {
  const lostInput = (lane: string, cause: 'terminated' | 'closed-unreported' = 'terminated'): RolloutInput => ({
    type: 'lane-lost',
    lane,
    cause,
    detail: 'by the test',
    at: at(30),
  });
  const restart = (lane: string | null, t = 40): RolloutInput => ({
    type: 'restart',
    lane,
    actor: 'sre-ana',
    reason: 'terminated by mistake',
    at: at(t),
  });

  test('an operator restarts a lost class: it is no longer lost; a running class or no class is refused', () => {
    const w = world();
    given(w.log)
      .when(restart('phone-a'))
      .thenRefused(/lane phone-a is running, not lost/);
    given(w.log)
      .when(restart(null))
      .thenRefused(/restart needs a lane/);
    w.step(lostInput('phone-a'));
    given(w.log)
      .when(command('pause', 'phone-a'))
      .thenRefused(/phone-a's workflow was lost \(terminated: by the test\); restart it first/);
    given(w.log)
      .when(restart('phone-a'))
      .then([
        { type: 'operator-command-accepted', data: { command: 'restart' }, actor: 'sre-ana' },
        { type: 'lane-restarted', data: { lane: 'phone-a', lostCause: 'terminated' }, reason: 'terminated by mistake' },
      ]);
    w.step(restart('phone-a'));
    expect(w.state.lostLanes).toEqual({});
    // Once restarted it completes with the others, and the rollout with it.
    w.complete('phone-a', 50);
    w.complete('phone-b', 50);
    w.complete('tablet-c', 50);
    expect(w.state.status).toBe('completed');
  });

  test('a lane whose workflow completed unreported cannot be restarted', () => {
    const w = world();
    w.step(lostInput('phone-b', 'closed-unreported'));
    given(w.log)
      .when(restart('phone-b'))
      .thenRefused(/completed \(its last report was lost\): nothing to restart; abort the rollout/);
  });
});
