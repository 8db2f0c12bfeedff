/**
 * Temporal-level replay: fetches the histories of a rollout's workflows — the rollout workflow and every
 * lane, each run of each continue-as-new chain — and replays them against the current workflow code with
 * `Worker.runReplayHistories`. A non-determinism error means the new code would break running rollouts:
 * check before deploying a new worker version.
 */
import type { Client, HistoryAndWorkflowId } from '@temporalio/client';

/** The result of replaying one run. */
export type ReplayedRun = { workflowId: string; runId: string; ok: boolean; error: string | null };

/** The result of the whole check. */
export type DeterminismResult = { ok: boolean; runs: ReplayedRun[] };

/** The workflow code to replay against: sources the SDK bundles, or the bundle `npm run build` made. */
export type WorkflowCode =
  { workflowsPath: string; bundlerOptions?: { preloadModules: string[] } } | { workflowBundle: { codePath: string } };

/**
 * Lists every run of the given workflow ids (continue-as-new chains included) and replays each history
 * against `workflowCode`. Throws only when a history cannot be fetched.
 */
export async function checkDeterminism(
  client: Client,
  workflowIds: readonly string[],
  workflowCode: WorkflowCode,
): Promise<DeterminismResult> {
  const histories: HistoryAndWorkflowId[] = [];
  for (const workflowId of workflowIds) {
    const escaped = workflowId.replace(/'/g, "\\'");
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${escaped}'` })) {
      const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      histories.push({ workflowId, history });
    }
  }
  const runs: ReplayedRun[] = [];
  // Loaded here: the worker runtime is heavy and only this check needs it.
  const { DefaultLogger, Runtime, Worker } = await import('@temporalio/worker');
  try {
    // Only warnings: the bundler's and worker's progress lines are noise on a command line.
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // A runtime is already installed (e.g. inside a worker process): keep its logger.
  }
  const results = Worker.runReplayHistories({ ...workflowCode, replayName: 'bsi-replay-check' }, histories);
  for await (const result of results) {
    runs.push({
      workflowId: result.workflowId,
      runId: result.runId,
      ok: result.error === undefined,
      error: result.error === undefined ? null : `${result.error.name}: ${result.error.message}`,
    });
  }
  return { ok: runs.length > 0 && runs.every((r) => r.ok), runs };
}
