// What a lane run is handed through continue-as-new, on the real dev server with the real worker and Kafka: a run
// handed the shape older code carried (version 1: no `v`, no `recentAnswers`) carries on from it; a run handed a
// state that does not validate rebuilds it from the event log instead of acting on it.
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { foldLane, type LaneState } from '../../events/lane';
import { laneConfigOf, validatePlan, type RolloutPlanInput } from '../../events/plan';
import { laneWorkflowId, type LaneWorkflowInput } from '../../workflows/messages';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import {
  DeltaFeeder,
  createHarness,
  laneReaches,
  readEvents,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { terminateWithCli } from '../support/temporal-cli';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const LANE = 'phone-a';

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.3-carry',
  artifact: { build: '26.3.1' },
  deviceClasses: [LANE],
  phases: [
    { share: 10, bake: '1h' },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
};

describe('state carried through continue-as-new is validated (real dev server, real Kafka)', () => {
  let client: Client;
  let connection: NativeConnection;
  let h: Harness;
  const checked = validatePlan(PLAN);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const config = laneConfigOf(checked.plan, LANE);

  beforeAll(async () => {
    client = await testTemporalClient();
    connection = await testWorkerConnection();
    await workflowBundle();
    h = await createHarness({ connection, client, prefix: 'carry' });
    await h.startWorker();
  }, TIMEOUT);

  afterAll(async () => {
    await h?.close();
    await connection?.close();
    await client?.connection.close();
  }, TIMEOUT);

  /** Starts a lane on its own (no rollout) and waits until it bakes phase 1 with 120 outcomes counted. */
  async function laneWithHistory(rolloutId: string, carried?: unknown): Promise<LaneState> {
    const input: LaneWorkflowInput = { rolloutId, lane: LANE, config, reportTo: null, reportHealth: false };
    await client.workflow.start('laneWorkflow', {
      workflowId: laneWorkflowId(rolloutId, LANE),
      taskQueue: h.config.temporal.taskQueue,
      args: [carried === undefined ? input : { ...input, carried }],
    });
    if (carried !== undefined) return laneReaches(client, rolloutId, LANE, () => true, 'started');
    await laneReaches(client, rolloutId, LANE, (s) => s.waitingFor?.kind === 'bake', 'baking');
    await new DeltaFeeder(client).send(rolloutId, LANE, `${LANE}/p0a1`, { ok: 118, failed: 2 });
    return laneReaches(client, rolloutId, LANE, (s) => s.windows[`${LANE}/p0a1`]?.totals.succeeded === 118, 'counted');
  }

  it(
    'a run handed the version 1 shape (no v, no recentAnswers) carries on from it',
    async () => {
      const rolloutId = uniqueName('carry-v1');
      const before = await laneWithHistory(rolloutId);
      await terminateWithCli(laneWorkflowId(rolloutId, LANE), 'replaced by a run carrying the old shape');
      // What code from before version 2 carried: state, inbox and runs only.
      const v1 = { state: before, inbox: [], runs: 3 };
      const after = await laneWithHistory(rolloutId, v1);
      expect(after).toEqual(before);
      // And it acts on it: the carried marks drop a redelivery of the first delta (same offsets), a new one adds.
      const feeder = new DeltaFeeder(client);
      await feeder.send(rolloutId, LANE, `${LANE}/p0a1`, { ok: 118, failed: 2 }, 0);
      await feeder.send(rolloutId, LANE, `${LANE}/p0a1`, { ok: 7, failed: 0 }, 1);
      const moved = await laneReaches(
        client,
        rolloutId,
        LANE,
        (s) => s.highWater[`${LANE}/p0a1`]?.['1'] === '6',
        'the new delta applied',
      );
      expect(moved.windows[`${LANE}/p0a1`]?.totals).toMatchObject({ succeeded: 125, failedByCode: { E_INSTALL: 2 } });
      expect(moved.phase).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'a run handed a state that does not validate rebuilds it from the event log',
    async () => {
      const rolloutId = uniqueName('carry-bad');
      const before = await laneWithHistory(rolloutId);
      await terminateWithCli(laneWorkflowId(rolloutId, LANE), 'replaced by a run carrying a broken state');
      const broken = {
        v: 2,
        state: { ...before, phase: 'two', cohortBound: -5 },
        inbox: [],
        runs: 3,
        recentAnswers: [],
      };
      const rebuilt = await laneWithHistory(rolloutId, broken);
      const { events } = await readEvents(h);
      const logged = foldLane(events.filter((e) => e.rolloutId === rolloutId && e.lane === LANE));
      expect(rebuilt).toEqual(logged);
      expect(rebuilt).toMatchObject({ phase: 0, cohortBound: 1000, status: 'running' });
      expect(rebuilt.windows[`${LANE}/p0a1`]?.totals.succeeded).toBe(118);
    },
    TIMEOUT,
  );
});
