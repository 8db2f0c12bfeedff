// A plan's schedule on Temporal's time-skipping test server (hours pass in moments) with the real worker and real
// Kafka: the rollout waits for its startAt before any lane exists, may be aborted meanwhile, and at its endAt stops
// its lanes (stop) or aborts (cancel). The timers are the workflow's own, so skipping time exercises them for real;
// a run handed the carried state of a waiting rollout (as continue-as-new hands it) sets its timer again.
import { getStatus, sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import { renderStatus } from '../../cli/status-view';
import { isRefusal } from '../../events/commands';
import { RolloutPlanSchema, type RolloutPlanInput } from '../../events/plan';
import { fold, stepRollout } from '../../events/rollout';
import { CARRIED_VERSION } from '../../workflows/carried';
import type { rolloutWorkflow } from '../../workflows/rollout-workflow';
import { laneWorkflowId, laneStateQuery, rolloutWorkflowId } from '../../workflows/messages';
import {
  DeltaFeeder,
  drive,
  readEvents,
  readOrders,
  typesByStream,
  useTimeSkippingWorld,
} from '../support/rollout-harness';

const TIMEOUT = 120_000;
const OPERATOR = { actor: 'sre-alice', reason: 'integration test' };
const HOUR = 3600_000;

function plan(schedule: NonNullable<RolloutPlanInput['schedule']>): RolloutPlanInput {
  return {
    releaseId: 'bsi-26.3-sched',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a', 'phone-b'],
    phases: [
      { share: 1, bake: '24h' },
      { share: 10, bake: '24h' },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
    breachPolicy: { action: 'pause' },
    schedule,
  };
}

describe('scheduled rollouts (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('wf-sched', TIMEOUT, { perTest: true });

  const start = (rolloutId: string, p: RolloutPlanInput) =>
    startRollout(world.env.client, { plan: p, rolloutId, taskQueue: world.h.config.temporal.taskQueue, ...OPERATOR });
  const rolloutDone = (rolloutId: string) => async () =>
    (await world.env.client.workflow.getHandle(rolloutWorkflowId(rolloutId)).describe()).status.name !== 'RUNNING';
  const iso = (ms: number) => new Date(ms).toISOString();

  /** Waits (real time, bounded) until the rollout's status satisfies `ok`. */
  async function statusReaches(rolloutId: string, ok: (s: Awaited<ReturnType<typeof getStatus>>) => boolean) {
    for (let i = 0; i < 100; i++) {
      const status = await getStatus(world.env.client, rolloutId).catch(() => undefined);
      if (status !== undefined && ok(status)) return status;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`rollout ${rolloutId}: status never reached the expected state`);
  }

  it(
    'waits for startAt with no lane started, then at endAt (stop) stops both lanes mid-rollout; the rollout completes',
    async () => {
      const rolloutId = 'sched-stop';
      const now = await world.env.currentTimeMs();
      const startAt = Math.ceil((now + 6 * HOUR) / 1000) * 1000;
      const endAt = startAt + 30 * HOUR;
      await start(rolloutId, plan({ startAt: iso(startAt), endAt: iso(endAt), endBehavior: 'stop' }));

      const waiting = await statusReaches(rolloutId, (s) => s.schedule?.waitUntil === iso(startAt));
      expect(waiting.status).toBe('running');
      expect(waiting.lanes.map((l) => l.status)).toEqual(['pending', 'pending']);
      expect(renderStatus(waiting, now)).toContain(`SCHEDULED, starts at ${iso(startAt)}; at ${iso(endAt)} it stops`);
      // No lane workflow exists yet.
      await expect(
        world.env.client.workflow.getHandle(laneWorkflowId(rolloutId, 'phone-a')).query(laneStateQuery),
      ).rejects.toThrow();

      // Skip to just past startAt: the rollout's own timer starts the lanes.
      await world.env.sleep(startAt - (await world.env.currentTimeMs()) + 1000);
      const lanes = ['phone-a', 'phone-b'];
      await drive({
        env: world.env,
        feeder: new DeltaFeeder(world.env.client),
        rolloutId,
        lanes,
        behaviour: () => ({ ok: 200, failed: 2 }),
        done: rolloutDone(rolloutId),
      });
      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary).toMatchObject({ status: 'completed', lanes: { 'phone-a': 'aborted', 'phone-b': 'aborted' } });

      const { events } = await readEvents(world.h);
      const streams = typesByStream(events);
      expect(streams._).toEqual([
        'rollout-started',
        'rollout-scheduled',
        'schedule-started',
        'schedule-ended',
        'rollout-completed',
      ]);
      const started = events.find((e) => e.type === 'schedule-started')!;
      expect(Date.parse(started.at)).toBeGreaterThanOrEqual(startAt);
      const ended = events.find((e) => e.type === 'schedule-ended')!;
      expect(Date.parse(ended.at)).toBeGreaterThanOrEqual(endAt);
      expect(ended.data).toEqual({ endAt: iso(endAt), endBehavior: 'stop', stopLanes: lanes, lanesStarted: true });
      for (const lane of lanes) {
        const laneEvents = events.filter((e) => e.lane === lane);
        expect(Date.parse(laneEvents[0]!.at)).toBeGreaterThanOrEqual(startAt);
        const last = laneEvents[laneEvents.length - 1]!;
        expect(last).toMatchObject({ type: 'lane-aborted', actor: 'schedule' });
        expect(last.reason).toMatch(/schedule ended .* \(endBehavior stop\)/);
      }
      // Phase 2 (10 %) was exposed 24 h after the start and stopped 6 h into its bake: no 100 % order went out.
      const orders = await readOrders(world.h);
      for (const lane of lanes) {
        expect(orders.filter((o) => o.lane === lane).map((o) => [o.kind, o.cohortBound])).toEqual([
          ['expose', 100],
          ['expose', 1000],
        ]);
      }
      const final = await getStatus(world.env.client, rolloutId);
      expect(renderStatus(final, Date.now())).toContain(`SCHEDULE ended at ${ended.at}: stopped phone-a, phone-b`);
    },
    TIMEOUT,
  );

  it(
    'an operator aborts a rollout that waits for its start (no lane ever starts); cancel aborts at endAt',
    async () => {
      const abortAt = Math.ceil(((await world.env.currentTimeMs()) + 6 * HOUR) / 1000) * 1000;
      await start('sched-abort', plan({ startAt: iso(abortAt) }));
      await statusReaches('sched-abort', (s) => s.schedule?.waitUntil === iso(abortAt));
      await sendOperatorCommand(world.env.client, 'sched-abort', { type: 'abort', ...OPERATOR });
      expect(await waitForRollout(world.env.client, 'sched-abort')).toMatchObject({ status: 'aborted' });

      // Waiting for the result let the test server skip time: the next schedule is taken from its clock now.
      const startAt = Math.ceil(((await world.env.currentTimeMs()) + 6 * HOUR) / 1000) * 1000;
      const endAt = startAt + 30 * HOUR;
      await start('sched-cancel', plan({ startAt: iso(startAt), endAt: iso(endAt), endBehavior: 'cancel' }));
      await statusReaches('sched-cancel', (s) => s.schedule?.waitUntil === iso(startAt));
      await world.env.sleep(startAt - (await world.env.currentTimeMs()) + 1000);
      const lanes = ['phone-a', 'phone-b'];
      await drive({
        env: world.env,
        feeder: new DeltaFeeder(world.env.client),
        rolloutId: 'sched-cancel',
        lanes,
        behaviour: () => ({ ok: 200, failed: 2 }),
        done: rolloutDone('sched-cancel'),
      });
      expect(await waitForRollout(world.env.client, 'sched-cancel')).toMatchObject({
        status: 'aborted',
        lanes: { 'phone-a': 'aborted', 'phone-b': 'aborted' },
      });

      const { events } = await readEvents(world.h);
      const of = (id: string) => events.filter((e) => e.rolloutId === id);
      expect(typesByStream(of('sched-abort'))).toEqual({
        _: ['rollout-started', 'rollout-scheduled', 'operator-command-accepted', 'rollout-aborted'],
      });
      const cancel = of('sched-cancel');
      expect(typesByStream(cancel)._).toEqual([
        'rollout-started',
        'rollout-scheduled',
        'schedule-started',
        'schedule-ended',
        'rollout-aborted',
      ]);
      expect(cancel.find((e) => e.type === 'rollout-aborted')).toMatchObject({
        actor: 'schedule',
        reason: expect.stringMatching(/endBehavior cancel/),
      });
      for (const lane of lanes) {
        const last = cancel.filter((e) => e.lane === lane).pop();
        expect(last).toMatchObject({ type: 'lane-aborted', data: { cause: 'rollout-aborted' }, actor: 'schedule' });
      }
    },
    TIMEOUT,
  );

  it(
    'a run continued as new while it waits sets its timer again from the carried state and starts the lanes on time',
    async () => {
      const rolloutId = 'sched-carried';
      const now = await world.env.currentTimeMs();
      const startAt = Math.ceil((now + 6 * HOUR) / 1000) * 1000;
      const parsed = RolloutPlanSchema.parse(plan({ startAt: iso(startAt) }));
      // What an earlier run decided and carried: rollout-started and rollout-scheduled, no lane started.
      const started = stepRollout(fold([]), {
        type: 'start-rollout',
        rolloutId,
        plan: parsed,
        actor: OPERATOR.actor,
        reason: OPERATOR.reason,
        at: iso(now),
      });
      if (isRefusal(started)) throw new Error(started.reason);
      expect(started.events.map((e) => e.type)).toEqual(['rollout-started', 'rollout-scheduled']);
      await world.env.client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
        taskQueue: world.h.config.temporal.taskQueue,
        workflowId: rolloutWorkflowId(rolloutId),
        args: [
          {
            rolloutId,
            plan: parsed,
            ...OPERATOR,
            carried: {
              v: CARRIED_VERSION,
              state: started.state,
              inbox: [],
              lanesStarted: false,
              runs: 1,
              recentAnswers: [],
            },
          },
        ],
      });
      const waiting = await statusReaches(rolloutId, (s) => s.schedule?.waitUntil === iso(startAt));
      expect(waiting.lanes.map((l) => l.status)).toEqual(['pending', 'pending']);
      await world.env.sleep(startAt - (await world.env.currentTimeMs()) + 1000);
      const lanesRunning = await statusReaches(rolloutId, (s) => s.lanes.every((l) => l.status === 'running'));
      expect(lanesRunning.schedule?.waitUntil).toBeNull();
      const { events } = await readEvents(world.h);
      const startedAgain = events.find((e) => e.type === 'schedule-started');
      expect(startedAgain).toMatchObject({ seq: 2, data: { startAt: iso(startAt) } });
      expect(Date.parse(startedAgain!.at)).toBeGreaterThanOrEqual(startAt);
      await sendOperatorCommand(world.env.client, rolloutId, { type: 'abort', ...OPERATOR });
    },
    TIMEOUT,
  );
});
