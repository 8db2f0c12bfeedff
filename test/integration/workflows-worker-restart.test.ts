// A worker stopped mid-bake and a new one started: on the real Temporal dev server (short bakes, real time), the
// second worker replays the lanes' histories and finishes the rollout, and the event log and the command topic show
// every exposure exactly once.
import { startRollout, waitForRollout } from '../../client';
import { laneWorkflowId, rolloutWorkflowId } from '../../workflows/messages';
import {
  DeltaFeeder,
  exportHistory,
  laneReaches,
  readEvents,
  readOrders,
  typesByStream,
  useDevServerWorld,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const BAKE_SEC = 6;

describe('worker restart mid-bake (real dev server, real Kafka)', () => {
  const world = useDevServerWorld('wfr', TIMEOUT, { startWorker: false });

  it(
    'a new worker finishes the rollout after the first one stopped during the bake; no duplicate exposure',
    async () => {
      const { client, h } = world;
      const rolloutId = uniqueName('restart');
      const lanes = ['phone-a', 'tablet-c'];
      const first = await h.startWorker('worker-1');
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-restart',
          artifact: { build: '26.3.1' },
          deviceClasses: lanes,
          phases: [
            { share: 10, bake: BAKE_SEC },
            { share: 100, bake: 0 },
          ],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'rollback' },
        },
        rolloutId,
        actor: 'sre-bob',
        reason: 'worker restart test',
        taskQueue: h.config.temporal.taskQueue,
      });
      const feeder = new DeltaFeeder(client);
      for (const [i, lane] of lanes.entries()) {
        await laneReaches(client, rolloutId, lane, (s) => s.waitingFor?.kind === 'bake', 'baking phase 0');
        await feeder.send(rolloutId, lane, `${lane}/p0a1`, { ok: 120, failed: 1 }, i);
        await laneReaches(client, rolloutId, lane, (s) => s.lastVerdict?.verdict === 'healthy', 'healthy');
      }
      // Stop the only worker while both lanes bake; the bake ends while nobody runs them.
      await first.shutdown();
      await new Promise((r) => setTimeout(r, (BAKE_SEC + 1) * 1000));
      await h.startWorker('worker-2');
      for (const [i, lane] of lanes.entries()) {
        await laneReaches(
          client,
          rolloutId,
          lane,
          (s) => s.phase === 1 && s.waitingFor?.kind === 'evidence',
          'phase 1 waiting for evidence',
        );
        await feeder.send(rolloutId, lane, `${lane}/p1a1`, { ok: 500, failed: 3 }, i);
      }
      const summary = await waitForRollout(client, rolloutId);
      expect(summary).toMatchObject({
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'tablet-c': 'completed' },
      });

      const { events, raw } = await readEvents(h);
      expect(raw).toBe(events.length);
      const streams = typesByStream(events);
      expect(streams._).toEqual(['rollout-started', 'rollout-completed']);
      for (const lane of lanes) {
        expect(streams[lane]).toEqual([
          'lane-started',
          'phase-started',
          'exposure-issued',
          'health-evaluated',
          'bake-elapsed',
          'phase-started',
          'exposure-issued',
          'bake-elapsed',
          'health-evaluated',
          'lane-completed',
        ]);
      }
      const orders = await readOrders(h);
      expect(new Set(orders.map((o) => o.orderId)).size).toBe(orders.length);
      for (const lane of lanes) {
        expect(orders.filter((o) => o.lane === lane).map((o) => `${o.kind}:${o.offerId}:${o.cohortBound}`)).toEqual([
          `expose:${lane}/p0a1:1000`,
          `expose:${lane}/p1a1:10000`,
        ]);
      }
      // The second worker did the work after the bake: its identity is on the lanes' later activity tasks.
      for (const lane of lanes) {
        const history = await client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).fetchHistory();
        const identities = (history.events ?? [])
          .map((e) => e.activityTaskStartedEventAttributes?.identity)
          .filter((id): id is string => typeof id === 'string');
        expect(identities[0]).toBe('worker-1');
        expect(identities[identities.length - 1]).toBe('worker-2');
      }
      await exportHistory(client.workflow.getHandle(rolloutWorkflowId(rolloutId)), 'worker-restart.rollout');
      await exportHistory(
        client.workflow.getHandle(laneWorkflowId(rolloutId, 'phone-a')),
        'worker-restart.lane-phone-a',
      );
    },
    TIMEOUT,
  );
});
