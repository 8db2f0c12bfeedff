/**
 * How the workflows call their activities: timeouts and retry policies, in one place. Appending to the
 * event log and publishing fleet orders must eventually happen, so they retry without a limit (with capped
 * exponential backoff) while Kafka is unavailable; failures no retry can fix are raised non-retryable by the
 * activities themselves (`InvalidDomainEvent`, `InvalidFleetCommand`, `KafkaRejected`, `EventConflict`) and fail the
 * workflow.
 */
import type { ActivityOptions } from '@temporalio/workflow';

/** Options for `appendEvents` and `publishCommands`. */
export const kafkaActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['InvalidDomainEvent', 'InvalidFleetCommand', 'KafkaRejected', 'EventConflict'],
  },
};

/**
 * Options for `deliverNotification`. Bounded, unlike the Kafka ones: a webhook that stays down must not hold a
 * rollout's continue-as-new or end for long. Six attempts, 1 s doubling up to 1 min, within 10 minutes in all; the
 * activity raises a refusal (a 4xx other than 408/429, a missing secret) and bad input non-retryable.
 */
export const notifyActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 6,
    nonRetryableErrorTypes: ['InvalidNotificationInput', 'WebhookRefused'],
  },
};

/** Options for `laneExecutions` (read-only: retried while Temporal is unreachable, a watch is never urgent). */
export const laneWatchActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/** How often a rollout describes lanes that an earlier run (before a continue-as-new) started. */
export const LANE_WATCH_INTERVAL_MS = 5 * 60 * 1000;

/** History length at which a workflow run continues as new, well below Temporal's ~4,096-event suggestion. */
export const MAX_HISTORY_EVENTS = 2_000;
/** History size (bytes) at which a workflow run continues as new, well below the 50 MB hard limit. */
export const MAX_HISTORY_BYTES = 4 * 1024 * 1024;
/**
 * Inputs decided in one round (one append). Bounds the activity payload (a `health-evaluated` event is
 * ~1.5 kB) and, more importantly, the CPU of one workflow activation: the decider runs ~10× slower in the
 * workflow sandbox than in plain Node (~0.5–1 ms per health delta measured here), and an activation must
 * stay well inside the 5 s workflow-task deadline.
 */
export const MAX_ITEMS_PER_ROUND = 250;
/**
 * Inputs decided in one run before it continues as new. A worker that lost the workflow from its cache
 * replays the whole run, and replay must also fit in one workflow task: 2,500 decisions replay in ~2 s.
 */
export const MAX_INPUTS_PER_RUN = 2_500;

/**
 * Undecided inputs a run may hand to the next one through continue-as-new (its input must stay far below
 * the 2 MB payload limit; a delta is ~150 bytes). A run with more pending keeps deciding before it continues.
 */
export const MAX_CARRIED_INPUTS = 2_000;
/** Hard stop for that catch-up: a run continues as new at this history length whatever is pending. */
export const HARD_MAX_HISTORY_EVENTS = 10_000;
