// Evidence-driven promotion end to end: the real rollout and lane workflows on Temporal's time-skipping test server
// with real Kafka (events read back from this test's own event-log topic). A phase whose bake is { min: 10m,
// max: 24h } ends as soon as its health is proven once min has passed — not after 24 hours — and the log says why.
import { startRollout, waitForRollout } from '../../client';
import type { EventOf } from '../../events/domain-events';
import { exposureOfferId } from '../../events/lane';
import type { RolloutPlanInput } from '../../events/plan';
import {
  DeltaFeeder,
  laneReaches,
  readEvents,
  typesByStream,
  type Outcome,
  useTimeSkippingWorld,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const HEALTHY: Outcome = { ok: 200, failed: 2 };
const MIN_SEC = 600;
const HOUR_MS = 3600 * 1000;

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.3-promo',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'phone-b'],
  phases: [
    { share: 10, bake: { min: '10m', max: '24h' } },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
};

describe('evidence-driven promotion (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('promo', TIMEOUT);

  it(
    'a phase with a 24-hour max ends on proven health once its 10-minute min is over, and records why',
    async () => {
      const { env, h } = world;
      const rolloutId = uniqueName('promo');
      const feeder = new DeltaFeeder(env.client);
      const offer0 = (lane: string) => exposureOfferId(lane, 0, 1);
      await startRollout(env.client, {
        plan: PLAN,
        rolloutId,
        taskQueue: h.config.temporal.taskQueue,
        actor: 'sre-alice',
        reason: 'integration test',
      });
      for (const lane of PLAN.deviceClasses) {
        await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === offer0(lane), 'phase 0 exposed');
      }

      // phone-b: proven during its minimum bake, so it passes the moment min is over.
      await feeder.send(rolloutId, 'phone-b', offer0('phone-b'), HEALTHY);
      const proven = await laneReaches(
        env.client,
        rolloutId,
        'phone-b',
        (s) => s.windows[offer0('phone-b')]?.verdict?.verdict === 'healthy',
        'phase 0 proven healthy',
      );
      expect(proven.phase).toBe(0); // before min, proof alone passes nothing

      // Ten minutes and a bit pass: phone-b moves on; phone-a (no evidence yet) bakes on toward its max.
      await env.sleep((MIN_SEC + 60) * 1000);
      await laneReaches(env.client, rolloutId, 'phone-b', (s) => s.phase === 1, 'phone-b in phase 1');
      const baking = await laneReaches(
        env.client,
        rolloutId,
        'phone-a',
        (s) => s.waitingFor?.kind === 'bake' && s.waitingFor.maxUntil === undefined,
        'phone-a past its minimum bake',
      );
      expect(baking.phase).toBe(0);

      // phone-a: the delta that proves it ends its phase at once, 23 hours before its max.
      await feeder.send(rolloutId, 'phone-a', offer0('phone-a'), HEALTHY);
      for (const lane of PLAN.deviceClasses) {
        await laneReaches(env.client, rolloutId, lane, (s) => s.waitingFor?.kind === 'evidence', 'last phase baked');
        await feeder.send(rolloutId, lane, exposureOfferId(lane, 1, 1), HEALTHY);
      }
      const summary = await waitForRollout(env.client, rolloutId);
      expect(summary).toMatchObject({
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'phone-b': 'completed' },
      });

      const { events } = await readEvents(h);
      const streams = typesByStream(events.filter((e) => e.rolloutId === rolloutId));
      const lastPhase = ['phase-started', 'exposure-issued', 'bake-elapsed', 'health-evaluated', 'phase-passed'];
      expect(streams['phone-a']).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'min-bake-elapsed',
        'health-evaluated',
        'phase-passed',
        ...lastPhase,
        'lane-completed',
      ]);
      expect(streams['phone-b']).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'min-bake-elapsed',
        'phase-passed',
        ...lastPhase,
        'lane-completed',
      ]);
      const passed = (lane: string) =>
        events.filter((e): e is EventOf<'phase-passed'> => e.type === 'phase-passed' && e.lane === lane);
      const [a0, a1] = passed('phone-a');
      expect(a0?.data).toMatchObject({ phase: 0, attempt: 1, endedBy: 'evidence' });
      expect(a0?.data.elapsedSec).toBeGreaterThanOrEqual(MIN_SEC + 60);
      expect(a0?.data.elapsedSec).toBeLessThan(3600);
      expect(a1?.data).toMatchObject({ phase: 1, endedBy: 'bake' });
      const [b0] = passed('phone-b');
      expect(b0?.data).toMatchObject({ phase: 0, endedBy: 'evidence' });
      expect(b0?.data.elapsedSec).toBeGreaterThanOrEqual(MIN_SEC);
      expect(b0?.data.elapsedSec).toBeLessThan(MIN_SEC + 60);
      // Each lane was done within an hour of virtual time (its first phase alone could have baked 24 hours).
      for (const lane of PLAN.deviceClasses) {
        const at = (type: string) => Date.parse(events.find((e) => e.lane === lane && e.type === type)?.at ?? '');
        expect(at('lane-completed') - at('lane-started')).toBeLessThan(HOUR_MS);
      }
      const minElapsed = events.find((e) => e.type === 'min-bake-elapsed' && e.lane === 'phone-b');
      expect(minElapsed).toMatchObject({ data: { phase: 0, verdict: 'healthy' } });
    },
    TIMEOUT * 2,
  );
});
