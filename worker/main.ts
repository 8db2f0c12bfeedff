/**
 * Entry point of the rollout worker process: `rollout worker` (or `node dist/worker/main.js`). Reads the
 * configuration from the environment, runs until SIGTERM or SIGINT, then stops polling, lets in-flight
 * tasks finish, disconnects from Kafka and closes the Temporal connection. The compiled build loads the workflow
 * bundle `npm run build` made; run from the sources (`npx tsx worker/main.ts`) it bundles `workflows/` at start.
 */
import { loadConfig } from '../config/env';
import { prebuiltWorkflowBundle } from '../layout/package-layout';
import { createLogger } from '../observability/log';
import { serveRegistry } from '../observability/metrics-server';
import { createWorker } from './create-worker';
import { readGlobalWebhooks } from './global-webhooks';
import { workerMetricsPort } from './metrics-settings';

const log = createLogger('worker');

/** Starts the worker and resolves when it has shut down cleanly. */
export async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const metricsPort = workerMetricsPort(process.env);
  const globalWebhooks = readGlobalWebhooks(process.env);
  const workflowBundle = prebuiltWorkflowBundle();
  const worker = await createWorker(config, { logger: log, globalWebhooks, ...(workflowBundle && { workflowBundle }) });
  const endpoint =
    metricsPort === null
      ? undefined
      : await serveRegistry(worker.metrics.registry, metricsPort, () => worker.worker.getState() === 'RUNNING');
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void worker.shutdown();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  log.info(
    {
      taskQueue: config.temporal.taskQueue,
      address: config.temporal.address,
      buildId: worker.buildId,
      deployment: worker.deploymentName ?? 'unversioned',
      workflowBundle: workflowBundle?.codePath ?? 'bundled from the sources at start',
      globalWebhooks: globalWebhooks.map((hook) => hook.name),
      metricsPort: endpoint?.port ?? 'off',
    },
    'worker running',
  );
  const running = worker.run();
  // A refused promotion is logged by createWorker; the worker keeps serving the rollouts pinned to its build.
  worker.promoted.then(
    (outcome) => log.info({ outcome, buildId: worker.buildId }, 'promotion policy applied'),
    () => undefined,
  );
  await running;
  await worker.shutdown();
  endpoint?.server.close();
  log.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    log.error({ err }, 'worker failed');
    process.exit(1);
  });
}
