// How replay reads a lane with a { min, max } bake: the timeline's sentences for min-bake-elapsed and phase-passed
// (what `rollout events` and `rollout replay` text and HTML show), and the re-decider reproducing such a lane's log,
// including a minimum bake that ends at the very moment the next phase's zero bake does.
import { isRefusal, type LaneInput } from '../../events/commands';
import type { DomainEvent } from '../../events/domain-events';
import { exposureOfferId, initialLaneState, stepLane } from '../../events/lane';
import type { LaneConfig } from '../../events/plan';
import { testLaneConfig } from '../support/lane-config';
import { describeEvent, formatEventLine } from '../../replay/describe';
import { decisionsOf, redecideLane } from '../../replay/redecide';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';

const config = testLaneConfig({
  phases: [
    { share: 1, cohortBound: 100, bakeSec: 600, minBakeSec: 60, approval: 'none' },
    { share: 10, cohortBound: 1000, bakeSec: 600, minBakeSec: 60, approval: 'none' },
    { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
  ],
});

let offset = 0;
const delta = (phase: number, ok: number, sec: number, inProgress = 0): LaneInput => {
  offset += 10;
  return {
    type: 'health-delta',
    lane: LANE,
    offerId: exposureOfferId(LANE, phase, 1),
    delta: {
      counts: { succeeded: ok, failedByCode: {}, timedOut: 0, inProgress },
      ranges: [{ partition: 0, fromOffset: String(offset - 10), toOffset: String(offset - 1) }],
    },
    at: at(sec),
  };
};
const timer = (sec: number): LaneInput => ({ type: 'timer-fired', lane: LANE, kind: 'bake', at: at(sec) });

/** The log the live lane writes for these inputs (the decider, as the workflow runs it). */
function record(inputs: readonly LaneInput[]): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  for (const input of inputs) {
    const step = stepLane(state, input);
    if (isRefusal(step)) throw new Error(step.reason);
    state = step.state;
    log.push(...step.events);
  }
  return log;
}

// Phase 0 is proven during its minimum bake and passes at min (60 s). Phase 1 is not proven at its min (120 s: 5
// devices still installing), the next delta at that same instant proves it, and phase 2 (bake 0) bakes out at once:
// two bake timers of the lane fall on 120 s.
const log = record([
  { type: 'start-lane', rolloutId: 'r-1', lane: LANE, config, at: at(0) },
  delta(0, 20, 30),
  timer(60),
  delta(1, 10, 90, 5),
  timer(120),
  delta(1, 4, 120, -4),
  timer(120),
  delta(2, 20, 130),
]);

describe('replay of a lane with a { min, max } bake', () => {
  it('the log says why each phase ended', () => {
    expect(decisionsOf(log).map((e) => e.type)).toEqual([
      'lane-started',
      'phase-started',
      'exposure-issued',
      'min-bake-elapsed',
      'phase-passed',
      'phase-started',
      'exposure-issued',
      'min-bake-elapsed',
      'phase-passed',
      'phase-started',
      'exposure-issued',
      'bake-elapsed',
      'phase-passed',
      'lane-completed',
    ]);
    const lines = log.filter((e) => e.type === 'min-bake-elapsed' || e.type === 'phase-passed').map(describeEvent);
    expect(lines).toEqual([
      'minimum bake of phase 1 elapsed; verdict healthy',
      'phase 1 passed on proven health after 1m, before its maximum bake (attempt 1)',
      `minimum bake of phase 2 elapsed; verdict insufficient-evidence; it ends once proven healthy, or at ${at(660)}`,
      'phase 2 passed on proven health after 1m, before its maximum bake (attempt 1)',
      'phase 3 passed after its bake, 10s after exposure (attempt 1)',
    ]);
    const passed = log.find((e) => e.type === 'phase-passed')!;
    expect(formatEventLine(passed)).toBe(
      `2026-03-01 00:01:00.000Z  phone-a        #5    phase 1 passed on proven health after 1m, before its maximum bake (attempt 1)`,
    );
  });

  it('re-deciding the lane over its recorded inputs reproduces its log exactly', () => {
    const redo = redecideLane(log, LANE, config);
    expect(redo.events).toEqual(log);
    expect(redo.refused).toEqual([]);
  });

  it('a what-if with plain bakes (the max) re-decides the same inputs without early passes', () => {
    const plain: LaneConfig = {
      ...config,
      phases: config.phases.map(({ minBakeSec: _min, ...phase }) => phase),
    };
    const redo = redecideLane(log, LANE, plain);
    const types = redo.events.map((e) => e.type);
    expect(types).not.toContain('phase-passed');
    expect(types).not.toContain('min-bake-elapsed');
    // Phase 0 bakes its whole 600 s before phase 1 is exposed.
    const second = redo.events.find((e) => e.type === 'exposure-issued' && e.data.phase === 1);
    expect(second?.at).toBe(at(600));
  });
});
