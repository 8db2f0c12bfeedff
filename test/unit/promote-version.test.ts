// promoteVersion retries while Temporal has not yet seen the new version's pollers on every task queue, and gives up
// at once on any other refusal.
import type { Client } from '@temporalio/client';
import { createLogger } from '../../observability/log';
import { promoteVersion } from '../../worker/versioning';

const log = createLogger('test', 'silent');
const missingQueues = Object.assign(new Error('missing'), {
  code: 9,
  details: "proposed current version 'd:n1' is missing active task queues from the current version",
});
const notFound = Object.assign(new Error('not found'), { code: 5, details: 'deployment not found' });
const versioning = { deploymentName: 'd', buildId: 'n1', promote: 'always' as const };

/** A client whose `setWorkerDeploymentCurrentVersion` throws `failures` in turn, then succeeds. */
function clientFailing(failures: Error[]): { client: Client; calls: () => number } {
  let calls = 0;
  const workflowService = {
    setWorkerDeploymentCurrentVersion: () => {
      const failure = failures[calls++];
      return failure === undefined ? Promise.resolve({}) : Promise.reject(failure);
    },
  };
  // Only the two fields promoteVersion reads.
  return { client: { options: { namespace: 'default' }, workflowService } as unknown as Client, calls: () => calls };
}

describe('promoteVersion', () => {
  it('retries while the version is unknown or not yet seen on every task queue, then promotes', async () => {
    const { client, calls } = clientFailing([notFound, missingQueues, missingQueues]);
    await expect(promoteVersion(client, versioning, log, 10_000)).resolves.toBe('promoted');
    expect(calls()).toBe(4);
  });

  it('throws any other refusal at once', async () => {
    const other = Object.assign(new Error('other'), { code: 9, details: 'the version is draining' });
    const { client, calls } = clientFailing([other]);
    await expect(promoteVersion(client, versioning, log, 10_000)).rejects.toBe(other);
    expect(calls()).toBe(1);
  });
});
