/**
 * Activities: the workflows' only side effects, thin adapters to Kafka (and, in `lane-watch.ts`, a read-only look at
 * the lane workflows in Temporal). Created by `createActivities(deps)`
 * so the worker injects a connected producer (and tests may inject their own). Both activities are safe to
 * repeat: a retried call republishes records with the same deterministic ids (`eventId` for domain events,
 * `orderId` for fleet orders), which every reader uses to drop exact duplicates, and the idempotent producer
 * (`acks: -1`) removes the duplicates its own internal retries would cause.
 *
 * Failures are classified by `ApplicationFailure` type, never by `instanceof` across the workflow sandbox:
 * input that can never succeed (a malformed event or order, a record the broker refuses as too large or
 * corrupt) is non-retryable (`InvalidDomainEvent`, `InvalidFleetCommand`, `KafkaRejected`); everything else
 * (broker down, leader election, timeouts) is thrown as is and retried by the workflow's retry policy.
 *
 * Conflicts: `appendEvents` refuses (`EventConflict`, non-retryable, nothing sent) an event whose id this
 * activities instance has already appended with another content (`AppendedEvents`). What that guarantees,
 * and what it does not, is said at `AppendedEvents`.
 */
import crypto from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Message, Producer } from 'kafkajs';
import type { Topics } from '../config/env';
import { DomainEventSchema, type DomainEvent } from '../events/domain-events';
import { FleetCommandSchema, fleetCommandKey, type FleetCommand } from '../events/fleet-commands';
import { kafkaErrorType } from '../kafka/client';
import { SendQueue, messageBytes } from '../kafka/send-queue';
import type { Logger } from '../observability/log';
import type { AppendedBatch } from './engine-metrics';
import type { createLaneWatchActivities } from './lane-watch';
import type { createNotifyActivities } from './notify';

export { createLaneWatchActivities, type LaneExecution } from './lane-watch';
export { createNotifyActivities, type DeliveryResult } from './notify';

/** `ApplicationFailure` types the activities raise for failures no retry can fix. */
export const NON_RETRYABLE_FAILURES = {
  invalidEvent: 'InvalidDomainEvent',
  invalidCommand: 'InvalidFleetCommand',
  kafkaRejected: 'KafkaRejected',
  eventConflict: 'EventConflict',
} as const;

/** Most event ids `AppendedEvents` remembers (the oldest are forgotten first): ~100 bytes each. */
export const APPENDED_EVENTS_REMEMBERED = 200_000;

/**
 * The ids and content hashes (SHA-256 of the schema-parsed event's JSON) of the events one worker process
 * appended, the most recent `limit` of them. Guarantees: while an id is remembered, this process never
 * publishes a second content for it — a lane restarted from folded state, a reset workflow or a changed
 * decider that re-issues a seq with other content is refused before anything reaches the log. An activity
 * retry cannot conflict (Temporal retries with the same input). Not guaranteed: a conflicting append from
 * another worker process, or after this process restarted or forgot the id; reading the log back on every
 * append would cost a consumer-group join (seconds) on the halt path. Those conflicts are caught by the
 * readers instead (`readRolloutLog` reports them, `rollout replay --check-determinism` fails on them).
 */
export class AppendedEvents {
  private readonly hashes = new Map<string, string>();

  /** Remembers at most `limit` ids. */
  constructor(private readonly limit = APPENDED_EVENTS_REMEMBERED) {}

  /** The content hash of an event, in the canonical form the schema parsed. */
  static hashOf(event: DomainEvent): string {
    return crypto.createHash('sha256').update(JSON.stringify(event)).digest('base64');
  }

  /** The hash remembered for `eventId` when it differs from `hash` (a conflict), else undefined. */
  conflictOf(eventId: string, hash: string): string | undefined {
    const known = this.hashes.get(eventId);
    return known !== undefined && known !== hash ? known : undefined;
  }

  /** Whether `eventId` is remembered (this process appended it). */
  has(eventId: string): boolean {
    return this.hashes.has(eventId);
  }

  /** Remembers an appended event (refreshing its age). */
  remember(eventId: string, hash: string): void {
    this.hashes.delete(eventId);
    this.hashes.set(eventId, hash);
    if (this.hashes.size > this.limit) {
      const oldest = this.hashes.keys().next();
      if (!oldest.done) this.hashes.delete(oldest.value);
    }
  }
}

/** Kafka protocol errors that mean "this record will never be accepted", so retrying is pointless. */
const REJECTED_BY_BROKER = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_REQUIRED_ACKS',
  // Not UNKNOWN_TOPIC_OR_PARTITION: a KRaft broker answers it while a new topic propagates; it is transient.
]);

/** Largest total of record bytes sent in one request; a round's events are split into chunks below it. */
const MAX_CHUNK_BYTES = 512 * 1024;

/** What the activities need: a connected idempotent producer (see `createEventLogProducer`) and topic names. */
export interface ActivityDeps {
  producer: Producer;
  topics: Pick<Topics, 'rolloutEvents' | 'commands'>;
  logger?: Logger;
  /** The events this process appended (default: a fresh `AppendedEvents`, one per `createActivities`). */
  appended?: AppendedEvents;
  /** Told of each acknowledged append (the engine's metrics, `engine-metrics.ts`); a throw is logged, never fatal. */
  onAppended?: (batch: AppendedBatch) => void;
}

