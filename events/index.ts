/**
 * The pure domain core of bsi-rollout: schemas (install events, domain events, commands, fleet commands,
 * the rollout plan), the health judge, cohorts, and the lane and rollout deciders. Nothing here does I/O,
 * reads a clock or draws a random number, so the same code decides in the workflow, shows `status` and
 * replays history.
 */
export * from './install-event';
export * from './domain-events';
export * from './commands';
export * from './fleet-commands';
export * from './plan';
export * from './health';
export * from './health-v1';
export * from './preview';
export * from './cohort';
export * from './lane';
export * from './rollout';
export * from './upcast';
