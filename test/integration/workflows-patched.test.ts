// Patched, not just exposed, end to end: the real rollout and lane workflows on Temporal's time-skipping test server
// with real Kafka (events read back from this test's own event-log topic). A plan with a completion rule: after its
// last phase passes a class keeps counting, and completes only once 95 % of it reported success (phone-a) or at its
// deadline (phone-b, which meanwhile goes quiet for longer than stallAfter: flagged stalled, then cleared).
import { getStatus, startRollout, waitForRollout } from '../../client';
import type { EventOf } from '../../events/domain-events';
import { exposureOfferId } from '../../events/lane';
import type { RolloutPlanInput } from '../../events/plan';
import { DeltaFeeder, laneReaches, readEvents, typesByStream, useTimeSkippingWorld } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const HOUR_MS = 3600 * 1000;

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.3-patched',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'phone-b'],
  phases: [
    { share: 10, bake: '1m' },
    { share: 100, bake: '1m' },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
  completion: { patchedShare: 0.95, deadline: '24h', stallAfter: '2h' },
  classes: {
    'phone-a': { completion: { expectedDevices: 1000 } },
    'phone-b': { completion: { expectedDevices: 1000 } },
  },
};

describe('patched, not just exposed (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('patched', TIMEOUT);

  it(
    'a lane completes only once the share is reached, or at its deadline; a quiet lane is flagged and cleared',
    async () => {
      const { env, h } = world;
      const rolloutId = uniqueName('patched');
      const feeder = new DeltaFeeder(env.client);
      const offer = (lane: string, phase: number) => exposureOfferId(lane, phase, 1);
      await startRollout(env.client, {
        plan: PLAN,
        rolloutId,
        taskQueue: h.config.temporal.taskQueue,
        actor: 'sre-alice',
        reason: 'integration test',
      });
      for (const lane of PLAN.deviceClasses) {
        await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === offer(lane, 0), 'phase 0 exposed');
        await feeder.send(rolloutId, lane, offer(lane, 0), { ok: 100, failed: 0 });
      }
      await env.sleep(61_000);
      for (const lane of PLAN.deviceClasses) {
        await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === offer(lane, 1), 'phase 1 exposed');
        await feeder.send(rolloutId, lane, offer(lane, 1), { ok: 800, failed: 0 });
      }
      await env.sleep(61_000);
      // Both last phases passed with 900 of 1,000 devices patched: neither class is complete.
      for (const lane of PLAN.deviceClasses) {
        const patching = await laneReaches(
          env.client,
          rolloutId,
          lane,
          (s) => s.waitingFor?.kind === 'patching',
          'patching stage',
        );
        expect(patching.status).toBe('running');
      }
      await env.sleep(10 * 60_000);
      const status = await getStatus(env.client, rolloutId);
      for (const lane of status.lanes) {
        expect(lane.status).toBe('running');
        expect(lane.patched).toMatchObject({ succeeded: 900, classSize: 1000, patchedShare: 0.9, target: 0.95 });
      }

      // phone-a: 60 more successes bring it to 96 %, and it completes at once.
      await feeder.send(rolloutId, 'phone-a', offer('phone-a', 1), { ok: 60, failed: 0 });
      await laneReaches(env.client, rolloutId, 'phone-a', (s) => s.status === 'completed', 'phone-a completed');

      // phone-b: quiet for 2 hours since its last report: flagged stalled (it still runs), cleared by a report.
      await env.sleep(2 * HOUR_MS);
      const stalled = await laneReaches(
        env.client,
        rolloutId,
        'phone-b',
        (s) => (s.stalled ?? null) !== null,
        'phone-b stalled',
      );
      expect(stalled.status).toBe('running');
      expect((await getStatus(env.client, rolloutId)).lanes.find((l) => l.lane === 'phone-b')?.stalled).toMatchObject({
        offerId: offer('phone-b', 1),
        cohortBound: 10000,
      });
      await feeder.send(rolloutId, 'phone-b', offer('phone-b', 1), { ok: 10, failed: 0 });
      await laneReaches(env.client, rolloutId, 'phone-b', (s) => s.stalled === null, 'phone-b stall cleared');

      // Its deadline (24 h after its last phase passed) completes it with the share it reached.
      const summary = await waitForRollout(env.client, rolloutId);
      expect(summary).toMatchObject({
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'phone-b': 'completed' },
      });

      const { events } = await readEvents(h);
      const ours = events.filter((e) => e.rolloutId === rolloutId);
      const streams = typesByStream(ours);
      const phases = [
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'bake-elapsed',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'bake-elapsed',
        'patching-started',
      ];
      expect(streams['phone-a']).toEqual([...phases, 'health-evaluated', 'lane-completed']);
      expect(streams['phone-b']).toEqual([
        ...phases,
        'lane-stalled',
        'health-evaluated',
        'lane-stall-cleared',
        // Quiet again for 2 hours before its deadline: flagged again; completing ends the flag.
        'lane-stalled',
        'lane-completed',
      ]);
      const completed = (lane: string) =>
        ours.find((e): e is EventOf<'lane-completed'> => e.type === 'lane-completed' && e.lane === lane);
      expect(completed('phone-a')?.data).toMatchObject({
        endedBy: 'patched-share',
        succeeded: 960,
        classSize: 1000,
        sizeSource: 'plan',
        patchedShare: 0.96,
      });
      expect(completed('phone-b')?.data).toMatchObject({ endedBy: 'deadline', succeeded: 910, patchedShare: 0.91 });
      const at = (lane: string, type: string) => Date.parse(ours.find((e) => e.lane === lane && e.type === type)!.at);
      // Timers fire at their deadline or a few milliseconds after it (the workflow task runs then).
      const within = (ms: number, from: number) => {
        expect(ms).toBeGreaterThanOrEqual(from);
        expect(ms).toBeLessThan(from + 60_000);
      };
      within(at('phone-b', 'lane-completed') - at('phone-b', 'patching-started'), 24 * HOUR_MS);
      const stalls = ours.filter((e): e is EventOf<'lane-stalled'> => e.type === 'lane-stalled');
      const reports = ours.filter((e) => e.lane === 'phone-b' && e.type === 'health-evaluated').map((e) => e.at);
      // Each stall names the last report before it, and came stallAfter (2 h) after it.
      expect(stalls.map((e) => e.data.quietSince)).toEqual([reports[1], reports[2]]);
      for (const e of stalls) within(Date.parse(e.at) - Date.parse(e.data.quietSince), 2 * HOUR_MS);
    },
    TIMEOUT * 2,
  );
});
