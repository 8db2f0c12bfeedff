// Webhook notifications on the real Temporal dev server and real Kafka, with the real worker in process and a local
// HTTP receiver that answers every event id 500, 500, then 200, each answer held 1.5 s. A lane breaches and pauses:
// the receiver sees three attempts of each notification (breach, halt) with the same id and body, the signature
// verifies with the secret, exactly one attempt per id is accepted, and the decision (the pause) was in the event
// log and the lane's state before any delivery was accepted. An abort then shows the rollout closing only after its
// own notification was accepted.
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { verifySignature } from '../../activities/webhook-signature';
import { sendOperatorCommand, startRollout, waitForRollout } from '../../client';
import { NotificationSchema, notificationKindOf } from '../../events/notification';
import type { RolloutPlanInput } from '../../events/plan';
import { laneWorkflowId, rolloutWorkflowId } from '../../workflows/messages';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import {
  DeltaFeeder,
  createHarness,
  eventually,
  exportHistory,
  laneReaches,
  readEvents,
  workflowBundle,
  type Harness,
} from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

const TIMEOUT = 180_000;
const SECRET_ENV = 'BSI_TEST_WEBHOOK_SECRET';
const SECRET = 'integration-webhook-secret-0123';

describe('webhook notifications (real dev server, real Kafka)', () => {
  let client: Client;
  let connection: NativeConnection;
  let h: Harness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    process.env[SECRET_ENV] = SECRET;
    client = await testTemporalClient();
    connection = await testWorkerConnection();
    await workflowBundle();
    h = await createHarness({ connection, client, prefix: 'hooks' });
    receiver = await startWebhookReceiver({ script: [500, 500], delayMs: 1500 });
  }, TIMEOUT);

  afterAll(async () => {
    await h?.close();
    await receiver?.close();
    await connection?.close();
    await client?.connection.close();
    delete process.env[SECRET_ENV];
  }, TIMEOUT);

  it(
    'a breach pauses the lane at once; each notification is retried to one accepted delivery, signed, same id',
    async () => {
      await h.startWorker();
      const rolloutId = uniqueName('hooks');
      const lane = 'phone-a';
      const plan: RolloutPlanInput = {
        releaseId: 'bsi-26.3-hooks',
        artifact: { build: '26.3.1' },
        deviceClasses: [lane],
        phases: [
          { share: 10, bake: 3600 },
          { share: 100, bake: 0 },
        ],
        thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600, rule: 'plain' },
        breachPolicy: { action: 'pause' },
        notifications: {
          webhooks: [
            {
              name: 'sre',
              url: receiver.url,
              format: 'json',
              secretEnv: SECRET_ENV,
              events: ['breach', 'halt', 'rollout-aborted'],
            },
          ],
        },
      };
      await startRollout(client, {
        plan,
        rolloutId,
        actor: 'sre-alice',
        reason: 'webhook test',
        taskQueue: h.config.temporal.taskQueue,
      });
      const exposed = await laneReaches(client, rolloutId, lane, (s) => s.offerId !== null, 'exposed');
      await new DeltaFeeder(client).send(rolloutId, lane, exposed.offerId!, { ok: 60, failed: 40, code: 'E_BOOT' });

      // The decision does not wait for the webhook: the lane is paused while no delivery has been accepted yet.
      await laneReaches(client, rolloutId, lane, (s) => s.status === 'paused', 'paused by the breach');
      const acceptedWhenPaused = receiver.requests.filter((r) => r.status === 200).length;
      expect(acceptedWhenPaused).toBe(0);

      const { events } = await readEvents(h);
      const notifying = events.filter((e) => e.lane === lane && notificationKindOf(e) !== null);
      expect(notifying.map((e) => [e.type, notificationKindOf(e)])).toEqual([
        ['threshold-breached', 'breach'],
        ['lane-paused', 'halt'],
      ]);
      const ids = notifying.map((e) => e.eventId);

      // Every notification: 500, 500, 200 — three attempts with the same id and the same signed bytes.
      await eventually(
        () => Promise.resolve(ids.every((id) => accepted(id).length === 1) ? true : undefined),
        'every notification accepted',
        60_000,
      );
      for (const event of notifying) {
        const attempts = receiver.requests.filter((r) => r.headers['x-bsi-event-id'] === event.eventId);
        expect(attempts.map((r) => r.status)).toEqual([500, 500, 200]);
        expect(new Set(attempts.map((r) => r.body)).size).toBe(1);
        for (const r of attempts) {
          expect(verifySignature(r.body, r.headers['x-bsi-signature'] as string, SECRET)).toBe(true);
          expect(verifySignature(r.body, r.headers['x-bsi-signature'] as string, 'not-the-secret-at-all')).toBe(false);
        }
        const payload = NotificationSchema.parse(JSON.parse(attempts[0]!.body));
        expect(payload).toMatchObject({ id: event.eventId, rolloutId, releaseId: 'bsi-26.3-hooks', lane });
        expect(payload.event).toEqual(event);
        expect(payload.links?.workflow).toContain(encodeURIComponent(laneWorkflowId(rolloutId, lane)));
        // The halt was appended (its time) before the first attempt was even answered.
        expect(Date.parse(event.at)).toBeLessThan(accepted(event.eventId)[0]!.receivedAt);
      }

      // Abort: the rollout closes only once its own notification (rollout-aborted) was accepted.
      await sendOperatorCommand(client, rolloutId, { type: 'abort', actor: 'sre-alice', reason: 'webhook test over' });
      await waitForRollout(client, rolloutId);
      const description = await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).describe();
      const abortedId = `${rolloutId}/_/`;
      const abortDeliveries = receiver.requests.filter((r) =>
        String(r.headers['x-bsi-event-id']).startsWith(abortedId),
      );
      expect(abortDeliveries.map((r) => r.status)).toEqual([500, 500, 200]);
      expect(NotificationSchema.parse(JSON.parse(abortDeliveries[2]!.body)).kind).toBe('rollout-aborted');
      expect(description.closeTime!.getTime()).toBeGreaterThanOrEqual(abortDeliveries[2]!.receivedAt);

      // Exactly one accepted delivery per event id, over everything the receiver saw.
      const acceptedIds = receiver.requests.filter((r) => r.status === 200).map((r) => r.headers['x-bsi-event-id']);
      expect(new Set(acceptedIds).size).toBe(acceptedIds.length);
      expect(acceptedIds).toHaveLength(3);

      await exportHistory(client.workflow.getHandle(laneWorkflowId(rolloutId, lane)), 'webhooks-breach.lane-phone-a');
      await exportHistory(client.workflow.getHandle(rolloutWorkflowId(rolloutId)), 'webhooks-breach.rollout');
    },
    TIMEOUT,
  );

  function accepted(id: string) {
    return receiver.requests.filter((r) => r.headers['x-bsi-event-id'] === id && r.status === 200);
  }
});
