// Shared setup of the ingest integration tests: fresh topics, task queue and group per test; the real
// worker (real LaneWorkflow) on a bundle built once per file; a lane started on its own; realistic device
// reports with their ground truth; ingest members as child processes (SIGKILL-able) or in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { loadConfig, type Config } from '../../config/env';
import { cohortOf } from '../../events/cohort';
import type { OutcomeCounts } from '../../events/domain-events';
import type { HealthReport } from '../../events/health-report';
import type { InstallEvent } from '../../events/install-event';
import type { LaneState } from '../../events/lane';
import { laneConfigOf, validatePlan, type LaneConfig, type RolloutPlanInput } from '../../events/plan';
import { createKafka, type Kafka } from '../../kafka/client';
import { ensureTopics, topicSpecs } from '../../kafka/topics';
import { mulberry32 } from '../../simulator/prng';
import { laneStateQuery, laneWorkflowId, type LaneWorkflowInput } from '../../workflows/messages';
import { createWorker, type RolloutWorker } from '../../worker/create-worker';
import { workflowBundleOptions } from '../../worker/workflow-code';
import { testTemporalClient } from '../support/endpoints';
import { uniqueName } from '../support/unique-name';

export const REPO = path.resolve(__dirname, '..', '..');

/** Bundles the workflows once (a few seconds); pass the bundle to every `startWorld`. */
export function bundle(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    ...workflowBundleOptions(),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
  });
}

/** One test's world: fresh names, a running worker, a Temporal client, a Kafka client. */
export interface World {
  config: Config;
  groupId: string;
  kafka: Kafka;
  client: Client;
  worker: RolloutWorker;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** Creates fresh topics (`partitions` each), a fresh task queue and consumer group, and starts the real worker. */
export async function startWorld(workflowBundle: WorkflowBundle, prefix: string, partitions = 6): Promise<World> {
  const base = loadConfig(process.env);
  const config: Config = {
    ...base,
    topics: {
      rolloutEvents: uniqueName(`${prefix}-events`),
      commands: uniqueName(`${prefix}-commands`),
      installEvents: uniqueName(`${prefix}-installs`),
      installEventsDlq: uniqueName(`${prefix}-dlq`),
      partitions,
    },
    temporal: { ...base.temporal, taskQueue: uniqueName(`${prefix}-tq`) },
    // A fresh device-key secret per world, shared by its in-process and spawned members.
    deviceKeys: { secretHex: crypto.randomBytes(16).toString('hex') },
  };
  const groupId = uniqueName(`${prefix}-group`);
  const kafka = createKafka(config.kafka, { clientId: uniqueName(prefix), logLevel: 'error' });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicSpecs(config.topics));
  await admin.disconnect();
  const worker = await createWorker(config, { workflowBundle, ensureTopics: false, logger: silentLogger() });
  void worker.run();
  const client = await testTemporalClient();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: process.env.INGEST_TEST_LOG_LEVEL ?? 'warn',
    KAFKA_LOG_LEVEL: 'error',
    BSI_TOPIC_ROLLOUT_EVENTS: config.topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: config.topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: config.topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: config.topics.installEventsDlq,
    BSI_TOPIC_PARTITIONS: String(partitions),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    BSI_DEVICE_KEY_SECRET: config.deviceKeys.secretHex,
    INGEST_GROUP_ID: groupId,
    INGEST_METRICS_PORT: '0',
    INGEST_SESSION_TIMEOUT_MS: '6000',
  };
  return {
    config,
    groupId,
    kafka,
    client,
    worker,
    env,
    async close() {
      await worker.shutdown();
      await client.connection.close();
    },
  };
}

function silentLogger() {
  // pino-compatible enough for the worker's needs, without output.
  const noop = () => undefined;
  const logger = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => logger };
  return logger as never;
}

/** A plan whose lanes never breach or pass during a test: plain rule with an unreachable minimum sample. */
export function quietPlan(lanes: string[], installTimeoutSec = 3600): RolloutPlanInput {
  return {
    releaseId: 'rel-ingest-test',
    artifact: { build: '26.3.1' },
    deviceClasses: lanes,
    phases: [
      { share: 50, bake: '1h' },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.5, minSample: 100_000_000, installTimeoutSec, rule: 'plain' },
    breachPolicy: { action: 'pause' },
  };
}

