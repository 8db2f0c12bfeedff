/**
 * Notifications: what a webhook is told when a rollout does something a person should hear about. Pure: from one
 * appended domain event, `notificationKindOf` says whether it notifies and as which kind, `notificationOf` builds the
 * delivered payload (the same bytes for every delivery attempt, so a receiver dedupes by `id` and a signature over
 * the body verifies on every retry), and `slackMessageOf` turns that payload into a Slack incoming-webhook message.
 * Signing and sending are the activity's (`activities/notify.ts`).
 *
 * The notification of domain event X has id X (`rolloutId/lane/seq`): a retried delivery, another worker's
 * delivery of the same event, or a replayed workflow all carry the same id.
 */
import { z } from 'zod';
import { DomainEventSchema, type DomainEvent } from './domain-events';
import { DeviceClassSchema, IdSchema, TimestampSchema } from './install-event';
import { NotificationKindSchema, type NotificationKind } from './webhook-config';

/** Links a person follows from a notification (the Temporal UI page of the workflow that decided). */
export const NotificationLinksSchema = z.object({ workflow: z.url() }).strict();
export type NotificationLinks = z.infer<typeof NotificationLinksSchema>;

/** The payload a `json` webhook receives (the body, as UTF-8 JSON). */
export const NotificationSchema = z
  .object({
    /** The domain event's id: the same on every attempt and every worker, so receivers dedupe by it. */
    id: z.string().min(1).max(400),
    kind: NotificationKindSchema,
    rolloutId: IdSchema,
    /** The release the rollout pushes, when the deciding workflow knows it (always, for this engine's workflows). */
    releaseId: IdSchema.optional(),
    /** The device class concerned; absent for rollout-wide notifications (`fleet-halt`, `rollout-*`). */
    lane: DeviceClassSchema.optional(),
    /** When the event was decided (the event's `at`, workflow clock). */
    at: TimestampSchema,
    /** One plain sentence for a person. */
    summary: z.string().min(1).max(1000),
    /** The domain event itself, as appended to the event log. */
    event: DomainEventSchema,
    links: NotificationLinksSchema.optional(),
  })
  .strict();
export type Notification = z.infer<typeof NotificationSchema>;

/** What the builder needs beside the event: the release, and links when the worker knows them. */
export type NotificationContext = { releaseId?: string | undefined; links?: NotificationLinks | undefined };

/** The Slack incoming-webhook message (`text` is the fallback shown in notifications; `blocks` the rich layout). */
export const SlackMessageSchema = z
  .object({
    text: z.string().min(1),
    blocks: z.array(z.record(z.string(), z.unknown())).min(1),
  })
  .strict();
export type SlackMessage = z.infer<typeof SlackMessageSchema>;

/**
 * The notification kind of a domain event, or null when it notifies nobody. An operator's own pause is no `halt`
 * (the person knows); a pause caused by a breach or a fleet halt is.
 */
