/**
 * History benchmark (`npm run bench:history`): how large do a lane's Temporal histories get as the fleet grows?
 *
 * For fleets of 10k, 100k and 1M devices of one class, a real LaneWorkflow (real worker, the configured Temporal
 * server, real Kafka with fresh topics) runs a three-phase plan (1% → 10% → 100%) while this process plays the ingest:
 * it replays `--simulated-minutes` (default 10) of ingest output, one flush per 250 ms per lane, each flush one signal
 * carrying the per-offer delta of the devices that reported in that 250 ms (with their Kafka offset ranges). A flush
 * with nothing new sends nothing. So the number of signals is bounded by duration × 4/s, not by the fleet: a bigger fleet makes
 * each delta's counts bigger, not the history longer. Flushes are replayed as fast as the lane absorbs them (with
 * backpressure on its pending inputs), and bakes are shortened to seconds, so a run takes seconds, not minutes.
 *
 * For each fleet it walks the lane's chain of runs (continue-as-new) and reports the largest run in history events
 * and in received signals. Prints one JSON line per fleet; the last line is the summary:
 * `{"bench":"history","fleets":[…],"maxEventsPerRun":…,"maxSignalsPerRun":…}` (Temporal's limits: it suggests
 * continue-as-new at ~4,096 events and refuses signals past 10,000 per run).
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig } from '../config/env';
import { laneConfigOf, validatePlan } from '../events/plan';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger } from '../observability/log';
import { connectClient } from '../temporal/connection';
import { createWorker } from '../worker/create-worker';
import type { laneWorkflow } from '../workflows/lane-workflow';
import {
  healthDeltaSignal,
  lanePendingQuery,
  laneStateQuery,
  laneWorkflowId,
  type HealthDeltaSignal,
} from '../workflows/messages';
import { benchArgs } from './args';

const FLEETS = [10_000, 100_000, 1_000_000];
const args = benchArgs('npm run bench:history --', {
  'simulated-minutes': {
    type: 'number',
    integer: true,
    min: 1,
    default: 10,
    help: 'minutes of ingest flushes per fleet',
  },
});
const SIMULATED_MINUTES = args['simulated-minutes'];
const FLUSH_MS = 250;
const PARTITIONS = 6;
const FAILURE_RATE = 0.01;
/**
 * Phases: share of the class, its share of the simulated duration, and its bake in real seconds. The first two
 * bakes are short (the lane moves on while late reports of the earlier phase still arrive, as in production); the
 * last one outlasts the replay, and the bench stops the lane after the last flush has been decided.
 */
const PHASES = [
  { share: 1, fraction: 0.2, bakeSec: 2 },
  { share: 10, fraction: 0.3, bakeSec: 2 },
  { share: 100, fraction: 0.5, bakeSec: 3600 },
];
const EventType = temporal.api.enums.v1.EventType;

