// Harness for the workflow scenario tests: fresh Kafka topics and a fresh task queue per test, the real worker
// (createWorker) on the time-skipping test server or the real dev server, readers that fetch back everything on the
// event log and the command topic, a driver that feeds realistic health deltas, and history-fixture export.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { google, temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import type { Admin, Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../../config/env';
import { DomainEventSchema, type DomainEvent, type OutcomeCounts } from '../../events/domain-events';
import { FleetCommandSchema, type FleetCommand } from '../../events/fleet-commands';
import type { LaneState } from '../../events/lane';
import { withTimeout } from '../../ingest/wait';
import { topicSpecs } from '../../kafka/topics';
import { createLogger } from '../../observability/log';
import { buildIdOf } from '../../worker/versioning';
import { createWorker, type RolloutWorker, type WorkerDeps } from '../../worker/create-worker';
import { workflowBundleOptions } from '../../worker/workflow-code';
import { healthDeltaSignal, laneStateQuery, laneWorkflowId } from '../../workflows/messages';
import { testKafka, testTemporalClient, testWorkerConnection } from './endpoints';
import { createTimeSkippingEnv } from './temporal-testing';
import { createTopicsAndWait } from './kafka-admin';
import { uniqueName } from './unique-name';

export const FIXTURES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ ...workflowBundleOptions(), logger: quietLogger });
  return bundle;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** One test's world: fresh topics and task queue, a Temporal client, and a way to (re)start workers. */
export interface Harness {
  config: Config;
  client: Client;
  kafka: Kafka;
  /** Starts a worker (running in the background) on this harness's task queue; `extra` overrides code and versioning. */
  startWorker(identity?: string, extra?: Pick<WorkerDeps, 'workflowBundle' | 'versioning'>): Promise<RolloutWorker>;
  /** Stops every worker started here and deletes the topics. */
  close(): Promise<void>;
}

/**
 * Creates a harness on `connection` + `client` (the time-skipping env's, or the dev server's): fresh topic
 * names via config overrides, topics provisioned, workers created by the product's own `createWorker`.
 */
export async function createHarness(options: {
  connection: NativeConnection;
  client: Client;
  prefix: string;
}): Promise<Harness> {
  const base = uniqueName(options.prefix);
  const config = loadConfig({
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: `${base}.rollout-events`,
    BSI_TOPIC_COMMANDS: `${base}.commands`,
    BSI_TOPIC_INSTALL_EVENTS: `${base}.install-events`,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: `${base}.install-events.dlq`,
    BSI_TOPIC_PARTITIONS: '3',
    TEMPORAL_TASK_QUEUE: `${base}-tq`,
    LOG_LEVEL: 'silent',
  });
  const kafka = testKafka(`${base}-harness`);
  const admin: Admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, topicSpecs(config.topics));
  const workers: RolloutWorker[] = [];
  const workflowBundleReady = await workflowBundle();
  return {
    config,
    client: options.client,
    kafka,
    async startWorker(identity?: string, extra: Pick<WorkerDeps, 'workflowBundle' | 'versioning'> = {}) {
      const worker = await createWorker(config, {
        connection: options.connection,
        client: options.client,
        workflowBundle: workflowBundleReady,
        ensureTopics: false,
        logger: createLogger('test-worker', 'silent'),
        ...(identity !== undefined && { identity }),
        ...extra,
      });
      workers.push(worker);
      void worker.run();
      return worker;
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.shutdown()));
      await admin
        .deleteTopics({ topics: [config.topics.rolloutEvents, config.topics.commands, config.topics.installEvents] })
        .catch(() => undefined);
      await admin.disconnect();
    },
  };
}

