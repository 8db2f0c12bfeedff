/**
 * The rollout's watch on its lanes: how each lane's workflow stands in Temporal. A rollout learns that a lane
 * finished from the lane's own report; this activity is how it learns that a lane's workflow closed without one
 * (failed, terminated, timed out, cancelled — or completed while its last report was lost), after a
 * continue-as-new has cut the parent-child link through which it would otherwise hear. Read-only and cheap (one
 * DescribeWorkflowExecution per lane, plus one history read for a failed lane's message).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';

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

/** The lane-watch activity, bound to a Temporal client of the rollouts' namespace. */
export function createLaneWatchActivities(client: Client) {
  return {
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
