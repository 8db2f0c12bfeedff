/**
 * The rollout worker: one Temporal worker that polls the task queue for both workflows (rollout and lanes)
 * and runs their two activities against Kafka. Workers scale out as task-queue pollers: start more
 * processes with the same configuration.
 */
import type { Client } from '@temporalio/client';
import type { NativeConnection, WorkflowBundle } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import { createActivities, createEventLogProducer, createLaneWatchActivities } from '../activities';
import type { Config } from '../config/env';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/log';
import { connectClient, connectWorker } from '../temporal/connection';

/** Optional collaborators; anything not given is created from `config` (and closed by `shutdown`). */
export interface WorkerDeps {
  /** A native connection to reuse (e.g. the time-skipping test server's); not closed by `shutdown`. */
  connection?: NativeConnection;
  /** A client of the same server for the lane-watch activity; not closed by `shutdown`. */
  client?: Client;
  /** A connected producer to reuse; not disconnected by `shutdown`. */
  producer?: Producer;
  /** A prebuilt workflow bundle (tests bundle once per file); default: bundle `workflows/` at start. */
  workflowBundle?: WorkflowBundle;
  /** Create the engine's topics if missing (default true). */
  ensureTopics?: boolean;
  logger?: Logger;
  /** Worker identity shown in Temporal (default: the SDK's pid@host). */
  identity?: string;
}

/** A created worker: `run()` polls until `shutdown()`; `shutdown()` drains and closes what it opened. */
export interface RolloutWorker {
  worker: Worker;
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Where the workflow code lives (bundled by the SDK for the sandbox). */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * Creates the worker from validated config: provisions the topics (idempotent), connects an idempotent
 * producer, and creates a Temporal worker on the configured task queue with both workflows and
 * `createActivities({ producer, topics })`. Call `run()`, and `shutdown()` on SIGTERM.
 */
export async function createWorker(config: Config, deps: WorkerDeps = {}): Promise<RolloutWorker> {
  const logger = deps.logger ?? createLogger('worker');
  const kafka = createKafka(config.kafka);
  if (deps.ensureTopics ?? true) {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, topicSpecs(config.topics));
    } finally {
      await admin.disconnect();
    }
  }
  const ownProducer = deps.producer === undefined;
  const producer = deps.producer ?? createEventLogProducer(kafka);
  if (ownProducer) await producer.connect();
  const ownConnection = deps.connection === undefined;
  const connection = deps.connection ?? (await connectWorker(config.temporal));
  const ownClient = deps.client === undefined;
  const client = deps.client ?? (await connectClient(config.temporal));
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
      activities: {
        ...createActivities({ producer, topics: config.topics, logger }),
        ...createLaneWatchActivities(client, { kafka, topics: config.topics }),
      },
      ...(deps.identity !== undefined && { identity: deps.identity }),
    });
  } catch (err) {
    if (ownProducer) await producer.disconnect();
    if (ownConnection) await connection.close();
    if (ownClient) await client.connection.close();
    throw err;
  }
  let running: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  return {
    worker,
    run() {
      running ??= worker.run();
      return running;
    },
    shutdown() {
      closing ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running?.catch((err: unknown) => logger.error({ err }, 'worker stopped with an error'));
        if (ownProducer) await producer.disconnect();
        if (ownConnection) await connection.close();
        if (ownClient) await client.connection.close();
      })();
      return closing;
    },
  };
}
