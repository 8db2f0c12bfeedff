// A worker deploy while a rollout runs, with Worker Versioning (real dev server, real Kafka): version N starts a
// rollout; version N+1 — a lane decider that bakes a third as long and issues a different command sequence — is
// deployed and made current mid-rollout. The running rollout and its lanes stay pinned to N and complete there, with
// no non-determinism error and with the workflow state equal to the fold of the Kafka log; a rollout started after
// the deploy runs N+1. Control: N+1's code cannot replay N's lane history, so an unversioned deploy would have broken.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { codeVersionOf, getStatus, listRollouts, startRollout, waitForRollout } from '../../client';
import { fold } from '../../events/rollout';
import type { RolloutPlanInput } from '../../events/plan';
import { laneWorkflowId, rolloutStatusQuery, rolloutWorkflowId } from '../../workflows/messages';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import {
  DeltaFeeder,
  createHarness,
  laneReaches,
  readEvents,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 180_000;
const BAKE_SEC = 9;
const LANES = ['phone-a', 'tablet-c'];
const OPERATOR = { actor: 'sre-erin', reason: 'worker upgrade test' };

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.3-upgrade',
  artifact: { build: '26.3.1' },
  deviceClasses: LANES,
  phases: [
    { share: 10, bake: BAKE_SEC },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
};

describe('a worker deploy mid-rollout (Worker Versioning; real dev server, real Kafka)', () => {
  let client: Client;
  let connection: NativeConnection;
  let h: Harness;
  let nextBundle: WorkflowBundle;

  beforeAll(async () => {
    client = await testTemporalClient();
    connection = await testWorkerConnection();
    await workflowBundle();
    nextBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../chaos/changed-workflows'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
    });
    h = await createHarness({ connection, client, prefix: 'upgrade' });
  }, TIMEOUT);

  afterAll(async () => {
    await h?.close();
    await connection?.close();
    await client?.connection.close();
  }, TIMEOUT);

  const start = (rolloutId: string) =>
    startRollout(client, { plan: PLAN, rolloutId, ...OPERATOR, taskQueue: h.config.temporal.taskQueue });
  const versionOf = async (workflowId: string) =>
    codeVersionOf((await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo);

  it(
    'the running rollout completes pinned to N (state = fold of its log, no non-determinism); a new one runs N+1',
    async () => {
      const deploymentName = uniqueName('bsi-upgrade');
      const n = await h.startWorker('worker-n', { versioning: { deploymentName, buildId: 'n', promote: 'always' } });
      expect(await n.promoted).toBe('promoted');
      const before = uniqueName('upg-before');
      await start(before);
      const feeder = new DeltaFeeder(client);
      for (const [i, lane] of LANES.entries()) {
        await laneReaches(client, before, lane, (s) => s.waitingFor?.kind === 'bake', 'baking phase 1');
        await feeder.send(before, lane, `${lane}/p0a1`, { ok: 120, failed: 1 }, i);
      }

      // Deploy N+1 mid-bake and make it current; N keeps running for the rollouts pinned to it.
      const next = await h.startWorker('worker-n1', {
        workflowBundle: nextBundle,
        versioning: { deploymentName, buildId: 'n1', promote: 'always' },
      });
      expect(await next.promoted).toBe('promoted');
      const after = uniqueName('upg-after');
      await start(after);

      // The running rollout finishes on N: its lanes bake the planned 9 s, then phase 2 completes.
      for (const [i, lane] of LANES.entries()) {
        await laneReaches(
          client,
          before,
          lane,
          (s) => s.phase === 1 && s.waitingFor?.kind === 'evidence',
          'phase 2 waiting for evidence',
        );
        await feeder.send(before, lane, `${lane}/p1a1`, { ok: 600, failed: 2 }, i);
      }
      const summary = await waitForRollout(client, before);
      expect(summary).toMatchObject({
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'tablet-c': 'completed' },
      });

      const pinnedN = `${deploymentName}.n`;
      expect(await versionOf(rolloutWorkflowId(before))).toBe(pinnedN);
      for (const lane of LANES) expect(await versionOf(laneWorkflowId(before, lane))).toBe(pinnedN);
      // No workflow task of the old rollout failed (a non-determinism error would show as WorkflowTaskFailed).
      for (const id of [rolloutWorkflowId(before), ...LANES.map((lane) => laneWorkflowId(before, lane))]) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        // (UnhandledCommand — a signal arrived while the task completed — is Temporal's normal retry, not counted.)
        const failed = (history.events ?? []).filter(
          (e) =>
            e.workflowTaskFailedEventAttributes &&
            e.workflowTaskFailedEventAttributes.cause !==
              temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        );
        expect(failed.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message)).toEqual([]);
      }
      // Workflow state equals the fold of the Kafka log, lane by lane and for the rollout.
      const events = (await readEvents(h)).events.filter((e) => e.rolloutId === before);
      const folded = fold(events);
      // (The rollout hears its lanes' significant events only, not every health-evaluated: its own facts and each
      // lane's course must match the fold; each lane's whole state is compared below.)
      const state = await client.workflow.getHandle(rolloutWorkflowId(before)).query(rolloutStatusQuery);
      const course = (s: typeof state) => ({
        status: s.status,
        nextSeq: s.nextSeq,
        halts: s.halts,
        breachedLanes: s.breachedLanes,
        lanes: Object.fromEntries(
          Object.entries(s.lanes).map(([lane, l]) => [lane, [l.status, l.phase, l.cohortBound, l.attempt, l.nextSeq]]),
        ),
      });
      expect(course(state)).toEqual(course(folded));
      expect(state.status).toBe('completed');
      for (const lane of LANES) {
        const laneState = await laneReaches(client, before, lane, () => true, 'final state');
        expect(laneState).toEqual(folded.lanes[lane]);
        expect(laneState.config?.phases[0]?.bakeSec).toBe(BAKE_SEC);
      }
      const status = await getStatus(client, before);
      expect(status.codeVersion).toBe(pinnedN);

      // The rollout started after the deploy runs N+1: pinned to it, and its lanes decide with N+1's rules.
      const pinnedN1 = `${deploymentName}.n1`;
      expect(await versionOf(rolloutWorkflowId(after))).toBe(pinnedN1);
      for (const lane of LANES) {
        const s = await laneReaches(client, after, lane, (x) => x.config !== null, 'started');
        expect(s.config?.phases[0]?.bakeSec).toBe(Math.floor(BAKE_SEC / 3));
        expect(await versionOf(laneWorkflowId(after, lane))).toBe(pinnedN1);
      }
      const listed = await listRollouts(client, { limit: 200 });
      expect(listed.find((r) => r.rolloutId === after)?.codeVersion).toBe(pinnedN1);
      expect(listed.find((r) => r.rolloutId === before)?.codeVersion).toBe(pinnedN);

      // Control: N+1's code does not replay a lane history recorded by N.
      const laneHistory = await client.workflow.getHandle(laneWorkflowId(before, 'phone-a')).fetchHistory();
      await expect(
        Worker.runReplayHistory({ workflowBundle: nextBundle }, laneHistory, laneWorkflowId(before, 'phone-a')),
      ).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation/);
    },
    TIMEOUT,
  );
});
