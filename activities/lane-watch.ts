/**
 * The rollout's watch on its lanes: how each lane's workflow stands in Temporal. A rollout learns that a lane
 * finished from the lane's own report; this activity is how it learns that a lane's workflow closed without one
 * (failed, terminated, timed out, cancelled — or completed while its last report was lost), after a
 * continue-as-new has cut the parent-child link through which it would otherwise hear. Read-only and cheap (one
 * DescribeWorkflowExecution per lane, plus one history read for a failed lane's message).
 *
 * And recovery from the log, the source of truth: the restart of a lost lane folds the class's events
 * (`laneStateFromLog`), and a run whose continue-as-new state does not validate rebuilds its state from the log
 * (`laneStateFromLog`, `rolloutStateFromLog`; see `workflows/carried.ts`).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import type { Topics } from '../config/env';
import type { LaneEvent } from '../events/domain-events';
import { LaneStateSchema, foldLane, initialLaneState, type LaneState } from '../events/lane';
import { RolloutStateSchema, fold, type RolloutState } from '../events/rollout';
import { readRolloutLog } from '../replay/read-log';

/** One lane workflow as Temporal describes it. */
export interface LaneExecution {
  workflowId: string;
  /** Temporal's execution status name (`RUNNING`, `COMPLETED`, `FAILED`, `TERMINATED`, `TIMED_OUT`, `CANCELLED`, …), or `NOT_FOUND`. */
  status: string;
  /** For a workflow that closed other than by completing: what Temporal recorded (failure message, close time). */
  detail: string;
}

/** Longest detail kept (the `lane-lost` event's limit). */
const MAX_DETAIL = 1000;

/** What the closing event of a lane workflow's history says: who terminated it and why, or the failure. */
async function closingDetail(client: Client, workflowId: string, status: string, closeTime: Date | undefined) {
  const at = `closed ${status.toLowerCase()} at ${closeTime?.toISOString() ?? 'an unknown time'}`;
  const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const last = history?.events?.[0];
  const terminated = last?.workflowExecutionTerminatedEventAttributes;
  if (terminated)
    return `${at} by ${terminated.identity || 'an unnamed client'}: ${terminated.reason || 'no reason given'}`;
  const failed = last?.workflowExecutionFailedEventAttributes?.failure;
  if (failed) return `${at}: ${failed.message ?? 'no message'}`;
  return at;
}

/** A lost lane's state folded from the log, and its events the rollout had not heard of (seq ≥ `knownSeq`). */
export interface LaneFromLog {
  state: LaneState;
  unreported: LaneEvent[];
}

/** Where the lane activities read the log. */
export interface LaneLogDeps {
  kafka: Kafka;
  topics: Pick<Topics, 'rolloutEvents'>;
}

/** How far before a rollout's start its log is read (clock skew between workers, Temporal and the broker). */
const LOG_SLACK_MS = 5 * 60 * 1000;

/** The lane activities, bound to a Temporal client of the rollouts' namespace and to the event log. */
export function createLaneWatchActivities(client: Client, log: LaneLogDeps) {
  return {
    /**
     * Folds one class's events from the rollout's log (read from `startedAt` on) into its lane state. Refuses
     * (non-retryable `EventConflict`) when the log holds one event id with two contents for the class: which one
     * is the truth is for a person to decide, not for a restart to guess.
     */
    async laneStateFromLog(input: {
      rolloutId: string;
      lane: string;
      /** When the rollout started (the log is read from shortly before); absent: from the beginning. */
      startedAt?: string;
      knownSeq: number;
    }): Promise<LaneFromLog> {
      const { rolloutId, lane } = input;
      const read = await readRolloutLog(log.kafka, log.topics.rolloutEvents, rolloutId, {
        ...(input.startedAt !== undefined && { fromMs: Date.parse(input.startedAt) - LOG_SLACK_MS }),
      });
      const conflicts = read.conflicts.filter((c) => c.eventId.startsWith(`${rolloutId}/${lane}/`));
      if (conflicts.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `lane ${lane}: ${conflicts.length} event ids appear in the log with two contents (first ${conflicts[0]!.eventId})`,
          'EventConflict',
        );
      }
      const events = read.events.filter((e): e is LaneEvent => e.lane === lane);
      const state = LaneStateSchema.parse(foldLane(events, initialLaneState(rolloutId, lane)));
      return { state, unreported: events.filter((e) => e.seq >= input.knownSeq) };
    },

    /**
     * The whole rollout view folded from the log (a rollout run whose carried state did not validate rebuilds from
     * here). Refuses on conflicting contents, like `laneStateFromLog`.
     */
    async rolloutStateFromLog(input: { rolloutId: string }): Promise<RolloutState> {
      const read = await readRolloutLog(log.kafka, log.topics.rolloutEvents, input.rolloutId);
      if (read.conflicts.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `rollout ${input.rolloutId}: ${read.conflicts.length} event ids appear in the log with two contents (first ${read.conflicts[0]!.eventId})`,
          'EventConflict',
        );
      }
      return RolloutStateSchema.parse(fold(read.events));
    },

    /** Describes each lane workflow; a lane that does not exist is `NOT_FOUND`. */
    async laneExecutions(workflowIds: string[]): Promise<LaneExecution[]> {
      return Promise.all(
        workflowIds.map(async (workflowId): Promise<LaneExecution> => {
          try {
            const d = await client.workflow.getHandle(workflowId).describe();
            const status = d.status.name;
            if (status === 'RUNNING' || status === 'COMPLETED' || status === 'CONTINUED_AS_NEW') {
              return { workflowId, status, detail: '' };
            }
            const detail = await closingDetail(client, workflowId, status, d.closeTime);
            return { workflowId, status, detail: detail.slice(0, MAX_DETAIL) };
          } catch (err) {
            if (err instanceof WorkflowNotFoundError)
              return { workflowId, status: 'NOT_FOUND', detail: 'no such workflow' };
            throw err;
          }
        }),
      );
    },
  };
}
