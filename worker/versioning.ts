/**
 * Worker Versioning: how a worker deploy stays safe while rollouts run (docs/workflows.md, "Deploying a new
 * worker"). A worker with a deployment name polls as one version (build id) of that Temporal Worker Deployment, and
 * its workflows are PINNED: a rollout, its lanes (children on the same task queue) and their continue-as-new runs
 * finish on the code that started them, and only rollouts started after a version became the deployment's current
 * one run it. The build id defaults to the package version plus a hash of the workflow bundle, so two builds whose
 * workflow code differs never share an id, and a rebuild of the same code keeps it.
 */
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { WorkflowBundle, WorkflowBundlePath } from '@temporalio/worker';
import type { WorkerVersioningConfig } from '../config/env';
import { PACKAGE_ROOT } from '../layout/package-layout';
import type { Logger } from '../observability/log';

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * `<package version>-<first 12 hex of SHA-256 of the bundled workflow code>`, from the bundle in memory or the
 * prebuilt bundle file (`npm run build` writes the bundle's code as it is, so both give the same id).
 */
export function buildIdOf(bundle: WorkflowBundle | WorkflowBundlePath): string {
  const code = 'code' in bundle ? bundle.code : readFileSync(bundle.codePath, 'utf8');
  return `${PACKAGE_VERSION}-${crypto.createHash('sha256').update(code).digest('hex').slice(0, 12)}`;
}

/** The name of a Worker Deployment version as Temporal shows it: `<deployment>.<build id>`. */
export function versionName(deploymentName: string, buildId: string): string {
  return `${deploymentName}.${buildId}`;
}

/**
 * True while Temporal has not yet seen this version's pollers everywhere: the deployment or version is unknown
 * (NOT_FOUND), or it is known on some of the task queues the current version polls but not yet on all of them
 * (FAILED_PRECONDITION "missing active task queues": the workflow queue's poller registered before the activity
 * queue's). Both clear within moments of the worker starting.
 */
function isNotYetSeen(err: unknown): boolean {
  const { code, details } = (err ?? {}) as { code?: number; details?: string };
  return code === 5 || (code === 9 && /missing active task queues/.test(details ?? ''));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Makes `buildId` the deployment's current version when the policy says so: `always`; `if-none` only when the
 * deployment has no current version yet (the first deploy: later ones are promoted by an operator once the new
 * workers run, with `temporal worker deployment set-current-version`); `never` leaves it alone. Waits (up to
 * `timeoutMs`) until Temporal has seen the new version's pollers. Returns what it did.
 */
export async function promoteVersion(
  client: Client,
  versioning: Required<Pick<WorkerVersioningConfig, 'deploymentName' | 'buildId'>> & WorkerVersioningConfig,
  log: Logger,
  timeoutMs = 60_000,
): Promise<'promoted' | 'kept' | 'skipped'> {
  const { deploymentName, buildId, promote } = versioning;
  if (promote === 'never') return 'skipped';
  const namespace = client.options.namespace;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (promote === 'if-none') {
        const described = await client.workflowService.describeWorkerDeployment({ namespace, deploymentName });
        const current = described.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId;
        if (current) {
          if (current !== buildId) {
            log.info(
              { deploymentName, current, buildId },
              'the deployment has a current version: this build runs only when promoted',
            );
          }
          return 'kept';
        }
      }
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName,
        buildId,
        identity: `bsi-rollout-worker ${buildId}`,
      });
      log.info({ deploymentName, buildId }, 'this build is the deployment current version');
      return 'promoted';
    } catch (err) {
      // The deployment (or this version) exists only once Temporal has seen the worker poll on every task queue.
      if (!isNotYetSeen(err) || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}
