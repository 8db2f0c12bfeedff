// Pacing as people read it: a rate-limited lane's status (offered vs target, rate, next step), a lane held by a
// maintenance window (the windows, the opening it waits for), and `validate --explain` (the pace and each phase's
// exposure time), all from lanes folded by the real decider and plans validated by the real schema.
import { laneStatusView } from '../../client';
import { renderPreview } from '../../cli/explain-view';
import { pacingLines, waitingText } from '../../cli/status-view';
import { isRefusal, type LaneInput } from '../../events/commands';
import { initialLaneState, stepLane, type LaneState } from '../../events/lane';
import { laneConfigOf, validatePlan, type LaneConfig } from '../../events/plan';
import { previewPlan } from '../../events/preview';

const T0 = Date.parse('2026-03-01T00:00:00Z'); // a Sunday
const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();

const plan = (() => {
  const result = validatePlan({
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a', 'laptop-x1'],
    phases: [
      { share: 1, bake: '10m' },
      { share: 100, bake: '1h' },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 100, installTimeoutSec: 600 },
    breachPolicy: { action: 'pause' },
    fleetRateLimit: { maxPerMinute: 800 },
    classes: {
      'phone-a': { completion: { expectedDevices: 300_000 } },
      'laptop-x1': {
        completion: { expectedDevices: 100_000 },
        maintenanceWindows: {
          timeZone: 'Europe/Berlin',
          windows: [{ days: ['mon', 'tue'], start: '01:00', end: '05:00' }],
        },
      },
    },
  });
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.plan;
})();

function started(config: LaneConfig): LaneState {
  const start: LaneInput = { type: 'start-lane', rolloutId: 'r-1', lane: config.deviceClass, config, at: at(0) };
  const step = stepLane(initialLaneState(), start);
  if (isRefusal(step)) throw new Error(step.reason);
  return step.state;
}

describe('status of a paced lane', () => {
  it('shows the offered bound against the target, the rate with its fleet share, and the next step', () => {
    const lane = laneStatusView(started(laneConfigOf(plan, 'phone-a')));
    // 600 of 800 a minute fleet-wide, 30 devices a bucket: 20 buckets a step.
    expect(lane.pacing).toEqual({
      offered: 20,
      targetBound: 100,
      ratePerMinute: 600,
      maxPerMinute: 600,
      fleetMaxPerMinute: 800,
      nextStepAt: at(60),
    });
    expect(lane.maintenanceWindows).toBeNull();
    expect(pacingLines(lane)).toEqual([
      `  PACING phone-a: offered 0.20% of 1.00%, 600/min (max 600/min, its share of 800/min fleet-wide), next step ${at(60)}`,
    ]);
    expect(waitingText(lane, T0 + 15_000)).toBe('next step 45s (0.2% of 1%)');
  });

  it('shows a held order: the windows and the opening it waits for', () => {
    const lane = laneStatusView(started(laneConfigOf(plan, 'laptop-x1')));
    const opens = '2026-03-02T00:00:00.000Z'; // Monday 01:00 CET
    expect(lane.maintenanceWindows).toEqual({ windows: 'mon,tue 01:00–05:00 (Europe/Berlin)', heldUntil: opens });
    expect(lane.pacing).toMatchObject({ offered: 0, targetBound: 100, nextStepAt: null });
    expect(pacingLines(lane)[1]).toBe(
      `  WINDOW laptop-x1: mon,tue 01:00–05:00 (Europe/Berlin), order held until ${opens}`,
    );
    expect(waitingText(lane, T0)).toBe('window opens 24.0h (offer of phase 1)');
  });

  it('a lane without the keys has neither, and no lines', () => {
    const { fleetRateLimit: _fleet, ...rest } = plan;
    const lane = laneStatusView(started(laneConfigOf({ ...rest, classes: {} }, 'phone-a')));
    expect([lane.pacing, lane.maintenanceWindows, pacingLines(lane)]).toEqual([null, null, []]);
  });
});

describe('validate --explain of a paced plan', () => {
  it('says the pace, how long each phase takes to expose, and the windows', () => {
    const text = renderPreview(previewPlan(plan, undefined));
    // phone-a: 20 buckets a minute; phase 0 (100 buckets) in 5 steps (4 minutes), phase 1 (9900 more) in 495.
    expect(text).toContain(
      'paced: at most 600 devices/min (its share of 800/min fleet-wide), in steps of whole buckets of 300000 devices; ' +
        "each phase's exposure takes phase 0 4m, phase 1 8h14m, and its bake starts after",
    );
    expect(text).toContain(
      'orders go out only in its maintenance windows: mon,tue 01:00–05:00 (Europe/Berlin) (a rollback at any time)',
    );
  });
});
