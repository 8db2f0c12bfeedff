/**
 * How the workflows call their activities: timeouts and retry policies, in one place. Appending to the
 * event log and publishing fleet orders must eventually happen, so they retry without a limit (with capped
 * exponential backoff) while Kafka is unavailable; failures no retry can fix are raised non-retryable by the
 * activities themselves (`InvalidDomainEvent`, `InvalidFleetCommand`, `KafkaRejected`) and fail the workflow.
 */
import type { ActivityOptions } from '@temporalio/workflow';

/** Options for `appendEvents` and `publishCommands`. */
export const kafkaActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['InvalidDomainEvent', 'InvalidFleetCommand', 'KafkaRejected'],
  },
};

/** History length at which a workflow run continues as new, well below Temporal's ~4,096-event suggestion. */
export const MAX_HISTORY_EVENTS = 2_000;
/** History size (bytes) at which a workflow run continues as new, well below the 50 MB hard limit. */
export const MAX_HISTORY_BYTES = 4 * 1024 * 1024;
/** Inbox items decided in one round (one append): bounds the activity payload (≤ 2 MB per payload). */
export const MAX_ITEMS_PER_ROUND = 200;
