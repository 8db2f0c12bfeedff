// The words of pacing: each new event in one line (`rollout events`, replay timelines), the decision kind the engine
// metrics count, and the replay's offer index and the re-decider over a paced, window-held lane.
import { decisionKindOf } from '../../activities/engine-metrics';
import { isRefusal, type LaneInput } from '../../events/commands';
import type { DomainEvent } from '../../events/domain-events';
import { initialLaneState, stepLane } from '../../events/lane';
import { testLaneConfig } from '../support/lane-config';
import { describeEvent } from '../../replay/describe';
import { offersOf } from '../../replay/outcomes';
import { redecideLane } from '../../replay/redecide';

const T0 = Date.parse('2026-03-01T23:00:00Z'); // Monday 00:00 in Berlin
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';

const config = testLaneConfig({
  phases: [
    { share: 1, cohortBound: 100, bakeSec: 60, approval: 'none' },
    { share: 100, cohortBound: 10000, bakeSec: 60, approval: 'none' },
  ],
  pacing: { classSize: 100_000, baseRatePerMinute: 300, maxPerMinute: 300 },
  maintenanceWindows: { timeZone: 'Europe/Berlin', windows: [{ days: ['mon'], start: '01:00', end: '05:00' }] },
});

/** Start at Monday 00:00 Berlin (held until 01:00), the window opens, two steps: 30, 60, 90 buckets. */
function pacedLog(): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  const inputs: LaneInput[] = [
    { type: 'start-lane', rolloutId: 'r-1', lane: LANE, config, at: at(0) },
    { type: 'timer-fired', lane: LANE, kind: 'window', at: at(3600) },
    { type: 'timer-fired', lane: LANE, kind: 'step', at: at(3660) },
    { type: 'timer-fired', lane: LANE, kind: 'step', at: at(3720) },
  ];
  for (const input of inputs) {
    const step = stepLane(state, input);
    if (isRefusal(step)) throw new Error(step.reason);
    state = step.state;
    log.push(...step.events);
  }
  return log;
}

describe('pacing in words and in replay', () => {
  const log = pacedLog();

  it('says each new event in one line', () => {
    expect(log.map((e) => e.type)).toEqual([
      'lane-started',
      'phase-started',
      'exposure-held',
      'exposure-issued',
      'exposure-widened',
      'exposure-widened',
    ]);
    expect(log.slice(2).map(describeEvent)).toEqual([
      'offer of phase 1 (attempt 1) held outside the maintenance window: it opens 2026-03-02T00:00:00.000Z (Europe/Berlin)',
      'exposure issued: phase 1, attempt 1, up to 0.30%, build 26.3.1 (offer phone-a/p0a1); paced at 300 devices/min toward 1%',
      'exposure widened: phase 1, attempt 1, 0.30% → 0.60% of 1% at 300 devices/min',
      'exposure widened: phase 1, attempt 1, 0.60% → 0.90% of 1% at 300 devices/min',
    ]);
    expect(decisionKindOf(log[2]!)).toBe('exposure');
    expect(decisionKindOf(log[4]!)).toBe('-');
  });

  it("the replay's offer index widens the offer with each step", () => {
    expect(offersOf(log).get('phone-a/p0a1')).toMatchObject({ cohortBound: 90 });
  });

  it('the re-decider reproduces a paced, window-held lane from its timers, and paces on', () => {
    const redone = redecideLane(log, LANE, config);
    expect(redone.events.slice(0, log.length)).toEqual(log);
    // It runs the lane on to its deadlines past the recorded end: the next step, at its time, completes the phase.
    expect(redone.events[log.length]).toMatchObject({
      type: 'exposure-widened',
      at: at(3780),
      data: { fromBound: 90, cohortBound: 100, bakeUntil: at(3840) },
    });
  });
});
