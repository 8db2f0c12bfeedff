/**
 * The lane decider, as specifications: given the lane's past events, when an input arrives, then these
 * events (or this refusal). Counts are decisive for the plain rule used here (max 10% failures after at
 * least 10 outcomes), so every verdict below is obvious from the numbers.
 */
import fc from 'fast-check';
import { type LaneInput, isRefusal } from './commands';
import { type DomainEvent, DomainEventSchema } from './domain-events';
import {
  type LaneState,
  LaneStateSchema,
  currentCounts,
  describeWaitingFor,
  decideLane,
  exposureOfferId,
  foldLane,
  initialLaneState,
  isLaneFinished,
  laneDeadlineOf,
  patchedEtaOf,
  rollbackOfferId,
  stepLane,
  toHealthCounts,
  windowThresholds,
} from './lane';
import { type BreachPolicy, type LaneConfig } from './plan';
import { testLaneConfig } from '../test/support/lane-config';

const T0 = Date.parse('2026-03-01T00:00:00Z');
/** The time `sec` seconds after the start of every scenario. */
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';
const ROLLOUT = 'r-2026-03';

/** A lane config: phases 1% (bake 60s) → 10% (manual gate, bake 60s) → 100% (bake 0). */
const laneConfig = testLaneConfig;

let nextOffset = 0;
type Outcomes = { ok?: number; fail?: number; timedOut?: number; inProgress?: number; code?: string };

const input = {
  start: (config = laneConfig(), t = 0): LaneInput => ({
    type: 'start-lane',
    rolloutId: ROLLOUT,
    lane: LANE,
    config,
    at: at(t),
  }),
  /** Outcomes for an offer; each call covers fresh offsets on partition 0 unless `range` is given. */
  delta: (
    offerId: string,
    o: Outcomes,
    t: number,
    range?: { partition: number; fromOffset: string; toOffset: string },
  ): LaneInput => {
    const from = nextOffset;
    nextOffset += 10;
    return {
      type: 'health-delta',
      lane: LANE,
      offerId,
      delta: {
        counts: {
          succeeded: o.ok ?? 0,
          failedByCode: o.fail ? { [o.code ?? 'E_INSTALL']: o.fail } : {},
          timedOut: o.timedOut ?? 0,
          inProgress: o.inProgress ?? 0,
        },
        ranges: [range ?? { partition: 0, fromOffset: String(from), toOffset: String(from + 9) }],
      },
      at: at(t),
    };
  },
  healthy: (offerId: string, t: number) => input.delta(offerId, { ok: 20 }, t),
  bad: (offerId: string, t: number) => input.delta(offerId, { ok: 5, fail: 15 }, t),
  timer: (kind: 'bake' | 'retry-backoff' | 'rollback' | 'patching' | 'stall', t: number): LaneInput => ({
    type: 'timer-fired',
    lane: LANE,
    kind,
    at: at(t),
  }),
  command: (
    type: 'pause' | 'resume' | 'approve' | 'retry' | 'rollback' | 'abort',
    t: number,
    lane: string | null = LANE,
  ): LaneInput => ({
    type,
    lane,
    actor: 'sre-ana',
    reason: `${type} for the test`,
    at: at(t),
  }),
  halt: (t: number): LaneInput => ({ type: 'fleet-halt', lane: LANE, reason: '2 classes breached', at: at(t) }),
};

const offer = (phase: number, attempt = 1) => exposureOfferId(LANE, phase, attempt);

/** Runs inputs through the decider from the initial state and returns the log; fails on a refusal. */
function history(...inputs: LaneInput[]): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  for (const next of inputs) {
    const answer = stepLane(state, next);
    if (isRefusal(answer)) throw new Error(`history refused ${next.type}: ${answer.reason}`);
    state = answer.state;
    log.push(...answer.events);
  }
  return log;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

type Expected = { type: DomainEvent['type']; data?: Record<string, unknown>; actor?: string; reason?: string };

/** given(past events).when(input).then(expected events) | .thenNothing() | .thenRefused(reason). */
function given(events: readonly DomainEvent[]) {
  const state = deepFreeze(foldLane(events));
  return {
    state,
    when(next: LaneInput) {
      const answer = decideLane(state, deepFreeze(next));
      return {
        then(expected: Expected[]): LaneState {
          if (isRefusal(answer)) throw new Error(`refused: ${answer.reason}`);
          expect(answer.map((e) => e.type)).toEqual(expected.map((e) => e.type));
          expect(answer).toMatchObject(expected);
          answer.forEach((event, i) => {
            expect(DomainEventSchema.parse(event)).toEqual(event);
            expect(event.seq).toBe(state.nextSeq + i);
            expect(event.eventId).toBe(`${ROLLOUT}/${LANE}/${event.seq}`);
          });
          return foldLane(answer, state);
        },
        thenNothing(): void {
          expect(answer).toEqual([]);
        },
        thenRefused(reason: RegExp): void {
          expect(isRefusal(answer)).toBe(true);
          if (isRefusal(answer)) expect(answer.reason).toMatch(reason);
        },
      };
    },
  };
}

const started = () => history(input.start());
/** Phase 0 baked healthy; the lane waits at the manual gate of phase 1. */
const atGate = () => history(input.start(), input.healthy(offer(0), 10), input.timer('bake', 60));
/** Phase 1 approved and exposed (bake until 160s). */
const inPhase1 = () =>
  history(input.start(), input.healthy(offer(0), 10), input.timer('bake', 60), input.command('approve', 100));

describe('lane: start', () => {
  test('start exposes phase 0: lane-started, phase-started, exposure-issued with the cohort bound and a bake', () => {
    const state = given([])
      .when(input.start())
      .then([
        { type: 'lane-started', data: { config: laneConfig() } },
        { type: 'phase-started', data: { phase: 0, share: 1, cohortBound: 100 } },
        {
          type: 'exposure-issued',
          data: {
            phase: 0,
            attempt: 1,
            cohortBound: 100,
            offerId: 'phone-a/p0a1',
            artifact: { build: '26.3.1' },
            bakeUntil: at(60),
          },
        },
      ]);
    expect(state).toMatchObject({
      status: 'running',
      phase: 0,
      cohortBound: 100,
      waitingFor: { kind: 'bake', until: at(60) },
    });
    expect(LaneStateSchema.parse(JSON.parse(JSON.stringify(state)))).toEqual(state);
  });

  test('a manual gate on phase 0 waits for approval before exposing anything', () => {
    const gated = laneConfig({ phases: [{ share: 100, cohortBound: 10000, bakeSec: 0, approval: 'manual' }] });
    const state = given([])
      .when(input.start(gated))
      .then([{ type: 'lane-started' }, { type: 'gate-waiting', data: { phase: 0 } }]);
    expect(state.cohortBound).toBe(0);
    expect(state.waitingFor).toEqual({ kind: 'approval', phase: 0 });
  });

  test('a lane starts once', () =>
    given(started())
      .when(input.start())
      .thenRefused(/already started/));
  test('a lane that has not started refuses every other input', () => {
    given([])
      .when(input.timer('bake', 1))
      .thenRefused(/has not started/);
    given([])
      .when(input.command('pause', 1, null))
      .thenRefused(/has not started/);
  });
  test('an input addressed to another lane is refused', () => {
    given(started())
      .when({ ...input.command('pause', 1), lane: 'tablet-c' })
      .thenRefused(/for lane tablet-c sent to lane phone-a/);
  });
});