/** The lane config of `quietPlan` for one class. */
export function quietLaneConfig(lane: string, installTimeoutSec = 3600): LaneConfig {
  const parsed = validatePlan(quietPlan([lane], installTimeoutSec));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return laneConfigOf(parsed.plan, lane);
}

/** Starts a real lane workflow on its own and waits for its first exposure: returns the offer and bound. */
export async function startLane(
  world: World,
  rolloutId: string,
  lane: string,
  config: LaneConfig = quietLaneConfig(lane),
): Promise<{ offerId: string; cohortBound: number }> {
  const input: LaneWorkflowInput = { rolloutId, lane, config, reportTo: null, reportHealth: false };
  const handle = await world.client.workflow.start('laneWorkflow', {
    taskQueue: world.config.temporal.taskQueue,
    workflowId: laneWorkflowId(rolloutId, lane),
    args: [input],
  });
  for (let i = 0; i < 300; i++) {
    const state = await handle.query(laneStateQuery);
    if (state.offerId !== null) return { offerId: state.offerId, cohortBound: state.cohortBound };
    await sleep(100);
  }
  throw new Error('lane did not expose within 30 s');
}

/** The lane's totals of one offer, as the real LaneWorkflow counted them. */
export async function laneTotals(
  world: World,
  rolloutId: string,
  lane: string,
  offerId: string,
): Promise<OutcomeCounts | undefined> {
  const state: LaneState = await world.client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).query(laneStateQuery);
  return state.windows[offerId]?.totals;
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Device ids inside the cohort of an offer. */
export function cohortDevices(rolloutId: string, bound: number, n: number, prefix = 'dev'): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `${prefix}-${i}`;
    if (cohortOf(id, rolloutId) < bound) out.push(id);
  }
  return out;
}

/**
 * Realistic reports of `devices` for one offer: ack, install-started, then succeeded or failed (by code),
 * some devices silent after install-started, with duplicates and reordered finals. Per device in order.
 */
export function workload(
  rolloutId: string,
  lane: string,
  offerId: string,
  devices: string[],
  seed: number,
): InstallEvent[] {
  const random = mulberry32(seed);
  const perDevice: InstallEvent[][] = [];
  const at = new Date().toISOString();
  let n = 0;
  const ev = (deviceId: string, type: InstallEvent['type'], errorCode?: string): InstallEvent => ({
    eventId: `e-${seed}-${n++}`,
    deviceId,
    deviceClass: lane,
    rolloutId,
    releaseId: 'rel-ingest-test',
    offerId,
    attempt: 1,
    type,
    ...(errorCode !== undefined && { errorCode }),
    osVersion: '26.3.0',
    at,
    schemaVersion: 1,
  });
  for (const d of devices) {
    const list: InstallEvent[] = [ev(d, 'offered-ack'), ev(d, 'install-started')];
    const r = random();
    if (r < 0.85) list.push(ev(d, 'succeeded'));
    else if (r < 0.95) list.push(ev(d, 'failed', random() < 0.5 ? 'E_DISK_FULL' : 'E_BOOT'));
    // else: silent (stays in progress)
    if (random() < 0.1 && list.length === 3) list.splice(1, 2, list[2]!, list[1]!); // final before install-started
    if (random() < 0.15) list.push({ ...list[list.length - 1]! }); // a duplicate report
    perDevice.push(list);
  }
  // Interleave devices while keeping each device's own order.
  const out: InstallEvent[] = [];
  const cursors = perDevice.map(() => 0);
  let left = perDevice.reduce((s, l) => s + l.length, 0);
  while (left > 0) {
    const i = Math.floor(random() * perDevice.length);
    const list = perDevice[i]!;
    if (cursors[i]! < list.length) {
      out.push(list[cursors[i]!]!);
      cursors[i]!++;
      left--;
    }
  }
  return out;
}

