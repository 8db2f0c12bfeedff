// The worker's /metrics on the real servers (dev Temporal, real Kafka): a worker in process, its registry served over
// HTTP as `rollout worker` serves it, one lane driven to a breach halt; the scrape shows the halt counted once, its
// decision latency sample, the decisions that led to it, and the lane census (paused) taken from Temporal.
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import { serveRegistry } from '../../observability/metrics-server';
import type { RolloutWorker } from '../../worker/create-worker';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import {
  DeltaFeeder,
  createHarness,
  eventually,
  laneReaches,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;

/** One sample of the scrape text (metric name with its labels as written), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the worker serves engine metrics (real dev server, real Kafka)', () => {
  let client: Client;
  let connection: NativeConnection;
  let h: Harness;
  let worker: RolloutWorker;
  let endpoint: Awaited<ReturnType<typeof serveRegistry>>;

  beforeAll(async () => {
    client = await testTemporalClient();
    connection = await testWorkerConnection();
    await workflowBundle();
    h = await createHarness({ connection, client, prefix: 'metrics' });
    worker = await h.startWorker();
    endpoint = await serveRegistry(worker.metrics.registry, 0, () => worker.worker.getState() === 'RUNNING');
  }, TIMEOUT);

  afterAll(async () => {
    endpoint?.server.close();
    await h?.close();
    await connection?.close();
    await client?.connection.close();
  }, TIMEOUT);

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  it(
    'counts a breach halt once with its latency, the decisions before it, and the lane as paused',
    async () => {
      const rolloutId = uniqueName('metrics');
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-metrics',
          artifact: { build: '26.3.1' },
          deviceClasses: ['phone-a'],
          phases: [
            { share: 10, bake: '1h' },
            { share: 100, bake: 0 },
          ],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'pause' },
        },
        rolloutId,
        actor: 'sre-metrics',
        reason: 'engine-metrics test',
        taskQueue: h.config.temporal.taskQueue,
      });
      await laneReaches(client, rolloutId, 'phone-a', (s) => s.waitingFor?.kind === 'bake', 'phone-a baking');
      const before = await scrape();
      expect(sample(before, 'bsi_engine_halts_total{kind="breach-pause"}')).toBeUndefined();
      expect(sample(before, 'bsi_engine_decisions_total{type="phase-started",kind="-"}')).toBe(1);

      const sentAt = Date.now();
      await new DeltaFeeder(client).send(rolloutId, 'phone-a', 'phone-a/p0a1', { ok: 60, failed: 40 }, 0);
      await laneReaches(client, rolloutId, 'phone-a', (s) => s.status === 'paused', 'phone-a paused on its breach');
      const wall = (Date.now() - sentAt) / 1000;

      const text = await eventually(async () => {
        const t = await scrape();
        return sample(t, 'bsi_engine_lanes{state="paused"}') === 1 ? t : undefined;
      }, 'the lane census showing phone-a paused');
      expect(sample(text, 'bsi_engine_halts_total{kind="breach-pause"}')).toBe(1);
      expect(sample(text, 'bsi_engine_decisions_total{type="threshold-breached",kind="pause"}')).toBe(1);
      expect(sample(text, 'bsi_engine_decisions_total{type="lane-paused",kind="breach"}')).toBe(1);
      expect(sample(text, 'bsi_engine_decisions_total{type="health-evaluated",kind="breach"}')).toBe(1);
      expect(sample(text, 'bsi_engine_lanes{state="running"}')).toBe(0);
      expect(sample(text, 'bsi_engine_decision_latency_seconds_count{halt="breach"}')).toBe(1);
      const latency = sample(text, 'bsi_engine_decision_latency_seconds_sum{halt="breach"}');
      // Within the engine's part of the halt: at most the signal → paused time the test saw, and not nothing.
      expect(latency).toBeGreaterThan(0);
      expect(latency).toBeLessThanOrEqual(wall + 1);
      expect(sample(text, 'bsi_engine_reappended_events_total')).toBe(0);
      expect(sample(text, 'bsi_engine_lane_census_failures_total')).toBe(0);

      // Once the rollout has ended, the census no longer counts its lane.
      await sendOperatorCommand(client, rolloutId, { type: 'abort', actor: 'sre-metrics', reason: 'test over' });
      await waitForRollout(client, rolloutId);
      await eventually(async () => {
        const t = await scrape();
        return sample(t, 'bsi_engine_lanes{state="paused"}') === 0 ? t : undefined;
      }, 'the lane census without the ended rollout');
    },
    TIMEOUT,
  );
});
