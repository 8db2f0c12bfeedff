// A lane workflow terminated with the Temporal CLI in the middle of a rollout (real dev server, real Kafka): the
// rollout does not hang on it. It records `lane-lost` with the cause in the event log, `status` shows the class as
// lost, the fleet-halt rule counts it, the lane watch describes it as terminated, and an abort ends the rollout; or
// an SRE restarts the lane, which carries on from the fold of its events in the log.
import { createLaneWatchActivities } from '../../activities';
import { getStatus, sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import { renderStatus } from '../../cli/status-view';
import { laneWorkflowId, rolloutStatusQuery, rolloutWorkflowId } from '../../workflows/messages';
import { testKafka } from '../support/endpoints';
import {
  DeltaFeeder,
  eventually,
  exportHistory,
  laneReaches,
  readEvents,
  typesByStream,
  useDevServerWorld,
} from '../support/rollout-harness';
import { terminateWithCli } from '../support/temporal-cli';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const OPERATOR = { actor: 'sre-carol', reason: 'lane-lost test' };

describe('a lane workflow terminated mid-rollout (real dev server, real Kafka)', () => {
  const world = useDevServerWorld('lost', TIMEOUT, { startWorker: true });

  it(
    'becomes lane-lost with its cause, is shown as lost, counts for the fleet halt, and the rollout can be aborted',
    async () => {
      const { client, h } = world;
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

      // Terminate it once the rollout has heard that it runs (else the loss says, truly, that it was last pending).
      await eventually(async () => {
        const view = await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).query(rolloutStatusQuery);
        return view.lanes['tablet-c']?.status === 'running' ? true : undefined;
      }, 'the rollout hearing tablet-c run');
      const laneId = laneWorkflowId(rolloutId, 'tablet-c');
      await terminateWithCli(laneId, 'operator mistake in the test');

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
      const watch = createLaneWatchActivities(client, { kafka: testKafka('lost-watch'), topics: h.config.topics });
      const executions = await watch.laneExecutions([laneId, laneWorkflowId(rolloutId, 'phone-b')]);
      expect(executions.map((e) => e.status)).toEqual(['TERMINATED', 'RUNNING']);
      expect(executions[0]?.detail).toMatch(/^closed terminated at /);

      // Nothing waits on the lost lane: an abort ends the rollout at once.
      await sendOperatorCommand(client, rolloutId, { type: 'abort', ...OPERATOR });
      const summary = await waitForRollout(client, rolloutId);
      expect(summary).toMatchObject({ status: 'aborted', lanes: { 'phone-a': 'aborted', 'phone-b': 'aborted' } });
      const events = (await readEvents(h)).events.filter((e) => e.rolloutId === rolloutId);
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

  it(
    'an SRE restarts the lost lane: it carries on from its log (phase, counts, marks) and the rollout completes',
    async () => {
      const { client, h } = world;
      const rolloutId = uniqueName('restart');
      const lanes = ['phone-a', 'tablet-c'];
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-restart',
          artifact: { build: '26.3.1' },
          deviceClasses: lanes,
          phases: [
            { share: 10, bake: 3 },
            { share: 100, bake: 0 },
          ],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'pause' },
        },
        rolloutId,
        ...OPERATOR,
        taskQueue: h.config.temporal.taskQueue,
      });
      const feeder = new DeltaFeeder(client);
      await laneReaches(client, rolloutId, 'tablet-c', (s) => s.waitingFor?.kind === 'bake', 'tablet-c baking');
      await feeder.send(rolloutId, 'tablet-c', 'tablet-c/p0a1', { ok: 120, failed: 1 }, 1);
      await laneReaches(client, rolloutId, 'tablet-c', (s) => s.lastVerdict?.verdict === 'healthy', 'healthy');
      await terminateWithCli(laneWorkflowId(rolloutId, 'tablet-c'), 'terminated by mistake');
      await eventually(
        async () =>
          (await getStatus(client, rolloutId)).lanes.find((l) => l.lane === 'tablet-c')?.lost ? true : undefined,
        'tablet-c lost',
      );
      // A command for the lost class says what to do.
      await expect(
        sendOperatorCommand(client, rolloutId, { type: 'pause', lane: 'tablet-c', ...OPERATOR }),
      ).rejects.toThrow(/its workflow was lost \(terminated: .*\); restart it/);
      // restart needs a lost class.
      await expect(
        sendOperatorCommand(client, rolloutId, { type: 'restart', lane: 'phone-a', ...OPERATOR }),
      ).rejects.toThrow(/lane phone-a is running, not lost/);

      await sendOperatorCommand(client, rolloutId, { type: 'restart', lane: 'tablet-c', ...OPERATOR });
      // The new lane workflow has the state the log folds to: the counted outcomes and the marks are there.
      const restarted = await laneReaches(client, rolloutId, 'tablet-c', (s) => s.phase >= 0, 'restarted lane');
      expect(restarted.windows['tablet-c/p0a1']?.totals.succeeded).toBe(120);
      expect(restarted.highWater['tablet-c/p0a1']).toEqual({ '1': '120' });
      for (const [i, lane] of lanes.entries()) {
        if (lane === 'phone-a') {
          await laneReaches(client, rolloutId, lane, (s) => s.waitingFor?.kind === 'bake', 'phone-a baking');
          await feeder.send(rolloutId, lane, `${lane}/p0a1`, { ok: 120, failed: 1 }, i + 3);
        }
        await laneReaches(client, rolloutId, lane, (s) => s.phase === 1, `${lane} in phase 2`);
        await feeder.send(rolloutId, lane, `${lane}/p1a1`, { ok: 600, failed: 3 }, i + 3);
      }
      const summary = await waitForRollout(client, rolloutId);
      expect(summary).toMatchObject({
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'tablet-c': 'completed' },
      });
      const events = (await readEvents(h)).events.filter((e) => e.rolloutId === rolloutId);
      const streams = typesByStream(events);
      expect(streams._).toEqual([
        'rollout-started',
        'lane-lost',
        'operator-command-accepted',
        'lane-restarted',
        'rollout-completed',
      ]);
      // One stream per class, seq without gaps or repeats across the two workflows of tablet-c.
      const seqs = events.filter((e) => e.lane === 'tablet-c').map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i));
      // (The last phase has no bake: its bake-elapsed and its outcomes' health-evaluated come in either order.)
      expect(streams['tablet-c']?.slice(0, 7)).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'bake-elapsed',
        'phase-started',
        'exposure-issued',
      ]);
      expect([...(streams['tablet-c']?.slice(7, 9) ?? [])].sort()).toEqual(['bake-elapsed', 'health-evaluated']);
      expect(streams['tablet-c']?.slice(9)).toEqual(['lane-completed']);
      await exportHistory(client.workflow.getHandle(rolloutWorkflowId(rolloutId)), 'lane-restart.rollout');
      await exportHistory(
        client.workflow.getHandle(laneWorkflowId(rolloutId, 'tablet-c')),
        'lane-restart.lane-tablet-c',
      );
    },
    TIMEOUT,
  );
});
