/**
 * The engine's metrics as the worker derives them: decisions and halts counted from what the event-log append
 * activity acknowledged (through the real `createActivities` over a producer stand-in), a retried append counted
 * once, a failed append not at all, the decision latency from the round's `at` to the acknowledgement, the lane
 * census behind `bsi_engine_lanes` (and what a failed census shows), and the metrics port setting.
 */
import type { Producer } from 'kafkajs';
import { createActivities } from '../../activities';
import {
  createEngineMetrics,
  decisionKindOf,
  haltKindOf,
  laneStateCounts,
  recordAppended,
  type EngineMetrics,
} from '../../activities/engine-metrics';
import { ConfigError } from '../../config/env';
import { makeEvent, type DomainEvent, type EventOf } from '../../events/domain-events';
import { initialLaneState, type LaneState } from '../../events/lane';
import { visibilityLiteral } from '../../worker/lane-census';
import { DEFAULT_WORKER_METRICS_PORT, workerMetricsPort } from '../../worker/metrics-settings';

const ROLLOUT = 'r-metrics';
const LANE = 'phone-a';
const EVIDENCE = {
  sample: 100,
  failures: 40,
  failureRate: 0.4,
  threshold: 0.05,
  minSample: 50,
  rule: 'plain',
  explanation: 'failure rate 40% over 5%',
} as const;

function phaseStarted(seq: number, at: string) {
  return makeEvent<EventOf<'phase-started'>>({
    type: 'phase-started',
    rolloutId: ROLLOUT,
    lane: LANE,
    seq,
    at,
    data: { phase: 0, share: 10, cohortBound: 1000 },
  });
}
function breached(seq: number, at: string, response: 'pause' | 'retry' | 'rollback' = 'pause') {
  return makeEvent<EventOf<'threshold-breached'>>({
    type: 'threshold-breached',
    rolloutId: ROLLOUT,
    lane: LANE,
    seq,
    at,
    data: { offerId: `${LANE}/p0a1`, phase: 0, attempt: 1, evidence: EVIDENCE, rule: 'plain', response },
  });
}
function paused(seq: number, at: string, cause: 'operator' | 'breach' | 'fleet-halt') {
  return makeEvent<EventOf<'lane-paused'>>({
    type: 'lane-paused',
    rolloutId: ROLLOUT,
    lane: LANE,
    seq,
    at,
    data: { cause, resumeTo: null },
  });
}
function fleetHalted(seq: number, at: string) {
  return makeEvent<EventOf<'fleet-halted'>>({
    type: 'fleet-halted',
    rolloutId: ROLLOUT,
    lane: null,
    seq,
    at,
    data: { cause: 'breached-classes', reason: 'two classes breached', breachedLanes: ['a', 'b'], haltLanes: [LANE] },
  });
}

/** A producer whose sends succeed, or fail while `failing` is set. */
function fakeProducer() {
  const state = { failing: false, requests: 0 };
  const producer = {
    sendBatch: () => {
      state.requests++;
      return state.failing ? Promise.reject(new Error('broker down')) : Promise.resolve([]);
    },
  } as unknown as Producer;
  return { producer, state };
}

