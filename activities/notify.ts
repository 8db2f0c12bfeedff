/**
 * The notification activity: delivers the notification of one appended domain event to every webhook that wants its
 * kind — the plan's (named in the activity's input) and the worker's global ones (`BSI_WEBHOOKS_FILE`, injected).
 * A thin adapter: the payload and the Slack message are built by `events/notification.ts`, the signature by
 * `./webhook-signature.ts`; this file resolves secrets, posts, and classifies the answers.
 *
 * Answers: 2xx is accepted; 408, 429, 5xx, a timeout or a network error are worth another attempt (the activity
 * throws and Temporal retries it with backoff, see `notifyActivityOptions`); any other answer (3xx, 4xx) and a
 * missing secret are refusals no retry can fix. A target that accepted or refused is remembered by this process and
 * skipped by the next attempts, so a retry posts only to the targets still owed; a retry that lands on another worker
 * may post again to a target that had accepted, with the same id and body: receivers dedupe by `X-BSI-Event-Id`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { workflowUiLink, type TemporalConfig } from '../config/env';
import { DomainEventSchema } from '../events/domain-events';
import { IdSchema } from '../events/install-event';
import { formatPath } from '../events/plan';
import { notificationOf, slackMessageOf, type Notification } from '../events/notification';
import {
  PlanWebhookSchema,
  wantsKind,
  type GlobalWebhook,
  type NotificationKind,
  type PlanWebhook,
} from '../events/webhook-config';
import type { Logger } from '../observability/log';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signatureOf } from './webhook-signature';

/** `ApplicationFailure` types of the notification activity. */
export const NOTIFY_FAILURES = {
  /** The input does not validate: never retried. */
  invalidInput: 'InvalidNotificationInput',
  /** Every target still owed refused (4xx other than 408/429, 3xx, no secret): never retried. */
  refused: 'WebhookRefused',
  /** A target may accept later (5xx, 408, 429, timeout, network): retried with backoff. */
  unavailable: 'WebhookUnavailable',
} as const;

/** What the workflow hands the activity: the appended event, the release, and the plan's webhooks. */
export const DeliverNotificationInputSchema = z
  .object({
    event: DomainEventSchema,
    releaseId: IdSchema.optional(),
    webhooks: z.array(PlanWebhookSchema).max(20),
  })
  .strict();
export type DeliverNotificationInput = z.input<typeof DeliverNotificationInputSchema>;

/** What one call did: targets that accepted now, before (an earlier attempt), or refused. */
export interface DeliveryResult {
  id: string;
  kind: NotificationKind | null;
  accepted: string[];
  acceptedBefore: string[];
  refused: { target: string; reason: string }[];
}

/** Most (event, target) outcomes a process remembers (the oldest are forgotten first): ~150 bytes each. */
export const DELIVERIES_REMEMBERED = 50_000;