/** Result of an activity call: how many records went to Kafka. */
export interface PublishResult {
  published: number;
}

/**
 * Creates the idempotent producer the activities need: `idempotent: true` with one request in flight, so
 * the broker deduplicates the producer's own retries and keeps per-partition order. Connect it before use.
 */
export function createEventLogProducer(kafka: { producer(config: object): Producer }): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
}

function chunks(messages: Message[]): Message[][] {
  const out: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (current.length > 0 && bytes + size > MAX_CHUNK_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Builds the activity functions around injected Kafka dependencies. The returned object's type is what
 * workflows proxy (`proxyActivities<ReturnType<typeof createActivities>>`), imported with `import type`.
 */
export function createActivities(deps: ActivityDeps) {
  const { producer, topics, logger } = deps;
  const appended = deps.appended ?? new AppendedEvents();
  // Every activity of this worker shares the producer's one request in flight: what queues behind it goes out
  // together in the next request (kafka/send-queue.ts), so a lane's append waits for one request, not for all.
  const queue = new SendQueue(producer, { acks: -1, maxBatchBytes: MAX_CHUNK_BYTES });

  async function send(topic: string, messages: Message[]): Promise<void> {
    try {
      for (const chunk of chunks(messages)) await queue.send(topic, chunk);
    } catch (err) {
      const type = kafkaErrorType(err);
      if (type !== undefined && REJECTED_BY_BROKER.has(type)) {
        throw ApplicationFailure.nonRetryable(
          `Kafka refused records for ${topic}: ${type}`,
          NON_RETRYABLE_FAILURES.kafkaRejected,
        );
      }
      logger?.warn({ err, topic }, 'kafka send failed; the activity will be retried');
      throw err;
    }
  }

  return {
    /**
     * Appends domain events to the rollout log (`bsi.rollout-events`), in order, keyed by rollout id (one
     * partition per rollout keeps its streams ordered), with headers `eventId`, `type` and `schemaVersion`.
     * Every event is validated first; an invalid one fails the call non-retryably and nothing is sent. So
     * does an event whose id this process appended before with another content (`EventConflict`).
     */
    async appendEvents(events: DomainEvent[]): Promise<PublishResult> {
      const hashes: string[] = [];
      const inCall = new Map<string, string>();
      const fresh: DomainEvent[] = [];
      const messages: Message[] = events.map((event, index) => {
        const parsed = DomainEventSchema.safeParse(event);
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(
            `event ${index} (${String((event as { eventId?: unknown })?.eventId)}) is invalid: ${parsed.error.message}`,
            NON_RETRYABLE_FAILURES.invalidEvent,
          );
        }
        const hash = AppendedEvents.hashOf(parsed.data);
        const sameCall = inCall.get(parsed.data.eventId);
        if (
          appended.conflictOf(parsed.data.eventId, hash) !== undefined ||
          (sameCall !== undefined && sameCall !== hash)
        ) {
          throw ApplicationFailure.nonRetryable(
            `event ${parsed.data.eventId} was appended before with another content; refusing to publish a conflicting one`,
            NON_RETRYABLE_FAILURES.eventConflict,
            { eventId: parsed.data.eventId },
          );
        }
        hashes.push(hash);
        if (!appended.has(parsed.data.eventId) && sameCall === undefined) fresh.push(parsed.data);
        inCall.set(parsed.data.eventId, hash);
        return {
          key: event.rolloutId,
          value: JSON.stringify(event),
          headers: { eventId: event.eventId, type: event.type, schemaVersion: String(event.schemaVersion) },
        };
      });
      if (messages.length > 0) await send(topics.rolloutEvents, messages);
      const ackedAtMs = Date.now();
      events.forEach((event, i) => appended.remember(event.eventId, hashes[i]!));
      try {
        deps.onAppended?.({ fresh, repeated: events.length - fresh.length, ackedAtMs });
      } catch (err) {
        logger?.warn({ err }, 'the append hook failed; the append itself succeeded');
      }
      return { published: messages.length };
    },

    /**
     * Publishes fleet orders (expose / retry / rollback) to `bsi.commands`, keyed `${rolloutId}/${lane}` so
     * one lane's orders stay in order, with headers `orderId` and `kind`. Orders are validated first.
     */
    async publishCommands(orders: FleetCommand[]): Promise<PublishResult> {
      const messages: Message[] = orders.map((order, index) => {
        const parsed = FleetCommandSchema.safeParse(order);
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(
            `order ${index} is invalid: ${parsed.error.message}`,
            NON_RETRYABLE_FAILURES.invalidCommand,
          );
        }
        return {
          key: fleetCommandKey(order),
          value: JSON.stringify(order),
          headers: { orderId: order.orderId, kind: order.kind },
        };
      });
      if (messages.length > 0) await send(topics.commands, messages);
      return { published: messages.length };
    },
  };
}

/** The activity functions, as the workflows proxy them: the Kafka adapters, the lane watch and the webhooks. */
export type Activities = ReturnType<typeof createActivities> &
  ReturnType<typeof createLaneWatchActivities> &
  ReturnType<typeof createNotifyActivities>;
