// Smoke test: the time-skipping test server (installed from PyPI by the server manager) runs workflow tests in
// which a day passes in moments.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { sleepOneDay } from '../support/smoke-workflows';
import { createTimeSkippingEnv } from '../support/temporal-testing';
import { uniqueName } from '../support/unique-name';

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  it('completes a workflow that sleeps 24 hours in seconds', async () => {
    const taskQueue = uniqueName('smoke-skip');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../support/smoke-workflows'),
    });
    const wallStart = Date.now();
    const virtualStart = await env.currentTimeMs();
    const result = await worker.runUntil(
      env.client.workflow.execute(sleepOneDay, { taskQueue, workflowId: uniqueName('smoke-sleep') }),
    );
    expect(result).toBe('woke after 24h');
    expect((await env.currentTimeMs()) - virtualStart).toBeGreaterThanOrEqual(24 * 60 * 60 * 1000);
    expect(Date.now() - wallStart).toBeLessThan(30_000);
  }, 90_000);
});
