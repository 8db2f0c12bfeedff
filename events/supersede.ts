/**
 * Superseding a rollout (`rollout start <plan> --supersedes <old>`): a fixed build for the classes an earlier
 * rollout halted. The new rollout's `rollout-started` records the link (`supersedes`), and each superseding class —
 * a class of the plan that the old rollout halted: rolled back, rollback failed, or paused by a breach — runs with
 * the old rollout's cohort salt (`cohortSalt` in its lane config, so its buckets are the same devices as the old
 * lane's) and a first phase that covers at least the old lane's exposed bound: the devices still on (or rolled back
 * from) the bad build are the first offered the fix. Its later phases are the plan's above that bound. The plan still
 * decides which classes run: its other classes are fresh lanes with the new rollout's own salt.
 *
 * The old rollout must be one a person has finished with: completed or aborted, or every lane of it finished or
 * halted (rolled back, rollback failed, paused by a breach) — never one still exposing a class. Pure: the caller
 * reads the old rollout's state (its workflow, or the fold of its log).
 */
import { refuse, type Refusal } from './commands';
import type { Supersedes } from './domain-events';
import { isLaneFinished, type LaneState } from './lane';
import { BUCKETS_PER_PERCENT, type LaneConfig } from './plan';
import type { RolloutState } from './rollout';

/** Whether an old lane was halted by its build (the point of superseding it) and had exposed devices. */
function halted(lane: LaneState): lane is LaneState & { status: 'rolled-back' | 'rollback-failed' | 'paused' } {
  const byBuild =
    lane.status === 'rolled-back' ||
    lane.status === 'rollback-failed' ||
    (lane.status === 'paused' && lane.pause?.cause === 'breach');
  return byBuild && lane.cohortBound > 0;
}

/**
 * The link a new rollout of `plan` (`newRolloutId`) records when it supersedes the rollout whose state is `old`, or
 * a refusal with the reason: the old rollout never started, is the same rollout, still exposes a class, shares no
 * class with the plan, or halted none of the plan's classes.
 */
export function supersedesOf(
  old: RolloutState,
  plan: { deviceClasses: readonly string[] },
  newRolloutId: string,
): Supersedes | Refusal {
  if (old.status === 'pending' || old.plan === null) return refuse(`rollout ${old.rolloutId} has not started`);
  if (old.rolloutId === newRolloutId) return refuse(`a rollout cannot supersede itself (${newRolloutId})`);
  const lanes = Object.values(old.lanes);
  const active = lanes.filter((lane) => !isLaneFinished(lane.status) && !halted(lane));
  if (old.status === 'running' && active.length > 0) {
    return refuse(
      `rollout ${old.rolloutId} is still running (${active.map((l) => `${l.lane} ${l.status}`).join(', ')}): ` +
        'supersede it once it is finished or its classes are rolled back or halted (or abort it first)',
    );
  }
  const shared = plan.deviceClasses.filter((name) => name in old.lanes);
  if (shared.length === 0) {
    return refuse(
      `the plan names no class of rollout ${old.rolloutId} (its classes: ${Object.keys(old.lanes).join(', ')})`,
    );
  }
  const superseded: Supersedes['lanes'] = {};
  for (const name of shared) {
    const lane = old.lanes[name]!;
    if (halted(lane)) superseded[name] = { cohortBound: lane.cohortBound, status: lane.status };
  }
  if (Object.keys(superseded).length === 0) {
    return refuse(
      `rollout ${old.rolloutId} halted none of the plan's classes (${shared
        .map((name) => `${name} ${old.lanes[name]!.status}`)
        .join(', ')}): nothing to supersede`,
    );
  }
  return { rolloutId: old.rolloutId, lanes: superseded };
}

/**
 * The config of a superseding lane: the old rollout's cohort salt, and phases that start at the old lane's exposed
 * bound (with the bake and gate of the plan's first phase) and go on with the plan's phases above it. A class the
 * new rollout does not supersede keeps its config unchanged.
 */
export function supersedingConfig(config: LaneConfig, supersedes: Supersedes | undefined): LaneConfig {
  const old = supersedes?.lanes[config.deviceClass];
  if (supersedes === undefined || old === undefined) return config;
  const first = config.phases[0]!;
  const cohortSalt = supersedes.rolloutId;
  if (first.cohortBound >= old.cohortBound) return { ...config, cohortSalt };
  const opening = { ...first, share: old.cohortBound / BUCKETS_PER_PERCENT, cohortBound: old.cohortBound };
  return {
    ...config,
    cohortSalt,
    phases: [opening, ...config.phases.filter((phase) => phase.cohortBound > old.cohortBound)],
  };
}