export function notificationKindOf(event: DomainEvent): NotificationKind | null {
  switch (event.type) {
    case 'threshold-breached':
      return 'breach';
    case 'lane-paused':
      return event.data.cause === 'operator' ? null : 'halt';
    case 'fleet-halted':
      return 'fleet-halt';
    case 'rollback-started':
      return 'rollback-started';
    case 'rollback-completed':
      return 'rollback-completed';
    case 'rollback-failed':
      return 'rollback-failed';
    case 'gate-waiting':
      return 'gate-waiting';
    case 'lane-lost':
      return 'lane-lost';
    case 'lane-stalled':
      return 'lane-stalled';
    case 'rollout-completed':
      return 'rollout-completed';
    case 'rollout-aborted':
      return 'rollout-aborted';
    default:
      return null;
  }
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(2).replace(/\.?0+$/, '')} %`;
}

/** The device class an event concerns: its lane, or the lost lane of a `lane-lost`. */
function laneOf(event: DomainEvent): string | undefined {
  if (event.lane !== null) return event.lane;
  return event.type === 'lane-lost' ? event.data.lane : undefined;
}

/** One plain sentence about a notifying event, for a person (the `summary` and Slack's fallback text). */
export function summaryOf(event: DomainEvent): string {
  const where = `${event.rolloutId}${event.lane !== null ? ` / ${event.lane}` : ''}`;
  switch (event.type) {
    case 'threshold-breached': {
      const e = event.data.evidence;
      if (e.rule === 'regression') {
        return (
          `${where}: phase ${event.data.phase + 1} (attempt ${event.data.attempt}) breached on a post-install ` +
          `regression: ${e.explanation}; the breach policy answers ${event.data.response}.`
        );
      }
      return (
        `${where}: phase ${event.data.phase + 1} (attempt ${event.data.attempt}) breached its threshold: ` +
        `${e.failures} failures in ${e.sample} devices (${percent(e.failureRate)}, limit ${percent(e.threshold)}); ` +
        `the breach policy answers ${event.data.response}.`
      );
    }
    case 'lane-paused':
      return `${where}: the lane is paused by ${event.data.cause === 'breach' ? 'a breach' : 'a fleet halt'} and waits for an operator.`;
    case 'fleet-halted':
      return `${where}: the fleet is halted (${event.data.reason}); ${event.data.haltLanes.length} running lane(s) pause.`;
    case 'rollback-started':
      return `${where}: rollback ${event.data.rollbackAttempt} started (${event.data.trigger}), running until ${event.data.until}.`;
    case 'rollback-completed':
      return `${where}: the rollback completed (${event.data.totals.succeeded} devices rolled back).`;
    case 'rollback-failed':
      return `${where}: the rollback failed (${event.data.evidence.explanation.replace(/\.$/, '')}); the lane waits for an operator.`;
    case 'gate-waiting':
      return `${where}: phase ${event.data.phase + 1} waits for manual approval.`;
    case 'lane-lost':
      return `${where}: the lane of ${event.data.lane} was lost (${event.data.cause}) while ${event.data.lastStatus}.`;
    case 'lane-stalled':
      return (
        `${where}: no device exposed to offer ${event.data.offerId} (up to ${event.data.cohortBound / 100}% of the ` +
        `class) has reported since ${event.data.quietSince}; the lane goes on and waits for its devices.`
      );
    case 'rollout-completed': {
      const outcomes = Object.entries(event.data.lanes).map(([lane, outcome]) => `${lane} ${outcome}`);
      return `${where}: the rollout completed (${outcomes.join(', ')}).`;
    }
    case 'rollout-aborted':
      return `${where}: the rollout was aborted${event.actor !== undefined ? ` by ${event.actor}` : ''}.`;
    default:
      return `${where}: ${event.type}.`;
  }
}

/**
 * The notification of a notifying domain event (null for one that notifies nobody): id and time are the event's,
 * so building it again (a retry, a replay, another worker) gives the same payload.
 */
export function notificationOf(event: DomainEvent, context: NotificationContext = {}): Notification | null {
  const kind = notificationKindOf(event);
  if (kind === null) return null;
  const lane = laneOf(event);
  return {
    id: event.eventId,
    kind,
    rolloutId: event.rolloutId,
    ...(context.releaseId !== undefined && { releaseId: context.releaseId }),
    ...(lane !== undefined && { lane }),
    at: event.at,
    summary: summaryOf(event),
    event,
    ...(context.links !== undefined && { links: context.links }),
  };
}

/** The emoji a Slack message starts with, per kind, so a channel reads at a glance. */
const MARKER: Record<NotificationKind, string> = {
  breach: ':rotating_light:',
  halt: ':octagonal_sign:',
  'fleet-halt': ':octagonal_sign:',
  'rollback-started': ':rewind:',
  'rollback-completed': ':white_check_mark:',
  'rollback-failed': ':x:',
  'gate-waiting': ':raised_hand:',
  'lane-lost': ':warning:',
  'lane-stalled': ':hourglass:',
  'rollout-completed': ':checkered_flag:',
  'rollout-aborted': ':no_entry:',
};

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The Slack incoming-webhook message of a notification: `text` (the summary, the fallback every client shows), a
 * section with the marker and the summary, a context line with kind, rollout, release, class and event id, and the
 * workflow link when there is one.
 */
export function slackMessageOf(notification: Notification): SlackMessage {
  const facts = [
    `*${notification.kind}*`,
    `rollout \`${notification.rolloutId}\``,
    ...(notification.releaseId !== undefined ? [`release \`${notification.releaseId}\``] : []),
    ...(notification.lane !== undefined ? [`class \`${notification.lane}\``] : []),
    `event \`${notification.id}\``,
  ];
  const link = notification.links?.workflow;
  return {
    text: notification.summary,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `${MARKER[notification.kind]} ${slackEscape(notification.summary)}` },
      },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `${facts.join(' · ')} · ${notification.at}` }],
      },
      ...(link !== undefined
        ? [{ type: 'section', text: { type: 'mrkdwn', text: `<${link}|Open the workflow>` } }]
        : []),
    ],
  };
}