interface FleetResult {
  bench: 'history';
  fleet: number;
  simulatedMinutes: number;
  flushes: number;
  signals: number;
  deltas: number;
  devicesReported: number;
  runs: number;
  eventsPerRun: number[];
  signalsPerRun: number[];
  maxEventsPerRun: number;
  maxSignalsPerRun: number;
  laneStatus: string;
  /** Every reported device counted exactly once in the lane's windows (succeeded + failed = reported). */
  countsMatch: boolean;
  wallMs: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function runFleet(client: Client, taskQueue: string, fleet: number): Promise<FleetResult> {
  const started = Date.now();
  const rolloutId = `bench-history-${fleet}-${randomBytes(3).toString('hex')}`;
  const lane = 'phone-a';
  const checked = validatePlan({
    releaseId: 'bsi-bench',
    artifact: { build: '26.3.1' },
    deviceClasses: [lane],
    phases: PHASES.map((p) => ({ share: p.share, bake: p.bakeSec })),
    thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 1800 },
    breachPolicy: { action: 'pause' },
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const workflowId = laneWorkflowId(rolloutId, lane);
  const handle = await client.workflow.start<typeof laneWorkflow>('laneWorkflow', {
    workflowId,
    taskQueue,
    args: [{ rolloutId, lane, config: laneConfigOf(checked.plan, lane), reportTo: null, reportHealth: false }],
  });
  const totalFlushes = (SIMULATED_MINUTES * 60_000) / FLUSH_MS;
  const offsets = Array.from({ length: PARTITIONS }, () => 0);
  let signals = 0;
  let deltas = 0;
  let devicesReported = 0;
  let exposedBefore = 0;
  for (const [phase, spec] of PHASES.entries()) {
    const offerId = `${lane}/p${phase}a1`;
    await until(async () => {
      const state = await handle.query(laneStateQuery);
      return state.windows[offerId] !== undefined ? true : undefined;
    }, `phase ${phase} exposure`);
    // Devices newly exposed in this phase report over its share of the simulated time, spread evenly.
    const exposed = Math.round((fleet * spec.share) / 100) - exposedBefore;
    exposedBefore += exposed;
    const flushes = Math.round(totalFlushes * spec.fraction);
    let reported = 0;
    for (let flush = 0; flush < flushes; flush++) {
      const due = Math.round((exposed * (flush + 1)) / flushes);
      const count = due - reported;
      if (count === 0) continue; // nothing new in this 250 ms: the ingest sends nothing
      reported = due;
      const failed = Math.round(count * FAILURE_RATE);
      const ranges = [];
      for (let p = 0; p < PARTITIONS; p++) {
        const share = Math.floor(count / PARTITIONS) + (p < count % PARTITIONS ? 1 : 0);
        if (share === 0) continue;
        ranges.push({ partition: p, fromOffset: String(offsets[p]!), toOffset: String(offsets[p]! + share - 1) });
        offsets[p]! += share;
      }
      const signal: HealthDeltaSignal = {
        lane,
        deltas: [
          {
            offerId,
            delta: {
              counts: {
                succeeded: count - failed,
                failedByCode: failed > 0 ? { E_INSTALL: failed } : {},
                timedOut: 0,
                inProgress: 0,
              },
              ranges,
            },
          },
        ],
      };
      await handle.signal(healthDeltaSignal, signal);
      signals++;
      deltas++;
      devicesReported += count;
      if (signals % 50 === 0) {
        await until(async () => ((await handle.query(lanePendingQuery)) < 500 ? true : undefined), 'backlog');
      }
    }
  }
  const finalState = await until(async () => {
    const state = await handle.query(laneStateQuery);
    const counted = Object.values(state.windows).reduce((n, w) => n + w.totals.succeeded + failedOf(w.totals), 0);
    return counted === devicesReported && (await handle.query(lanePendingQuery)) === 0 ? state : undefined;
  }, 'every flush decided');
  await sleep(1000); // let the last round's append finish before the lane is stopped
  await handle.terminate('bench: every flush decided; the last phase would bake for an hour');

  const eventsPerRun: number[] = [];
  const signalsPerRun: number[] = [];
  let runId: string | undefined = handle.firstExecutionRunId;
  while (runId !== undefined) {
    const history: temporal.api.history.v1.IHistory = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
    eventsPerRun.push(events.length);
    signalsPerRun.push(events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).length);
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  const counted = Object.values(finalState.windows).reduce((n, w) => n + w.totals.succeeded + failedOf(w.totals), 0);
  return {
    bench: 'history',
    fleet,
    simulatedMinutes: SIMULATED_MINUTES,
    flushes: totalFlushes,
    signals,
    deltas,
    devicesReported,
    runs: eventsPerRun.length,
    eventsPerRun,
    signalsPerRun,
    maxEventsPerRun: Math.max(...eventsPerRun),
    maxSignalsPerRun: Math.max(...signalsPerRun),
    laneStatus: finalState.status,
    countsMatch: counted === devicesReported,
    wallMs: Date.now() - started,
  };
}

function failedOf(counts: { failedByCode: Record<string, number> }): number {
  return Object.values(counts.failedByCode).reduce((a, b) => a + b, 0);
}

/** Runs the benchmark against the configured servers and prints JSON lines. */
export async function main(): Promise<void> {
  const base = loadConfig(process.env);
  const suffix = randomBytes(3).toString('hex');
  const config = {
    ...base,
    topics: {
      ...base.topics,
      rolloutEvents: `bench-history-${suffix}.rollout-events`,
      commands: `bench-history-${suffix}.commands`,
    },
    temporal: { ...base.temporal, taskQueue: `bench-history-${suffix}` },
  };
  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(
    admin,
    topicSpecs(config.topics).filter(
      (t) => t.topic === config.topics.rolloutEvents || t.topic === config.topics.commands,
    ),
  );
  const worker = await createWorker(config, { ensureTopics: false, logger: createLogger('bench-worker', 'warn') });
  const running = worker.run();
  const client = await connectClient(config.temporal);
  const results: FleetResult[] = [];
  try {
    for (const fleet of FLEETS) {
      const result = await runFleet(client, config.temporal.taskQueue, fleet);
      results.push(result);
      console.log(JSON.stringify(result));
    }
  } finally {
    await worker.shutdown();
    await running.catch(() => undefined);
    await client.connection.close();
    await admin.deleteTopics({ topics: [config.topics.rolloutEvents, config.topics.commands] }).catch(() => undefined);
    await admin.disconnect();
  }
  console.log(
    JSON.stringify({
      bench: 'history',
      fleets: results.map((r) => ({
        fleet: r.fleet,
        signals: r.signals,
        runs: r.runs,
        maxEventsPerRun: r.maxEventsPerRun,
        maxSignalsPerRun: r.maxSignalsPerRun,
      })),
      maxEventsPerRun: Math.max(...results.map((r) => r.maxEventsPerRun)),
      maxSignalsPerRun: Math.max(...results.map((r) => r.maxSignalsPerRun)),
      note:
        `each fleet replays ${SIMULATED_MINUTES} simulated minutes of ingest flushes (one signal per 250 ms per lane at most, ` +
        'only when something new arrived): signals scale with duration, not fleet size; a larger fleet only makes each ' +
        'delta carry larger counts. Lanes continue as new every ~2,500 decided inputs or 2,000 history events.',
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