describe('lane: bake, evidence and phase progression', () => {
  test('a healthy verdict during the bake is recorded but does not pass the phase early', () => {
    const state = given(started())
      .when(input.healthy(offer(0), 10))
      .then([
        {
          type: 'health-evaluated',
          data: { offerId: offer(0), window: 'exposure', verdict: { verdict: 'healthy' }, actionable: true },
        },
      ]);
    expect(state.waitingFor?.kind).toBe('bake');
    expect(state.lastVerdict?.verdict).toBe('healthy');
    expect(currentCounts(state).succeeded).toBe(20);
  });

  test('bake over and healthy: the next phase waits at its manual gate', () => {
    given(history(input.start(), input.healthy(offer(0), 10)))
      .when(input.timer('bake', 60))
      .then([
        { type: 'bake-elapsed', data: { phase: 0, verdict: 'healthy' } },
        { type: 'gate-waiting', data: { phase: 1 } },
      ]);
  });

  test('a timer before the bake ends changes nothing (stale or early timers are harmless)', () => {
    given(started()).when(input.timer('bake', 59)).thenNothing();
    given(started()).when(input.timer('retry-backoff', 100)).thenNothing();
    given(started()).when(input.timer('rollback', 100)).thenNothing();
  });

  test('bake over with insufficient evidence: the phase waits for evidence, it never passes', () => {
    const state = given(history(input.start(), input.delta(offer(0), { ok: 3 }, 10)))
      .when(input.timer('bake', 60))
      .then([{ type: 'bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    expect(state.waitingFor).toEqual({ kind: 'evidence', phase: 0 });
  });

  test('bake over with no outcome at all records verdict none and waits', () => {
    given(started())
      .when(input.timer('bake', 60))
      .then([{ type: 'bake-elapsed', data: { verdict: 'none' } }]);
  });

  test('waiting for evidence, the first healthy verdict passes the phase', () => {
    given(history(input.start(), input.delta(offer(0), { ok: 3 }, 10), input.timer('bake', 60)))
      .when(input.delta(offer(0), { ok: 10 }, 70))
      .then([
        { type: 'health-evaluated', data: { totals: { succeeded: 13 } } },
        { type: 'gate-waiting', data: { phase: 1 } },
      ]);
  });

  test('waiting for evidence, a still-insufficient verdict keeps waiting', () => {
    given(history(input.start(), input.delta(offer(0), { ok: 3 }, 10), input.timer('bake', 60)))
      .when(input.delta(offer(0), { ok: 3 }, 70))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'insufficient-evidence' } } }]);
  });

  test('approving the gate starts the phase: accepted, gate-approved, phase-started, exposure-issued — with who and why', () => {
    const state = given(atGate())
      .when(input.command('approve', 100))
      .then([
        {
          type: 'operator-command-accepted',
          data: { command: 'approve' },
          actor: 'sre-ana',
          reason: 'approve for the test',
        },
        { type: 'gate-approved', data: { phase: 1 }, actor: 'sre-ana' },
        { type: 'phase-started', data: { phase: 1, cohortBound: 1000 } },
        {
          type: 'exposure-issued',
          data: { phase: 1, attempt: 1, cohortBound: 1000, offerId: offer(1), bakeUntil: at(160) },
        },
      ]);
    expect(state.cohortBound).toBe(1000);
  });

  describe('the two-person rule', () => {
    const twoPerson = laneConfig({ approvals: { twoPersonRule: true, startedBy: 'sre-ana' } });
    const gated = () => history(input.start(twoPerson), input.healthy(offer(0), 10), input.timer('bake', 60));
    const as = (type: 'approve' | 'pause', actor: string, t = 100): LaneInput => ({
      type,
      lane: LANE,
      actor,
      reason: `${type} for the test`,
      at: at(t),
    });
    const approveAs = (actor: string): LaneInput => as('approve', actor);

    test('whoever started the rollout may not approve its gate: refused, with the rule and who must act', () => {
      given(gated())
        .when(approveAs('sre-ana'))
        .thenRefused(
          /^two-person rule: sre-ana started this rollout and may not also approve its gates; another approver must approve phase 2 of lane phone-a$/,
        );
    });

    test('a second person approves the gate as usual', () => {
      given(gated())
        .when(approveAs('sre-bo'))
        .then([
          { type: 'operator-command-accepted', data: { command: 'approve' }, actor: 'sre-bo' },
          { type: 'gate-approved', data: { phase: 1 }, actor: 'sre-bo' },
          { type: 'phase-started', data: { phase: 1 } },
          { type: 'exposure-issued', data: { phase: 1 } },
        ]);
    });

    test('without the rule (plans and lanes from before it) the starter may approve', () => {
      given(atGate())
        .when(approveAs('sre-ana'))
        .then([
          { type: 'operator-command-accepted', actor: 'sre-ana' },
          { type: 'gate-approved' },
          { type: 'phase-started' },
          { type: 'exposure-issued' },
        ]);
    });

    test('the starter may still steer otherwise: pause is not an approval', () => {
      given(gated())
        .when(as('pause', 'sre-ana'))
        .then([{ type: 'operator-command-accepted' }, { type: 'lane-paused' }]);
    });
  });

  test('the last phase passing completes the lane', () => {
    const log = history(
      input.start(),
      input.healthy(offer(0), 10),
      input.timer('bake', 60),
      input.command('approve', 100),
      input.healthy(offer(1), 110),
      input.timer('bake', 160),
    );
    expect(log.slice(-3).map((e) => e.type)).toEqual(['bake-elapsed', 'phase-started', 'exposure-issued']);
    const state = given(log)
      .when(input.healthy(offer(2), 170))
      .then([{ type: 'health-evaluated' }]);
    expect(state.waitingFor?.kind).toBe('bake');
    given([...log, ...stepEvents(log, input.healthy(offer(2), 170))])
      .when(input.timer('bake', 171))
      .then([{ type: 'bake-elapsed' }, { type: 'lane-completed', data: { phases: 3, attempt: 1 } }]);
  });
});

/** The events one more input adds to a log. */
function stepEvents(log: readonly DomainEvent[], next: LaneInput): DomainEvent[] {
  const answer = decideLane(foldLane(log), next);
  if (isRefusal(answer)) throw new Error(answer.reason);
  return [...answer];
}

describe('lane: health deltas are idempotent and attributed by offer', () => {
  const range = { partition: 3, fromOffset: '100', toOffset: '199' };

  test('a redelivered delta (every range at or below the high-water mark) is dropped', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    expect(foldLane(log).highWater).toEqual({ [offer(0)]: { '3': '199' } });
    given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, range))
      .thenNothing();
    given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '150', toOffset: '180' }))
      .thenNothing();
  });

  test('marks are per offer: another offer covering the same offsets is applied', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range), input.command('rollback', 20));
    given(log)
      .when(input.delta(rollbackOfferId(LANE, 1), { ok: 5 }, 21, range))
      .then([{ type: 'health-evaluated', data: { window: 'rollback' } }]);
  });

  test('a delta reaching above the mark is applied whole and raises the mark', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    const state = given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '150', toOffset: '250' }))
      .then([{ type: 'health-evaluated', data: { totals: { succeeded: 10 } } }]);
    expect(state.highWater[offer(0)]).toEqual({ '3': '250' });
  });

  test('a delta wholly above the mark is applied with no overlap recorded', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    const answer = decideLane(
      foldLane(log),
      input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '200', toOffset: '250' }),
    );
    if (isRefusal(answer)) throw new Error(answer.reason);
    expect(answer.map((e) => e.type)).toEqual(['health-evaluated']);
    expect(answer[0]?.data).not.toHaveProperty('overlap');
    // A partition the lane has no mark for is above it too.
    const other = decideLane(
      foldLane(log),
      input.delta(offer(0), { ok: 5 }, 11, { partition: 4, fromOffset: '0', toOffset: '9' }),
    );
    if (isRefusal(other)) throw new Error(other.reason);
    expect(other[0]?.data).not.toHaveProperty('overlap');
  });

  test('a delta straddling the mark is applied whole, and the overlap is recorded with the mark', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    const state = given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '150', toOffset: '250' }))
      .then([
        {
          type: 'health-evaluated',
          data: { totals: { succeeded: 10 }, overlap: [{ partition: 3, fromOffset: '150', mark: '199' }] },
        },
      ]);
    expect(state.highWater[offer(0)]).toEqual({ '3': '250' });
    // Starting exactly at the mark overlaps it by one offset.
    given(log)
      .when(input.delta(offer(0), { ok: 1 }, 11, { partition: 3, fromOffset: '199', toOffset: '200' }))
      .then([{ type: 'health-evaluated', data: { overlap: [{ partition: 3, fromOffset: '199', mark: '199' }] } }]);
  });

  test('a range below its mark beside one above it is applied whole and recorded as overlap', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    const delta = input.delta(offer(0), { ok: 5 }, 11);
    if (delta.type !== 'health-delta') throw new Error('not a delta');
    const both: LaneInput = {
      ...delta,
      delta: {
        ...delta.delta,
        ranges: [
          { partition: 3, fromOffset: '120', toOffset: '180' },
          { partition: 5, fromOffset: '0', toOffset: '9' },
        ],
      },
    };
    given(log)
      .when(both)
      .then([
        {
          type: 'health-evaluated',
          data: { totals: { succeeded: 10 }, overlap: [{ partition: 3, fromOffset: '120', mark: '199' }] },
        },
      ]);
  });

  test('a delta wholly at or below the mark is dropped, whatever its shape', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 5 }, 10, range));
    given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '0', toOffset: '199' }))
      .thenNothing();
    given(log)
      .when(input.delta(offer(0), { ok: 5 }, 11, { partition: 3, fromOffset: '199', toOffset: '199' }))
      .thenNothing();
  });

  test('offsets compare as 64-bit integers, not as strings or doubles', () => {
    const big = { partition: 0, fromOffset: '9007199254740993', toOffset: '9007199254740993' };
    const log = history(input.start(), input.delta(offer(0), { ok: 1 }, 10, big));
    given(log)
      .when(input.delta(offer(0), { ok: 1 }, 11, { ...big, toOffset: '9007199254740992', fromOffset: '0' }))
      .thenNothing();
    given(log)
      .when(
        input.delta(offer(0), { ok: 1 }, 11, { ...big, fromOffset: '9007199254740994', toOffset: '9007199254740994' }),
      )
      .then([{ type: 'health-evaluated' }]);
  });

  test('a delta for an offer this lane never issued is refused', () => {
    given(started())
      .when(input.healthy('phone-a/p7a1', 10))
      .thenRefused(/unknown offer phone-a\/p7a1/);
  });

  test('in-progress counts may go negative in a delta; the judge sees the total clamped at zero', () => {
    const state = given(history(input.start(), input.delta(offer(0), { inProgress: 4 }, 5)))
      .when(input.delta(offer(0), { ok: 10, inProgress: -6 }, 10))
      .then([{ type: 'health-evaluated', data: { totals: { inProgress: -2 }, verdict: { verdict: 'healthy' } } }]);
    expect(toHealthCounts(currentCounts(state)).inProgress).toBe(0);
  });

  test('late failures of an earlier phase of the current attempt still fire the breach policy', () => {
    given(inPhase1())
      .when(input.bad(offer(0), 120))
      .then([
        { type: 'health-evaluated', data: { offerId: offer(0), phase: 0, actionable: true } },
        { type: 'threshold-breached', data: { offerId: offer(0), phase: 0, response: 'pause' } },
        { type: 'lane-paused', data: { cause: 'breach' } },
      ]);
  });

  test('a healthy verdict for an earlier phase does not pass the current one', () => {
    const waiting = history(
      input.start(),
      input.healthy(offer(0), 10),
      input.timer('bake', 60),
      input.command('approve', 100),
      input.timer('bake', 160),
    );
    expect(foldLane(waiting).waitingFor).toEqual({ kind: 'evidence', phase: 1 });
    given(waiting)
      .when(input.healthy(offer(0), 170))
      .then([{ type: 'health-evaluated', data: { phase: 0 } }]);
  });
});