async function value(metrics: EngineMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe('decisions and halts from acknowledged appends', () => {
  test('each decided event is counted once by type and kind, halts by kind, with a latency sample', async () => {
    const metrics = createEngineMetrics();
    const { producer } = fakeProducer();
    const activities = createActivities({
      producer,
      topics: { rolloutEvents: 'log', commands: 'orders' },
      onAppended: (batch) => recordAppended(metrics, batch),
    });
    const decidedAt = new Date(Date.now() - 300).toISOString();
    const round = [phaseStarted(3, decidedAt), breached(4, decidedAt), paused(5, decidedAt, 'breach')];
    await activities.appendEvents(round);

    expect(await value(metrics, 'bsi_engine_decisions_total', { type: 'phase-started', kind: '-' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_decisions_total', { type: 'threshold-breached', kind: 'pause' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_decisions_total', { type: 'lane-paused', kind: 'breach' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_halts_total', { kind: 'breach-pause' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_appended_events_total')).toBe(3);
    // The histogram in the text format: one sample, between the 0.25 s and 0.5 s buckets.
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^bsi_engine_decision_latency_seconds_count\{halt="breach"\} 1$/m);
    const sum = Number(/^bsi_engine_decision_latency_seconds_sum\{halt="breach"\} (\S+)$/m.exec(text)?.[1]);
    expect(sum).toBeGreaterThanOrEqual(0.3);
    expect(sum).toBeLessThan(5);
    expect(text).toMatch(/^bsi_engine_decision_latency_seconds_bucket\{le="0.25",halt="breach"\} 0$/m);
    expect(text).toMatch(/^bsi_engine_decision_latency_seconds_bucket\{le="0.5",halt="breach"\} 1$/m);

    // The activity retried (same ids, same content): nothing is counted twice; the repeat is counted as such.
    await activities.appendEvents(round);
    expect(await value(metrics, 'bsi_engine_decisions_total', { type: 'threshold-breached', kind: 'pause' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_halts_total', { kind: 'breach-pause' })).toBe(1);
    expect(await value(metrics, 'bsi_engine_appended_events_total')).toBe(3);
    expect(await value(metrics, 'bsi_engine_reappended_events_total')).toBe(3);
    expect(await metrics.registry.metrics()).toMatch(/^bsi_engine_decision_latency_seconds_count\{halt="breach"\} 1$/m);
  });

  test('a failed append counts nothing; its successful retry counts once, with the later acknowledgement', async () => {
    const metrics = createEngineMetrics();
    const { producer, state } = fakeProducer();
    const activities = createActivities({
      producer,
      topics: { rolloutEvents: 'log', commands: 'orders' },
      onAppended: (batch) => recordAppended(metrics, batch),
    });
    const at = new Date(Date.now() - 2000).toISOString();
    state.failing = true;
    await expect(activities.appendEvents([fleetHalted(7, at)])).rejects.toThrow(/broker down/);
    expect(await value(metrics, 'bsi_engine_halts_total', { kind: 'fleet-breached-classes' })).toBe(0);
    state.failing = false;
    await activities.appendEvents([fleetHalted(7, at)]);
    expect(await value(metrics, 'bsi_engine_halts_total', { kind: 'fleet-breached-classes' })).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^bsi_engine_decision_latency_seconds_bucket\{le="1",halt="fleet-halt"\} 0$/m);
    expect(text).toMatch(/^bsi_engine_decision_latency_seconds_bucket\{le="2.5",halt="fleet-halt"\} 1$/m);
  });

  test('a hook that throws never fails the append', async () => {
    const { producer } = fakeProducer();
    const activities = createActivities({
      producer,
      topics: { rolloutEvents: 'log', commands: 'orders' },
      onAppended: () => {
        throw new Error('metrics broke');
      },
    });
    await expect(activities.appendEvents([phaseStarted(0, new Date().toISOString())])).resolves.toEqual({
      published: 1,
    });
  });

  test('the kinds: why a lane paused, the breach response, the fleet cause; only breaches and fleet halts halt', () => {
    const at = '2026-12-01T00:00:00.000Z';
    expect(decisionKindOf(paused(1, at, 'operator'))).toBe('operator');
    expect(decisionKindOf(paused(1, at, 'fleet-halt'))).toBe('fleet-halt');
    expect(decisionKindOf(breached(1, at, 'rollback'))).toBe('rollback');
    expect(decisionKindOf(phaseStarted(1, at))).toBe('-');
    const completed = (data: EventOf<'lane-completed'>['data']) =>
      makeEvent<EventOf<'lane-completed'>>({
        rolloutId: 'r',
        lane: 'phone-a',
        seq: 9,
        at,
        type: 'lane-completed',
        data,
      });
    expect(decisionKindOf(completed({ phases: 2, attempt: 1 }))).toBe('last-phase');
    expect(decisionKindOf(completed({ phases: 2, attempt: 1, endedBy: 'deadline' }))).toBe('deadline');
    expect(haltKindOf(breached(1, at, 'retry'))).toEqual({ halt: 'breach', kind: 'breach-retry' });
    expect(haltKindOf(fleetHalted(1, at))).toEqual({ halt: 'fleet-halt', kind: 'fleet-breached-classes' });
    expect(haltKindOf(paused(1, at, 'breach'))).toBeUndefined();
    expect(haltKindOf(phaseStarted(1, at))).toBeUndefined();
  });

  test('clock skew (an ack before the round by the worker clock) counts as 0, not negative', () => {
    const metrics = createEngineMetrics();
    const event: DomainEvent = breached(1, '2026-12-01T00:00:10.000Z');
    recordAppended(metrics, { fresh: [event], repeated: 0, ackedAtMs: Date.parse('2026-12-01T00:00:09.000Z') });
    return expect(metrics.registry.metrics()).resolves.toMatch(
      /^bsi_engine_decision_latency_seconds_sum\{halt="breach"\} 0$/m,
    );
  });
});

describe('lanes by state (the census at scrape time)', () => {
  const lane = (status: LaneState['status']): LaneState => ({ ...initialLaneState(ROLLOUT, 'x'), status });

  test('counts every state, zero where none, and a lost lane as lost', () => {
    const counts = laneStateCounts([
      { lanes: { a: lane('running'), b: lane('paused'), c: lane('running') }, lostLanes: {} },
      {
        lanes: { d: lane('paused'), e: lane('running') },
        lostLanes: {
          e: { cause: 'terminated', detail: 'gone', lastStatus: 'running', at: '2026-12-01T00:00:00.000Z' },
        },
      },
    ] as Parameters<typeof laneStateCounts>[0]);
    expect(counts).toMatchObject({ running: 2, paused: 2, lost: 1, completed: 0, 'rolling-back': 0, pending: 0 });
  });

  test('the gauge shows what the census says at each scrape, and nothing (plus a failure) when it fails', async () => {
    let answer: () => Promise<ReturnType<typeof laneStateCounts>> = () =>
      Promise.resolve(laneStateCounts([{ lanes: { a: lane('rolling-back') } }]));
    const metrics = createEngineMetrics(() => answer());
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/^bsi_engine_lanes\{state="rolling-back"\} 1$/m);
    expect(text).toMatch(/^bsi_engine_lanes\{state="running"\} 0$/m);
    answer = () => Promise.reject(new Error('Temporal does not answer'));
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^bsi_engine_lanes\{/m);
    // The failure counter is read beside the gauge, so it shows the failed census from the next scrape on.
    text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^bsi_engine_lanes\{/m);
    expect(text).toMatch(/^bsi_engine_lane_census_failures_total 1$/m);
  });

  test('task queue names are quoted safely in the visibility query', () => {
    expect(visibilityLiteral('bsi-rollout')).toBe("'bsi-rollout'");
    expect(visibilityLiteral(`it's\\`)).toBe(`'it\\'s\\\\'`);
  });
});

describe('BSI_WORKER_METRICS_PORT', () => {
  test('defaults to 9465, 0 turns the endpoint off, and a bad value names the variable and the rule', () => {
    expect(workerMetricsPort({})).toBe(DEFAULT_WORKER_METRICS_PORT);
    expect(workerMetricsPort({ BSI_WORKER_METRICS_PORT: '' })).toBe(9465);
    expect(workerMetricsPort({ BSI_WORKER_METRICS_PORT: '0' })).toBeNull();
    expect(workerMetricsPort({ BSI_WORKER_METRICS_PORT: '19465' })).toBe(19465);
    for (const bad of ['70000', '-1', 'abc', '80.5']) {
      expect(() => workerMetricsPort({ BSI_WORKER_METRICS_PORT: bad })).toThrow(ConfigError);
      expect(() => workerMetricsPort({ BSI_WORKER_METRICS_PORT: bad })).toThrow(/BSI_WORKER_METRICS_PORT=/);
    }
  });
});
