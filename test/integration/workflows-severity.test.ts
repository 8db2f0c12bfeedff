// A plan that states only its severity, end to end: the real rollout and lane workflows on Temporal's time-skipping
// test server with real Kafka. The lane runs the critical defaults (a canary sized by the class, a minimum sample that
// catches a 3× build, a 6-hour minimum bake, then everything) and completes once 95 % of the class is patched.
import { startRollout, waitForRollout } from '../../client';
import type { EventOf } from '../../events/domain-events';
import { exposureOfferId } from '../../events/lane';
import type { RolloutPlanInput } from '../../events/plan';
import { canaryShare } from '../../events/severity';
import { DeltaFeeder, laneReaches, readEvents, useTimeSkippingWorld } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const CLASS_SIZE = 10_000;
const HOUR_MS = 3600 * 1000;

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.4-critical',
  artifact: { build: '26.4.1' },
  deviceClasses: ['phone-a'],
  severity: 'critical',
  thresholds: { maxFailureRate: 0.05, installTimeoutSec: 600 },
  breachPolicy: { action: 'pause' },
  classes: { 'phone-a': { completion: { expectedDevices: CLASS_SIZE } } },
};

describe('severity defaults (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('severity', TIMEOUT);

  it(
    'a critical plan runs its canary, passes it on proven health after 6 h, and completes at 95 % patched',
    async () => {
      const { env, h } = world;
      const rolloutId = uniqueName('severity');
      const feeder = new DeltaFeeder(env.client);
      const offer = (phase: number) => exposureOfferId('phone-a', phase, 1);
      await startRollout(env.client, {
        plan: PLAN,
        rolloutId,
        taskQueue: h.config.temporal.taskQueue,
        actor: 'sre-alice',
        reason: 'integration test',
      });
      const exposed = await laneReaches(env.client, rolloutId, 'phone-a', (s) => s.offerId === offer(0), 'canary');
      const config = exposed.config!;
      const minSample = config.thresholds.minSample;
      expect(minSample).toBeGreaterThan(50);
      expect(config.phases.map((p) => [p.share, p.minBakeSec, p.bakeSec])).toEqual([
        [canaryShare(CLASS_SIZE, minSample), 6 * 3600, 12 * 3600],
        [100, undefined, 0],
      ]);

      // The minimum sample, healthy: proven, but the canary bakes its 6 hours first.
      const canaryDevices = Math.floor((CLASS_SIZE * config.phases[0]!.share) / 100);
      await feeder.send(rolloutId, 'phone-a', offer(0), { ok: minSample, failed: 1 });
      const proven = await laneReaches(
        env.client,
        rolloutId,
        'phone-a',
        (s) => s.windows[offer(0)]?.verdict?.verdict === 'healthy',
        'canary proven healthy',
      );
      expect(proven.phase).toBe(0);
      await env.sleep(5 * HOUR_MS);
      expect((await laneReaches(env.client, rolloutId, 'phone-a', () => true, 'still in the canary')).phase).toBe(0);
      await env.sleep(HOUR_MS + 60_000);
      await laneReaches(env.client, rolloutId, 'phone-a', (s) => s.phase === 1, 'everything exposed');

      // The rest of the class reports: 95 % patched completes the lane.
      const rest = Math.ceil(0.95 * CLASS_SIZE) - minSample;
      await feeder.send(rolloutId, 'phone-a', offer(1), { ok: rest, failed: 10 });
      const summary = await waitForRollout(env.client, rolloutId);
      expect(summary).toMatchObject({ status: 'completed', lanes: { 'phone-a': 'completed' } });

      const { events } = await readEvents(h);
      const mine = events.filter((e) => e.rolloutId === rolloutId);
      const passed = mine.filter((e): e is EventOf<'phase-passed'> => e.type === 'phase-passed');
      expect(passed[0]?.data).toMatchObject({ phase: 0, endedBy: 'evidence' });
      expect(passed[0]?.data.elapsedSec).toBeGreaterThanOrEqual(6 * 3600);
      expect(passed[0]?.data.elapsedSec).toBeLessThan(6 * 3600 + 120);
      const completed = mine.find((e): e is EventOf<'lane-completed'> => e.type === 'lane-completed');
      expect(completed?.data).toMatchObject({ endedBy: 'patched-share' });
      expect(canaryDevices).toBeGreaterThanOrEqual(minSample);
    },
    TIMEOUT,
  );
});