describe('lane: breach policy pause', () => {
  const breached = () => history(input.start(), input.bad(offer(0), 10));

  test('a breach records the evidence and the rule, then pauses the lane', () => {
    const state = given(started())
      .when(input.bad(offer(0), 10))
      .then([
        { type: 'health-evaluated', data: { verdict: { verdict: 'breach' } } },
        {
          type: 'threshold-breached',
          data: { rule: 'plain', response: 'pause', evidence: { sample: 20, failures: 15 } },
        },
        { type: 'lane-paused', data: { cause: 'breach', resumeTo: { kind: 'bake' } } },
      ]);
    expect(state).toMatchObject({ status: 'paused', waitingFor: { kind: 'operator' }, breaches: 1 });
  });

  test('a lane paused on a breach does not resume: retry or roll back', () => {
    given(breached())
      .when(input.command('resume', 20))
      .thenRefused(/threshold breach: retry .* or roll back/);
  });

  test('operator retry: a fresh attempt of the same phase, judged on fresh outcomes', () => {
    const state = given(breached())
      .when(input.command('retry', 20))
      .then([
        { type: 'operator-command-accepted', data: { command: 'retry' } },
        {
          type: 'retry-issued',
          data: { phase: 0, attempt: 2, offerId: offer(0, 2), backoffSec: 0, trigger: 'operator' },
        },
        {
          type: 'exposure-issued',
          data: { phase: 0, attempt: 2, offerId: offer(0, 2), cohortBound: 100, bakeUntil: at(80) },
        },
      ]);
    expect(state).toMatchObject({ status: 'running', attempt: 2, retriesUsed: 0 });
    expect(currentCounts(state)).toEqual({ succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 });
  });

  test('after a retry, late outcomes of the superseded attempt are recorded but change nothing', () => {
    given(history(input.start(), input.bad(offer(0), 10), input.command('retry', 20)))
      .when(input.bad(offer(0, 1), 30))
      .then([{ type: 'health-evaluated', data: { attempt: 1, actionable: false } }]);
  });
});

describe('lane: breach policy retry, then escalate', () => {
  const retry = (then: 'pause' | 'rollback'): BreachPolicy => ({ action: 'retry', attempts: 1, backoff: 30, then });
  const config = (then: 'pause' | 'rollback' = 'rollback') => laneConfig({ breachPolicy: retry(then) });

  test('a breach schedules a retry after the backoff', () => {
    const state = given(history(input.start(config())))
      .when(input.bad(offer(0), 10))
      .then([
        { type: 'health-evaluated' },
        { type: 'threshold-breached', data: { response: 'retry' } },
        {
          type: 'retry-issued',
          data: { attempt: 2, offerId: offer(0, 2), backoffSec: 30, notBefore: at(40), trigger: 'policy' },
        },
      ]);
    expect(state.waitingFor).toEqual({ kind: 'retry-backoff', attempt: 2, until: at(40) });
    expect(state.retriesUsed).toBe(1);
  });

  const scheduled = () => history(input.start(config()), input.bad(offer(0), 10));

  test('the retry offer goes out when the backoff timer fires, not before', () => {
    given(scheduled()).when(input.timer('retry-backoff', 39)).thenNothing();
    given(scheduled()).when(input.timer('bake', 60)).thenNothing();
    given(scheduled())
      .when(input.timer('retry-backoff', 40))
      .then([{ type: 'exposure-issued', data: { phase: 0, attempt: 2, offerId: offer(0, 2), bakeUntil: at(100) } }]);
  });

  test('outcomes arriving during the backoff are recorded, not acted on', () => {
    given(scheduled())
      .when(input.bad(offer(0), 20))
      .then([{ type: 'health-evaluated', data: { actionable: false } }]);
  });

  test('retries used up: escalate to rollback', () => {
    given(history(input.start(config()), input.bad(offer(0), 10), input.timer('retry-backoff', 40)))
      .when(input.bad(offer(0, 2), 50))
      .then([
        { type: 'health-evaluated', data: { attempt: 2 } },
        { type: 'threshold-breached', data: { attempt: 2, response: 'rollback' } },
        {
          type: 'rollback-started',
          data: { trigger: 'escalation', rollbackAttempt: 1, cohortBound: 100, until: at(170) },
        },
      ]);
  });

  test('retries used up: escalate to pause', () => {
    given(history(input.start(config('pause')), input.bad(offer(0), 10), input.timer('retry-backoff', 40)))
      .when(input.bad(offer(0, 2), 50))
      .then([
        { type: 'health-evaluated' },
        { type: 'threshold-breached', data: { response: 'pause' } },
        {
          type: 'lane-paused',
          data: { cause: 'breach', detail: expect.stringMatching(/^retries exhausted \(1\)/) as unknown },
        },
      ]);
  });

  test('a pause or an abort during the backoff wins over the pending retry', () => {
    const paused = history(input.start(config()), input.bad(offer(0), 10), input.command('pause', 20));
    given(paused).when(input.timer('retry-backoff', 40)).thenNothing();
    given(history(input.start(config()), input.bad(offer(0), 10), input.command('abort', 20)))
      .when(input.timer('retry-backoff', 40))
      .thenNothing();
  });
});

describe('lane: breach policy rollback and the rollback lifecycle', () => {
  const config = laneConfig({ breachPolicy: { action: 'rollback' } });
  const rolling = () => history(input.start(config), input.bad(offer(0), 10));
  const rb1 = rollbackOfferId(LANE, 1);

  test('a breach starts a rollback of every exposed device', () => {
    const state = given(history(input.start(config)))
      .when(input.bad(offer(0), 10))
      .then([
        { type: 'health-evaluated' },
        { type: 'threshold-breached', data: { response: 'rollback' } },
        { type: 'rollback-started', data: { offerId: rb1, trigger: 'policy', cohortBound: 100, until: at(130) } },
      ]);
    expect(state).toMatchObject({ status: 'rolling-back', waitingFor: { kind: 'rollback', until: at(130) } });
  });

  test('rollback outcomes are judged in their own window; the deadline completes the rollback', () => {
    const log = [...rolling(), ...stepEvents(rolling(), input.delta(rb1, { ok: 12 }, 20))];
    expect(foldLane(log).lastVerdict?.verdict).toBe('healthy');
    given(log).when(input.timer('rollback', 129)).thenNothing();
    const state = given(log)
      .when(input.timer('rollback', 130))
      .then([{ type: 'rollback-completed', data: { offerId: rb1, totals: { succeeded: 12 } } }]);
    expect(state).toMatchObject({ status: 'rolled-back', waitingFor: null });
    expect(isLaneFinished(state.status)).toBe(true);
  });

  test('a rollback that fails (rollback failures over the threshold) stops and waits for an operator', () => {
    const state = given(rolling())
      .when(input.delta(rb1, { ok: 2, fail: 10, code: 'E_ROLLBACK' }, 20))
      .then([
        { type: 'health-evaluated', data: { window: 'rollback', actionable: true } },
        { type: 'rollback-failed', data: { offerId: rb1, evidence: { failures: 10 } } },
      ]);
    expect(state).toMatchObject({ status: 'rollback-failed', waitingFor: { kind: 'operator' } });
  });

  const failed = () => [...rolling(), ...stepEvents(rolling(), input.delta(rb1, { ok: 2, fail: 10 }, 20))];

  test('after a failed rollback an operator may roll back again (a new rollback offer)', () => {
    given(failed())
      .when(input.command('rollback', 30))
      .then([
        { type: 'operator-command-accepted' },
        {
          type: 'rollback-started',
          data: { offerId: rollbackOfferId(LANE, 2), rollbackAttempt: 2, trigger: 'operator' },
        },
      ]);
  });

  test('a failed rollback refuses resume and retry', () => {
    given(failed())
      .when(input.command('resume', 30))
      .thenRefused(/rollback failed; roll back again or abort/);
    given(failed())
      .when(input.command('retry', 30))
      .thenRefused(/has not breached/);
  });

  test('while rolling back, exposure outcomes are recorded but change nothing', () => {
    given(rolling())
      .when(input.bad(offer(0), 20))
      .then([{ type: 'health-evaluated', data: { window: 'exposure', actionable: false } }]);
  });

  test('a rolled-back lane cannot resume, roll back again, or be aborted', () => {
    const done = [...rolling(), ...stepEvents(rolling(), input.timer('rollback', 130))];
    given(done)
      .when(input.command('resume', 200))
      .thenRefused(/was rolled back and cannot resume/);
    given(done)
      .when(input.command('rollback', 200))
      .thenRefused(/already rolled back/);
    given(done)
      .when(input.command('abort', 200))
      .thenRefused(/already rolled-back/);
    given(done)
      .when(input.command('pause', 200))
      .thenRefused(/cannot pause .* rolled-back/);
  });

  test('an abort during a rollback waits for it: nothing more is exposed, the rollback is tracked to its end', () => {
    const aborting = [...rolling(), ...stepEvents(rolling(), input.command('abort', 20, null))];
    const state = foldLane(aborting);
    expect(aborting.slice(-2)).toMatchObject([
      { type: 'operator-command-accepted', data: { command: 'abort' } },
      { type: 'lane-abort-deferred', data: { cause: 'rollout-aborted', rollbackOfferId: rb1 } },
    ]);
    expect(state).toMatchObject({ status: 'rolling-back', abortPending: 'rollout-aborted' });
    expect(isLaneFinished(state.status)).toBe(false);
    // Rollback outcomes still count, and a second abort is refused with the reason.
    const counted = [...aborting, ...stepEvents(aborting, input.delta(rb1, { ok: 200 }, 40))];
    expect(foldLane(counted).windows[rb1]?.totals.succeeded).toBe(200);
    given(counted)
      .when(input.command('abort', 41))
      .thenRefused(/abort already requested; it takes effect when the rollback ends/);
    // No exposure is possible: retry and resume are refused; fleet halts change nothing.
    given(counted)
      .when(input.command('retry', 41))
      .thenRefused(/has not breached/);
    given(counted).when(input.halt(41)).thenNothing();
    // The deadline ends the rollback: the lane is rolled back (final), with every device counted.
    const end = given(counted)
      .when(input.timer('rollback', 130))
      .then([{ type: 'rollback-completed', data: { offerId: rb1, totals: { succeeded: 200 } } }]);
    expect(end).toMatchObject({ status: 'rolled-back' });
    expect(isLaneFinished(end.status)).toBe(true);
  });

  test('an abort that waited for a rollback takes effect when the rollback fails', () => {
    const aborting = [...rolling(), ...stepEvents(rolling(), input.command('abort', 20))];
    const state = given(aborting)
      .when(input.delta(rb1, { ok: 2, fail: 10, code: 'E_ROLLBACK' }, 30))
      .then([
        { type: 'health-evaluated', data: { window: 'rollback', actionable: true } },
        { type: 'rollback-failed', data: { offerId: rb1 } },
        { type: 'lane-aborted', data: { cause: 'operator' } },
      ]);
    expect(state).toMatchObject({ status: 'aborted', abortPending: null });
  });

  test('a lane already rolling back refuses another rollback', () => {
    given(rolling())
      .when(input.command('rollback', 20))
      .thenRefused(/already rolling back/);
  });
});

