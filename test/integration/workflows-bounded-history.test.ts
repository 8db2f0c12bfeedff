// Bounded history: a lane that receives 20,000 health deltas (2,000 signals of 10 per-offer deltas, as the ingest
// batches them) continues as new with its folded state, stays under 4,096 history events per run, drops redelivered
// deltas, and ends in exactly the state a single fold of its event log gives. Real dev server, real Kafka.
import { temporal } from '@temporalio/proto';
import { foldLane, type LaneState } from '../../events/lane';
import { laneConfigOf, validatePlan } from '../../events/plan';
import {
  healthDeltaSignal,
  lanePendingQuery,
  laneStateQuery,
  laneWorkflowId,
  type HealthDeltaSignal,
} from '../../workflows/messages';
import type { laneWorkflow } from '../../workflows/lane-workflow';
import { eventually, readEvents, useDevServerWorld } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 180_000;
const SENDERS = 20; // one partition per sender, so each partition's ranges arrive in order (as from one consumer)
const SIGNALS_PER_SENDER = 100;
const DELTAS_PER_SIGNAL = 10;
const DEVICES_PER_DELTA = 5;
const EventType = temporal.api.enums.v1.EventType;

describe('bounded lane history (real dev server, real Kafka)', () => {
  const world = useDevServerWorld('wfb', TIMEOUT, { startWorker: true });

  it(
    '20,000 deltas: < 4,096 events per run, redelivery dropped, final state = fold of the log',
    async () => {
      const { client, h } = world;
      const rolloutId = uniqueName('bounded');
      const lane = 'phone-a';
      const checked = validatePlan({
        releaseId: 'bsi-26.3-bounded',
        artifact: { build: '26.3.1' },
        deviceClasses: [lane],
        phases: [{ share: 100, bake: '1h' }],
        thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
        breachPolicy: { action: 'pause' },
      });
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
      const workflowId = laneWorkflowId(rolloutId, lane);
      const handle = await client.workflow.start<typeof laneWorkflow>('laneWorkflow', {
        workflowId,
        taskQueue: h.config.temporal.taskQueue,
        args: [{ rolloutId, lane, config: laneConfigOf(checked.plan, lane), reportTo: null, reportHealth: false }],
      });
      const offerId = `${lane}/p0a1`;
      await eventually(
        async () => ((await handle.query(laneStateQuery)).offerId === offerId ? true : undefined),
        'exposure',
      );

      const signalOf = (partition: number, index: number): HealthDeltaSignal => ({
        lane,
        deltas: Array.from({ length: DELTAS_PER_SIGNAL }, (_, k) => {
          const from = (index * DELTAS_PER_SIGNAL + k) * DEVICES_PER_DELTA;
          return {
            offerId,
            delta: {
              counts: { succeeded: DEVICES_PER_DELTA, failedByCode: {}, timedOut: 0, inProgress: 0 },
              ranges: [{ partition, fromOffset: String(from), toOffset: String(from + DEVICES_PER_DELTA - 1) }],
            },
          };
        }),
      });
      // As the ingest would: one flusher per partition group, with backpressure on the lane's pending inputs.
      for (let i = 0; i < SIGNALS_PER_SENDER; i++) {
        await Promise.all(
          Array.from({ length: SENDERS }, (_, partition) => handle.signal(healthDeltaSignal, signalOf(partition, i))),
        );
        if (i % 5 === 4) {
          await eventually(async () => ((await handle.query(lanePendingQuery)) < 1500 ? true : undefined), 'backlog');
        }
      }
      // Redelivery (an ingest restarted from older offsets): the first 20 signals of partition 0 again.
      for (let i = 0; i < 20; i++) await handle.signal(healthDeltaSignal, signalOf(0, i));
      // And one invalid signal, which is logged and dropped.
      await handle.signal(healthDeltaSignal, { lane, deltas: [] });

      const total = SENDERS * SIGNALS_PER_SENDER * DELTAS_PER_SIGNAL;
      const live: LaneState = await eventually(
        async () => {
          const state = await client.workflow.getHandle(workflowId).query(laneStateQuery);
          return state.windows[offerId]?.totals.succeeded === total * DEVICES_PER_DELTA ? state : undefined;
        },
        'all deltas counted',
        150_000,
      );
      // Let the last round's append finish, then compare with the log.
      await new Promise((r) => setTimeout(r, 1000));
      const { events } = await readEvents(h);
      expect(events.filter((e) => e.type === 'health-evaluated')).toHaveLength(total);
      expect(foldLane(events)).toEqual(live);
      expect(live.highWater[offerId]).toEqual(
        Object.fromEntries(
          Array.from({ length: SENDERS }, (_, p) => [
            String(p),
            String(SIGNALS_PER_SENDER * DELTAS_PER_SIGNAL * DEVICES_PER_DELTA - 1),
          ]),
        ),
      );
      expect(live.status).toBe('running');
      expect(live.waitingFor?.kind).toBe('bake');

      // Walk the chain of runs: every run stays well under Temporal's limits.
      const runs: { events: number; signals: number }[] = [];
      let runId: string | undefined = handle.firstExecutionRunId;
      while (runId !== undefined) {
        const history: temporal.api.history.v1.IHistory = await client.workflow
          .getHandle(workflowId, runId)
          .fetchHistory();
        const all: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
        runs.push({
          events: all.length,
          signals: all.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length,
        });
        runId = all[all.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      expect(runs.length).toBeGreaterThan(1);
      for (const run of runs) {
        expect(run.events).toBeLessThan(4096);
        expect(run.signals).toBeLessThan(10_000);
      }
      expect(runs.reduce((n, r) => n + r.signals, 0)).toBe(SENDERS * SIGNALS_PER_SENDER + 21);
      await client.workflow.getHandle(workflowId).terminate('test over');
    },
    TIMEOUT,
  );
});
