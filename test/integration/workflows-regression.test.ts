// The regression judge end to end: the real rollout and lane workflows on Temporal's time-skipping test server with
// real Kafka (events read back from this test's own event-log topic). Post-install reports reach the lanes in the
// health-delta signal's `postInstall` list, as the ingest sends them. A build that installs cleanly but triples app
// crashes on phone-a is halted there and rolled back; phone-b, whose crashes rise five-fold for updated and control
// devices alike (a fleet-wide spike), is not halted, and completes only after its 2-hour watch window.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRollout, waitForRollout } from '../../client';
import type { EventOf } from '../../events/domain-events';
import { exposureOfferId } from '../../events/lane';
import type { RolloutPlanInput } from '../../events/plan';
import type { PostInstallDelta } from '../../events/post-install';
import { healthDeltaSignal, laneWorkflowId } from '../../workflows/messages';
import { DeltaFeeder, laneReaches, readEvents, type Outcome, useTimeSkippingWorld } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 120_000;
const HEALTHY: Outcome = { ok: 200, failed: 0 };
const HOUR = 3600;
const WATCH_SEC = 2 * HOUR;

const PLAN: RolloutPlanInput = {
  releaseId: 'bsi-26.3-regression',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'phone-b'],
  phases: [
    { share: 10, bake: '10m' },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
  breachPolicy: { action: 'rollback' },
  rollbackTimeout: '5m',
  regression: { signals: ['app-crash'], maxRateRatio: 1.5, falseHaltProbability: 0.01, watch: '2h' },
};

/** Post-install deltas of a class with 10 % updated: an hour of 1,000 updated and 9,000 control devices each. */
class PostInstallFeeder {
  private offset = 0;
  constructor(private readonly env: TestWorkflowEnvironment) {}

  /** Signals `hours` hourly deltas (8 per signal), crashes at `ratio` × the control's 0.01/h, both × `spike`. */
  async send(rolloutId: string, lane: string, hours: number, ratio: number, spike = 1): Promise<void> {
    const deltas: PostInstallDelta[] = [];
    for (let h = 0; h < hours; h++) {
      this.offset += 1;
      deltas.push({
        updated: { uptimeSec: 1000 * HOUR, events: { 'app-crash': Math.round(10 * ratio * spike) } },
        control: { uptimeSec: 9000 * HOUR, events: { 'app-crash': Math.round(90 * spike) } },
        ranges: [{ partition: 7, fromOffset: String(this.offset), toOffset: String(this.offset) }],
      });
    }
    const handle = this.env.client.workflow.getHandle(laneWorkflowId(rolloutId, lane));
    for (let i = 0; i < deltas.length; i += 8) {
      await handle.signal(healthDeltaSignal, { lane, deltas: [], postInstall: deltas.slice(i, i + 8) });
    }
  }
}

describe('the regression judge (time-skipping server, real Kafka)', () => {
  const world = useTimeSkippingWorld('regression', TIMEOUT);

  it(
    'triple app crashes on one class halt and roll it back; a fleet-wide spike halts nothing; the watch holds the other',
    async () => {
      const { env, h } = world;
      const rolloutId = uniqueName('regr');
      const outcomes = new DeltaFeeder(env.client);
      const postInstall = new PostInstallFeeder(env);
      const offer = (lane: string, phase: number) => exposureOfferId(lane, phase, 1);
      await startRollout(env.client, {
        plan: PLAN,
        rolloutId,
        taskQueue: h.config.temporal.taskQueue,
        actor: 'sre-alice',
        reason: 'integration test',
      });
      for (const lane of PLAN.deviceClasses) {
        await laneReaches(env.client, rolloutId, lane, (s) => s.offerId === offer(lane, 0), 'phase 0 exposed');
        await outcomes.send(rolloutId, lane, offer(lane, 0), HEALTHY);
      }

      // phone-a installs cleanly but its updated devices crash three times as often as its control.
      await postInstall.send(rolloutId, 'phone-a', 24, 3);
      const halted = await laneReaches(
        env.client,
        rolloutId,
        'phone-a',
        (s) => s.status === 'rolling-back' || s.status === 'rolled-back',
        'phone-a rolled back on the regression',
      );
      expect(halted.lastBreach?.evidence.rule).toBe('regression');

      // phone-b: a spike (× 5 in both groups) for 6 hours between ordinary ones: no evidence against the build.
      await postInstall.send(rolloutId, 'phone-b', 6, 1);
      await postInstall.send(rolloutId, 'phone-b', 6, 1, 5);
      await postInstall.send(rolloutId, 'phone-b', 6, 1);
      const judged = await laneReaches(
        env.client,
        rolloutId,
        'phone-b',
        (s) => s.regression?.signals['app-crash']?.control.uptimeSec === 18 * 9000 * HOUR,
        'phone-b judged 18 hours',
      );
      expect(judged.status).toBe('running');
      expect(judged.breaches).toBe(0);

      // phone-b's phases pass; then it waits for its watch window before it completes.
      await env.sleep(11 * 60 * 1000);
      await laneReaches(env.client, rolloutId, 'phone-b', (s) => s.waitingFor?.kind === 'evidence', 'last phase baked');
      await outcomes.send(rolloutId, 'phone-b', offer('phone-b', 1), HEALTHY);
      const watching = await laneReaches(
        env.client,
        rolloutId,
        'phone-b',
        (s) => s.waitingFor?.kind === 'watch',
        'phone-b watched',
      );
      expect(watching.status).toBe('running');

      const summary = await waitForRollout(env.client, rolloutId);
      expect(summary).toMatchObject({ lanes: { 'phone-a': 'rolled-back', 'phone-b': 'completed' } });

      const { events } = await readEvents(h);
      const mine = events.filter((e) => e.rolloutId === rolloutId);
      const breach = mine.find((e): e is EventOf<'threshold-breached'> => e.type === 'threshold-breached');
      expect(breach).toMatchObject({ lane: 'phone-a', data: { rule: 'regression', response: 'rollback' } });
      const evidence = breach?.data.evidence;
      if (evidence?.rule !== 'regression') throw new Error('the breach carries no regression evidence');
      expect(evidence).toMatchObject({ signal: 'app-crash', maxRateRatio: 1.5, verdict: 'breach' });
      expect(evidence.ratio).toBeCloseTo(3, 5);
      expect(evidence.logE).toBeGreaterThanOrEqual(evidence.bound);
      expect(mine.filter((e) => e.lane === 'phone-a' && e.type === 'rollback-started')).toHaveLength(1);
      expect(mine.filter((e) => e.lane === 'phone-b' && e.type === 'threshold-breached')).toHaveLength(0);
      const watch = mine.find((e): e is EventOf<'watch-started'> => e.type === 'watch-started' && e.lane === 'phone-b');
      const done = mine.find(
        (e): e is EventOf<'lane-completed'> => e.type === 'lane-completed' && e.lane === 'phone-b',
      );
      expect(done?.data.endedBy).toBe('watch');
      expect(Date.parse(done?.at ?? '') - Date.parse(watch?.at ?? '')).toBeGreaterThanOrEqual(WATCH_SEC * 1000);
      const spikes = mine.filter(
        (e): e is EventOf<'regression-evaluated'> => e.type === 'regression-evaluated' && e.lane === 'phone-b',
      );
      expect(spikes).toHaveLength(18);
      expect(spikes.every((e) => e.data.verdict === 'watching')).toBe(true);
    },
    TIMEOUT * 2,
  );
});
