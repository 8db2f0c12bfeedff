// Smoke test: the Temporal dev server is real. A workflow driven by a signal and an update (whose validator refuses
// bad input) runs on a real Worker, and its history is fetched back.
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { workflowUiLink } from '../../config/env';
import { endpoints, testTemporalClient, testWorkerConnection } from '../support/endpoints';
import { addItemSignal, collectItems, itemsQuery, setLimitUpdate } from '../support/smoke-workflows';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 90_000;

describe('Temporal smoke', () => {
  let client: Client;
  let connection: NativeConnection;

  beforeAll(async () => {
    client = await testTemporalClient();
    connection = await testWorkerConnection();
  }, TIMEOUT);

  afterAll(async () => {
    await connection?.close();
    await client?.connection.close();
  });

  it(
    'runs a workflow with a signal and a validated update on a real worker, and fetches its history',
    async () => {
      const taskQueue = uniqueName('smoke-tq');
      const worker = await Worker.create({
        connection,
        namespace: endpoints().temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../support/smoke-workflows'),
      });

      const result = await worker.runUntil(async () => {
        const handle = await client.workflow.start(collectItems, {
          taskQueue,
          workflowId: uniqueName('smoke-collect'),
          args: [3],
        });
        await handle.signal(addItemSignal, 'first');

        // The validator refuses: the caller gets the reason, and the update never enters history.
        const refused = handle.executeUpdate(setLimitUpdate, { args: [0] });
        await expect(refused).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
        await expect(refused).rejects.toMatchObject({ cause: { message: expect.stringMatching(/positive integer/) } });

        expect(await handle.executeUpdate(setLimitUpdate, { args: [2] })).toBe(3);
        expect(await handle.query(itemsQuery)).toEqual(['first']);
        await handle.signal(addItemSignal, 'second');
        const done = await handle.result();

        const history = await handle.fetchHistory();
        return { done, events: history.events ?? [] };
      });

      expect(result.done).toEqual({ items: ['first', 'second'], limit: 2 });
      const count = (has: (e: (typeof result.events)[number]) => unknown) => result.events.filter((e) => has(e)).length;
      expect(result.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).toBe('collectItems');
      expect(result.events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
      expect(count((e) => e.workflowExecutionSignaledEventAttributes)).toBe(2);
      // Only the accepted update is in history; the refused one left no trace.
      expect(count((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toBe(1);
      expect(count((e) => e.workflowExecutionUpdateCompletedEventAttributes)).toBe(1);
      expect(count((e) => e.workflowExecutionUpdateRejectedEventAttributes)).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'serves the Web UI page that the links `rollout start` prints point to (TEMPORAL_UI_URL)',
    async () => {
      const link = workflowUiLink(endpoints().temporal, uniqueName('smoke-ui'));
      const res = await fetch(link);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/<html/i);
    },
    TIMEOUT,
  );
});