/** What the notification activity needs. */
export interface NotifyDeps {
  /** The worker's global webhooks (validated at start-up, `config/webhooks.ts`); default none. */
  globalWebhooks?: readonly GlobalWebhook[];
  /** Where secrets named by `secretEnv` are read (default `process.env`, read at delivery time). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The Temporal UI, for the `links.workflow` of a payload; without it payloads carry no links. */
  temporalUi?: Pick<TemporalConfig, 'uiUrl' | 'namespace'>;
  /** Longest one POST may take (default 10 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** One webhook to post to: `plan:<name>` or `global:<name>`, with its secret or the variable that holds it. */
type Target = { key: string; url: string; format: 'json' | 'slack'; secret?: string; secretEnv?: string };

/** Bounded memory of settled deliveries: `accepted`, or the refusal's reason. */
class SettledDeliveries {
  private readonly outcomes = new Map<string, string>();
  constructor(private readonly limit: number) {}
  get(key: string): string | undefined {
    return this.outcomes.get(key);
  }
  set(key: string, outcome: string): void {
    this.outcomes.delete(key);
    this.outcomes.set(key, outcome);
    if (this.outcomes.size > this.limit) {
      const oldest = this.outcomes.keys().next();
      if (!oldest.done) this.outcomes.delete(oldest.value);
    }
  }
}

const ACCEPTED = 'accepted';

/** Whether an HTTP status is worth another attempt: 408, 429 and every 5xx. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Creates the notification activity around its dependencies (the worker passes the global webhooks it read at
 * start-up). The returned object's type is what workflows proxy, imported with `import type`.
 */
export function createNotifyActivities(deps: NotifyDeps = {}) {
  const env = deps.env ?? process.env;
  const globals = deps.globalWebhooks ?? [];
  const timeoutMs = deps.requestTimeoutMs ?? 10_000;
  const settled = new SettledDeliveries(DELIVERIES_REMEMBERED);

  function targetsOf(kind: NotificationKind, plan: readonly PlanWebhook[]): Target[] {
    const target = (source: 'plan' | 'global', hook: PlanWebhook | GlobalWebhook): Target => ({
      key: `${source}:${hook.name}`,
      url: hook.url,
      format: hook.format,
      ...('secret' in hook && hook.secret !== undefined && { secret: hook.secret }),
      ...(hook.secretEnv !== undefined && { secretEnv: hook.secretEnv }),
    });
    return [
      ...plan.filter((hook) => wantsKind(hook, kind)).map((hook) => target('plan', hook)),
      ...globals.filter((hook) => wantsKind(hook, kind)).map((hook) => target('global', hook)),
    ];
  }

  /** The Temporal UI page of the workflow that called, when the worker knows the UI. */
  function linksOf(): Notification['links'] {
    const workflowId = Context.current().info.workflowExecution?.workflowId;
    if (deps.temporalUi === undefined || workflowId === undefined) return undefined;
    return { workflow: workflowUiLink(deps.temporalUi, workflowId) };
  }

  /** Posts to one target: undefined when accepted, else `{ retry, reason }`. */
  async function post(
    target: Target,
    notification: Notification,
  ): Promise<{ retry: boolean; reason: string } | undefined> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'bsi-rollout-webhooks',
      [EVENT_ID_HEADER]: notification.id,
      [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000)),
    };
    let body: string;
    if (target.format === 'slack') body = JSON.stringify(slackMessageOf(notification));
    else {
      const secret = target.secret ?? (target.secretEnv === undefined ? undefined : env[target.secretEnv]);
      if (secret === undefined || secret === '') {
        return {
          retry: false,
          reason: `no secret: environment variable ${target.secretEnv} is not set on this worker`,
        };
      }
      body = JSON.stringify(notification);
      headers[SIGNATURE_HEADER] = signatureOf(body, secret);
    }
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return undefined;
      return { retry: isRetryableStatus(response.status), reason: `HTTP ${response.status}` };
    } catch (err) {
      return { retry: true, reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
    }
  }

  return {
    /**
     * Delivers the notification of `input.event` to every webhook that wants its kind (an event that notifies
     * nobody delivers nothing). Throws `WebhookUnavailable` (retried) while a target may still accept, then
     * `WebhookRefused` (not retried) when targets refused; the targets that accepted are in the result.
     */
    async deliverNotification(input: DeliverNotificationInput): Promise<DeliveryResult> {
      const parsed = DeliverNotificationInputSchema.safeParse(input);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `invalid notification input: ${parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ')}`,
          NOTIFY_FAILURES.invalidInput,
        );
      }
      const { event, releaseId, webhooks } = parsed.data;
      const result: DeliveryResult = { id: event.eventId, kind: null, accepted: [], acceptedBefore: [], refused: [] };
      const notification = notificationOf(event, { releaseId, links: linksOf() });
      if (notification === null) return result;
      result.kind = notification.kind;
      const unavailable: string[] = [];
      await Promise.all(
        targetsOf(notification.kind, webhooks).map(async (target) => {
          const key = `${notification.id}\n${target.key}`;
          const before = settled.get(key);
          if (before === ACCEPTED) result.acceptedBefore.push(target.key);
          else if (before !== undefined) result.refused.push({ target: target.key, reason: before });
          if (before !== undefined) return;
          const failure = await post(target, notification);
          if (failure === undefined) {
            settled.set(key, ACCEPTED);
            result.accepted.push(target.key);
          } else if (failure.retry) unavailable.push(`${target.key}: ${failure.reason}`);
          else {
            settled.set(key, failure.reason);
            result.refused.push({ target: target.key, reason: failure.reason });
          }
        }),
      );
      if (unavailable.length > 0) {
        deps.logger?.warn({ id: notification.id, unavailable }, 'webhook delivery failed; it will be retried');
        throw ApplicationFailure.retryable(
          `notification ${notification.id} not yet delivered to ${unavailable.join('; ')}`,
          NOTIFY_FAILURES.unavailable,
        );
      }
      if (result.refused.length > 0) {
        const refusals = result.refused.map((r) => `${r.target}: ${r.reason}`).join('; ');
        deps.logger?.error({ id: notification.id, refused: result.refused }, 'webhook refused a notification');
        throw ApplicationFailure.nonRetryable(
          `notification ${notification.id} refused by ${refusals}`,
          NOTIFY_FAILURES.refused,
          result,
        );
      }
      return result;
    },
  };
}
