/**
 * The lane census behind `bsi_engine_lanes`: at scrape time, the running rollout workflows of one task queue (from
 * Temporal's visibility) are asked for their folded view (`rolloutStatusQuery`), and their lanes are counted by
 * state. Every worker of the queue sees the same workflows, so the numbers are right however many workers run
 * (each reports the whole queue); counting the events one worker appended would see only its own share.
 */
import type { Client } from '@temporalio/client';
import { laneStateCounts, type LaneCensus } from '../activities/engine-metrics';
import type { RolloutState } from '../events/rollout';
import { rolloutStatusQuery } from '../workflows/messages';

/** Most rollouts one census asks (far above `BSI_MAX_ACTIVE_ROLLOUTS`); more are left out of the count. */
export const CENSUS_MAX_ROLLOUTS = 500;
/** Longest a census may take before the scrape gives up on it (Prometheus' default scrape timeout is 10 s). */
export const CENSUS_TIMEOUT_MS = 5_000;

/** A visibility-query string literal: single-quoted, with `\` and `'` escaped. */
export function visibilityLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The census of `taskQueue`'s running rollouts. A rollout that cannot answer its query (it closed meanwhile) is
 * left out; a failed listing, or a census slower than `CENSUS_TIMEOUT_MS`, throws.
 */
export function laneCensus(client: Client, taskQueue: string): LaneCensus {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`lane census took over ${CENSUS_TIMEOUT_MS} ms`)), CENSUS_TIMEOUT_MS);
    });
    try {
      return await Promise.race([census(client, taskQueue), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

async function census(client: Client, taskQueue: string) {
  const query =
    `WorkflowType = 'rolloutWorkflow' AND ExecutionStatus = 'Running' AND ` +
    `TaskQueue = ${visibilityLiteral(taskQueue)}`;
  const ids: string[] = [];
  for await (const execution of client.workflow.list({ query })) {
    ids.push(execution.workflowId);
    if (ids.length >= CENSUS_MAX_ROLLOUTS) break;
  }
  const views = await Promise.all(
    ids.map((id) =>
      client.workflow
        .getHandle(id)
        .query(rolloutStatusQuery)
        .catch((): RolloutState | undefined => undefined),
    ),
  );
  return laneStateCounts(views.filter((view): view is RolloutState => view !== undefined));
}
