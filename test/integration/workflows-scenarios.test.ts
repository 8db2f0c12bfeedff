// Rollout scenarios on Temporal's time-skipping test server (24-hour bakes pass in moments) with the real worker and
// real Kafka: each test reads the domain events back from its own fresh event-log topic and asserts the exact
// sequence per stream, and the fleet orders from its own command topic. Health deltas are signalled the way the
// ingest sends them (per-offer deltas with Kafka offset ranges).
import { temporal } from '@temporalio/proto';
import { CommandRefusedError, getStatus, sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import type { RolloutPlanInput } from '../../events/plan';
import { rolloutWorkflowId, laneWorkflowId } from '../../workflows/messages';
import {
  DeltaFeeder,
  drive,
  exportHistory,
  laneReaches,
  readEvents,
  readOrders,
  typesByStream,
  type Behaviour,
  type Outcome,
  useTimeSkippingWorld,
} from '../support/rollout-harness';

const TIMEOUT = 120_000;
const HEALTHY: Outcome = { ok: 200, failed: 2 };
const SPIKE: Outcome = { ok: 60, failed: 40, code: 'E_BOOTLOOP' };
const OPERATOR = { actor: 'sre-alice', reason: 'integration test' };

function plan(overrides: Partial<RolloutPlanInput> = {}): RolloutPlanInput {
  return {
    releaseId: 'bsi-26.3-test',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a', 'phone-b', 'tablet-c'],
    phases: [
      { share: 1, bake: '24h' },
      { share: 10, bake: '24h' },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
    breachPolicy: { action: 'pause' },
    ...overrides,
  };
}

const HEALTHY_LANE = [
  'lane-started',
  'phase-started',
  'exposure-issued',
  'health-evaluated',
  'bake-elapsed',
  'phase-started',
  'exposure-issued',
  'health-evaluated',
  'bake-elapsed',
  'phase-started',
  'exposure-issued',
  'bake-elapsed',
  'health-evaluated',
  'lane-completed',
];

// The time-skipping server is Temporal's Java test server: each test gets a fresh one (its own virtual clock, no
// workflows left over from an earlier test) and every probe is bounded. No retries: a failure here is a race in
// the workflows' signal/update handling until shown otherwise, and a retry would hide exactly that.

describe('rollout workflows (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('wf', TIMEOUT, { perTest: true });

  const start = (rolloutId: string, p: RolloutPlanInput) =>
    startRollout(world.env.client, { plan: p, rolloutId, taskQueue: world.h.config.temporal.taskQueue, ...OPERATOR });

  const rolloutDone = (rolloutId: string) => async () =>
    (await world.env.client.workflow.getHandle(rolloutWorkflowId(rolloutId)).describe()).status.name !== 'RUNNING';

  async function exportAll(name: string, rolloutId: string, lanes: string[]): Promise<void> {
    await exportHistory(world.env.client.workflow.getHandle(rolloutWorkflowId(rolloutId)), `${name}.rollout`);
    for (const lane of lanes) {
      await exportHistory(world.env.client.workflow.getHandle(laneWorkflowId(rolloutId, lane)), `${name}.lane-${lane}`);
    }
  }

  it(
    'a healthy 3-class rollout with 24-hour bakes completes; each lane exposes each phase once',
    async () => {
      const rolloutId = 'healthy-3';
      const p = plan();
      await start(rolloutId, p);
      const lanes = p.deviceClasses;
      await drive({
        env: world.env,
        feeder: new DeltaFeeder(world.env.client),
        rolloutId,
        lanes,
        behaviour: () => HEALTHY,
        done: rolloutDone(rolloutId),
      });
      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary).toEqual({
        rolloutId,
        status: 'completed',
        lanes: { 'phone-a': 'completed', 'phone-b': 'completed', 'tablet-c': 'completed' },
        halts: 0,
        breachedLanes: [],
      });

      const { events, raw } = await readEvents(world.h);
      expect(raw).toBe(events.length);
      const streams = typesByStream(events);
      expect(streams._).toEqual(['rollout-started', 'rollout-completed']);
      for (const lane of lanes) expect(streams[lane]).toEqual(HEALTHY_LANE);
      const completed = events.find((e) => e.type === 'rollout-completed');
      expect(completed?.data).toEqual({ lanes: summary.lanes });

      // Bakes took (virtual) days: phase 1 exposure is 24 h after phase 0.
      const exposures = events.filter((e) => e.type === 'exposure-issued' && e.lane === 'phone-a');
      expect(Date.parse(exposures[1]!.at) - Date.parse(exposures[0]!.at)).toBeGreaterThanOrEqual(24 * 3600 * 1000);

      const orders = await readOrders(world.h);
      for (const lane of lanes) {
        expect(orders.filter((o) => o.lane === lane).map((o) => [o.kind, o.cohortBound])).toEqual([
          ['expose', 100],
          ['expose', 1000],
          ['expose', 10000],
        ]);
      }
      const status = await getStatus(world.env.client, rolloutId);
      expect(status.lanes.map((l) => [l.lane, l.status, l.exposurePercent])).toEqual(
        lanes.map((lane) => [lane, 'completed', 100]),
      );
      await exportAll('healthy-3-class', rolloutId, lanes);
    },
    TIMEOUT,
  );

  it(
    'one policy per spiking class (pause; retry then rollback; rollback) while the healthy class completes',
    async () => {
      const rolloutId = 'spikes';
      const p = plan({
        deviceClasses: ['pauser', 'retrier', 'roller', 'healthy'],
        breachPolicy: { action: 'pause' },
        classes: {
          retrier: { breachPolicy: { action: 'retry', attempts: 1, backoff: '10m', then: 'rollback' } },
          roller: { breachPolicy: { action: 'rollback' } },
        },
        rollbackTimeout: '30m',
      });
      await start(rolloutId, p);
      const behaviour: Behaviour = (lane, _state, window) => {
        if (window.kind === 'rollback') return { ok: 100, failed: 0 };
        return lane === 'healthy' ? HEALTHY : SPIKE;
      };
      const feeder = new DeltaFeeder(world.env.client);
      const lanes = p.deviceClasses;
      await drive({
        env: world.env,
        feeder,
        rolloutId,
        lanes,
        behaviour,
        done: async () => {
          const pauser = await laneReaches(world.env.client, rolloutId, 'pauser', () => true, 'state');
          return pauser.status === 'paused' && !(await rolloutDone(rolloutId)()) && (await othersSettled());
        },
      });
      async function othersSettled(): Promise<boolean> {
        for (const lane of ['retrier', 'roller', 'healthy']) {
          const s = await laneReaches(world.env.client, rolloutId, lane, () => true, 'state');
          if (!['rolled-back', 'completed'].includes(s.status)) return false;
        }
        return true;
      }
      // The paused class waits for a person: roll it back.
      const paused = await laneReaches(world.env.client, rolloutId, 'pauser', (s) => s.status === 'paused', 'paused');
      expect(paused.pause?.cause).toBe('breach');
      await expect(
        sendOperatorCommand(world.env.client, rolloutId, { type: 'resume', lane: 'pauser', ...OPERATOR }),
      ).rejects.toThrow(/paused on a threshold breach/);
      await sendOperatorCommand(world.env.client, rolloutId, { type: 'rollback', lane: 'pauser', ...OPERATOR });
      await drive({ env: world.env, feeder, rolloutId, lanes, behaviour, done: rolloutDone(rolloutId) });

      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary.lanes).toEqual({
        pauser: 'rolled-back',
        retrier: 'rolled-back',
        roller: 'rolled-back',
        healthy: 'completed',
      });
      // A command for a class whose lane has finished answers with its final state and what to do instead.
      await world.env.client.workflow.getHandle(laneWorkflowId(rolloutId, 'roller')).result();
      await expect(
        sendOperatorCommand(world.env.client, rolloutId, { type: 'resume', lane: 'roller', ...OPERATOR }),
      ).rejects.toThrow(/^cannot resume lane roller: it has finished, rolled-back at phase 1\/3 .*start a new rollout/);
      const { events } = await readEvents(world.h);
      const streams = typesByStream(events);
      expect(streams.pauser).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'threshold-breached',
        'lane-paused',
        'operator-command-accepted',
        'rollback-started',
        'health-evaluated',
        'rollback-completed',
      ]);
      expect(streams.retrier).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'threshold-breached',
        'retry-issued',
        'exposure-issued',
        'health-evaluated',
        'threshold-breached',
        'rollback-started',
        'health-evaluated',
        'rollback-completed',
      ]);
      expect(streams.roller).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'threshold-breached',
        'rollback-started',
        'health-evaluated',
        'rollback-completed',
      ]);
      expect(streams.healthy).toEqual(HEALTHY_LANE);
      expect(streams._).toEqual(['rollout-started', 'rollout-completed']);
      const responses = events.filter((e) => e.type === 'threshold-breached').map((e) => [e.lane, e.data.response]);
      expect(responses).toEqual(
        expect.arrayContaining([
          ['pauser', 'pause'],
          ['retrier', 'retry'],
          ['retrier', 'rollback'],
          ['roller', 'rollback'],
        ]),
      );
      const orders = await readOrders(world.h);
      const kinds = (lane: string) => orders.filter((o) => o.lane === lane).map((o) => `${o.kind}:${o.offerId}`);
      expect(kinds('retrier')).toEqual(['expose:retrier/p0a1', 'retry:retrier/p0a2', 'rollback:retrier/rb1']);
      expect(kinds('roller')).toEqual(['expose:roller/p0a1', 'rollback:roller/rb1']);
      expect(kinds('pauser')).toEqual(['expose:pauser/p0a1', 'rollback:pauser/rb1']);
      await exportAll('policies', rolloutId, lanes);
    },
    TIMEOUT,
  );

  it(
    'fleet-wide halt pauses the running class once two classes breached; abort then ends every lane',
    async () => {
      const rolloutId = 'fleet-halt';
      const p = plan({ deviceClasses: ['bad-a', 'bad-b', 'calm'], fleetHalt: { breachedClasses: 2 } });
      await start(rolloutId, p);
      const lanes = p.deviceClasses;
      await drive({
        env: world.env,
        feeder: new DeltaFeeder(world.env.client),
        rolloutId,
        lanes,
        behaviour: (lane) => (lane === 'calm' ? null : SPIKE),
        done: async () => (await laneReaches(world.env.client, rolloutId, 'calm', () => true, 's')).status === 'paused',
      });
      const calm = await laneReaches(world.env.client, rolloutId, 'calm', (s) => s.status === 'paused', 'halted');
      expect(calm.pause?.cause).toBe('fleet-halt');
      const status = await getStatus(world.env.client, rolloutId);
      expect(status.halts).toBe(1);
      expect([...status.breachedLanes].sort()).toEqual(['bad-a', 'bad-b']);

      await sendOperatorCommand(world.env.client, rolloutId, { type: 'abort', ...OPERATOR });
      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary).toMatchObject({
        status: 'aborted',
        lanes: { 'bad-a': 'aborted', 'bad-b': 'aborted', calm: 'aborted' },
      });

      const { events } = await readEvents(world.h);
      const streams = typesByStream(events);
      expect(streams._).toEqual(['rollout-started', 'fleet-halted', 'operator-command-accepted', 'rollout-aborted']);
      for (const lane of ['bad-a', 'bad-b']) {
        expect(streams[lane]).toEqual([
          'lane-started',
          'phase-started',
          'exposure-issued',
          'health-evaluated',
          'threshold-breached',
          'lane-paused',
          'operator-command-accepted',
          'lane-aborted',
        ]);
      }
      expect(streams.calm).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'lane-paused',
        'operator-command-accepted',
        'lane-aborted',
      ]);
      const halted = events.find((e) => e.type === 'fleet-halted');
      expect(halted?.data).toMatchObject({ cause: 'breached-classes', haltLanes: ['calm'] });
      const aborted = events.filter((e) => e.type === 'lane-aborted');
      expect(aborted.every((e) => e.type === 'lane-aborted' && e.data.cause === 'rollout-aborted')).toBe(true);
      expect(aborted.every((e) => e.actor === OPERATOR.actor)).toBe(true);
      await exportAll('fleet-halt-abort', rolloutId, lanes);
    },
    TIMEOUT,
  );

  it(
    'an abort during a rollback stops further exposure but lets the rollback finish, every device counted',
    async () => {
      const rolloutId = 'abort-rollback';
      const p = plan({
        deviceClasses: ['roller', 'calm'],
        classes: { roller: { breachPolicy: { action: 'rollback' } } },
        rollbackTimeout: '30m',
      });
      await start(rolloutId, p);
      const lanes = p.deviceClasses;
      const feeder = new DeltaFeeder(world.env.client);
      await drive({
        env: world.env,
        feeder,
        rolloutId,
        lanes,
        behaviour: (lane, _state, window) => (lane === 'roller' && window.kind === 'exposure' ? SPIKE : null),
        done: async () =>
          (await laneReaches(world.env.client, rolloutId, 'roller', () => true, 'state')).status === 'rolling-back',
      });
      // One device reports its rollback, then the whole rollout is aborted.
      await feeder.send(rolloutId, 'roller', 'roller/rb1', { ok: 1, failed: 0 });
      await sendOperatorCommand(world.env.client, rolloutId, { type: 'abort', ...OPERATOR });
      const aborting = await laneReaches(
        world.env.client,
        rolloutId,
        'roller',
        (s) => s.abortPending === 'rollout-aborted',
        'abort deferred',
      );
      expect(aborting.status).toBe('rolling-back');
      const shown = (await getStatus(world.env.client, rolloutId)).lanes.find((l) => l.lane === 'roller');
      expect(shown).toMatchObject({ status: 'rolling-back', abortPending: 'rollout-aborted' });
      await expect(
        sendOperatorCommand(world.env.client, rolloutId, { type: 'retry', lane: 'roller', ...OPERATOR }),
      ).rejects.toThrow(/has not breached \(it is rolling-back\): nothing to retry/);
      // The rest of the rolled-back devices report after the abort: the lane still counts them.
      await feeder.send(rolloutId, 'roller', 'roller/rb1', { ok: 233, failed: 0 });
      await laneReaches(
        world.env.client,
        rolloutId,
        'roller',
        (s) => s.windows['roller/rb1']?.totals.succeeded === 234,
        'rollback counted',
      );
      await drive({ env: world.env, feeder, rolloutId, lanes, behaviour: () => null, done: rolloutDone(rolloutId) });

      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary).toMatchObject({ status: 'aborted', lanes: { roller: 'rolled-back', calm: 'aborted' } });
      const { events } = await readEvents(world.h);
      const streams = typesByStream(events);
      expect(streams.roller).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'health-evaluated',
        'threshold-breached',
        'rollback-started',
        'health-evaluated',
        'operator-command-accepted',
        'lane-abort-deferred',
        'health-evaluated',
        'rollback-completed',
      ]);
      const completed = events.find((e) => e.type === 'rollback-completed');
      expect(completed?.type === 'rollback-completed' && completed.data.totals.succeeded).toBe(234);
      const orders = await readOrders(world.h);
      expect(orders.filter((o) => o.lane === 'roller').map((o) => o.kind)).toEqual(['expose', 'rollback']);
      await exportAll('abort-during-rollback', rolloutId, lanes);
    },
    TIMEOUT,
  );

  it(
    'manual gate approve, pause/resume, and refused commands (rejected with the reason, nothing recorded)',
    async () => {
      const rolloutId = 'gated';
      const lane = 'phone-a';
      const p = plan({
        deviceClasses: [lane],
        phases: [
          { share: 5, bake: '1h' },
          { share: 100, bake: 0, approval: 'manual' },
        ],
      });
      await start(rolloutId, p);
      const feeder = new DeltaFeeder(world.env.client);
      const send = (type: 'pause' | 'resume' | 'approve' | 'retry' | 'rollback' | 'abort', onLane = true) =>
        sendOperatorCommand(world.env.client, rolloutId, { type, ...(onLane && { lane }), ...OPERATOR });

      await laneReaches(world.env.client, rolloutId, lane, (s) => s.waitingFor?.kind === 'bake', 'baking');
      const before = (await readEvents(world.h)).events.length;
      await expect(send('resume')).rejects.toThrow(
        new CommandRefusedError('lane phone-a is not paused (it is running)'),
      );
      await expect(send('approve')).rejects.toThrow(/nothing to approve/);
      await expect(send('retry')).rejects.toThrow(/has not breached/);
      await expect(send('resume', false)).rejects.toThrow(/needs a lane/);
      await expect(
        sendOperatorCommand(world.env.client, rolloutId, { type: 'pause', lane: 'no-such-class', ...OPERATOR }),
      ).rejects.toThrow(/unknown device class/);
      expect((await readEvents(world.h)).events.length).toBe(before);

      const paused = await send('pause');
      expect(paused.eventIds).toEqual([`${rolloutId}/${lane}/3`, `${rolloutId}/${lane}/4`]);
      await expect(send('pause')).rejects.toThrow(/already paused/);
      await send('resume');
      await feeder.send(rolloutId, lane, `${lane}/p0a1`, HEALTHY);
      await laneReaches(world.env.client, rolloutId, lane, (s) => s.lastVerdict?.verdict === 'healthy', 'healthy');
      await world.env.sleep(3600_000 + 1000);
      await laneReaches(world.env.client, rolloutId, lane, (s) => s.waitingFor?.kind === 'approval', 'gate');
      await send('approve');
      await laneReaches(world.env.client, rolloutId, lane, (s) => s.waitingFor?.kind === 'evidence', 'evidence');
      await feeder.send(rolloutId, lane, `${lane}/p1a1`, HEALTHY);
      const summary = await waitForRollout(world.env.client, rolloutId);
      expect(summary.lanes).toEqual({ [lane]: 'completed' });

      const { events } = await readEvents(world.h);
      expect(typesByStream(events)[lane]).toEqual([
        'lane-started',
        'phase-started',
        'exposure-issued',
        'operator-command-accepted',
        'lane-paused',
        'operator-command-accepted',
        'lane-resumed',
        'health-evaluated',
        'bake-elapsed',
        'gate-waiting',
        'operator-command-accepted',
        'gate-approved',
        'phase-started',
        'exposure-issued',
        'bake-elapsed',
        'health-evaluated',
        'lane-completed',
      ]);
      const accepted = events.filter((e) => e.type === 'operator-command-accepted');
      expect(
        accepted.map((e) => [e.type === 'operator-command-accepted' && e.data.command, e.actor, e.reason]),
      ).toEqual([
        ['pause', OPERATOR.actor, OPERATOR.reason],
        ['resume', OPERATOR.actor, OPERATOR.reason],
        ['approve', OPERATOR.actor, OPERATOR.reason],
      ]);
      // Refused updates never entered history: only the three accepted ones did.
      const history = await world.env.client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).fetchHistory();
      const acceptedType = temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED;
      expect((history.events ?? []).filter((e) => e.eventType === acceptedType)).toHaveLength(3);
      await exportAll('gate-pause-refusals', rolloutId, [lane]);
    },
    TIMEOUT,
  );
});
