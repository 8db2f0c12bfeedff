// Idempotent operator commands, on the real Temporal dev server and real Kafka: a command sent twice with the
// same request id (the Update id), with a worker restart in between, is applied once and the second call gets
// the first answer; the same command under a new request id is judged afresh (and refused: already paused).
// Across continue-as-new the workflow answers from the request ids it carries.
import { CARRIED_VERSION } from '../../workflows/carried';
import { CommandRefusedError, sendOperatorCommand, startRollout } from '../../client';
import { initialLaneState } from '../../events/lane';
import { laneConfigOf, validatePlan } from '../../events/plan';
import type { laneWorkflow } from '../../workflows/lane-workflow';
import { laneStateQuery, laneWorkflowId, rolloutWorkflowId } from '../../workflows/messages';
import { laneReaches, readEvents, useDevServerWorld, type Harness } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;

describe('operator commands carry a request id (real dev server, real Kafka)', () => {
  const world = useDevServerWorld('opid', TIMEOUT, { startWorker: false });

  it(
    'the same request twice, a worker restart in between: applied once, the second call answers the first answer',
    async () => {
      const { client, h } = world;
      const rolloutId = uniqueName('idem');
      const lane = 'phone-a';
      const first = await h.startWorker('worker-1');
      let second: Awaited<ReturnType<Harness['startWorker']>> | undefined;
      await startRollout(client, {
        plan: {
          releaseId: 'bsi-26.3-idem',
          artifact: { build: '26.3.1' },
          deviceClasses: [lane],
          phases: [
            { share: 10, bake: 3600 },
            { share: 100, bake: 0 },
          ],
          thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
          breachPolicy: { action: 'rollback' },
        },
        rolloutId,
        actor: 'sre-bob',
        reason: 'idempotency test',
        taskQueue: h.config.temporal.taskQueue,
      });
      try {
        await laneReaches(client, rolloutId, lane, (s) => s.waitingFor !== undefined, 'exposed');
        const request = { type: 'pause' as const, lane, actor: 'sre-bob', reason: 'hold while we look' };
        const requestId = uniqueName('req');
        const answer = await sendOperatorCommand(client, rolloutId, request, { requestId });
        expect(answer.accepted).toBe(true);
        expect(answer.eventIds.length).toBeGreaterThan(0);

        await first.shutdown();
        second = await h.startWorker('worker-2');

        // The repeat returns the first answer (a fresh judgement would refuse: the lane is paused already).
        await expect(sendOperatorCommand(client, rolloutId, request, { requestId })).resolves.toEqual(answer);
        await expect(
          sendOperatorCommand(client, rolloutId, request, { requestId: uniqueName('req') }),
        ).rejects.toBeInstanceOf(CommandRefusedError);

        const { events } = await readEvents(h);
        const laneEvents = events.filter((e) => e.lane === lane);
        expect(laneEvents.filter((e) => e.type === 'operator-command-accepted')).toHaveLength(1);
        expect(laneEvents.filter((e) => e.type === 'lane-paused')).toHaveLength(1);
        expect(answer.eventIds.every((id) => laneEvents.some((e) => e.eventId === id))).toBe(true);
      } finally {
        for (const id of [laneWorkflowId(rolloutId, lane), rolloutWorkflowId(rolloutId)]) {
          await client.workflow
            .getHandle(id)
            .terminate('test over')
            .catch(() => undefined);
        }
        await second?.shutdown();
      }
    },
    TIMEOUT,
  );

  it(
    'a request id answered before continue-as-new is answered from the carried answers, not applied again',
    async () => {
      const { client, h } = world;
      // A lane run as continue-as-new leaves it: carrying the answers of the run before (Temporal's own
      // update-id dedupe does not reach across runs).
      const rolloutId = uniqueName('idem-can');
      const lane = 'phone-a';
      const checked = validatePlan({
        releaseId: 'bsi-26.3-idem-can',
        artifact: { build: '26.3.1' },
        deviceClasses: [lane],
        phases: [{ share: 100, bake: '1h' }],
        thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
        breachPolicy: { action: 'pause' },
      });
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
      const worker = await h.startWorker('worker-can');
      const requestId = uniqueName('req');
      const earlier = { accepted: true as const, eventIds: [`${rolloutId}/${lane}/41`] };
      const handle = await client.workflow.start<typeof laneWorkflow>('laneWorkflow', {
        workflowId: laneWorkflowId(rolloutId, lane),
        taskQueue: h.config.temporal.taskQueue,
        args: [
          {
            rolloutId,
            lane,
            config: laneConfigOf(checked.plan, lane),
            reportTo: null,
            reportHealth: false,
            carried: {
              v: CARRIED_VERSION,
              state: initialLaneState(rolloutId, lane),
              inbox: [],
              runs: 1,
              recentAnswers: [{ requestId, answer: earlier }],
            },
          },
        ],
      });
      try {
        await laneReaches(client, rolloutId, lane, (s) => s.waitingFor !== undefined, 'exposed');
        const request = { type: 'pause' as const, lane, actor: 'sre-bob', reason: 'hold' };
        await expect(sendOperatorCommand(client, rolloutId, request, { requestId })).resolves.toEqual(earlier);
        const state = await handle.query(laneStateQuery);
        expect(state.status).not.toBe('paused');
        // A new request id is applied.
        const fresh = await sendOperatorCommand(client, rolloutId, request, { requestId: uniqueName('req') });
        expect(fresh.eventIds).not.toEqual(earlier.eventIds);
        expect((await handle.query(laneStateQuery)).status).toBe('paused');
      } finally {
        await handle.terminate('test over').catch(() => undefined);
        await worker.shutdown();
      }
    },
    TIMEOUT,
  );

  it('refuses a malformed request id before sending anything', async () => {
    const { client } = world;
    await expect(
      sendOperatorCommand(client, 'no-such-rollout', { type: 'resume', actor: 'a', reason: 'r' }, { requestId: 'a b' }),
    ).rejects.toThrow(/invalid request id/);
  });
});
