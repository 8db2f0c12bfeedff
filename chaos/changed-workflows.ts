// "Version N+1" of the workflow code, for the worker-upgrade test and the chaos deploy scenario: the product's
// workflows with a lane decider
// that differs the way a real change would. Its lanes bake a third as long as their plan says (different decisions:
// an earlier `bake-elapsed`), and they sleep a moment before anything else (a different command sequence: a history
// recorded by version N does not replay on this code). Registered under the same workflow type names.
import { sleep } from '@temporalio/workflow';
import { laneWorkflow as laneWorkflowN } from '../workflows/lane-workflow';
import type { LaneWorkflowInput, LaneWorkflowResult } from '../workflows/messages';

export { rolloutWorkflow } from '../workflows/rollout-workflow';

/** The marker the test reads back: N+1 bakes this fraction of the planned bake. */
export const NEXT_BAKE_FRACTION = 1 / 3;

export async function laneWorkflow(input: LaneWorkflowInput): Promise<LaneWorkflowResult> {
  await sleep(1);
  // A run continued as new carries the config it was given already.
  if (input.carried !== undefined) return laneWorkflowN(input);
  const phases = input.config.phases.map((phase) => ({
    ...phase,
    bakeSec: Math.floor(phase.bakeSec * NEXT_BAKE_FRACTION),
  }));
  return laneWorkflowN({ ...input, config: { ...input.config, phases } });
}
