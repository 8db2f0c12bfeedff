// Pacing end to end: the real rollout and lane workflows on Temporal's time-skipping test server with real Kafka.
// A class held by a maintenance window (computed in the workflow sandbox with Intl) sends its first order when the
// window opens. A rate-limited lane (steps of 500 buckets a minute) really continues as new while it waits for its next
// step (health deltas push its run past the history bound) and goes on in the new run with the next step at its time:
// no step lost, none doubled, never faster than the rate. (The worker restart is in workflows-pacing-restart.test.ts,
// on the dev server in real time: here a restarted worker left the time-skipping server's clock stuck, cause not
// found.)
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { waitingText } from '../../cli/status-view';
import { getStatus, startRollout } from '../../client';
import type { FleetCommand } from '../../events/fleet-commands';
import { exposureOfferId, foldLane } from '../../events/lane';
import { laneConfigOf, validatePlan, type RolloutPlanInput } from '../../events/plan';
import { MAX_HISTORY_EVENTS } from '../../workflows/activity-options';
import { readCarriedLane } from '../../workflows/carried';
import type { laneWorkflow } from '../../workflows/lane-workflow';
import { lanePendingQuery, laneStateQuery, laneWorkflowId, type LaneWorkflowInput } from '../../workflows/messages';
import {
  DeltaFeeder,
  createHarness,
  eventually,
  laneReaches,
  readEvents,
  readOrders,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { createTimeSkippingEnv } from '../support/temporal-testing';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 240_000;
const MINUTE_MS = 60_000;
const EventType = temporal.api.enums.v1.EventType;
// Health deltas sent in parallel (one partition each) to push a lane run past MAX_HISTORY_EVENTS, and the most sent
// before the test gives up: every signal adds at least one event to the run's history.
const SENDERS = 8;
const MAX_CAN_DELTAS = 2 * MAX_HISTORY_EVENTS;

// 1,000,000 devices at 50,000 a minute: steps of 500 buckets; phase 0 (10 %) in 2 orders, phase 1 in 18 more.
const PACED: RolloutPlanInput = {
  releaseId: 'bsi-26.3-pacing',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a'],
  phases: [
    { share: 10, bake: '1m' },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'pause' },
  rateLimit: { maxPerMinute: 50_000 },
  classes: { 'phone-a': { completion: { expectedDevices: 1_000_000, patchedShare: 0.0001 } } },
};
const STEPS = [500, 1000, ...Array.from({ length: 18 }, (_, i) => 1500 + i * 500)];

/** The orders of one rollout, checked: one per step in order, each once, a minute at least between an offer's steps. */
function checkPace(orders: readonly FleetCommand[], lane: string): void {
  expect(new Set(orders.map((o) => o.orderId)).size).toBe(orders.length);
  expect(orders.map((o) => o.cohortBound)).toEqual(STEPS);
  expect(orders.map((o) => o.offerId)).toEqual(STEPS.map((b) => exposureOfferId(lane, b <= 1000 ? 0 : 1, 1)));
  for (let i = 1; i < orders.length; i++) {
    const [a, b] = [orders[i - 1]!, orders[i]!];
    if (a.offerId === b.offerId) {
      expect(Date.parse(b.issuedAt) - Date.parse(a.issuedAt)).toBeGreaterThanOrEqual(MINUTE_MS);
    }
  }
}

describe('pacing (time-skipping server, real Kafka)', () => {
  let env: TestWorkflowEnvironment;
  let h: Harness;

  beforeAll(async () => {
    await workflowBundle();
    env = await createTimeSkippingEnv();
    h = await createHarness({ connection: env.nativeConnection, client: env.client, prefix: 'pacing' });
    await h.startWorker('worker-1');
  }, TIMEOUT);

  afterAll(async () => {
    await h?.close();
    await env?.teardown();
  }, TIMEOUT);

  it(
    'a lane held by a maintenance window sends its first order when the window opens',
    async () => {
      const rolloutId = uniqueName('window');
      const lane = 'tablet-c';
      // A window opening two hours from the server's now, in Kolkata (+05:30), for one hour, every day.
      const now = await env.currentTimeMs();
      const local = (ms: number) =>
        new Intl.DateTimeFormat('en-GB', {
          timeZone: 'Asia/Kolkata',
          hour: '2-digit',
          minute: '2-digit',
          hourCycle: 'h23',
        }).format(new Date(ms));
      const opens = Math.ceil((now + 2 * 60 * MINUTE_MS) / MINUTE_MS) * MINUTE_MS;
      await startRollout(env.client, {
        plan: {
          ...PACED,
          deviceClasses: [lane],
          rateLimit: undefined,
          classes: {},
          maintenanceWindows: {
            timeZone: 'Asia/Kolkata',
            windows: [
              {
                days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
                start: local(opens),
                end: local(opens + 60 * MINUTE_MS),
              },
            ],
          },
        },
        rolloutId,
        taskQueue: h.config.temporal.taskQueue,
        actor: 'sre-alice',
        reason: 'integration test',
      });
      const held = await laneReaches(env.client, rolloutId, lane, (s) => s.waitingFor?.kind === 'window', 'held');
      expect(held.waitingFor).toMatchObject({
        kind: 'window',
        holds: 'exposure',
        until: new Date(opens).toISOString(),
      });
      expect(held.offerId).toBeNull();
      const status = (await getStatus(env.client, rolloutId)).lanes[0];
      expect(status?.maintenanceWindows).toEqual({
        windows: expect.stringMatching(/\(Asia\/Kolkata\)$/),
        heldUntil: new Date(opens).toISOString(),
      });
      expect(status && waitingText(status, now)).toMatch(/^window opens 2\.0h \(offer of phase 1\)$/);

      await env.sleep(2 * 60 * MINUTE_MS + MINUTE_MS);
      await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === exposureOfferId(lane, 0, 1), 'offered');
      const { events } = await readEvents(h);
      const ours = events.filter((e) => e.rolloutId === rolloutId && e.lane === lane);
      expect(ours.map((e) => e.type)).toEqual(['lane-started', 'phase-started', 'exposure-held', 'exposure-issued']);
      const issuedAt = Date.parse(ours[3]!.at);
      expect(issuedAt).toBeGreaterThanOrEqual(opens);
      expect(issuedAt).toBeLessThan(opens + MINUTE_MS);
      const orders = (await readOrders(h)).filter((o) => o.rolloutId === rolloutId);
      expect(orders.map((o) => [o.kind, o.cohortBound])).toEqual([['expose', 1000]]);
    },
    TIMEOUT,
  );

  it(
    'a rate-limited lane that continues as new while it waits for its next step keeps its pace',
    async () => {
      const rolloutId = uniqueName('paced-can');
      const lane = 'phone-a';
      const checked = validatePlan(PACED);
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
      const workflowId = laneWorkflowId(rolloutId, lane);
      const handle = await env.client.workflow.start<typeof laneWorkflow>('laneWorkflow', {
        workflowId,
        taskQueue: h.config.temporal.taskQueue,
        args: [{ rolloutId, lane, config: laneConfigOf(checked.plan, lane), reportTo: null, reportHealth: false }],
      });
      const firstRunId = handle.firstExecutionRunId;
      const feeder = new DeltaFeeder(env.client);
      await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === exposureOfferId(lane, 0, 1), 'offered');
      await feeder.send(rolloutId, lane, exposureOfferId(lane, 0, 1), { ok: 100, failed: 0 });
      await env.sleep(6 * MINUTE_MS);
      const offerId = exposureOfferId(lane, 1, 1);
      const paced = await handle.query(laneStateQuery);
      expect(paced.waitingFor?.kind).toBe('step');
      expect(paced.offerId).toBe(offerId);

      // Push the run past MAX_HISTORY_EVENTS with small deltas for the current offer, each a fresh offset range (one
      // sender per partition keeps each partition in order). The server skips no time while the test only signals, so
      // the run continues as new while it waits for its next step.
      let deltas = 0;
      while ((await handle.describe()).runId === firstRunId) {
        if (deltas >= MAX_CAN_DELTAS) throw new Error(`no continue-as-new after ${deltas} deltas`);
        await Promise.all(
          Array.from({ length: SENDERS }, (_, partition) =>
            feeder.send(rolloutId, lane, offerId, { ok: 1, failed: 0 }, partition),
          ),
        );
        deltas += SENDERS;
        // As the ingest would: the next flush once the lane has taken these (so each round is a few deltas).
        await eventually(async () => ((await handle.query(lanePendingQuery)) === 0 ? true : undefined), 'deltas taken');
      }
      // The first run ended in a continue-as-new past the history bound, handing over a lane waiting for a step.
      const firstRun = (await env.client.workflow.getHandle(workflowId, firstRunId).fetchHistory()).events ?? [];
      expect(firstRun.length).toBeGreaterThan(MAX_HISTORY_EVENTS);
      const last = firstRun[firstRun.length - 1];
      expect(last?.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
      const [payload] = last?.workflowExecutionContinuedAsNewEventAttributes?.input?.payloads ?? [];
      if (payload === undefined) throw new Error('the continue-as-new carries no input');
      const nextInput = env.client.options.loadedDataConverter.payloadConverter.fromPayload<LaneWorkflowInput>(payload);
      const read = readCarriedLane(nextInput.carried);
      if (!read.ok) throw new Error(`carried state does not validate: ${read.problem}`);
      const state = read.carried.state;
      expect(read.carried.runs).toBe(1);
      expect(state.waitingFor?.kind).toBe('step');
      expect(state.pace?.offerId).toBe(offerId);

      await feeder.send(rolloutId, lane, offerId, { ok: 200, failed: 0 });
      await env.sleep(30 * MINUTE_MS);
      expect(await handle.result()).toMatchObject({ lane, status: 'completed', runs: 2 });
      checkPace(
        (await readOrders(h)).filter((o) => o.rolloutId === rolloutId),
        lane,
      );
      // The carried state is the fold of the log up to the handover; the log holds each step once, and the new run's
      // first step is the one the old run was waiting for, on time.
      const events = (await readEvents(h)).events.filter((e) => e.rolloutId === rolloutId);
      expect(foldLane(events.filter((e) => e.seq < state.nextSeq))).toEqual(state);
      const steps = events.filter((e) => e.type === 'exposure-widened');
      expect(steps).toHaveLength(STEPS.length - 2);
      const handedOver = steps.find((e) => e.seq >= state.nextSeq);
      const due = state.waitingFor?.kind === 'step' ? Date.parse(state.waitingFor.until) : NaN;
      const sent = Date.parse(handedOver?.at ?? '');
      expect(sent).toBeGreaterThanOrEqual(due);
      expect(sent).toBeLessThan(due + 1000);
      expect(handedOver?.data).toMatchObject({ fromBound: state.pace?.offered });
    },
    TIMEOUT,
  );
});
