/**
 * The engine's Prometheus metrics (prom-client), taken where the engine's real side effects happen: the worker's
 * event-log append (`appendEvents`), which sees every domain event a lane or a rollout decides, once its append is
 * acknowledged. Workflow code cannot count (it runs in a sandbox and is replayed), so the activity tells
 * `recordAppended` what it appended; an event id this process appended before (an activity retried after a failure
 * or a crash re-appends the same ids) is not counted again (`AppendedEvents` remembers the last 200,000 ids).
 *
 * - `bsi_engine_decisions_total{type,kind}`: domain events decided, by type and sub-kind (why a lane paused, what
 *   triggered a retry or rollback, a verdict, an operator command; `-` where the type has none).
 * - `bsi_engine_halts_total{kind}`: halts: `breach-pause|retry|rollback` (a lane's `threshold-breached`, by the
 *   breach policy's response) and `fleet-breached-classes|failure-spike|operator` (a rollout's `fleet-halted`).
 * - `bsi_engine_decision_latency_seconds{halt}`: for each halt event, the append acknowledgement (acks=all, this
 *   worker's clock) minus the event's `at`, which is the workflow clock (Temporal's time at the start of the
 *   workflow task) of the decision round that took the evidence up: the breaching health delta for `breach`, the
 *   lane report (or operator command) for `fleet-halt`. It is the engine's own part of a halt — decide, schedule the
 *   append activity, Kafka's acknowledgement — and leaves out the ingest's part (device report appended → signal
 *   accepted: consumer lag and `bsi_ingest_flush_latency_seconds`) and the time an input waited in the lane's inbox
 *   while an earlier round was still appending. Clock skew between Temporal and the worker adds to it (a negative
 *   difference counts as 0). `npm run bench:halt` measures the whole path, install event → halt append.
 * - `bsi_engine_appended_events_total`, `bsi_engine_reappended_events_total`: events appended for the first time by
 *   this process, and events appended again (retries; not counted above).
 * - `bsi_engine_lanes{state}`: lanes of the running rollouts on the worker's task queue by state (`lost` for a lane
 *   whose workflow closed unfinished), computed at scrape time from Temporal (see `worker/lane-census.ts`), so every
 *   worker reports the same whole-queue numbers: aggregate with `max`, not `sum`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DomainEvent } from '../events/domain-events';
import { LANE_STATUSES } from '../events/lane';
import type { RolloutState } from '../events/rollout';

/** States of `bsi_engine_lanes`: a lane's status, or `lost`. */
export const LANE_GAUGE_STATES = [...LANE_STATUSES, 'lost'] as const;
export type LaneGaugeState = (typeof LANE_GAUGE_STATES)[number];

/** Buckets of the decision latency histogram, in seconds (the halt goal is 250 ms end to end). */
export const DECISION_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics one worker process keeps. */
export interface EngineMetrics {
  registry: Registry;
  decisions: Counter<'type' | 'kind'>;
  halts: Counter<'kind'>;
  decisionLatency: Histogram<'halt'>;
  appended: Counter;
  reappended: Counter;
  lanes: Gauge<'state'>;
  /**
   * Scrapes whose lane census failed (Temporal did not answer): `bsi_engine_lanes` is then empty. Read beside the
   * gauge, so a failure shows in this counter from the next scrape on.
   */
  laneCensusFailures: Counter;
}

/** What the engine's append told: the events appended for the first time, how many again, and the ack time. */
export interface AppendedBatch {
  fresh: readonly DomainEvent[];
  repeated: number;
  ackedAtMs: number;
}

/** Counts lanes per state, or throws when Temporal cannot say (the scrape then shows no lane samples). */
export type LaneCensus = () => Promise<Record<LaneGaugeState, number>>;

/**
 * Creates the metrics on a fresh registry (one per worker, so tests can run several in one process), with Node's
 * default process metrics prefixed `bsi_worker_`. With `census`, `bsi_engine_lanes` is computed by it at every
 * scrape; without, the gauge stays empty.
 */
export function createEngineMetrics(census?: LaneCensus): EngineMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bsi_worker_' });
  const laneCensusFailures = new Counter({
    name: 'bsi_engine_lane_census_failures_total',
    help: 'Scrapes whose lane census failed (Temporal did not answer); bsi_engine_lanes is then empty',
    registers: [registry],
  });
  const lanes = new Gauge({
    name: 'bsi_engine_lanes',
    help: 'Lanes of the running rollouts on this task queue, by state (whole queue: use max, not sum, over workers)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      if (census === undefined) return;
      try {
        const counts = await census();
        for (const state of LANE_GAUGE_STATES) this.set({ state }, counts[state]);
      } catch {
        laneCensusFailures.inc();
      }
    },
  });
  return {
    registry,
    decisions: new Counter({
      name: 'bsi_engine_decisions_total',
      help: 'Domain events decided and appended, by type and sub-kind',
      labelNames: ['type', 'kind'],
      registers: [registry],
    }),
    halts: new Counter({
      name: 'bsi_engine_halts_total',
      help: 'Halts decided: lane breaches by response, fleet halts by cause',
      labelNames: ['kind'],
      registers: [registry],
    }),
    decisionLatency: new Histogram({
      name: 'bsi_engine_decision_latency_seconds',
      help: 'Halt event append acknowledgement minus the at of the decision round that took the evidence up',
      labelNames: ['halt'],
      buckets: DECISION_LATENCY_BUCKETS,
      registers: [registry],
    }),
    appended: new Counter({
      name: 'bsi_engine_appended_events_total',
      help: 'Domain events appended to the event log for the first time by this process',
      registers: [registry],
    }),
    reappended: new Counter({
      name: 'bsi_engine_reappended_events_total',
      help: 'Domain events appended again by this process (retried appends; not counted as decisions)',
      registers: [registry],
    }),
    lanes,
    laneCensusFailures,
  };
}

