// Superseding a rollout on Temporal's time-skipping test server with the real worker and real Kafka: a bad build is
// rolled back from laptop-x1 in its 10 % phase, then `startRollout(..., supersedes)` brings a fixed build to that
// class through a linked rollout. The fixed build's first cohort is the old exposed bound under the old rollout's
// cohort salt, the class completes on it, and both postmortems (read back from Kafka) name the other rollout.
// Health deltas are signalled the way the ingest sends them (DeltaFeeder), so the ingest and the fleet simulator are
// not part of this test: their use of the salt is covered by unit tests (events/supersede.test.ts,
// test/unit/cohort-salt.test.ts).
import { CommandRefusedError, UnknownRolloutError, getStatus, startRollout, waitForRollout } from '../../client';
import { renderStatus } from '../../cli/status-view';
import { loadRolloutReport } from '../../client/report';
import { renderText } from '../../replay/render-text';
import type { RolloutPlanInput } from '../../events/plan';
import { rolloutWorkflowId } from '../../workflows/messages';
import {
  DeltaFeeder,
  drive,
  readEvents,
  readOrders,
  type Behaviour,
  useTimeSkippingWorld,
} from '../support/rollout-harness';

const TIMEOUT = 180_000;
const OPERATOR = { actor: 'sre-alice', reason: 'integration test' };

function plan(overrides: Partial<RolloutPlanInput> = {}): RolloutPlanInput {
  return {
    releaseId: 'bsi-26.3-sup',
    artifact: { build: '26.3.1' },
    deviceClasses: ['laptop-x1', 'phone-a'],
    phases: [
      { share: 1, bake: '24h' },
      { share: 10, bake: '24h' },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
    breachPolicy: { action: 'rollback' },
    rollbackTimeout: '30m',
    ...overrides,
  };
}

describe('superseding a rolled-back class (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('wf-sup', TIMEOUT, { perTest: true });

  const rolloutDone = (rolloutId: string) => async () =>
    (await world.env.client.workflow.getHandle(rolloutWorkflowId(rolloutId)).describe()).status.name !== 'RUNNING';

  it(
    'the fixed build reaches the rolled-back class first at the old exposed bound; both postmortems show the link',
    async () => {
      const taskQueue = world.h.config.temporal.taskQueue;
      const feeder = new DeltaFeeder(world.env.client);
      // The bad build: laptop-x1 is healthy at 1 % and spikes at 10 %, then rolls back; phone-a completes.
      await startRollout(world.env.client, { plan: plan(), rolloutId: 'sup-old', taskQueue, ...OPERATOR });
      const bad: Behaviour = (lane, _state, window) => {
        if (window.kind === 'rollback') return { ok: 100, failed: 0 };
        return lane === 'laptop-x1' && window.phase === 1
          ? { ok: 60, failed: 40, code: 'E_BOOTLOOP' }
          : { ok: 200, failed: 2 };
      };
      const lanes = ['laptop-x1', 'phone-a'];
      await drive({
        env: world.env,
        feeder,
        rolloutId: 'sup-old',
        lanes,
        behaviour: bad,
        done: rolloutDone('sup-old'),
      });
      expect(await waitForRollout(world.env.client, 'sup-old')).toMatchObject({
        status: 'completed',
        lanes: { 'laptop-x1': 'rolled-back', 'phone-a': 'completed' },
      });

      // Refusals: an unknown rollout, and a plan that names no class the old rollout halted.
      const fixed = plan({ releaseId: 'bsi-26.3-fix', artifact: { build: '26.3.2' }, deviceClasses: ['laptop-x1'] });
      await expect(
        startRollout(world.env.client, {
          plan: fixed,
          rolloutId: 'sup-x',
          supersedes: 'no-such',
          taskQueue,
          ...OPERATOR,
        }),
      ).rejects.toBeInstanceOf(UnknownRolloutError);
      await expect(
        startRollout(world.env.client, {
          plan: plan({ deviceClasses: ['phone-a'] }),
          rolloutId: 'sup-y',
          supersedes: 'sup-old',
          taskQueue,
          ...OPERATOR,
        }),
      ).rejects.toThrow(CommandRefusedError);

      // The fix, linked to the old rollout.
      await startRollout(world.env.client, {
        plan: fixed,
        rolloutId: 'sup-new',
        supersedes: 'sup-old',
        taskQueue,
        ...OPERATOR,
      });
      await drive({
        env: world.env,
        feeder,
        rolloutId: 'sup-new',
        lanes: ['laptop-x1'],
        behaviour: () => ({ ok: 200, failed: 1 }),
        done: rolloutDone('sup-new'),
      });
      expect(await waitForRollout(world.env.client, 'sup-new')).toMatchObject({
        status: 'completed',
        lanes: { 'laptop-x1': 'completed' },
      });

      expect(renderStatus(await getStatus(world.env.client, 'sup-new'), Date.now())).toContain(
        'SUPERSEDES sup-old: laptop-x1 (rolled-back at 10.00%)',
      );
      const { events } = await readEvents(world.h);
      const started = events.find((e) => e.rolloutId === 'sup-new' && e.type === 'rollout-started');
      expect(started?.data).toMatchObject({
        supersedes: { rolloutId: 'sup-old', lanes: { 'laptop-x1': { cohortBound: 1000, status: 'rolled-back' } } },
      });
      const laneStarted = events.find((e) => e.rolloutId === 'sup-new' && e.type === 'lane-started');
      expect(laneStarted?.type === 'lane-started' && laneStarted.data.config).toMatchObject({
        cohortSalt: 'sup-old',
        artifact: { build: '26.3.2' },
      });
      const orders = await readOrders(world.h);
      expect(orders.filter((o) => o.rolloutId === 'sup-new').map((o) => [o.kind, o.cohortBound, o.cohortSalt])).toEqual(
        [
          ['expose', 1000, 'sup-old'],
          ['expose', 10000, 'sup-old'],
        ],
      );
      // The old lane's orders had no salt (its own rollout id) and reached 10 % before its rollback.
      expect(
        orders
          .filter((o) => o.rolloutId === 'sup-old' && o.lane === 'laptop-x1')
          .map((o) => [o.kind, o.cohortBound, o.cohortSalt]),
      ).toEqual([
        ['expose', 100, undefined],
        ['expose', 1000, undefined],
        ['rollback', 1000, undefined],
      ]);

      const options = {
        installEvents: false,
        deviceKeys: () => {
          throw new Error('no install events are read');
        },
      };
      const topics = world.h.config.topics;
      const oldReport = (await loadRolloutReport(world.h.kafka, topics, 'sup-old', options)).report;
      const newReport = (await loadRolloutReport(world.h.kafka, topics, 'sup-new', options)).report;
      expect(oldReport.supersededBy).toEqual(['sup-new']);
      expect(newReport.supersedes?.rolloutId).toBe('sup-old');
      expect(renderText(oldReport)).toContain('Superseded by sup-new');
      expect(renderText(newReport)).toContain(
        'Supersedes sup-old: a fixed build for laptop-x1 (rolled-back after exposing 10.00%)',
      );
    },
    TIMEOUT,
  );
});
