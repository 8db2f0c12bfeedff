// A rate-limited lane across a worker restart, on the real dev server in real time (a step is due every minute, so
// this takes about two and a half minutes): the only worker stops after the first step and stays down past the
// second step's time; a new worker replays the lane's history and sends the overdue step once, then the next a minute
// later. No step lost, none doubled, none early; the orders on the command topic say so.
import { startRollout, waitForRollout } from '../../client';
import { exposureOfferId } from '../../events/lane';
import { DeltaFeeder, laneReaches, readOrders, useDevServerWorld } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 300_000;
const MINUTE_MS = 60_000;

describe('pacing across a worker restart (real dev server, real Kafka)', () => {
  const world = useDevServerWorld('pacer', TIMEOUT, { startWorker: false });

  it(
    'the overdue step goes out once when a new worker takes over, and the next one a minute after it',
    async () => {
      const { client, h } = world;
      const rolloutId = uniqueName('pacer');
      const lane = 'phone-a';
      const offerId = exposureOfferId(lane, 0, 1);
      const first = await h.startWorker('worker-1');
      // 10,000 devices (a bucket each) at 3,400 a minute: orders of 3400, 6800 and 10000 buckets, a minute apart.
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-pacer',
          artifact: { build: '26.3.1' },
          deviceClasses: [lane],
          phases: [{ share: 100, bake: 0 }],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'pause' },
          rateLimit: { maxPerMinute: 3400 },
          classes: { [lane]: { completion: { expectedDevices: 10_000, patchedShare: 0.01 } } },
        },
        rolloutId,
        actor: 'sre-bob',
        reason: 'pacing across a worker restart',
        taskQueue: h.config.temporal.taskQueue,
      });
      const firstStep = await laneReaches(client, rolloutId, lane, (s) => s.offerId === offerId, 'first step');
      expect(firstStep.waitingFor).toMatchObject({ kind: 'step', cohortBound: 3400, targetBound: 10000 });
      await new DeltaFeeder(client).send(rolloutId, lane, offerId, { ok: 120, failed: 0 });
      await laneReaches(client, rolloutId, lane, (s) => s.lastVerdict?.verdict === 'healthy', 'healthy');

      // Nobody runs the lane when its second step is due.
      await first.shutdown();
      const due = firstStep.waitingFor?.kind === 'step' ? Date.parse(firstStep.waitingFor.until) : 0;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()) + 10_000));
      const restartedAt = Date.now();
      await h.startWorker('worker-2');

      const summary = await waitForRollout(client, rolloutId);
      expect(summary).toMatchObject({ status: 'completed', lanes: { [lane]: 'completed' } });
      const orders = (await readOrders(h)).filter((o) => o.rolloutId === rolloutId);
      expect(new Set(orders.map((o) => o.orderId)).size).toBe(orders.length);
      expect(orders.map((o) => [o.kind, o.offerId, o.cohortBound])).toEqual([
        ['expose', offerId, 3400],
        ['expose', offerId, 6800],
        ['expose', offerId, 10000],
      ]);
      const [a, b, c] = orders.map((o) => Date.parse(o.issuedAt)) as [number, number, number];
      // The overdue step waited for the new worker (not sent twice, not skipped), and the next kept a minute's pace.
      expect(b).toBeGreaterThanOrEqual(restartedAt - 1000);
      expect(b - a).toBeGreaterThanOrEqual(MINUTE_MS);
      expect(c - b).toBeGreaterThanOrEqual(MINUTE_MS);
    },
    TIMEOUT,
  );
});