/** The sub-kind of a decision: why, what triggered it or what it said; `-` for a type that has none. */
export function decisionKindOf(event: DomainEvent): string {
  switch (event.type) {
    case 'lane-paused':
    case 'lane-aborted':
    case 'lane-abort-deferred':
    case 'fleet-halted':
    case 'lane-lost':
      return event.data.cause;
    case 'lane-restarted':
      return event.data.lostCause;
    case 'retry-issued':
    case 'rollback-started':
      return event.data.trigger;
    case 'threshold-breached':
      return event.data.response;
    case 'bake-elapsed':
    case 'min-bake-elapsed':
      return event.data.verdict;
    case 'phase-passed':
      return event.data.endedBy;
    case 'exposure-held':
      // What a maintenance window held: a first offer (`exposure`) or a rate step (`step`).
      return event.data.holds;
    case 'lane-completed':
      // A lane with a completion rule says why it completed; one without completes at its last phase.
      return event.data.endedBy ?? 'last-phase';
    case 'lane-stalled':
      return event.data.waiting;
    case 'health-evaluated':
      return event.data.verdict.verdict;
    case 'regression-evaluated':
      return event.data.verdict;
    case 'operator-command-accepted':
      return event.data.command;
    case 'schedule-ended':
      return event.data.endBehavior;
    case 'rollout-scheduled':
      return event.data.waitUntil === null ? 'starts-now' : 'waits';
    case 'schedule-started':
    case 'rollout-started':
    case 'lane-started':
    case 'phase-started':
    case 'exposure-issued':
    case 'exposure-widened':
    case 'lane-resumed':
    case 'rollback-completed':
    case 'rollback-failed':
    case 'gate-waiting':
    case 'gate-approved':
    case 'patching-started':
    case 'lane-stall-cleared':
    case 'watch-started':
    case 'rollout-completed':
    case 'rollout-aborted':
      return '-';
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/** The halt an event records (`breach-<response>`, `fleet-<cause>`), or undefined when it is not a halt. */
export function haltKindOf(event: DomainEvent): { halt: 'breach' | 'fleet-halt'; kind: string } | undefined {
  if (event.type === 'threshold-breached') return { halt: 'breach', kind: `breach-${event.data.response}` };
  if (event.type === 'fleet-halted') return { halt: 'fleet-halt', kind: `fleet-${event.data.cause}` };
  return undefined;
}

/** Seconds from a decision round's `at` to the append's acknowledgement; 0 when clock skew makes it negative. */
export function decisionLatencySeconds(event: DomainEvent, ackedAtMs: number): number {
  return Math.max(0, ackedAtMs - Date.parse(event.at)) / 1000;
}

/** Counts what one acknowledged append brought: decisions, halts with their latency, first and repeated appends. */
export function recordAppended(metrics: EngineMetrics, batch: AppendedBatch): void {
  metrics.appended.inc(batch.fresh.length);
  if (batch.repeated > 0) metrics.reappended.inc(batch.repeated);
  for (const event of batch.fresh) {
    metrics.decisions.inc({ type: event.type, kind: decisionKindOf(event) });
    const halt = haltKindOf(event);
    if (halt === undefined) continue;
    metrics.halts.inc({ kind: halt.kind });
    metrics.decisionLatency.observe({ halt: halt.halt }, decisionLatencySeconds(event, batch.ackedAtMs));
  }
}

/**
 * Lanes per state over rollouts' folded views (each rollout's own record of its lanes, from their reports): every
 * state present, 0 where no lane is in it; a lane whose workflow was lost counts as `lost`, not as its last status.
 */
export function laneStateCounts(rollouts: readonly Pick<RolloutState, 'lanes' | 'lostLanes'>[]) {
  const counts = Object.fromEntries(LANE_GAUGE_STATES.map((state) => [state, 0])) as Record<LaneGaugeState, number>;
  for (const rollout of rollouts) {
    for (const [name, lane] of Object.entries(rollout.lanes)) {
      counts[rollout.lostLanes?.[name] !== undefined ? 'lost' : lane.status] += 1;
    }
  }
  return counts;
}
