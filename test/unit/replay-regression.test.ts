// The regression judge where people read it: status (per-signal ratio and verdict, the breach), the postmortem (the
// class's signals, the incident, the timeline), the what-if of another tolerated ratio, and the one-line words of the
// new events (timeline, metrics, webhooks).
import { decisionKindOf } from '../../activities/engine-metrics';
import { regressionLine, renderStatus } from '../../cli/status-view';
import { laneStatusView, type RolloutStatusView } from '../../client/index';
import { isRefusal, type LaneInput } from '../../events/commands';
import type { DomainEvent } from '../../events/domain-events';
import { foldLane, initialLaneState, stepLane } from '../../events/lane';
import { summaryOf } from '../../events/notification';
import { laneConfigOf, parsePlan, type RolloutPlan } from '../../events/plan';
import { describeEvent } from '../../replay/describe';
import { buildReport, incidentFacts } from '../../replay/postmortem';
import { renderHtml } from '../../replay/render-html';
import { renderText } from '../../replay/render-text';
import { whatIfPlanOf } from '../../replay/what-if';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';
const ROLLOUT = 'r-regression';
const HOUR = 3600;

function planOf(): RolloutPlan {
  const parsed = parsePlan(`
releaseId: bsi-26.3
artifact: { build: 26.3.1 }
deviceClasses: [${LANE}]
phases: [{ share: 10, bake: 1h }, { share: 100, bake: 0 }]
thresholds: { maxFailureRate: 0.1, minSample: 10, installTimeoutSec: 600 }
breachPolicy: { action: rollback }
regression: { signals: [app-crash], maxRateRatio: 1.5, falseHaltProbability: 0.01, watch: 24h }
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.plan;
}

let offset = 0;
/** An hour of post-install reports: 1,000 updated devices against 9,000 in the control, crashes at `ratio` × 0.01/h. */
const hour = (h: number, ratio: number): LaneInput => {
  offset += 1;
  return {
    type: 'post-install-delta',
    lane: LANE,
    delta: {
      updated: { uptimeSec: 1000 * HOUR, events: { 'app-crash': Math.round(10 * ratio) } },
      control: { uptimeSec: 9000 * HOUR, events: { 'app-crash': 90 } },
      ranges: [{ partition: 2, fromOffset: String(offset), toOffset: String(offset) }],
    },
    at: at(h * HOUR),
  };
};

/**
 * The lane's log: started, then hourly post-install deltas at `ratio` until it halts or `hours` pass; a rollback
 * then runs to its timeout (the plan's 30 min), as the workflow's timer would end it.
 */
function logOf(ratio: number, hours: number): DomainEvent[] {
  const plan = planOf();
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  const inputs: LaneInput[] = [
    { type: 'start-lane', rolloutId: ROLLOUT, lane: LANE, config: laneConfigOf(plan, LANE), at: at(0) },
  ];
  for (let h = 1; h <= hours; h++) inputs.push(hour(h, ratio));
  for (const next of inputs) {
    if (state.status !== 'running' && state.status !== 'pending') break;
    const answer = stepLane(state, next);
    if (isRefusal(answer)) throw new Error(answer.reason);
    state = answer.state;
    log.push(...answer.events);
  }
  if (state.status === 'rolling-back' && state.rollback !== null) {
    const answer = stepLane(state, { type: 'timer-fired', lane: LANE, kind: 'rollback', at: state.rollback.until });
    if (isRefusal(answer)) throw new Error(answer.reason);
    log.push(...answer.events);
  }
  return log;
}

const viewOf = (log: DomainEvent[]): RolloutStatusView => ({
  rolloutId: ROLLOUT,
  codeVersion: null,
  releaseId: 'bsi-26.3',
  status: 'running',
  startedAt: at(0),
  updatedAt: at(0),
  halts: 0,
  breachedLanes: [],
  lanes: [laneStatusView(foldLane(log))],
});

describe('status: per watched signal, the ratio against the control and the verdict', () => {
  test('a healthy lane shows the signal watching with both rates, and no breach', () => {
    const log = logOf(1, 3);
    const lane = laneStatusView(foldLane(log));
    expect(lane.regression).toMatchObject({
      attempt: 1,
      signals: [{ signal: 'app-crash', ratio: 1, maxRateRatio: 1.5, verdict: 'watching', updatedHours: 3000 }],
    });
    expect(lane.regression?.signals[0]?.updatedRatePerHour).toBeCloseTo(0.01, 6);
    expect(regressionLine(lane)).toBe(
      `  REGRESSION ${LANE} (attempt 1): app-crash 1.00× / 1.5× watching (0.01/h vs 0.01/h, 3000 vs 27000 device-h)`,
    );
    expect(renderStatus(viewOf(log), T0)).toContain(`REGRESSION ${LANE}`);
  });

  test('a class rolled back on a regression shows that breach as its verdict', () => {
    const log = logOf(3, 24);
    const lane = laneStatusView(foldLane(log));
    expect(lane.status).toBe('rolled-back');
    expect(lane.lastBreach).toMatchObject({ failureRate: null, regression: { signal: 'app-crash', ratio: 3 } });
    const table = renderStatus({ ...viewOf(log), lanes: [lane] }, T0);
    expect(table).toContain('breach (phase 1: app-crash 3.00× > 1.5×)');
    expect(table).toMatch(/BREACH phone-a at .*: app-crash: \d+ events in/);
  });

  test('a lane without the rule has no regression row', () => {
    const log = logOf(1, 0);
    const plain = laneStatusView({ ...foldLane(log), config: { ...foldLane(log).config!, regression: undefined } });
    expect(plain.regression).toBeNull();
    expect(regressionLine(plain)).toBeNull();
  });
});

describe('postmortem: the regression evidence', () => {
  const log = logOf(3, 24);

  test('the incident names the signal, the rates, the ratio and the bound; the class lists its signals', () => {
    const report = buildReport({ rolloutId: ROLLOUT, events: log });
    const incident = report.incidents[0]!;
    expect(incident.breach).toMatchObject({ rule: 'regression', regression: { signal: 'app-crash' } });
    const facts = Object.fromEntries(incidentFacts(incident));
    expect(facts['what failed']).toMatch(
      /^post-install regression, app-crash: .* ratio 3\.00×, tolerated 1\.5×; log e-value/,
    );
    const c = report.classes[0]!;
    expect(c.regression?.signals[0]).toMatchObject({ signal: 'app-crash', verdict: 'breach' });
    expect(c.fidelity.identical).toBe(true);
    // The timeline keeps the judgements where the verdict changed: the first (watching) and the breach.
    const judged = c.decisions.filter((d) => d.type === 'regression-evaluated');
    expect(judged.map((d) => d.regression?.[0]?.verdict)).toEqual(['watching', 'breach']);
    const text = renderText(report);
    expect(text).toContain('post-install: app-crash:');
    expect(text).toContain('THRESHOLD BREACHED (regression)');
    const html = renderHtml(report);
    expect(html).toContain('post-install signals');
    expect(html).toContain('post-install regression, app-crash');
  });

  test('what-if --max-rate-ratio: at 5 the same deltas halt nothing; at 1.2 the halt comes sooner', () => {
    const recorded = planOf();
    const loose = whatIfPlanOf(recorded, 'regression: { maxRateRatio: 5 }\n', '--max-rate-ratio 5');
    if (!loose.ok) throw new Error(JSON.stringify(loose.errors));
    expect(loose.plan.regression).toMatchObject({ signals: ['app-crash'], maxRateRatio: 5, watch: 86400 });
    const looser = buildReport({ rolloutId: ROLLOUT, events: log, whatIf: { plan: loose.plan, source: 'x' } });
    expect(looser.whatIf?.classes[0]).toMatchObject({ differs: true, whatIf: { haltAt: null } });
    const tight = whatIfPlanOf(recorded, 'regression: { maxRateRatio: 1.2 }\n');
    if (!tight.ok) throw new Error(JSON.stringify(tight.errors));
    const tighter = buildReport({ rolloutId: ROLLOUT, events: log, whatIf: { plan: tight.plan, source: 'y' } });
    expect(tighter.whatIf?.classes[0]?.haltEarlierSec).toBeGreaterThan(0);
  });
});

describe('the words of the new events', () => {
  const log = logOf(3, 24);
  const judged = log.find((e) => e.type === 'regression-evaluated')!;
  const breach = log.find((e) => e.type === 'threshold-breached')!;

  test('timeline, metrics and webhook sentences', () => {
    expect(describeEvent(judged)).toMatch(
      /^post-install watching: app-crash: 0\.03\/h on the build vs 0\.01\/h control/,
    );
    expect(decisionKindOf(judged)).toBe('watching');
    expect(summaryOf(breach)).toMatch(/breached on a post-install regression: app-crash/);
  });

  test('the watch window: started and completed', () => {
    const plan = planOf();
    const config = laneConfigOf(plan, LANE);
    let state = initialLaneState();
    const log2: DomainEvent[] = [];
    const health = (phase: number, t: number): LaneInput => ({
      type: 'health-delta',
      lane: LANE,
      offerId: `${LANE}/p${phase}a1`,
      delta: {
        counts: { succeeded: 50, failedByCode: {}, timedOut: 0, inProgress: 0 },
        ranges: [{ partition: 0, fromOffset: String(t), toOffset: String(t) }],
      },
      at: at(t),
    });
    for (const next of [
      { type: 'start-lane', rolloutId: ROLLOUT, lane: LANE, config, at: at(0) } as LaneInput,
      health(0, 10),
      { type: 'timer-fired', lane: LANE, kind: 'bake', at: at(HOUR) } as LaneInput,
      // The last phase bakes 0 s: its bake ends at once, and its first healthy delta passes it.
      { type: 'timer-fired', lane: LANE, kind: 'bake', at: at(HOUR) } as LaneInput,
      health(1, HOUR + 10),
      { type: 'timer-fired', lane: LANE, kind: 'watch', at: at(HOUR + 10 + 24 * HOUR) } as LaneInput,
    ]) {
      const answer = stepLane(state, next);
      if (isRefusal(answer)) throw new Error(answer.reason);
      state = answer.state;
      log2.push(...answer.events);
    }
    const started = log2.find((e) => e.type === 'watch-started')!;
    const done = log2.at(-1)!;
    expect(describeEvent(started)).toMatch(/watching the devices for regressions 1d, until/);
    expect(describeEvent(done)).toBe('lane completed: all 2 phases, watched for regressions (attempt 1)');
    expect(decisionKindOf(done)).toBe('watch');
  });
});
