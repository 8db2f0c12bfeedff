// Compatibility regressions end to end on the real servers (#17): the worker, the ingest and the fleet simulator as the
// real `rollout` processes, the bundled plan and scenario of `make demo-regression`. laptop-x1 gets build 26.3.2,
// which installs as cleanly as phone-a's but triples the app-crash rate after install; a fleet-wide app-crash spike
// quadruples every device's rate while phone-a's first phase runs. Each lane judges its updated devices' crash rate
// against its class's concurrent control (devices not offered the build yet): laptop-x1 is halted on the regression
// and rolled back, while phone-a, whose updated and control devices both see the spike, halts on nothing and
// completes after its watch window.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startRollout, waitForRollout } from '../../client';
import type { DomainEvent, EventOf } from '../../events/domain-events';
import { parsePlan } from '../../events/plan';
import { readRolloutLog } from '../../replay/read-log';
import { startEngineFleet, type EngineFleet } from '../support/engine-fleet';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(420_000);

const ROOT = path.join(__dirname, '..', '..');
const PLAN = path.join(ROOT, 'examples', 'plans', 'regression.yaml');
const SCENARIO = path.join(ROOT, 'examples', 'scenarios', 'regression.yaml');

/** A group's app-crash rate in one judged delta (events per second of uptime), or null without uptime. */
function crashRate(e: EventOf<'regression-evaluated'>, group: 'updated' | 'control'): number | null {
  const g = e.data.delta[group];
  return g.uptimeSec > 0 ? (g.events['app-crash'] ?? 0) / g.uptimeSec : null;
}

describe('a compatibility regression against a concurrent control (worker, ingest and simulator processes)', () => {
  let fleet: EngineFleet;

  beforeAll(async () => {
    fleet = await startEngineFleet(uniqueName('regression'), SCENARIO);
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('rolls back the class whose build triples crashes, and a fleet-wide spike halts nothing', async () => {
    const parsed = parsePlan(readFileSync(PLAN, 'utf8'), PLAN);
    if (!parsed.ok) throw new Error(`bundled plan invalid: ${JSON.stringify(parsed.errors)}`);
    const rolloutId = uniqueName('regression');
    await startRollout(fleet.client, {
      plan: parsed.plan,
      rolloutId,
      actor: 'sre-test',
      reason: 'compatibility regression end to end',
      taskQueue: fleet.config.temporal.taskQueue,
    });
    const summary = await waitForRollout(fleet.client, rolloutId);
    expect(summary.lanes).toEqual({ 'phone-a': 'completed', 'laptop-x1': 'rolled-back' });

    const log: DomainEvent[] = (await readRolloutLog(fleet.kafka, fleet.config.topics.rolloutEvents, rolloutId)).events;
    const of = <T extends DomainEvent['type']>(lane: string, type: T) =>
      log.filter((e): e is EventOf<T> => e.lane === lane && e.type === type);

    // laptop-x1: halted on the regression of app crashes against its control, not on its installs, and rolled back.
    const breaches = of('laptop-x1', 'threshold-breached');
    expect(breaches).toHaveLength(1);
    const evidence = breaches[0]!.data.evidence;
    expect(evidence.rule).toBe('regression');
    if (evidence.rule !== 'regression') throw new Error('not a regression breach');
    expect(evidence.signal).toBe('app-crash');
    expect(evidence.ratio).toBeGreaterThan(1.5);
    expect(evidence.logE).toBeGreaterThanOrEqual(evidence.bound);
    expect(evidence.control.exposureHours).toBeGreaterThan(0);
    expect(of('laptop-x1', 'rollback-started')).toHaveLength(1);
    // Its installs were clean: every install verdict it had was short of a breach.
    expect(of('laptop-x1', 'health-evaluated').every((e) => e.data.verdict.verdict !== 'breach')).toBe(true);

    // phone-a: judged all along (both groups exposed), the spike seen in both groups alike, no breach, watched, done.
    expect(of('phone-a', 'threshold-breached')).toEqual([]);
    const judged = of('phone-a', 'regression-evaluated').filter(
      (e) => (crashRate(e, 'updated') ?? 0) > 0 && (crashRate(e, 'control') ?? 0) > 0,
    );
    expect(judged.length).toBeGreaterThan(10);
    const controlRates = judged.map((e) => crashRate(e, 'control')!).sort((a, b) => a - b);
    const updatedRates = judged.map((e) => crashRate(e, 'updated')!).sort((a, b) => a - b);
    const quantile = (xs: number[], q: number) => xs[Math.floor(q * (xs.length - 1))]!;
    // The spike (×4) is in the control's rates and in the updated devices' rates: their top decile is well above
    // their bottom one.
    expect(quantile(controlRates, 0.9)).toBeGreaterThan(2 * quantile(controlRates, 0.1));
    expect(quantile(updatedRates, 0.9)).toBeGreaterThan(2 * quantile(updatedRates, 0.1));
    const watch = of('phone-a', 'watch-started');
    expect(watch).toHaveLength(1);
    const completed = of('phone-a', 'lane-completed');
    expect(completed).toHaveLength(1);
    expect(Date.parse(completed[0]!.at)).toBeGreaterThanOrEqual(Date.parse(watch[0]!.data.until));
  });
});