/** Ground truth of a workload: per device the first final counts; in progress = started without a final. */
export function groundTruth(events: InstallEvent[]): OutcomeCounts {
  const finals = new Map<string, InstallEvent>();
  const started = new Set<string>();
  for (const e of events) {
    if (e.type === 'install-started') started.add(e.deviceId);
    if ((e.type === 'succeeded' || e.type === 'failed') && !finals.has(e.deviceId)) finals.set(e.deviceId, e);
  }
  const counts: OutcomeCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
  for (const e of finals.values()) {
    if (e.type === 'succeeded') counts.succeeded++;
    else counts.failedByCode[e.errorCode ?? 'unknown'] = (counts.failedByCode[e.errorCode ?? 'unknown'] ?? 0) + 1;
  }
  for (const d of started) if (!finals.has(d)) counts.inProgress++;
  return counts;
}

/** Produces device records (install events, health reports) keyed by device id, in chunks with a pause between them. */
export async function produce(
  world: World,
  values: (InstallEvent | HealthReport | string | Buffer)[],
  opts: { chunk?: number; pauseMs?: number; onChunk?: (index: number) => Promise<void> | void } = {},
): Promise<void> {
  const producer = world.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const chunk = opts.chunk ?? 500;
  try {
    for (let i = 0, c = 0; i < values.length; i += chunk, c++) {
      const messages = values.slice(i, i + chunk).map((v) => {
        if (typeof v === 'string' || Buffer.isBuffer(v)) return { key: `hostile-${i}`, value: v };
        return { key: v.deviceId, value: JSON.stringify(v) };
      });
      // Retried: right after a broker restart, leaders and the coordinator need a moment.
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.send({ topic: world.config.topics.installEvents, acks: -1, messages });
          break;
        } catch (err) {
          if (attempt >= 30) throw err;
          await sleep(1000);
        }
      }
      await opts.onChunk?.(c);
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  } finally {
    await producer.disconnect();
  }
}

/** An ingest member as a child process (`node dist/ingest/main.js`, the compiled build), killable with SIGKILL. */
export interface Member {
  child: ChildProcess;
  output: string[];
  /** Resolves when the member printed `{"ingest":"started"}`. */
  started: Promise<void>;
  exited: Promise<number | null>;
}

/** Spawns an ingest member with the world's environment. */
export function spawnMember(world: World, extraEnv: NodeJS.ProcessEnv = {}): Member {
  const child = spawn(process.execPath, [path.join(REPO, 'dist', 'ingest', 'main.js')], {
    cwd: REPO,
    env: { ...world.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let resolveStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (resolveStarted = resolve));
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    output.push(text);
    if (text.includes('"ingest":"started"')) resolveStarted();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.push(chunk.toString());
    if (process.env.INGEST_TEST_ECHO) process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, started, exited };
}

/** Stops a member gracefully (SIGTERM) or hard (SIGKILL) and waits for it to exit. */
export async function stopMember(member: Member, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (member.child.exitCode !== null || member.child.signalCode !== null) return;
  member.child.kill(signal);
  await member.exited;
}

/** Polls the lane until its totals for `offerId` equal `expected` (or the time is up); returns the last totals. */
export async function waitForTotals(
  world: World,
  rolloutId: string,
  lane: string,
  offerId: string,
  expected: OutcomeCounts,
  timeoutMs = 60_000,
): Promise<OutcomeCounts | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: OutcomeCounts | undefined;
  while (Date.now() < deadline) {
    last = await laneTotals(world, rolloutId, lane, offerId);
    if (last !== undefined && sameCounts(last, expected)) return last;
    await sleep(250);
  }
  return last;
}

/** Whether two count records are equal (error codes with 0 count ignored). */
export function sameCounts(a: OutcomeCounts, b: OutcomeCounts): boolean {
  const codes = new Set([...Object.keys(a.failedByCode), ...Object.keys(b.failedByCode)]);
  for (const c of codes) if ((a.failedByCode[c] ?? 0) !== (b.failedByCode[c] ?? 0)) return false;
  return a.succeeded === b.succeeded && a.timedOut === b.timedOut && a.inProgress === b.inProgress;
}
