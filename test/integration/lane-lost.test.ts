// A lane workflow terminated with the Temporal CLI in the middle of a rollout (real dev server, real Kafka): the
// rollout does not hang on it. It records `lane-lost` with the cause in the event log, `status` shows the class as
// lost, the fleet-halt rule counts it, the lane watch describes it as terminated, and an abort ends the rollout.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { createLaneWatchActivities } from '../../activities';
import { getStatus, sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import { renderStatus } from '../../cli/status-view';
import { ensureTemporalBinaries } from '../../scripts/servers/install';
import { laneWorkflowId, rolloutWorkflowId } from '../../workflows/messages';
import { endpoints, testTemporalClient, testWorkerConnection } from '../support/endpoints';
import {
  DeltaFeeder,
  createHarness,
  laneReaches,
  readEvents,
  typesByStream,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const run = promisify(execFile);
const TIMEOUT = 120_000;
const OPERATOR = { actor: 'sre-carol', reason: 'lane-lost test' };

/** Polls `probe` until it returns a value (not undefined), for at most `ms`. */
async function eventually<T>(probe: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a lane workflow terminated mid-rollout (real dev server, real Kafka)', () => {
  let client: Client;
  let connection: NativeConnection;
  let h: Harness;

  beforeAll(async () => {
    client = await testTemporalClient();
    connection = await testWorkerConnection();
    await workflowBundle();
    h = await createHarness({ connection, client, prefix: 'lost' });
    await h.startWorker();
  }, TIMEOUT);

  afterAll(async () => {
    await h?.close();
    await connection?.close();
    await client?.connection.close();
  }, TIMEOUT);

  it(
    'becomes lane-lost with its cause, is shown as lost, counts for the fleet halt, and the rollout can be aborted',
    async () => {
      const rolloutId = uniqueName('lost');
      const lanes = ['phone-a', 'phone-b', 'tablet-c'];
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-lost',
          artifact: { build: '26.3.1' },
          deviceClasses: lanes,
          phases: [
            { share: 10, bake: '1h' },
            { share: 100, bake: 0 },
          ],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'pause' },
          fleetHalt: { breachedClasses: 2 },
        },
        rolloutId,
        ...OPERATOR,
        taskQueue: h.config.temporal.taskQueue,
      });
      // phone-a breaches (one class: its own business); phone-b bakes healthy; tablet-c is then terminated.
      const feeder = new DeltaFeeder(client);
      await laneReaches(client, rolloutId, 'phone-a', (s) => s.waitingFor?.kind === 'bake', 'phone-a baking');
      await feeder.send(rolloutId, 'phone-a', 'phone-a/p0a1', { ok: 60, failed: 40, code: 'E_BOOTLOOP' }, 0);
      await laneReaches(client, rolloutId, 'phone-a', (s) => s.status === 'paused', 'phone-a paused on its breach');
      await laneReaches(client, rolloutId, 'tablet-c', (s) => s.waitingFor?.kind === 'bake', 'tablet-c baking');
      await laneReaches(client, rolloutId, 'phone-b', (s) => s.waitingFor?.kind === 'bake', 'phone-b baking');

      const { cli } = await ensureTemporalBinaries();
      const { address, namespace } = endpoints().temporal;
      const laneId = laneWorkflowId(rolloutId, 'tablet-c');
      await run(cli, [
        'workflow',
        'terminate',
        '--workflow-id',
        laneId,
        '--reason',
        'operator mistake in the test',
        '--address',
        address,
        '--namespace',
        namespace,
      ]);

      // The rollout hears of it through its child's result: lane-lost, and with phone-a breached that makes two.
      const status = await eventually(async () => {
        const s = await getStatus(client, rolloutId);
        return s.lanes.find((l) => l.lane === 'tablet-c')?.lost ? s : undefined;
      }, 'tablet-c shown as lost');
      expect(status.status).toBe('running');
      expect(status.lanes.find((l) => l.lane === 'tablet-c')?.lost).toMatchObject({
        cause: 'terminated',
        lastStatus: 'running',
        detail: expect.stringMatching(/^closed terminated at .* by .*: operator mistake in the test$/),
      });
      const text = renderStatus(status, Date.now());
      expect(text).toMatch(/LOST tablet-c: its workflow terminated while running/);
      expect(text).toMatch(/lost \(terminated\)/);
      const phoneB = await laneReaches(client, rolloutId, 'phone-b', (s) => s.status === 'paused', 'phone-b halted');
      expect(phoneB.pause?.cause).toBe('fleet-halt');

      // The lane watch (what a rollout uses after continue-as-new) sees the same.
      const watch = createLaneWatchActivities(client);
      const executions = await watch.laneExecutions([laneId, laneWorkflowId(rolloutId, 'phone-b')]);
      expect(executions.map((e) => e.status)).toEqual(['TERMINATED', 'RUNNING']);
      expect(executions[0]?.detail).toMatch(/^closed terminated at /);

      // Nothing waits on the lost lane: an abort ends the rollout at once.
      await sendOperatorCommand(client, rolloutId, { type: 'abort', ...OPERATOR });
      const summary = await waitForRollout(client, rolloutId);
      expect(summary).toMatchObject({ status: 'aborted', lanes: { 'phone-a': 'aborted', 'phone-b': 'aborted' } });
      const { events } = await readEvents(h);
      expect(typesByStream(events)._).toEqual([
        'rollout-started',
        'lane-lost',
        'fleet-halted',
        'operator-command-accepted',
        'rollout-aborted',
      ]);
      const halt = events.find((e) => e.type === 'fleet-halted');
      expect(halt?.data).toMatchObject({ breachedLanes: ['phone-a'], lostLanes: ['tablet-c'], haltLanes: ['phone-b'] });
      const description = await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).describe();
      expect(description.status.name).toBe('COMPLETED');
    },
    TIMEOUT,
  );
});