describe('lane: operator commands', () => {
  test('pause keeps what the lane waited for; resume goes back to it', () => {
    const paused = given(started())
      .when(input.command('pause', 10))
      .then([
        { type: 'operator-command-accepted', data: { command: 'pause' }, actor: 'sre-ana' },
        {
          type: 'lane-paused',
          data: { cause: 'operator', resumeTo: { kind: 'bake', phase: 0, until: at(60) } },
          actor: 'sre-ana',
        },
      ]);
    expect(paused.status).toBe('paused');
    const log = history(input.start(), input.command('pause', 10));
    given(log).when(input.timer('bake', 60)).thenNothing();
    given(log)
      .when(input.command('resume', 70))
      .then([
        { type: 'operator-command-accepted' },
        { type: 'lane-resumed', data: { resumeTo: { kind: 'bake', until: at(60) } } },
      ]);
  });

  test('outcomes while paused by an operator are recorded, not acted on', () => {
    given(history(input.start(), input.command('pause', 10)))
      .when(input.bad(offer(0), 20))
      .then([{ type: 'health-evaluated', data: { actionable: false } }]);
  });

  test('pause refusals: already paused, or not running', () => {
    given(history(input.start(), input.command('pause', 10)))
      .when(input.command('pause', 11))
      .thenRefused(/already paused/);
    given(history(input.start(), input.command('abort', 10)))
      .when(input.command('pause', 11))
      .thenRefused(/it is aborted/);
  });

  test('resume a running lane is refused', () =>
    given(started())
      .when(input.command('resume', 5))
      .thenRefused(/is not paused \(it is running\)/));

  test('approve a lane that waits for nothing is refused, with what it does wait for', () => {
    given(started())
      .when(input.command('approve', 5))
      .thenRefused(/nothing to approve: .* waits for phase 0 to bake/);
    given(history(input.start(), input.timer('bake', 60)))
      .when(input.command('approve', 61))
      .thenRefused(/waits for evidence/);
    given(history(input.start(), input.command('pause', 5)))
      .when(input.command('approve', 6))
      .thenRefused(/waits for an operator/);
    given(
      history(
        input.start(laneConfig({ breachPolicy: { action: 'retry', attempts: 1, backoff: 30, then: 'pause' } })),
        input.bad(offer(0), 10),
      ),
    )
      .when(input.command('approve', 11))
      .thenRefused(/waits for a retry backoff/);
    given(history(input.start(), input.command('rollback', 5)))
      .when(input.command('approve', 6))
      .thenRefused(/waits for a rollback/);
    given(history(input.start(), input.command('abort', 5)))
      .when(input.command('approve', 6))
      .thenRefused(/waits for nothing/);
  });

  test('approve a paused gate asks to resume first; after resume the gate can be approved', () => {
    const paused = [...atGate(), ...stepEvents(atGate(), input.command('pause', 70))];
    given(paused)
      .when(input.command('approve', 80))
      .thenRefused(/is paused; resume it before approving/);
    const resumed = [...paused, ...stepEvents(paused, input.command('resume', 90))];
    expect(foldLane(resumed).waitingFor).toEqual({ kind: 'approval', phase: 1 });
    given(resumed)
      .when(input.command('approve', 100))
      .then([
        { type: 'operator-command-accepted' },
        { type: 'gate-approved' },
        { type: 'phase-started' },
        { type: 'exposure-issued' },
      ]);
  });

  test('retry when not breached is refused', () => {
    given(started())
      .when(input.command('retry', 5))
      .thenRefused(/has not breached \(it is running\): nothing to retry/);
    given(history(input.start(), input.command('pause', 5)))
      .when(input.command('retry', 6))
      .thenRefused(/has not breached/);
  });

  test('rollback before anything was exposed is refused: abort instead', () => {
    const gated = laneConfig({ phases: [{ share: 100, cohortBound: 10000, bakeSec: 0, approval: 'manual' }] });
    given(history(input.start(gated)))
      .when(input.command('rollback', 5))
      .thenRefused(/exposed no device yet: abort/);
  });

  test('an operator may roll back a running, paused or even completed lane', () => {
    given(started())
      .when(input.command('rollback', 5))
      .then([{ type: 'operator-command-accepted' }, { type: 'rollback-started', data: { trigger: 'operator' } }]);
    const oneShot = laneConfig({ phases: [{ share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' }] });
    const completed = history(input.start(oneShot), input.healthy(offer(0), 1), input.timer('bake', 2));
    expect(foldLane(completed).status).toBe('completed');
    given(completed)
      .when(input.command('rollback', 5))
      .then([{ type: 'operator-command-accepted' }, { type: 'rollback-started', data: { cohortBound: 10000 } }]);
  });

  test('abort stops the lane for good; from the rollout (no lane) the cause says so', () => {
    const state = given(started())
      .when(input.command('abort', 5))
      .then([{ type: 'operator-command-accepted' }, { type: 'lane-aborted', data: { cause: 'operator' } }]);
    expect(state).toMatchObject({ status: 'aborted', waitingFor: null });
    given(started())
      .when(input.command('abort', 5, null))
      .then([{ type: 'operator-command-accepted' }, { type: 'lane-aborted', data: { cause: 'rollout-aborted' } }]);
    const aborted = history(input.start(), input.command('abort', 5));
    given(aborted)
      .when(input.command('abort', 6))
      .thenRefused(/already aborted/);
    given(aborted)
      .when(input.command('rollback', 6))
      .thenRefused(/was aborted/);
    given(aborted).when(input.timer('bake', 60)).thenNothing();
  });
});

describe('lane: fleet halt', () => {
  test('a running lane pauses with the fleet-halt reason', () => {
    const state = given(started())
      .when(input.halt(10))
      .then([
        {
          type: 'lane-paused',
          data: { cause: 'fleet-halt', detail: '2 classes breached', resumeTo: { kind: 'bake' } },
        },
      ]);
    expect(state.pause?.cause).toBe('fleet-halt');
  });

  test('a lane that is not running is left as it is', () => {
    given(history(input.start(), input.command('pause', 5)))
      .when(input.halt(10))
      .thenNothing();
  });

  test('an operator resumes a fleet-halted lane', () => {
    given(history(input.start(), input.halt(10)))
      .when(input.command('resume', 20))
      .then([{ type: 'operator-command-accepted' }, { type: 'lane-resumed' }]);
  });
});

describe('lane: fold', () => {
  test('events of other lanes and of the rollout are skipped; a second lane-started is ignored', () => {
    const log = started();
    const other = log.map((e) => ({
      ...e,
      lane: 'tablet-c',
      eventId: `${ROLLOUT}/tablet-c/${e.seq}`,
    })) as DomainEvent[];
    const aborted: DomainEvent = {
      type: 'rollout-aborted',
      data: {},
      eventId: `${ROLLOUT}/_/1`,
      rolloutId: ROLLOUT,
      lane: null,
      seq: 1,
      at: at(3),
      schemaVersion: 2,
    };
    expect(foldLane([...log, ...other, aborted, log[0] as DomainEvent])).toEqual(foldLane(log));
    expect(foldLane(other.slice(1))).toEqual(initialLaneState());
  });

  test('stepLane returns refusals unchanged', () => {
    expect(stepLane(initialLaneState(), input.timer('bake', 1))).toEqual({
      refused: true,
      reason: 'lane phone-a has not started',
    });
  });
});

/* ------------------------------------------------------------------------------------------------ */
/* Properties (fast-check): random input sequences against random plans.                          */
/* ------------------------------------------------------------------------------------------------ */

type Action =
  | {
      kind: 'delta';
      pick: number;
      ok: number;
      fail: number;
      timedOut: number;
      partition: number;
      replay: boolean;
      dt: number;
    }
  | { kind: 'timer'; which: 'bake' | 'retry-backoff' | 'rollback'; dt: number }
  | {
      kind: 'command';
      type: 'pause' | 'resume' | 'approve' | 'retry' | 'rollback' | 'abort';
      rolloutWide: boolean;
      dt: number;
    }
  | { kind: 'halt'; dt: number };

const dt = fc.integer({ min: 0, max: 90 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('delta' as const),
      pick: fc.nat(),
      ok: fc.integer({ min: 0, max: 30 }),
      fail: fc.integer({ min: 0, max: 10 }),
      timedOut: fc.integer({ min: 0, max: 3 }),
      partition: fc.integer({ min: 0, max: 2 }),
      replay: fc.boolean(),
      dt,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('timer' as const),
      which: fc.constantFrom('bake', 'retry-backoff', 'rollback'),
      dt,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('command' as const),
      type: fc.constantFrom('pause', 'resume', 'approve', 'retry', 'rollback', 'abort'),
      rolloutWide: fc.boolean(),
      dt,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('halt' as const), dt }) },
);

const configArb: fc.Arbitrary<LaneConfig> = fc
  .record({
    policy: fc.constantFrom<BreachPolicy>(
      { action: 'pause' },
      { action: 'rollback' },
      { action: 'retry', attempts: 1, backoff: 20, then: 'rollback' },
      { action: 'retry', attempts: 2, backoff: 0, then: 'pause' },
    ),
    gate: fc.boolean(),
    rule: fc.constantFrom<'plain' | 'sequential'>('plain', 'sequential'),
    /** A { min, max } bake (min 30 s, max 150 s) on the phases that bake. */
    ranged: fc.boolean(),
  })
  .map(({ policy, gate, rule, ranged }) => {
    const base = laneConfig({ breachPolicy: policy });
    return {
      ...base,
      thresholds: { ...base.thresholds, rule },
      phases: base.phases.map((p, i) => ({
        ...p,
        ...(ranged && p.bakeSec > 0 && { bakeSec: 150, minBakeSec: 30 }),
        approval: gate && i === 1 ? ('manual' as const) : ('none' as const),
      })),
    };
  });

/** Interprets abstract actions against the running lane, checking the step invariants; returns the log. */
function simulate(config: LaneConfig, actions: readonly Action[]): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  let t = 0;
  let offset = 0;
  let lastRange: { partition: number; fromOffset: string; toOffset: string } | undefined;
  let finishedForGood = false;
  const apply = (next: LaneInput) => {
    const before = JSON.stringify(state);
    const step = stepLane(deepFreeze(state), next);
    expect(JSON.stringify(state)).toBe(before); // decide never mutates
    const answer = decideLane(state, next);
    if (isRefusal(answer)) {
      expect(step).toEqual(answer);
      expect(['start-lane', 'health-delta', 'pause', 'resume', 'approve', 'retry', 'rollback', 'abort']).toContain(
        next.type,
      );
      return;
    }
    let phaseInEffect = state.phase;
    answer.forEach((event, i) => {
      expect(DomainEventSchema.safeParse(event).success).toBe(true);
      expect(event.seq).toBe(state.nextSeq + i);
      if (event.type === 'phase-started') phaseInEffect = event.data.phase;
      if (event.type === 'phase-passed') {
        // Only lanes with a { min, max } bake record it; never before min, 'evidence' only before max.
        const spec = config.phases[event.data.phase];
        expect(config.phases.some((p) => p.minBakeSec !== undefined)).toBe(true);
        expect(event.data.elapsedSec).toBeGreaterThanOrEqual(spec?.minBakeSec ?? spec?.bakeSec ?? 0);
        if (event.data.endedBy === 'evidence') expect(event.data.elapsedSec).toBeLessThan(spec?.bakeSec ?? 0);
        else expect(event.data.elapsedSec).toBeGreaterThanOrEqual(spec?.bakeSec ?? 0);
      }
      if (event.type === 'min-bake-elapsed') expect(config.phases[event.data.phase]?.minBakeSec).toBeDefined();
      if (event.type === 'exposure-issued') {
        expect(finishedForGood).toBe(false); // a rolled-back or aborted lane never exposes again
        expect(event.data.phase).toBe(phaseInEffect);
        expect(event.data.cohortBound).toBe(config.phases[phaseInEffect]?.cohortBound);
      }
    });
    // the step's state is the one its events lead to: the workflow applies it without folding again
    if (isRefusal(step)) throw new Error('stepLane refused what decideLane accepted');
    expect(step.events).toEqual(answer);
    expect(step.state).toEqual(foldLane(answer, state));
    state = step.state;
    log.push(...answer);
    if (state.status === 'rolled-back' || state.status === 'aborted') finishedForGood = true;
    // no input sequence exposes a lane beyond its current phase bound
    const bound = state.phase < 0 ? 0 : (config.phases[state.phase]?.cohortBound ?? -1);
    expect(state.cohortBound).toBeLessThanOrEqual(bound);
    // every state change is an event: the state is exactly the fold of the log
    expect(state).toEqual(foldLane(log));
  };
  apply({ type: 'start-lane', rolloutId: ROLLOUT, lane: LANE, config, at: at(0) });
  for (const action of actions) {
    t += action.dt;
    switch (action.kind) {
      case 'delta': {
        const offers = [...Object.keys(state.windows), 'phone-a/p9a9'];
        const offerId = offers[action.pick % offers.length] as string;
        const range =
          action.replay && lastRange !== undefined
            ? lastRange
            : { partition: action.partition, fromOffset: String(offset), toOffset: String(offset + 4) };
        offset += 5;
        lastRange = range;
        apply({
          type: 'health-delta',
          lane: LANE,
          offerId,
          delta: {
            counts: {
              succeeded: action.ok,
              failedByCode: action.fail > 0 ? { E_X: action.fail } : {},
              timedOut: action.timedOut,
              inProgress: 0,
            },
            ranges: [range],
          },
          at: at(t),
        });
        break;
      }
      case 'timer':
        apply({ type: 'timer-fired', lane: LANE, kind: action.which, at: at(t) });
        break;
      case 'command':
        apply({
          type: action.type,
          lane: action.rolloutWide ? null : LANE,
          actor: 'prop',
          reason: 'property',
          at: at(t),
        });
        break;
      case 'halt':
        apply({ type: 'fleet-halt', lane: LANE, reason: 'fleet', at: at(t) });
        break;
      default: {
        const _exhaustive: never = action;
        return _exhaustive;
      }
    }
  }
  return log;
}

describe('lane: properties', () => {
  const runs = { numRuns: 150 };

  test('every step keeps the invariants: no exposure beyond the phase bound, none after rollback/abort, state = fold(log)', () => {
    fc.assert(
      fc.property(configArb, fc.array(actionArb, { maxLength: 60 }), (config, actions) => {
        simulate(config, actions);
      }),
      runs,
    );
  });

  test('folding is deterministic and the state is plain JSON', () => {
    fc.assert(
      fc.property(configArb, fc.array(actionArb, { maxLength: 40 }), (config, actions) => {
        const log = simulate(config, actions);
        const state = foldLane(log);
        expect(foldLane(log)).toEqual(state);
        expect(JSON.parse(JSON.stringify(state))).toEqual(state);
        expect(LaneStateSchema.parse(state)).toEqual(state);
      }),
      runs,
    );
  });

  test('folding a prefix then the rest equals folding all', () => {
    fc.assert(
      fc.property(configArb, fc.array(actionArb, { maxLength: 40 }), fc.nat(), (config, actions, cut) => {
        const log = simulate(config, actions);
        const k = cut % (log.length + 1);
        expect(foldLane(log.slice(k), foldLane(log.slice(0, k)))).toEqual(foldLane(log));
      }),
      runs,
    );
  });

  test('redelivering any applied delta changes nothing', () => {
    fc.assert(
      fc.property(configArb, fc.array(actionArb, { maxLength: 40 }), (config, actions) => {
        const log = simulate(config, actions);
        const state = foldLane(log);
        for (const event of log) {
          if (event.type !== 'health-evaluated') continue;
          const again = decideLane(state, {
            type: 'health-delta',
            lane: LANE,
            offerId: event.data.offerId,
            delta: event.data.delta,
            at: at(10_000),
          });
          expect(again).toEqual([]);
        }
      }),
      runs,
    );
  });
});

describe('lane: wording and defensive edges', () => {
  test('describeWaitingFor says what a lane waits for in words', () => {
    expect(describeWaitingFor(null)).toBe('nothing');
    expect(describeWaitingFor({ kind: 'approval', phase: 1 })).toBe('approval of phase 1');
    expect(describeWaitingFor({ kind: 'bake', phase: 0, until: at(60) })).toBe(`phase 0 to bake until ${at(60)}`);
    expect(describeWaitingFor({ kind: 'evidence', phase: 2 })).toBe('evidence (a healthy verdict) for phase 2');
    expect(describeWaitingFor({ kind: 'operator' })).toBe('an operator');
    expect(describeWaitingFor({ kind: 'retry-backoff', attempt: 2, until: at(9) })).toBe(
      `a retry backoff until ${at(9)}`,
    );
    expect(describeWaitingFor({ kind: 'rollback', until: at(9) })).toBe(`a rollback until ${at(9)}`);
  });

  test('inputs, events and policies outside the schemas are programming errors and throw (zod guards the boundary)', () => {
    const state = foldLane(started());
    expect(() =>
      decideLane(state, { type: 'teleport', lane: LANE, actor: 'a', reason: 'r', at: at(1) } as never),
    ).toThrow(/unexpected command/);
    expect(() =>
      foldLane([{ ...(started()[0] as DomainEvent), seq: 9, type: 'lane-teleported' } as never], state),
    ).toThrow(/unexpected event/);
    expect(() => describeWaitingFor({ kind: 'moon' } as never)).toThrow(/unexpected waitingFor/);
    const broken = history(input.start(laneConfig({ breachPolicy: { action: 'explode' } as never })));
    expect(() => decideLane(foldLane(broken), input.bad(offer(0), 10))).toThrow(/unexpected policy/);
  });
});

describe('rules version 2: evidence accumulates over the attempt, and no pass that devices still out could overturn', () => {
  it('judges every window with the plan thresholds as they are (one always-valid test, no split budget)', () => {
    const config = laneConfig();
    expect(windowThresholds(config, 'exposure')).toBe(config.thresholds);
    expect(windowThresholds(config, 'rollback')).toBe(config.thresholds);
  });

  it('evidence builds up across phases: phase 1 breaches on the attempt before it has a minSample of its own', () => {
    // 1 of 10 failed in phase 0 (10% ≤ 10%: healthy), then phase 1 brings 1 of 5 (alone: too few to judge):
    // the attempt has 2 of 15 = 13% > 10% after ≥ 10 outcomes.
    const log = history(...inPhase1Inputs(), input.delta(offer(0), { ok: 0 }, 110));
    const state = given(log)
      .when(input.delta(offer(1), { ok: 4, fail: 1 }, 120))
      .then([
        { type: 'health-evaluated', data: { offerId: offer(1), verdict: { verdict: 'breach' } } },
        { type: 'threshold-breached' },
        { type: 'lane-paused', data: { cause: 'breach' } },
      ]);
    expect(state.status).toBe('paused');
    const evidence = state.windows[offer(1)]?.verdict?.evidence;
    expect(evidence).toMatchObject({ scope: 'attempt', sample: 15, failures: 2, phaseOutcomes: 5 });
    expect(evidence?.guarantee).toMatch(/plain rule/);
  });

  it('a phase does not pass while counting its devices still installing as failed would breach', () => {
    // Phase 0 baked with 10 clean outcomes and 5 devices still installing: 5 of 15 would be 33% > 10%.
    const waiting = given(history(input.start(), input.delta(offer(0), { ok: 10, inProgress: 5 }, 10)))
      .when(input.timer('bake', 60))
      .then([{ type: 'bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    expect(waiting.waitingFor).toEqual({ kind: 'evidence', phase: 0 });
    expect(waiting.windows[offer(0)]?.verdict?.evidence.waitingOn).toBe('in-progress');
    // Four report success (1 still out: 1 of 15 ≤ 10%): the phase passes to the manual gate.
    const log = history(input.start(), input.delta(offer(0), { ok: 10, inProgress: 5 }, 10), input.timer('bake', 60));
    given(log)
      .when(input.delta(offer(0), { ok: 4, inProgress: -4 }, 70))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } }, { type: 'gate-waiting' }]);
  });

  it('silent devices of a bake shorter than the install timeout: no pass, and the halt comes in that phase', () => {
    const log = history(input.start(), input.delta(offer(0), { ok: 10, inProgress: 6 }, 10), input.timer('bake', 60));
    expect(foldLane(log).phase).toBe(0);
    // The install timeout passes: the six silent devices count as failed, in phase 0.
    const state = given(log)
      .when(input.delta(offer(0), { timedOut: 6, inProgress: -6 }, 600))
      .then([
        { type: 'health-evaluated' },
        { type: 'threshold-breached', data: { phase: 0 } },
        { type: 'lane-paused' },
      ]);
    expect(state.cohortBound).toBe(100);
  });

  it('a phase passes only with one outcome of its own devices, however strong the earlier evidence', () => {
    const log = history(...inPhase1Inputs());
    const baked = given(log)
      .when(input.timer('bake', 160))
      .then([{ type: 'bake-elapsed', data: { phase: 1, verdict: 'none' } }]);
    expect(baked.waitingFor).toEqual({ kind: 'evidence', phase: 1 });
    // A late phase-0 report judges the attempt but is no outcome of phase 1: still waiting.
    const late = given(history(...inPhase1Inputs(), input.timer('bake', 160)))
      .when(input.delta(offer(0), { ok: 1 }, 170))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'insufficient-evidence' } } }]);
    expect(late.windows[offer(0)]?.verdict?.evidence.waitingOn).toBe('phase-outcomes');
    given(history(...inPhase1Inputs(), input.timer('bake', 160)))
      .when(input.delta(offer(1), { ok: 1 }, 170))
      .then([{ type: 'health-evaluated' }, { type: 'phase-started', data: { phase: 2 } }, { type: 'exposure-issued' }]);
  });

  it('a retry is judged on fresh outcomes: the breached attempt does not count against it', () => {
    const config = laneConfig({ breachPolicy: { action: 'retry', attempts: 1, backoff: 30, then: 'pause' } });
    const log = history(input.start(config), input.bad(offer(0), 10), input.timer('retry-backoff', 40));
    const state = given(log)
      .when(input.delta(offer(0, 2), { ok: 10 }, 50))
      .then([{ type: 'health-evaluated' }]);
    expect(state.windows[offer(0, 2)]?.verdict?.evidence).toMatchObject({ sample: 10, failures: 0 });
  });

  it('a lane started under rules version 1 keeps them: each window alone, at falseHaltProbability / phases', () => {
    const v1 = laneConfig({ rulesVersion: undefined });
    expect(windowThresholds(v1, 'exposure').falseHaltProbability).toBeCloseTo(0.01 / 3);
    expect(windowThresholds(v1, 'rollback').falseHaltProbability).toBe(0.01);
    const single = laneConfig({
      rulesVersion: undefined,
      phases: [{ share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' }],
    });
    expect(windowThresholds(single, 'exposure')).toBe(single.thresholds);
    // The failures that halt a version 2 lane leave a version 1 lane's phase 1 window waiting for its own minSample.
    const inputs = inPhase1Inputs(v1);
    const state = given(history(...inputs, input.delta(offer(0), { ok: 0 }, 110)))
      .when(input.delta(offer(1), { ok: 4, fail: 1 }, 120))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'insufficient-evidence' } } }]);
    expect(state.status).toBe('running');
    // …and a version 1 lane passes a bake with devices still installing.
    given(history(input.start(v1), input.delta(offer(0), { ok: 10, inProgress: 5 }, 10)))
      .when(input.timer('bake', 60))
      .then([{ type: 'bake-elapsed', data: { verdict: 'healthy' } }, { type: 'gate-waiting' }]);
  });
});

