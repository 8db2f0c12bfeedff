// The deliverNotification activity against a real local HTTP receiver (no Temporal server: the SDK's mock activity
// context): what it posts, how it classifies answers for Temporal's retry policy, and what a retry posts again.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createNotifyActivities, type DeliverNotificationInput } from '../../activities/notify';
import { verifySignature } from '../../activities/webhook-signature';
import { NotificationSchema, SlackMessageSchema } from '../../events/notification';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { sampleEvents } from './notify-fixtures';

const SECRET = 'unit-test-secret-0123456789';
const noop = () => undefined;
const quiet = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
const events = sampleEvents();
const breach = events['threshold-breached']!;

let receiver: WebhookReceiver;
afterEach(() => receiver.close());

/** Runs the activity once; returns its result or the ApplicationFailure it threw. */
async function attempt(
  activities: ReturnType<typeof createNotifyActivities>,
  input: DeliverNotificationInput,
): Promise<unknown> {
  try {
    return await new MockActivityEnvironment(undefined, { logger: quiet }).run(activities.deliverNotification, input);
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
}

const jsonHook = (url: string, extra: object = {}) => ({
  name: 'sre',
  url,
  format: 'json' as const,
  secretEnv: 'HOOK_SECRET',
  ...extra,
});

describe('deliverNotification', () => {
  it('posts the signed payload with its id and timestamp headers, and a retry posts the same bytes', async () => {
    receiver = await startWebhookReceiver({ script: [503] });
    const activities = createNotifyActivities({ env: { HOOK_SECRET: SECRET } });
    const input = { event: breach, releaseId: 'bsi-26.3', webhooks: [jsonHook(receiver.url)] };

    const first = await attempt(activities, input);
    expect(first).toMatchObject({ type: 'WebhookUnavailable', nonRetryable: false });
    expect(await attempt(activities, input)).toEqual({
      id: breach.eventId,
      kind: 'breach',
      accepted: ['plan:sre'],
      acceptedBefore: [],
      refused: [],
    });
    // A third attempt (Temporal retried after a lost completion) posts nothing: the target accepted.
    expect(await attempt(activities, input)).toMatchObject({ accepted: [], acceptedBefore: ['plan:sre'] });

    expect(receiver.requests.map((r) => r.status)).toEqual([503, 200]);
    const [a, b] = receiver.requests;
    expect(a!.body).toBe(b!.body);
    for (const request of receiver.requests) {
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['x-bsi-event-id']).toBe(breach.eventId);
      expect(request.headers['x-bsi-timestamp']).toMatch(/^\d{10}$/);
      expect(verifySignature(request.body, request.headers['x-bsi-signature'] as string, SECRET)).toBe(true);
    }
    const payload = NotificationSchema.parse(JSON.parse(a!.body));
    expect(payload).toMatchObject({ id: breach.eventId, kind: 'breach', releaseId: 'bsi-26.3', lane: 'phone-a' });
    expect(payload.event).toEqual(breach);
  });

  it.each([
    [408, 'retried'],
    [429, 'retried'],
    [500, 'retried'],
    [400, 'refused'],
    [404, 'refused'],
    [410, 'refused'],
    [301, 'refused'],
  ])('HTTP %i is %s', async (status, outcome) => {
    const nonRetryable = outcome === 'refused';
    receiver = await startWebhookReceiver({ script: [status] });
    const activities = createNotifyActivities({ env: { HOOK_SECRET: SECRET } });
    const failure = await attempt(activities, { event: breach, webhooks: [jsonHook(receiver.url)] });
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: nonRetryable ? 'WebhookRefused' : 'WebhookUnavailable',
      nonRetryable,
      message: expect.stringContaining(`HTTP ${status}`),
    });
  });

  it('refuses without posting when the secret variable is not set on the worker', async () => {
    receiver = await startWebhookReceiver();
    const failure = await attempt(createNotifyActivities({ env: {} }), {
      event: breach,
      webhooks: [jsonHook(receiver.url)],
    });
    expect(failure).toMatchObject({
      type: 'WebhookRefused',
      nonRetryable: true,
      message: expect.stringContaining('environment variable HOOK_SECRET is not set on this worker'),
    });
    expect(receiver.requests).toEqual([]);
  });

  it('posts a Slack message unsigned, to the plan and global webhooks that want the kind only', async () => {
    receiver = await startWebhookReceiver();
    const activities = createNotifyActivities({
      globalWebhooks: [
        { name: 'ops', url: `${receiver.url}/ops`, format: 'json', secret: SECRET },
        { name: 'ends', url: `${receiver.url}/ends`, format: 'json', secret: SECRET, events: ['rollout-completed'] },
      ],
      env: {},
    });
    const result = await attempt(activities, {
      event: events['lane-paused:breach']!,
      webhooks: [
        { name: 'chat', url: `${receiver.url}/chat`, format: 'slack' },
        { name: 'gates', url: `${receiver.url}/gates`, format: 'slack', events: ['gate-waiting'] },
      ],
    });
    expect(result).toMatchObject({ kind: 'halt', refused: [] });
    expect((result as { accepted: string[] }).accepted.sort()).toEqual(['global:ops', 'plan:chat']);
    const paths = receiver.requests.map((r) => r.path).sort();
    expect(paths).toEqual(['/hook/chat', '/hook/ops']);
    const chat = receiver.requests.find((r) => r.path === '/hook/chat')!;
    expect(chat.headers['x-bsi-signature']).toBeUndefined();
    expect(SlackMessageSchema.parse(JSON.parse(chat.body)).text).toBe(
      'r-hooks / phone-a: the lane is paused by a breach and waits for an operator.',
    );
  });

  it('delivers nothing for an event that notifies nobody, and refuses input that does not validate', async () => {
    receiver = await startWebhookReceiver();
    const activities = createNotifyActivities({ env: { HOOK_SECRET: SECRET } });
    expect(
      await attempt(activities, { event: events['gate-approved']!, webhooks: [jsonHook(receiver.url)] }),
    ).toMatchObject({ kind: null, accepted: [] });
    expect(await attempt(activities, { event: breach, webhooks: [jsonHook('ftp://127.0.0.1/x')] })).toMatchObject({
      type: 'InvalidNotificationInput',
      nonRetryable: true,
    });
    expect(receiver.requests).toEqual([]);
  });
});