/**
 * Every record currently on `topic` (reads up to the high-water mark of each partition). Retried with a fresh
 * consumer group when the broker is briefly unavailable (a group coordinator that is still loading).
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
): Promise<{ value: string; headers: Record<string, string> }[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readTopicOnce(kafka, topic);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

async function readTopicOnce(
  kafka: Kafka,
  topic: string,
): Promise<{ value: string; headers: Record<string, string> }[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((p) => BigInt(p.high) > 0n).map((p) => [p.partition, BigInt(p.high)]));
  const records: { partition: number; offset: bigint; value: string; headers: Record<string, string> }[] = [];
  if (remaining.size === 0) return [];
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}`)), 15_000);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      clearTimeout(timer);
      reject(payload.error);
    });
    consumer
      .run({
        eachMessage: ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          records.push({ partition, offset: BigInt(message.offset), value: message.value?.toString() ?? '', headers });
          const end = remaining.get(partition);
          if (end !== undefined && BigInt(message.offset) + 1n >= end) remaining.delete(partition);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      })
      .catch(reject);
  });
  try {
    await done;
  } finally {
    await consumer.disconnect();
  }
  return records
    .sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1))
    .map(({ value, headers }) => ({ value, headers }));
}

/** The domain events on the event log, validated, in log order, with duplicates (same eventId) dropped. */
export async function readEvents(harness: Harness): Promise<{ events: DomainEvent[]; raw: number }> {
  const records = await readTopic(harness.kafka, harness.config.topics.rolloutEvents);
  const seen = new Set<string>();
  const events: DomainEvent[] = [];
  for (const record of records) {
    const event = DomainEventSchema.parse(JSON.parse(record.value));
    expect(record.headers.eventId).toBe(event.eventId);
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    events.push(event);
  }
  return { events, raw: records.length };
}

/** The fleet orders on the command topic, validated, in order (duplicates kept: the caller checks them). */
export async function readOrders(harness: Harness): Promise<FleetCommand[]> {
  const records = await readTopic(harness.kafka, harness.config.topics.commands);
  return records.map((record) => FleetCommandSchema.parse(JSON.parse(record.value)));
}

/** Event types per stream (`_` for rollout-level events), in order. */
export function typesByStream(events: readonly DomainEvent[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
    (out[event.lane ?? '_'] ??= []).push(event.type);
  }
  return out;
}

/** Outcomes to send, in device counts: successes and failures (one error code). */
export type Outcome = { ok: number; failed: number; code?: string };

/** A health-delta sender that advances Kafka offsets per partition the way the ingest would. */
export class DeltaFeeder {
  private readonly next = new Map<number, bigint>();
  constructor(private readonly client: Client) {}

  /** Signals one delta for `offerId` to the lane, covering a fresh offset range of one partition. */
  async send(rolloutId: string, lane: string, offerId: string, outcome: Outcome, partition = 0): Promise<void> {
    const size = BigInt(Math.max(1, outcome.ok + outcome.failed));
    const from = this.next.get(partition) ?? 0n;
    this.next.set(partition, from + size);
    const counts: OutcomeCounts = {
      succeeded: outcome.ok,
      failedByCode: outcome.failed > 0 ? { [outcome.code ?? 'E_INSTALL']: outcome.failed } : {},
      timedOut: 0,
      inProgress: 0,
    };
    await this.client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).signal(healthDeltaSignal, {
      lane,
      deltas: [
        {
          offerId,
          delta: { counts, ranges: [{ partition, fromOffset: String(from), toOffset: String(from + size - 1n) }] },
        },
      ],
    });
  }
}

/** Longest one probe of {@link eventually} may take before it counts as failed. */
const PROBE_TIMEOUT_MS = 10_000;

/** Polls `probe` every 100 ms (real time) until it returns a value other than undefined. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      // A probe that hangs (an RPC on a connection that went away) counts as a failed probe, not a stuck test.
      const value = await withTimeout(probe(), Math.min(PROBE_TIMEOUT_MS, Math.max(1, deadline - Date.now())), what);
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cause = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out waiting for ${what}${cause}`);
}

/** The lane's folded state, by query. */
export function laneState(client: Client, rolloutId: string, lane: string): Promise<LaneState> {
  return client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).query(laneStateQuery);
}

/** Waits until the lane's state satisfies `predicate`, and returns it. */
export function laneReaches(
  client: Client,
  rolloutId: string,
  lane: string,
  predicate: (state: LaneState) => boolean,
  what: string,
): Promise<LaneState> {
  return eventually(async () => {
    const state = await laneState(client, rolloutId, lane);
    return predicate(state) ? state : undefined;
  }, `${lane}: ${what}`);
}

/** What the driver sends a lane for an offer window it has not heard of yet (null: nothing). */
export type Behaviour = (
  lane: string,
  state: LaneState,
  window: { kind: 'exposure' | 'rollback'; attempt: number; phase: number },
) => Outcome | null;