/** Inputs up to phase 1 exposed: phase 0 had 9 of 10 succeed (one failure), baked, and its gate was approved. */
function inPhase1Inputs(config = laneConfig()): LaneInput[] {
  return [
    input.start(config),
    input.delta(offer(0), { ok: 9, fail: 1 }, 10),
    input.timer('bake', 60),
    input.command('approve', 100),
  ];
}

describe('lane: a timed-out device that reports after all is corrected', () => {
  test('timedOut −1 with the late outcome +1 moves the device from timed out to its outcome', () => {
    const timedOut = history(input.start(), input.delta(offer(0), { timedOut: 1, inProgress: -1 }, 5));
    expect(foldLane(timedOut).windows[offer(0)]?.totals.timedOut).toBe(1);
    const state = given(timedOut)
      .when(input.delta(offer(0), { timedOut: -1, ok: 1 }, 6))
      .then([{ type: 'health-evaluated', data: { totals: { timedOut: 0, succeeded: 1 } } }]);
    expect(state.windows[offer(0)]?.totals).toMatchObject({ timedOut: 0, succeeded: 1 });
  });

  test('a correction that arrives before its timeout leaves the judge a non-negative count', () => {
    given(started())
      .when(input.delta(offer(0), { timedOut: -1, ok: 1 }, 5))
      .then([{ type: 'health-evaluated', data: { totals: { timedOut: -1 }, verdict: { evidence: { sample: 1 } } } }]);
  });
});

