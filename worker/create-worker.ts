/**
 * The rollout worker: one Temporal worker that polls the task queue for both workflows (rollout and lanes)
 * and runs their two activities against Kafka. Workers scale out as task-queue pollers: start more
 * processes with the same configuration.
 */
import type { Client } from '@temporalio/client';
import type { NativeConnection, WorkflowBundle, WorkflowBundlePath } from '@temporalio/worker';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { Producer } from 'kafkajs';
import {
  createActivities,
  createEventLogProducer,
  createLaneWatchActivities,
  createNotifyActivities,
} from '../activities';
import { createEngineMetrics, recordAppended, type EngineMetrics } from '../activities/engine-metrics';
import type { Config, WorkerVersioningConfig } from '../config/env';
import type { GlobalWebhook } from '../events/webhook-config';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/log';
import { connectClient, connectWorker } from '../temporal/connection';
import { laneCensus } from './lane-census';
import { buildIdOf, promoteVersion } from './versioning';
import { workflowBundleOptions } from './workflow-code';

/** Optional collaborators; anything not given is created from `config` (and closed by `shutdown`). */
export interface WorkerDeps {
  /** A native connection to reuse (e.g. the time-skipping test server's); not closed by `shutdown`. */
  connection?: NativeConnection;
  /** A client of the same server for the lane-watch activity; not closed by `shutdown`. */
  client?: Client;
  /** A connected producer to reuse; not disconnected by `shutdown`. */
  producer?: Producer;
  /**
   * A prebuilt workflow bundle: the file `npm run build` wrote (`{ codePath }`, what the worker process of the
   * compiled build loads) or code in memory (tests bundle once per file). Default: bundle `workflows/` at start.
   */
  workflowBundle?: WorkflowBundle | WorkflowBundlePath;
  /** Create the engine's topics if missing (default true). */
  ensureTopics?: boolean;
  logger?: Logger;
  /** Worker identity shown in Temporal (default: the SDK's pid@host). */
  identity?: string;
  /** Worker Versioning settings (default: `config.versioning`). */
  versioning?: WorkerVersioningConfig;
  /** Webhooks every rollout notifies (`BSI_WEBHOOKS_FILE`, read by `readGlobalWebhooks`); default none. */
  globalWebhooks?: readonly GlobalWebhook[];
}

/** A created worker: `run()` polls until `shutdown()`; `shutdown()` drains and closes what it opened. */
export interface RolloutWorker {
  worker: Worker;
  /** The build id of this worker's workflow code (also when it runs unversioned). */
  buildId: string;
  /** The Worker Deployment it polls as a version of, or undefined when unversioned. */
  deploymentName: string | undefined;
  /** The engine's metrics this worker keeps (served on `/metrics` by `worker/main.ts`). */
  metrics: EngineMetrics;
  /**
   * Settles once `run()` has applied the promotion policy (`BSI_WORKER_PROMOTE`): `promoted`, `kept` (another
   * version is current), `skipped` (policy never), or `unversioned`. Rejects if Temporal refused.
   */
  promoted: Promise<'promoted' | 'kept' | 'skipped' | 'unversioned'>;
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

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
  const versioning = deps.versioning ?? config.versioning;
  const metrics = createEngineMetrics(laneCensus(client, config.temporal.taskQueue));
  let worker: Worker;
  let buildId: string;
  try {
    const workflowBundle = deps.workflowBundle ?? (await bundleWorkflowCode(workflowBundleOptions()));
    buildId = versioning.buildId ?? buildIdOf(workflowBundle);
    const deploymentName = versioning.deploymentName;
    worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowBundle,
      // Pinned: a rollout (and its lanes, on the same task queue) finishes on the build that started it.
      ...(deploymentName !== undefined && {
        workerDeploymentOptions: {
          useWorkerVersioning: true,
          version: { deploymentName, buildId },
          defaultVersioningBehavior: 'PINNED',
        },
      }),
      activities: {
        ...createActivities({
          producer,
          topics: config.topics,
          logger,
          onAppended: (batch) => recordAppended(metrics, batch),
        }),
        ...createLaneWatchActivities(client, { kafka, topics: config.topics }),
        ...createNotifyActivities({ globalWebhooks: deps.globalWebhooks ?? [], temporalUi: config.temporal, logger }),
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
  const deploymentName = versioning.deploymentName;
  let settlePromotion: (run: () => Promise<'promoted' | 'kept' | 'skipped' | 'unversioned'>) => void = () => {};
  const promoted = new Promise<'promoted' | 'kept' | 'skipped' | 'unversioned'>((resolve, reject) => {
    settlePromotion = (run) => void run().then(resolve, reject);
  });
  promoted.catch((err: unknown) => logger.error({ err, deploymentName, buildId }, 'could not promote this build'));
  return {
    worker,
    buildId,
    deploymentName,
    metrics,
    promoted,
    run() {
      if (running === undefined) {
        running = worker.run();
        settlePromotion(async () =>
          deploymentName === undefined
            ? 'unversioned'
            : promoteVersion(client, { ...versioning, deploymentName, buildId }, logger),
        );
      }
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