/**
 * Drives lanes on the time-skipping server until `done()`: whenever a lane has a fresh offer window (no
 * outcome yet), it sends what `behaviour` says; when nothing is left to send, it skips virtual time to the
 * earliest deadline any lane waits for. Returns after `done()` or `maxSteps` iterations.
 */
export async function drive(options: {
  env: TestWorkflowEnvironment;
  feeder: DeltaFeeder;
  rolloutId: string;
  lanes: string[];
  behaviour: Behaviour;
  done: () => Promise<boolean>;
  maxSteps?: number;
}): Promise<void> {
  const { env, feeder, rolloutId, lanes, behaviour, done } = options;
  const fed = new Set<string>();
  for (let step = 0; step < (options.maxSteps ?? 60); step++) {
    if (await done()) return;
    let sent = false;
    let earliest = Number.POSITIVE_INFINITY;
    const nowMs = await env.currentTimeMs();
    for (const lane of lanes) {
      const state = await laneState(env.client, rolloutId, lane).catch(() => undefined);
      if (state === undefined || state.status === 'pending') continue;
      const offer = state.status === 'rolling-back' ? state.rollback?.offerId : state.offerId;
      const window = offer ? state.windows[offer] : undefined;
      const key = `${lane}/${offer}`;
      const live = state.status === 'running' || state.status === 'rolling-back';
      const waitingNow = state.waitingFor;
      // A bake that is already over is about to be recorded: feed after it, so the sequence is deterministic.
      const bakeOver = waitingNow?.kind === 'bake' && Date.parse(waitingNow.until) <= nowMs;
      const fresh =
        window !== undefined && window.totals.succeeded === 0 && Object.keys(window.totals.failedByCode).length === 0;
      if (offer && window && live && fresh && !bakeOver && !fed.has(key) && waitingNow?.kind !== 'retry-backoff') {
        fed.add(key);
        const outcome = behaviour(lane, state, window);
        if (outcome !== null) {
          await feeder.send(rolloutId, lane, offer, outcome, lanes.indexOf(lane) % 3);
          sent = true;
        }
      }
      const waiting = state.waitingFor;
      if (waiting && 'until' in waiting) earliest = Math.min(earliest, Date.parse(waiting.until));
    }
    if (sent) {
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    const skip = Number.isFinite(earliest) ? Math.max(0, earliest - nowMs) + 1000 : 1000;
    if ((await sleepUnlessDone(env, skip, done)) === 'done') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the driver did not reach the end in ${options.maxSteps ?? 60} steps`);
}

/**
 * Skips `ms` of virtual time, or stops waiting once `done()` holds. The test server's skip can stall when the
 * workflows it skips over complete meanwhile (its clock then runs in real time: a day's skip never returns, seen in
 * about one run in seven of workflows-schedule's cancel at endAt), so `done()` is checked every 250 ms while the skip
 * runs, and a skip left behind is cancelled (a cancelled call is not retried, so none outlives the test).
 */
async function sleepUnlessDone(
  env: TestWorkflowEnvironment,
  ms: number,
  done: () => Promise<boolean>,
): Promise<'slept' | 'done'> {
  const testService = env.connection.testService;
  if (testService === undefined) throw new Error('drive needs the time-skipping test server');
  const abandon = new AbortController();
  const slept = env.connection
    .withAbortSignal(abandon.signal, () =>
      testService.unlockTimeSkippingWithSleep({
        duration: google.protobuf.Duration.fromObject({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }),
      }),
    )
    .then(() => true);
  // The rejection of an abandoned skip (cancelled below) is expected; the race still sees any other failure.
  slept.catch(() => undefined);
  for (;;) {
    const tick = new Promise<false>((resolve) => setTimeout(() => resolve(false), 250));
    if (await Promise.race([slept, tick])) return 'slept';
    if (await done()) {
      abandon.abort();
      return 'done';
    }
  }
}

/**
 * Exports a workflow's history as a replay fixture under `test/fixtures/histories/`; committed fixtures guard
 * determinism in the replay test, which replays every file there. A fixture recorded by earlier code is never
 * replaced: `<name>.json` is written only when no fixture of that name exists, and UPDATE_HISTORY_FIXTURES=1 adds
 * `<name>@<build id>.json` — the history as the current workflow code records it — beside the older ones (and
 * leaves an existing file of that build alone).
 */
export async function exportHistory(handle: WorkflowHandle, name: string): Promise<void> {
  const first = path.join(FIXTURES_DIR, `${name}.json`);
  let file = first;
  if (existsSync(first)) {
    if (process.env.UPDATE_HISTORY_FIXTURES !== '1') return;
    file = path.join(FIXTURES_DIR, `${name}@${buildIdOf(await workflowBundle())}.json`);
    if (existsSync(file)) return;
  }
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const eventTypes = events.map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType));
  const encoded = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
  const fixture: HistoryFixture = {
    workflowId: handle.workflowId,
    encoding: 'temporal.api.history.v1.History;base64',
    eventTypes,
    history: encoded,
  };
  mkdirSync(FIXTURES_DIR, { recursive: true });
  writeFileSync(file, `${JSON.stringify(fixture, null, 2)}\n`, { flag: 'wx' });
}

/**
 * A committed workflow history: the protobuf-encoded history (base64; the SDK's proto-JSON helpers trip over
 * the two protobufjs copies npm installs) plus its event types for a person reading the diff.
 */
export interface HistoryFixture {
  workflowId: string;
  encoding: 'temporal.api.history.v1.History;base64';
  eventTypes: string[];
  history: string;
}

/** Decodes a fixture's history for `Worker.runReplayHistory`. */
export function decodeFixture(fixture: HistoryFixture): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(Buffer.from(fixture.history, 'base64'));
}

/** A test file's time-skipping world: its own server and a harness with a running worker. */
export interface TimeSkippingWorld {
  env: TestWorkflowEnvironment;
  h: Harness;
}

/**
 * Sets up one time-skipping world for the test file: `beforeAll` bundles the workflows, starts a fresh time-skipping
 * server and a harness (topics named after `prefix`) with a worker; `afterAll` closes them. With `perTest`, each test
 * gets a world of its own instead (its own server and virtual clock, no workflows left over from an earlier test),
 * started in `beforeEach` and closed in `afterEach`. The fields are set before each test: read them inside the tests.
 */
export function useTimeSkippingWorld(
  prefix: string,
  timeoutMs = 120_000,
  options: { perTest?: boolean } = {},
): TimeSkippingWorld {
  const world = {} as TimeSkippingWorld;
  const open = async () => {
    world.env = await createTimeSkippingEnv();
    world.h = await createHarness({ connection: world.env.nativeConnection, client: world.env.client, prefix });
    await world.h.startWorker();
  };
  const close = async () => {
    await world.h?.close();
    await world.env?.teardown();
  };
  beforeAll(async () => {
    await workflowBundle();
    if (options.perTest !== true) await open();
  }, timeoutMs);
  if (options.perTest === true) {
    beforeEach(open, timeoutMs);
    afterEach(close, timeoutMs);
  } else {
    afterAll(close, timeoutMs);
  }
  return world;
}

/** A test file's world on the shared dev server: a client, a worker connection and a harness. */
export interface DevServerWorld {
  client: Client;
  connection: NativeConnection;
  h: Harness;
}

/**
 * Sets up one dev-server world for the test file: `beforeAll` connects a client and a worker connection to the
 * servers the tests run against, bundles the workflows and creates a harness (topics named after `prefix`), with a
 * worker when `startWorker` (tests that stop and replace workers start their own); `afterAll` closes them. The fields
 * are set once `beforeAll` has run: read them inside the tests.
 */
export function useDevServerWorld(
  prefix: string,
  timeoutMs: number,
  options: { startWorker: boolean },
): DevServerWorld {
  const world = {} as DevServerWorld;
  beforeAll(async () => {
    world.client = await testTemporalClient();
    world.connection = await testWorkerConnection();
    await workflowBundle();
    world.h = await createHarness({ connection: world.connection, client: world.client, prefix });
    if (options.startWorker) await world.h.startWorker();
  }, timeoutMs);
  afterAll(async () => {
    await world.h?.close();
    await world.connection?.close();
    await world.client?.connection.close();
  }, timeoutMs);
  return world;
}