describe('evidence-driven promotion: a { min, max } bake ends on proven health once min has passed', () => {
  /** Phase 0 (1%) bakes at least 60 s and at most 600 s; phase 1 (100%) bakes 0. */
  const ranged = laneConfig({
    phases: [
      { share: 1, cohortBound: 100, bakeSec: 600, minBakeSec: 60, approval: 'none' },
      { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
    ],
  });
  const start = () => input.start(ranged);
  const nextPhase = [
    { type: 'phase-started' as const, data: { phase: 1 } },
    { type: 'exposure-issued' as const, data: { phase: 1 } },
  ];

  test('the exposure records both ends; the lane wakes at min, and the bake ends at max at the latest', () => {
    const state = given([])
      .when(start())
      .then([
        { type: 'lane-started' },
        { type: 'phase-started' },
        { type: 'exposure-issued', data: { phase: 0, bakeUntil: at(600), bakeMinUntil: at(60) } },
      ]);
    expect(state.waitingFor).toEqual({ kind: 'bake', phase: 0, until: at(60), minUntil: at(60), maxUntil: at(600) });
    expect(describeWaitingFor(state.waitingFor)).toBe(
      `phase 0 to bake at least until ${at(60)}, then until proven healthy or ${at(600)}`,
    );
  });

  test('never before min: a healthy verdict during the minimum bake is recorded, the phase goes on', () => {
    const state = given(history(start()))
      .when(input.healthy(offer(0), 30))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } }]);
    expect(state.waitingFor).toMatchObject({ kind: 'bake', until: at(60) });
    given(history(start(), input.healthy(offer(0), 30)))
      .when(input.timer('bake', 59))
      .thenNothing();
  });

  test('proven before min: the phase passes when min is over, ended by evidence, with the elapsed time', () => {
    given(history(start(), input.healthy(offer(0), 30)))
      .when(input.timer('bake', 60))
      .then([
        { type: 'min-bake-elapsed', data: { phase: 0, attempt: 1, verdict: 'healthy', bakeUntil: at(600) } },
        { type: 'phase-passed', data: { phase: 0, attempt: 1, endedBy: 'evidence', elapsedSec: 60 } },
        ...nextPhase,
      ]);
  });

  test('proven after min: the health delta that proves it ends the phase at once', () => {
    const log = history(start(), input.timer('bake', 60));
    expect(log.at(-1)).toMatchObject({ type: 'min-bake-elapsed', data: { verdict: 'none' } });
    const baking = foldLane(log);
    expect(baking.waitingFor).toEqual({ kind: 'bake', phase: 0, until: at(600), minUntil: at(60) });
    expect(describeWaitingFor(baking.waitingFor)).toBe(`phase 0 to be proven healthy, or to bake until ${at(600)}`);
    given(log)
      .when(input.healthy(offer(0), 90))
      .then([
        { type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } },
        { type: 'phase-passed', data: { phase: 0, endedBy: 'evidence', elapsedSec: 90 } },
        ...nextPhase,
      ]);
  });

  test('a delta after min passes the phase even before the lane woke for min', () => {
    given(history(start()))
      .when(input.healthy(offer(0), 61))
      .then([
        { type: 'health-evaluated' },
        { type: 'phase-passed', data: { endedBy: 'evidence', elapsedSec: 61 } },
        ...nextPhase,
      ]);
  });

  test('never on insufficient evidence: min passes and the phase bakes on; more thin evidence changes nothing', () => {
    const log = history(start(), input.delta(offer(0), { ok: 3 }, 10));
    given(log)
      .when(input.timer('bake', 60))
      .then([{ type: 'min-bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    given(history(start(), input.delta(offer(0), { ok: 3 }, 10), input.timer('bake', 60)))
      .when(input.delta(offer(0), { ok: 3 }, 100))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'insufficient-evidence' } } }]);
  });

  test('never while devices still installing could overturn the verdict; it passes once they cannot', () => {
    // 10 clean outcomes and 5 devices still installing: 5 of 15 failing would be 33% > 10%.
    const log = history(start(), input.delta(offer(0), { ok: 10, inProgress: 5 }, 10));
    const state = given(log)
      .when(input.timer('bake', 60))
      .then([{ type: 'min-bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    expect(state.windows[offer(0)]?.verdict?.evidence.waitingOn).toBe('in-progress');
    const after = history(start(), input.delta(offer(0), { ok: 10, inProgress: 5 }, 10), input.timer('bake', 60));
    given(after)
      .when(input.delta(offer(0), { ok: 2, inProgress: -2 }, 100))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'insufficient-evidence' } } }]);
    // Four report success (1 still out: 1 of 15 ≤ 10%): proven, the phase ends on evidence.
    given(after)
      .when(input.delta(offer(0), { ok: 4, inProgress: -4 }, 100))
      .then([
        { type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } },
        { type: 'phase-passed', data: { endedBy: 'evidence', elapsedSec: 100 } },
        ...nextPhase,
      ]);
  });

  test('at max as today: bake-elapsed, then the lane waits for evidence and passes on it, ended by the bake', () => {
    const log = history(start(), input.delta(offer(0), { ok: 3 }, 10), input.timer('bake', 60));
    const waiting = given(log)
      .when(input.timer('bake', 600))
      .then([{ type: 'bake-elapsed', data: { phase: 0, verdict: 'insufficient-evidence' } }]);
    expect(waiting.waitingFor).toEqual({ kind: 'evidence', phase: 0 });
    given([...log, ...stepEvents(log, input.timer('bake', 600))])
      .when(input.delta(offer(0), { ok: 10 }, 700))
      .then([
        { type: 'health-evaluated' },
        { type: 'phase-passed', data: { endedBy: 'bake', elapsedSec: 700 } },
        ...nextPhase,
      ]);
  });

  test('with proveBelowMultiple, a phase passes on proof, not on the absence of a breach: at min, at max, or later', () => {
    // Threshold 10 %, proof below 20 %: 1 failure in 20 (5 %) breaches nothing and proves nothing.
    const proving = laneConfig({ ...ranged, thresholds: { ...ranged.thresholds, proveBelowMultiple: 2 } });
    const log = history(input.start(proving), input.delta(offer(0), { ok: 19, fail: 1 }, 10));
    const atMin = given(log)
      .when(input.timer('bake', 60))
      .then([{ type: 'min-bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    expect(atMin.windows[offer(0)]?.verdict?.evidence.waitingOn).toBe('proof');
    const held = [...log, ...stepEvents(log, input.timer('bake', 60))];
    const atMax = given(held)
      .when(input.timer('bake', 600))
      .then([{ type: 'bake-elapsed', data: { verdict: 'insufficient-evidence' } }]);
    expect(atMax.waitingFor).toEqual({ kind: 'evidence', phase: 0 });
    // The same outcomes without the proof pass at min, as lanes always did.
    given(history(input.start(ranged), input.delta(offer(0), { ok: 19, fail: 1 }, 10)))
      .when(input.timer('bake', 60))
      .then([{ type: 'min-bake-elapsed', data: { verdict: 'healthy' } }, { type: 'phase-passed' }, ...nextPhase]);
    // 60 more clean outcomes (1 in 80): proven below 20 %, the waiting phase passes on them.
    const waiting = [...held, ...stepEvents(held, input.timer('bake', 600))];
    given(waiting)
      .when(input.delta(offer(0), { ok: 60 }, 700))
      .then([
        { type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } },
        { type: 'phase-passed', data: { endedBy: 'bake' } },
        ...nextPhase,
      ]);
  });

  test('a breach after min is a breach as always', () => {
    given(history(start(), input.timer('bake', 60)))
      .when(input.bad(offer(0), 90))
      .then([{ type: 'health-evaluated' }, { type: 'threshold-breached' }, { type: 'lane-paused' }]);
  });

  test('paused through min: resumed, the expired minimum bake is looked at at once', () => {
    const log = history(start(), input.healthy(offer(0), 30), input.command('pause', 40));
    const resumed = given(log)
      .when(input.command('resume', 300))
      .then([{ type: 'operator-command-accepted' }, { type: 'lane-resumed' }]);
    expect(resumed.waitingFor).toMatchObject({ kind: 'bake', until: at(60), maxUntil: at(600) });
    given([...log, ...stepEvents(log, input.command('resume', 300))])
      .when(input.timer('bake', 300))
      .then([{ type: 'min-bake-elapsed' }, { type: 'phase-passed', data: { endedBy: 'evidence' } }, ...nextPhase]);
  });

  test('a retry bakes its own minimum again, from its exposure', () => {
    const config = laneConfig({
      ...ranged,
      breachPolicy: { action: 'retry', attempts: 1, backoff: 30, then: 'pause' },
    });
    const log = history(input.start(config), input.bad(offer(0), 10), input.timer('retry-backoff', 40));
    expect(foldLane(log).waitingFor).toMatchObject({ until: at(100), maxUntil: at(640) });
    given(log)
      .when(input.healthy(offer(0, 2), 120))
      .then([
        { type: 'health-evaluated' },
        { type: 'phase-passed', data: { phase: 0, attempt: 2, endedBy: 'evidence', elapsedSec: 80 } },
        ...nextPhase,
      ]);
  });

  test('min = max bakes as a plain bake, and the lane still records why the phase ended', () => {
    const exact = laneConfig({
      phases: [
        { share: 1, cohortBound: 100, bakeSec: 60, minBakeSec: 60, approval: 'none' },
        { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
      ],
    });
    const log = history(input.start(exact), input.healthy(offer(0), 30));
    expect(foldLane(log).waitingFor).toEqual({ kind: 'bake', phase: 0, until: at(60) });
    given(log)
      .when(input.timer('bake', 60))
      .then([
        { type: 'bake-elapsed', data: { verdict: 'healthy' } },
        { type: 'phase-passed', data: { endedBy: 'bake', elapsedSec: 60 } },
        ...nextPhase,
      ]);
  });

  test('a plain bake (and every lane started before ranges) decides exactly as before: no early pass, no new events', () => {
    const log = history(
      input.start(),
      input.healthy(offer(0), 10),
      input.timer('bake', 60),
      input.command('approve', 100),
      input.healthy(offer(1), 110),
      input.timer('bake', 160),
      input.healthy(offer(2), 170),
      input.timer('bake', 171),
    );
    expect(log.map((e) => e.type)).toEqual([
      'lane-started',
      'phase-started',
      'exposure-issued',
      'health-evaluated',
      'bake-elapsed',
      'gate-waiting',
      'operator-command-accepted',
      'gate-approved',
      'phase-started',
      'exposure-issued',
      'health-evaluated',
      'bake-elapsed',
      'phase-started',
      'exposure-issued',
      'health-evaluated',
      'bake-elapsed',
      'lane-completed',
    ]);
    for (const e of log) if (e.type === 'exposure-issued') expect(e.data).not.toHaveProperty('bakeMinUntil');
  });
});

describe('patched, not just exposed: a lane with a completion rule completes on its patched share or its deadline', () => {
  /** Two phases, 10 % then 100 %, each baking 60 s; 95 % of 1,000 devices, deadline 1 h, stalled after 10 min quiet. */
  const completing = (completion: Partial<NonNullable<LaneConfig['completion']>> = {}): LaneConfig =>
    laneConfig({
      phases: [
        { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'none' },
        { share: 100, cohortBound: 10000, bakeSec: 60, approval: 'none' },
      ],
      completion: { patchedShare: 0.95, deadlineSec: 3600, stallAfterSec: 600, expectedDevices: 1000, ...completion },
    });
  /** Phase 0: 100 successes; phase 1: 800 more; both bakes over: 900 of the class patched. */
  const lastPhasePassed = (config = completing()) =>
    history(
      input.start(config),
      input.delta(offer(0), { ok: 100 }, 10),
      input.timer('bake', 60),
      input.delta(offer(1), { ok: 800 }, 100),
      input.timer('bake', 120),
    );

  test('the last phase passing starts the patching stage with the share so far, the target and the deadline', () => {
    const log = lastPhasePassed();
    expect(log.slice(-2)).toMatchObject([
      { type: 'bake-elapsed', data: { phase: 1, verdict: 'healthy' } },
      {
        type: 'patching-started',
        data: {
          phase: 1,
          attempt: 1,
          target: 0.95,
          deadline: at(3720),
          succeeded: 900,
          classSize: 1000,
          sizeSource: 'plan',
          patchedShare: 0.9,
        },
      },
    ]);
    const state = foldLane(log);
    expect(state.status).toBe('running');
    expect(state.waitingFor).toEqual({ kind: 'patching', phase: 1, patchedShare: 0.95, until: at(3720) });
    expect(describeWaitingFor(state.waitingFor)).toBe(`95 % of the class patched, or the deadline ${at(3720)}`);
    // The workflow's next timer: the deadline, unless the stall deadline comes first (as it does here, 600 s on).
    expect(laneDeadlineOf(state)).toEqual({ kind: 'stall', until: at(700) });
    const patient = foldLane(lastPhasePassed(completing({ stallAfterSec: 7200 })));
    expect(laneDeadlineOf(patient)).toEqual({ kind: 'patching', until: at(3720) });
  });

  test('completes on the patched share: the delta that brings successes to 95 % completes it, endedBy patched-share', () => {
    given(lastPhasePassed())
      .when(input.delta(offer(1), { ok: 49 }, 200))
      .then([{ type: 'health-evaluated' }]);
    const state = given([...lastPhasePassed(), ...history()])
      .when(input.delta(offer(1), { ok: 50 }, 200))
      .then([
        { type: 'health-evaluated' },
        {
          type: 'lane-completed',
          data: {
            phases: 2,
            attempt: 1,
            endedBy: 'patched-share',
            succeeded: 950,
            classSize: 1000,
            sizeSource: 'plan',
            patchedShare: 0.95,
          },
        },
      ]);
    expect(state.status).toBe('completed');
    expect(isLaneFinished(state.status)).toBe(true);
  });

  test('a share already reached when the last phase passes completes the lane at once', () => {
    const log = lastPhasePassed(completing({ patchedShare: 0.9 }));
    expect(log.slice(-2).map((e) => e.type)).toEqual(['patching-started', 'lane-completed']);
    expect(log[log.length - 1]).toMatchObject({ data: { endedBy: 'patched-share', patchedShare: 0.9 } });
  });

  test('completes at the deadline with the share reached recorded; not a moment before', () => {
    given(lastPhasePassed()).when(input.timer('patching', 3719)).thenNothing();
    given(lastPhasePassed())
      .when(input.timer('patching', 3720))
      .then([
        {
          type: 'lane-completed',
          data: { endedBy: 'deadline', succeeded: 900, classSize: 1000, sizeSource: 'plan', patchedShare: 0.9 },
        },
      ]);
  });

  test('a healthy verdict while patching completes nothing; a breach applies the breach policy as in any phase', () => {
    given(lastPhasePassed())
      .when(input.delta(offer(1), { ok: 10 }, 200))
      .then([{ type: 'health-evaluated', data: { verdict: { verdict: 'healthy' } } }]);
    const state = given(lastPhasePassed())
      .when(input.delta(offer(1), { fail: 500 }, 200))
      .then([{ type: 'health-evaluated' }, { type: 'threshold-breached' }, { type: 'lane-paused' }]);
    expect(state.pause?.resumeTo).toMatchObject({ kind: 'patching' });
  });

  test('without expectedDevices the class size is estimated: devices seen at the narrower bound ÷ its share', () => {
    const log = lastPhasePassed(completing({ expectedDevices: undefined }));
    // 100 devices seen at 10 % when the lane widened to 100 %: about 1,000 devices; 900 of them patched.
    expect(log[log.length - 1]).toMatchObject({
      type: 'patching-started',
      data: { succeeded: 900, classSize: 1000, sizeSource: 'estimate', patchedShare: 0.9 },
    });
  });

  test('the estimate never falls below the devices heard of at the current bound', () => {
    const config = completing({ expectedDevices: undefined });
    const log = history(
      input.start(config),
      input.delta(offer(0), { ok: 20 }, 10),
      input.timer('bake', 60),
      input.delta(offer(1), { ok: 400, inProgress: 40 }, 100),
      input.timer('bake', 120),
    );
    // The narrower bound said 200 devices; 460 were heard of since: the class has at least those.
    expect(log.find((e) => e.type === 'patching-started')).toMatchObject({
      data: { succeeded: 420, classSize: 460, sizeSource: 'estimate' },
    });
  });

  test('a lane without completion keys completes at its last phase exactly as before: no new event, no new field', () => {
    const config = completing();
    delete config.completion;
    const log = lastPhasePassed(config);
    expect(log.slice(-2).map((e) => e.type)).toEqual(['bake-elapsed', 'lane-completed']);
    expect(log[log.length - 1]!.data).toEqual({ phases: 2, attempt: 1 });
    const state = foldLane(log);
    for (const key of ['lastReportAt', 'stalled', 'successes', 'startedAt', 'patchedAt']) {
      expect(state).not.toHaveProperty(key);
    }
    // Its workflow arms the timers it always armed: the end of the bake, nothing for stalls.
    const inBake = foldLane(history(input.start(config)));
    expect(laneDeadlineOf(inBake)).toEqual({ kind: 'bake', until: at(60) });
    given(history(input.start(config), input.timer('bake', 60)))
      .when(input.timer('stall', 5000))
      .thenNothing();
  });

  test('a stalled lane is flagged when its exposed devices report nothing for stallAfter, and cleared when they do', () => {
    // Phase 1 exposed at 60 s; no device of it reports, so after its bake the lane waits for evidence.
    const quiet = history(
      input.start(completing()),
      input.delta(offer(0), { ok: 100 }, 10),
      input.timer('bake', 60),
      input.timer('bake', 120),
    );
    expect(foldLane(quiet).waitingFor).toEqual({ kind: 'evidence', phase: 1 });
    expect(laneDeadlineOf(foldLane(quiet))).toEqual({ kind: 'stall', until: at(660) });
    given(quiet).when(input.timer('stall', 659)).thenNothing();
    const stalled = given(quiet)
      .when(input.timer('stall', 660))
      .then([
        {
          type: 'lane-stalled',
          data: {
            quietSince: at(60),
            stallAfterSec: 600,
            offerId: offer(1),
            phase: 1,
            cohortBound: 10000,
            waiting: 'evidence',
          },
        },
      ]);
    // It halts nothing: the lane still runs and waits for its evidence; no second flag while it lasts.
    expect(stalled.status).toBe('running');
    expect(stalled.waitingFor).toEqual({ kind: 'evidence', phase: 1 });
    expect(laneDeadlineOf(stalled)).toBeNull();
    const flagged = [...quiet, ...history()];
    const withStall = decideLane(foldLane(flagged), input.timer('stall', 660));
    if (isRefusal(withStall)) throw new Error(withStall.reason);
    given([...flagged, ...withStall])
      .when(input.delta(offer(1), { inProgress: 5 }, 700))
      .then([
        { type: 'health-evaluated' },
        { type: 'lane-stall-cleared', data: { stalledAt: at(660), quietSince: at(60), offerId: offer(1) } },
      ]);
  });

  test("timeouts alone are not reports: the ingest's timeout markers do not clear a stall", () => {
    const quiet = history(
      input.start(completing()),
      input.delta(offer(0), { ok: 100, inProgress: 3 }, 10),
      input.timer('bake', 60),
      input.timer('bake', 120),
      input.timer('stall', 660),
    );
    given(quiet)
      .when(input.delta(offer(0), { timedOut: 3, inProgress: -3 }, 700))
      .then([{ type: 'health-evaluated' }]);
  });

  test('a stall is watched in the patching stage too, from the last report', () => {
    const log = lastPhasePassed();
    // Last report at 100 s (phase 1's 800 successes): flagged at 700 s, before the deadline.
    expect(laneDeadlineOf(foldLane(log))).toEqual({ kind: 'stall', until: at(700) });
    given(log)
      .when(input.timer('stall', 700))
      .then([{ type: 'lane-stalled', data: { quietSince: at(100), waiting: 'patching' } }]);
  });

  test('no stall is watched at a gate or while paused: only a person moves the lane on there', () => {
    const gated = laneConfig({ completion: { patchedShare: 0.95, deadlineSec: 3600, stallAfterSec: 600 } });
    const waiting = foldLane(history(input.start(gated), input.healthy(offer(0), 10), input.timer('bake', 60)));
    expect(waiting.waitingFor).toEqual({ kind: 'approval', phase: 1 });
    expect(laneDeadlineOf(waiting)).toBeNull();
    const paused = foldLane(history(input.start(gated), input.command('pause', 5)));
    expect(laneDeadlineOf(paused)).toBeNull();
  });

  test('the estimate of when the target is reached follows the recent rate of successes', () => {
    // 900 patched at 100 s; 30 more at 400 s (a checkpoint, 300 s after the first); 20 needed at 0.1/s: 200 s more.
    const log = history(
      input.start(completing()),
      input.delta(offer(0), { ok: 100 }, 10),
      input.timer('bake', 60),
      input.delta(offer(1), { ok: 800 }, 100),
      input.timer('bake', 120),
      input.delta(offer(1), { ok: 0, inProgress: 1 }, 200),
      input.delta(offer(1), { ok: 30 }, 500),
    );
    const state = foldLane(log);
    expect(state.successes?.checkpoints.map((c) => c.at)).toEqual([at(10), at(500)]);
    // From the first checkpoint (100 successes at 10 s) to 930 at 500 s: 830 / 490 s; 20 more take 12 s.
    expect(patchedEtaOf(state)).toBe(at(512));
    expect(state.patchedAt).toEqual({ '50': at(100), '90': at(100) });
    expect(patchedEtaOf(foldLane(log.slice(0, 5)))).toBeNull();
  });

  test('the new events and state fields validate, and the state survives a round trip through its schema', () => {
    const log = lastPhasePassed();
    for (const event of log) expect(DomainEventSchema.parse(event)).toEqual(event);
    const state = foldLane(log);
    expect(LaneStateSchema.parse(JSON.parse(JSON.stringify(state)))).toEqual(state);
  });
});
