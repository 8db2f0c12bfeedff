// The words of "patched, not just exposed": each new event in one line (`rollout events`, replay timelines), and how the postmortem says how a class completed and how long it took to be patched.
import { isRefusal, type LaneInput } from '../../events/commands';
import type { DomainEvent } from '../../events/domain-events';
import { exposureOfferId, initialLaneState, stepLane } from '../../events/lane';
import { testLaneConfig } from '../support/lane-config';
import { describeEvent } from '../../replay/describe';
import { completionSentence, exposureWindowSentence } from '../../replay/postmortem';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';
const offer = (phase: number) => exposureOfferId(LANE, phase, 1);

const config = testLaneConfig({
  phases: [
    { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'none' },
    { share: 100, cohortBound: 10000, bakeSec: 60, approval: 'none' },
  ],
  completion: { patchedShare: 0.95, deadlineSec: 3600, stallAfterSec: 600 },
});

let offset = 0;
const ok = (offerId: string, n: number, t: number): LaneInput => {
  offset += 10;
  return {
    type: 'health-delta',
    lane: LANE,
    offerId,
    delta: {
      counts: { succeeded: n, failedByCode: {}, timedOut: 0, inProgress: 0 },
      ranges: [{ partition: 0, fromOffset: String(offset - 9), toOffset: String(offset) }],
    },
    at: at(t),
  };
};
const timer = (kind: 'bake' | 'stall' | 'patching', t: number): LaneInput => ({
  type: 'timer-fired',
  lane: LANE,
  kind,
  at: at(t),
});

/** The lane's log after `inputs`, decided by the real decider. */
function logOf(...inputs: LaneInput[]): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  for (const next of [{ type: 'start-lane', rolloutId: 'r-1', lane: LANE, config, at: at(0) } as const, ...inputs]) {
    const step = stepLane(state, next);
    if (isRefusal(step)) throw new Error(step.reason);
    state = step.state;
    log.push(...step.events);
  }
  return log;
}

describe('patched, not just exposed, in words', () => {
  const log = logOf(
    ok(offer(0), 100, 10),
    timer('bake', 60),
    ok(offer(1), 800, 100),
    timer('bake', 120),
    timer('stall', 700),
    ok(offer(1), 20, 800),
    timer('patching', 3720),
  );
  const one = (type: DomainEvent['type']) => log.find((e) => e.type === type)!;

  test('each new event is one sentence for rollout events and replay', () => {
    expect(describeEvent(one('patching-started'))).toBe(
      `all 2 phases passed; 90.0% (900 of 1000 devices, estimated) patched, counting until 95.0% or ${at(3720)}`,
    );
    expect(describeEvent(one('lane-stalled'))).toBe(
      `LANE STALLED: no report since ${at(100)} (more than 10m) on offer ${offer(1)}, exposed up to 100%, while waiting for patching`,
    );
    expect(describeEvent(one('lane-stall-cleared'))).toBe(
      `stall cleared: outcomes arrived again on offer ${offer(1)} (quiet since ${at(100)})`,
    );
    expect(describeEvent(one('lane-completed'))).toBe(
      'lane completed: completion deadline passed with 92.0% (920 of 1000 devices, estimated) patched (all 2 phases, attempt 1)',
    );
  });

  test('the postmortem says how the class completed, its stalls, and the times to 50/90/95/99 % patched', () => {
    const done = one('lane-completed');
    const stalled = one('lane-stalled');
    expect(
      completionSentence({
        completion: { at: done.at, endedBy: 'deadline', patchedShare: 0.92, classSize: 1000, sizeSource: 'estimate' },
        stalls: [{ at: stalled.at, quietSince: at(100), offerId: offer(1), clearedAt: at(800) }],
      }),
    ).toBe(
      `completed at ${at(3720)}: its completion deadline passed, 92.0% of 1000 devices (estimated) patched; stalled 1× (first at ${at(700)})`,
    );
    expect(completionSentence({ completion: null, stalls: [] })).toBeNull();
    expect(
      exposureWindowSentence({
        startedAt: at(0),
        classSizeEstimate: 1000,
        classSizeSource: 'plan',
        patched50At: at(100),
        patched50Sec: 100,
        patched90At: at(300),
        patched90Sec: 300,
        patched95At: at(420.5),
        patched95Sec: 420.5,
        patched99At: null,
        patched99Sec: null,
      }),
    ).toBe(
      'class ≈ 1000 devices (from the plan); patched 50% after 100.0 s, 90% after 300.0 s, 95% after 420.5 s, 99% not reached',
    );
  });
});
