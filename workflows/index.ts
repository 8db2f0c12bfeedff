/**
 * The workflows the worker registers (its `workflowsPath`): the rollout and its lanes. Message
 * definitions live in `./messages`, shared with the client, the ingest and the tests.
 */
export { laneWorkflow } from './lane-workflow';
export { rolloutWorkflow } from './rollout-workflow';
