/**
 * Domain events: the rollout log (`bsi.rollout-events`, key rolloutId), the source of truth for the
 * workflow's state, `status` and `replay`. Every event is `{ type, data }` plus metadata: a deterministic
 * `eventId` (`${rolloutId}/${lane ?? '_'}/${seq}`, so a retried append is recognisable), `rolloutId`,
 * `lane` (the device class, or null for rollout-level events), `seq` (per stream: each lane is one stream,
 * rollout-level events are stream `_`), `at`, `schemaVersion`, and `actor` / `reason` where a person acted.
 *
 * Current `schemaVersion` is 2; `upcast.ts` reads version 1. Stored events are never rewritten.
 */
import { z } from 'zod';
import { HealthEvidenceSchema, HealthVerdictSchema } from './health';
import { DeviceClassSchema, ErrorCodeSchema, IdSchema, TimestampSchema } from './install-event';
import { KafkaOffsetSchema, OffsetRangeSchema } from './offset-range';
import { RampSchema } from './pacing';
import { ArtifactSchema, LaneConfigSchema, RolloutPlanSchema } from './plan';
import { PostInstallDeltaSchema } from './post-install';
import { RegressionEvidenceSchema, RegressionVerdictSchema, SignalEvidenceSchema } from './regression';
import { EndBehaviorSchema } from './schedule';

export const DOMAIN_EVENT_SCHEMA_VERSION = 2;

/** Who acted: a person or a service account, as the CLI or the auth layer names it. */
export const ActorSchema = z.string().min(1).max(128);
/** Why a person acted: lands in the audit trail. */
export const ReasonSchema = z.string().trim().min(1).max(1000);

export { KafkaOffsetSchema, OffsetRangeSchema, type OffsetRange } from './offset-range';

const countSchema = z.number().int().min(0).max(1_000_000_000);

/**
 * Outcome counts of one offer (a phase attempt, or a rollback). As a delta, `inProgress` may be negative
 * (devices that moved from installing to a final outcome), and so may `timedOut`: a device counted as timed
 * out that reports after all is corrected (timedOut −1, succeeded or failed +1). As running totals both may
 * dip below zero transiently when deltas arrive out of order; the judge sees them clamped at zero.
 */
export const OutcomeCountsSchema = z
  .object({
    succeeded: countSchema,
    failedByCode: z
      .record(ErrorCodeSchema, countSchema)
      .refine((codes) => Object.keys(codes).length <= 256, { message: 'at most 256 distinct error codes' }),
    timedOut: z.number().int().min(-1_000_000_000).max(1_000_000_000),
    inProgress: z.number().int().min(-1_000_000_000).max(1_000_000_000),
  })
  .strict();
export type OutcomeCounts = z.infer<typeof OutcomeCountsSchema>;

/**
 * A range of an applied delta that starts at or below the lane's high-water mark for its offer and partition: the
 * lane had already counted offsets `fromOffset`..min(`toOffset`, `mark`) of that range, and since a delta that is
 * partly above the marks is applied whole, they are counted again. Only a delta that straddles a mark (or carries a
 * range below it beside one above it) has one; see docs/ingest.md for when the ingest can send such a delta.
 */
export const DeltaOverlapSchema = z
  .object({
    partition: z.number().int().min(0).max(100_000),
    fromOffset: KafkaOffsetSchema,
    /** The lane's mark for this offer and partition before the delta was applied. */
    mark: KafkaOffsetSchema,
  })
  .strict()
  .refine((overlap) => BigInt(overlap.fromOffset) <= BigInt(overlap.mark), {
    message: 'fromOffset must be ≤ mark',
    path: ['mark'],
  });
export type DeltaOverlap = z.infer<typeof DeltaOverlapSchema>;

/** An aggregated batch of install outcomes for one offer, with the Kafka ranges it covers. */
export const HealthDeltaSchema = z
  .object({
    counts: OutcomeCountsSchema,
    ranges: z.array(OffsetRangeSchema).min(1).max(1000),
  })
  .strict();
export type HealthDelta = z.infer<typeof HealthDeltaSchema>;

export const OPERATOR_COMMAND_TYPES = ['pause', 'resume', 'approve', 'retry', 'rollback', 'abort', 'restart'] as const;
export const OperatorCommandTypeSchema = z.enum(OPERATOR_COMMAND_TYPES);
export type OperatorCommandType = z.infer<typeof OperatorCommandTypeSchema>;

/** What a lane waits for before it moves on; the workflow arms a timer for `until` where there is one. */
export const WaitingForSchema = z.discriminatedUnion('kind', [
  /**
   * The current phase bakes until `until`. A phase with a `{ min, max }` bake has `minUntil`, the end of its minimum
   * bake: from then on proven health ends it. While the minimum bake runs, `until` is `minUntil` (the lane wakes then
   * to look at its evidence) and `maxUntil` is where the bake ends at the latest; after it, `until` is that end.
   */
  z
    .object({
      kind: z.literal('bake'),
      phase: z.number().int().min(0),
      until: TimestampSchema,
      minUntil: TimestampSchema.optional(),
      maxUntil: TimestampSchema.optional(),
    })
    .strict(),
  /** A manual gate: an operator must approve before `phase` starts. */
  z.object({ kind: z.literal('approval'), phase: z.number().int().min(0) }).strict(),
  /** Bake is over but the verdict is not yet healthy (insufficient evidence never passes a phase). */
  z.object({ kind: z.literal('evidence'), phase: z.number().int().min(0) }).strict(),
  /** Paused (by a person, a breach or a fleet halt) or a rollback failed: only an operator moves it on. */
  z.object({ kind: z.literal('operator') }).strict(),
  /** A retry is scheduled: the retry offer goes out at `until`. */
  z.object({ kind: z.literal('retry-backoff'), attempt: z.number().int().min(2), until: TimestampSchema }).strict(),
  /** A rollback runs until `until`; failures during it fail it sooner. */
  z.object({ kind: z.literal('rollback'), until: TimestampSchema }).strict(),
  /**
   * The last phase passed (lanes with a `completion` rule): the lane counts successes until `patchedShare` of the class
   * is patched, or until `until`, its completion deadline.
   */
  /**
   * A rate-limited phase's exposure is not complete yet (`events/pacing.ts`): its offer reaches `cohortBound` now and
   * widens at `until`, a step at a time, up to `targetBound`; the bake starts when it gets there.
   */
  z
    .object({
      kind: z.literal('step'),
      phase: z.number().int().min(0),
      until: TimestampSchema,
      cohortBound: z.number().int().min(0).max(10000),
      targetBound: z.number().int().min(1).max(10000),
    })
    .strict(),
  /**
   * An order is held outside the class's maintenance windows until the next opening, `until`: a phase's (or a
   * retry's) first offer of `attempt` (`holds: 'exposure'`), or the next step of a paced offer (`holds: 'step'`).
   */
  z
    .object({
      kind: z.literal('window'),
      phase: z.number().int().min(0),
      attempt: z.number().int().min(1),
      holds: z.enum(['exposure', 'step']),
      until: TimestampSchema,
    })
    .strict(),
  z
    .object({
      kind: z.literal('patching'),
      phase: z.number().int().min(0),
      patchedShare: z.number().gt(0).max(1),
      until: TimestampSchema,
    })
    .strict(),
  /**
   * The last phase passed (lanes with a regression `watch`): its devices are watched for post-install regressions
   * until `until`; then the lane completes, or with a completion rule its patching stage begins.
   */
  z.object({ kind: z.literal('watch'), phase: z.number().int().min(0), until: TimestampSchema }).strict(),
]);
export type WaitingFor = z.infer<typeof WaitingForSchema>;

const metadata = {
  eventId: z.string().min(1).max(400),
  rolloutId: IdSchema,
  seq: z.number().int().min(0),
  at: TimestampSchema,
  schemaVersion: z.literal(DOMAIN_EVENT_SCHEMA_VERSION),
  actor: ActorSchema.optional(),
  reason: ReasonSchema.optional(),
};

function laneEvent<T extends string, D extends z.ZodType>(type: T, data: D) {
  return z.object({ ...metadata, lane: DeviceClassSchema, type: z.literal(type), data }).strict();
}
function rolloutEvent<T extends string, D extends z.ZodType>(type: T, data: D) {
  return z.object({ ...metadata, lane: z.null(), type: z.literal(type), data }).strict();
}

const phaseIndex = z.number().int().min(0);
const attempt = z.number().int().min(1);

/**
 * What a superseding rollout records of the rollout it supersedes (`rollout-started`'s `supersedes`; see
 * events/supersede.ts): its id, and per superseded class the old lane's exposed bound and how it ended.
 */
export const SupersedesSchema = z
  .object({
    rolloutId: IdSchema,
    /** The classes the new rollout supersedes: how far the old lane exposed its build, and how it ended. */
    lanes: z.record(
      DeviceClassSchema,
      z
        .object({
          cohortBound: z.number().int().min(1).max(10000),
          status: z.enum(['rolled-back', 'rollback-failed', 'paused']),
        })
        .strict(),
    ),
  })
  .strict();
export type Supersedes = z.infer<typeof SupersedesSchema>;

export const RolloutStartedSchema = rolloutEvent(
  'rollout-started',
  z
    .object({
      plan: RolloutPlanSchema,
      /** The judging rules the rollout and its lanes run under (absent: version 1, see `RULES_VERSION`). */
      rulesVersion: z.number().int().min(2).optional(),
      /** The rollout this one supersedes (`--supersedes`), with the classes it supersedes; absent: none. */
      supersedes: SupersedesSchema.optional(),
    })
    .strict(),
);
export const LaneStartedSchema = laneEvent('lane-started', z.object({ config: LaneConfigSchema }).strict());
export const PhaseStartedSchema = laneEvent(
  'phase-started',
  z.object({ phase: phaseIndex, share: z.number(), cohortBound: z.number().int().min(1).max(10000) }).strict(),
);
/**
 * Where a rate-limited offer stands after an order (`events/pacing.ts`): the phase's bound it is heading for, the ramp
 * (rate, rises, counts) and when the next step is due (absent once the offer reached `targetBound`).
 */
export const PaceSchema = RampSchema.extend({
  targetBound: z.number().int().min(1).max(10000),
  nextStepAt: TimestampSchema.optional(),
}).strict();
export type Pace = z.infer<typeof PaceSchema>;

export const ExposureIssuedSchema = laneEvent(
  'exposure-issued',
  z
    .object({
      phase: phaseIndex,
      attempt,
      /** Devices with cohort bucket < cohortBound (0..10000) are offered the build. */
      cohortBound: z.number().int().min(1).max(10000),
      offerId: IdSchema,
      artifact: ArtifactSchema,
      /**
       * The phase bakes from now until `bakeUntil`. Absent only for a rate-limited offer that does not reach the
       * phase's bound yet: its bake starts with the step that does (`exposure-widened`).
       */
      bakeUntil: TimestampSchema.optional(),
      /**
       * Only for a `{ min, max }` bake with min < max: the end of the minimum bake, from which proven health ends the
       * phase (`bakeUntil` is then the max).
       */
      bakeMinUntil: TimestampSchema.optional(),
      /** Only for a lane with a rate limit: where the paced offer stands (`events/pacing.ts`). */
      pace: PaceSchema.optional(),
    })
    .strict()
    .refine((data) => data.bakeUntil !== undefined || data.pace?.nextStepAt !== undefined, {
      message: 'needs bakeUntil, or pace.nextStepAt for an exposure still in steps',
      path: ['bakeUntil'],
    }),
);
/**
 * A step of a rate-limited offer: the same offer (`offerId`) now reaches `cohortBound` (it reached `fromBound`). The
 * step that reaches the phase's bound carries the bake, as `exposure-issued` does for an offer in one order.
 */
export const ExposureWidenedSchema = laneEvent(
  'exposure-widened',
  z
    .object({
      phase: phaseIndex,
      attempt,
      offerId: IdSchema,
      fromBound: z.number().int().min(0).max(10000),
      cohortBound: z.number().int().min(1).max(10000),
      pace: PaceSchema,
      bakeUntil: TimestampSchema.optional(),
      bakeMinUntil: TimestampSchema.optional(),
    })
    .strict()
    .refine((data) => data.bakeUntil !== undefined || data.pace.nextStepAt !== undefined, {
      message: 'needs bakeUntil, or pace.nextStepAt for an exposure still in steps',
      path: ['bakeUntil'],
    }),
);
/**
 * An order held outside the class's maintenance windows: the first offer of `attempt` for `phase` (`holds:
 * 'exposure'`), or the next step of `offerId` (`holds: 'step'`), goes out when the window opens at `opensAt`.
 */
export const ExposureHeldSchema = laneEvent(
  'exposure-held',
  z
    .object({
      phase: phaseIndex,
      attempt,
      offerId: IdSchema,
      holds: z.enum(['exposure', 'step']),
      opensAt: TimestampSchema,
      closesAt: TimestampSchema,
      timeZone: z.string().min(1).max(64),
    })
    .strict(),
);
export const BakeElapsedSchema = laneEvent(
  'bake-elapsed',
  z
    .object({
      phase: phaseIndex,
      attempt,
      /** The verdict when the bake ended (`none`: no outcome yet); anything but `healthy` makes the lane wait for evidence. */
      verdict: z.enum(['healthy', 'insufficient-evidence', 'breach', 'none']),
    })
    .strict(),
);
/**
 * The minimum bake of a `{ min, max }` phase is over. With a `healthy` verdict the phase passes now (`phase-passed`);
 * otherwise it goes on baking until `bakeUntil` (its max) and passes on the first health delta that proves it.
 */
export const MinBakeElapsedSchema = laneEvent(
  'min-bake-elapsed',
  z
    .object({
      phase: phaseIndex,
      attempt,
      verdict: z.enum(['healthy', 'insufficient-evidence', 'breach', 'none']),
      /** Where the bake ends at the latest (its max). */
      bakeUntil: TimestampSchema,
    })
    .strict(),
);
/**
 * A phase passed, and why it ended: `evidence` — its health was proven after its minimum bake and before its maximum
 * (a `{ min, max }` bake ending early); `bake` — its (maximum) bake ran out, and it passed then or on the first proven
 * verdict after. Recorded by lanes with a `{ min, max }` bake in any phase; lanes without one record what they always
 * did (`bake-elapsed` and the next phase).
 */
export const PhasePassedSchema = laneEvent(
  'phase-passed',
  z
    .object({
      phase: phaseIndex,
      attempt,
      endedBy: z.enum(['evidence', 'bake']),
      /** Seconds from the phase attempt's exposure to its pass. */
      elapsedSec: z.number().int().min(0),
    })
    .strict(),
);
export const HealthEvaluatedSchema = laneEvent(
  'health-evaluated',
  z
    .object({
      offerId: IdSchema,
      /** `exposure`: outcomes of a phase attempt; `rollback`: outcomes of a rollback offer. */
      window: z.enum(['exposure', 'rollback']),
      phase: phaseIndex,
      attempt,
      /** The applied delta, with its Kafka partition/offset ranges (what makes redelivery idempotent). */
      delta: HealthDeltaSchema,
      /**
       * The delta's ranges that start at or below the lane's mark (offsets counted twice). Absent when every range
       * lies above its mark, as for every delta the ingest sends from up-to-date marks.
       */
      overlap: z.array(DeltaOverlapSchema).min(1).max(1000).optional(),
      /** The window's running totals after this delta. */
      totals: OutcomeCountsSchema,
      verdict: HealthVerdictSchema,
      /** Whether the verdict can move the lane: false for superseded attempts, old phases of finished lanes, etc. */
      actionable: z.boolean(),
    })
    .strict(),
);
export const ThresholdBreachedSchema = laneEvent(
  'threshold-breached',
  z
    .object({
      offerId: IdSchema,
      phase: phaseIndex,
      attempt,
      /** The install judge's evidence, or the regression judge's (`rule: 'regression'`, `events/regression.ts`). */
      evidence: z.union([HealthEvidenceSchema, RegressionEvidenceSchema]),
      /** The rule that fired (`plain`, `sequential` or `regression`). */
      rule: z.string().min(1),
      /** What the breach policy does now. */
      response: z.enum(['pause', 'retry', 'rollback']),
    })
    .strict(),
);
export const LanePausedSchema = laneEvent(
  'lane-paused',
  z
    .object({
      cause: z.enum(['operator', 'breach', 'fleet-halt']),
      /** What the lane waited for when it paused; `lane-resumed` goes back to it. */
      resumeTo: WaitingForSchema.nullable(),
      detail: z.string().max(1000).optional(),
    })
    .strict(),
);
export const LaneResumedSchema = laneEvent(
  'lane-resumed',
  z.object({ resumeTo: WaitingForSchema.nullable() }).strict(),
);
export const RetryIssuedSchema = laneEvent(
  'retry-issued',
  z
    .object({
      phase: phaseIndex,
      /** The new attempt number; outcomes are counted afresh under `offerId`. */
      attempt: z.number().int().min(2),
      offerId: IdSchema,
      backoffSec: z.number().int().min(0),
      notBefore: TimestampSchema,
      trigger: z.enum(['policy', 'operator']),
    })
    .strict(),
);
export const RollbackStartedSchema = laneEvent(
  'rollback-started',
  z
    .object({
      /** The rollback offer; devices echo it on rolled-back / rollback-failed reports. */
      offerId: IdSchema,
      rollbackAttempt: z.number().int().min(1),
      /** Exposure bound the rollback covers (every device that may have the build). */
      cohortBound: z.number().int().min(0).max(10000),
      until: TimestampSchema,
      trigger: z.enum(['policy', 'escalation', 'operator']),
    })
    .strict(),
);
export const RollbackCompletedSchema = laneEvent(
  'rollback-completed',
  z.object({ offerId: IdSchema, totals: OutcomeCountsSchema }).strict(),
);
export const RollbackFailedSchema = laneEvent(
  'rollback-failed',
  z.object({ offerId: IdSchema, totals: OutcomeCountsSchema, evidence: HealthEvidenceSchema }).strict(),
);
export const GateWaitingSchema = laneEvent('gate-waiting', z.object({ phase: phaseIndex }).strict());
export const GateApprovedSchema = laneEvent('gate-approved', z.object({ phase: phaseIndex }).strict());
/** How the lane's class size was known when it judged its patched share: the plan's `expectedDevices`, or estimated. */
export const ClassSizeSourceSchema = z.enum(['plan', 'estimate']);
const patchedShareReached = {
  /** Successes counted over the class's exposure windows. */
  succeeded: countSchema,
  /** The class size the share was judged against, and where it came from. */
  classSize: z.number().int().min(0),
  sizeSource: ClassSizeSourceSchema,
  /** succeeded ÷ classSize (at most 1). */
  patchedShare: z.number().min(0).max(1),
};
/**
 * The last phase of a lane with a `completion` rule passed: the lane keeps counting until `target` of the class
 * reported success (then `lane-completed`, `endedBy: 'patched-share'`) or `deadline` (`endedBy: 'deadline'`).
 */
export const PatchingStartedSchema = laneEvent(
  'patching-started',
  z
    .object({
      phase: phaseIndex,
      attempt,
      target: z.number().gt(0).max(1),
      deadline: TimestampSchema,
      ...patchedShareReached,
    })
    .strict(),
);
/**
 * The lane completed. A lane with a `completion` rule says why (`endedBy`: its patched share reached the target, or its
 * deadline passed) and the share it had then; a lane without one completes when its last phase passes and carries
 * neither (as every lane did before completion rules existed).
 */
export const LaneCompletedSchema = laneEvent(
  'lane-completed',
  z
    .object({
      phases: z.number().int().min(1),
      attempt,
      /** `watch`: a lane with a regression watch and no completion rule, once its watch window ended. */
      endedBy: z.enum(['patched-share', 'deadline', 'watch']).optional(),
      succeeded: patchedShareReached.succeeded.optional(),
      classSize: patchedShareReached.classSize.optional(),
      sizeSource: patchedShareReached.sizeSource.optional(),
      patchedShare: patchedShareReached.patchedShare.optional(),
    })
    .strict(),
);
/**
 * The lane's exposed devices reported nothing for the plan's `stallAfter` (lanes with a `completion` rule, while they
 * wait on devices: a bake, evidence, or the patching stage). It halts nothing: it tells a person. Cleared by
 * `lane-stall-cleared` when outcomes arrive again.
 */
export const LaneStalledSchema = laneEvent(
  'lane-stalled',
  z
    .object({
      /** The last report of an exposed device, or the current offer's exposure when none came since. */
      quietSince: TimestampSchema,
      stallAfterSec: z.number().int().min(1),
      offerId: IdSchema,
      phase: phaseIndex,
      cohortBound: z.number().int().min(0).max(10000),
      /** What the lane waited for when it stalled (`bake`, `evidence`, `patching`). */
      waiting: z.string().min(1).max(32),
    })
    .strict(),
);
/** Outcomes arrived again for a stalled lane: the stall is over. */
export const LaneStallClearedSchema = laneEvent(
  'lane-stall-cleared',
  z
    .object({
      /** When the stall was flagged, and since when the lane had heard nothing. */
      stalledAt: TimestampSchema,
      quietSince: TimestampSchema,
      /** The offer whose outcomes ended it. */
      offerId: IdSchema,
    })
    .strict(),
);
/**
 * A post-install delta judged by a lane with a regression rule (`events/regression.ts`): the delta with its Kafka
 * ranges (what makes redelivery idempotent), each watched signal's totals since the attempt began, rates, ratio,
 * e-value and verdict, and whether the verdict can move the lane.
 */
export const RegressionEvaluatedSchema = laneEvent(
  'regression-evaluated',
  z
    .object({
      /** The attempt whose evidence the totals are (a retry starts them afresh). */
      attempt,
      delta: PostInstallDeltaSchema,
      /** The delta's ranges that start at or below the lane's post-install mark (offsets counted twice). */
      overlap: z.array(DeltaOverlapSchema).min(1).max(1000).optional(),
      signals: z.array(SignalEvidenceSchema).min(1).max(64),
      /** `breach` when a signal breached, else `watching` when one has both groups exposed, else `no-evidence`. */
      verdict: RegressionVerdictSchema,
      /** False while the lane cannot act on it: paused, in a retry backoff, rolling back. */
      actionable: z.boolean(),
    })
    .strict(),
);
/**
 * The last phase of a lane with a regression `watch` passed: its devices are watched until `until` before the lane
 * may complete. With a completion rule as well, `patching-started` follows at `until` (its deadline still counted
 * from the pass), so both must hold.
 */
export const WatchStartedSchema = laneEvent(
  'watch-started',
  z.object({ phase: phaseIndex, attempt, watchSec: z.number().int().min(1), until: TimestampSchema }).strict(),
);
export const LaneAbortedSchema = laneEvent(
  'lane-aborted',
  z.object({ cause: z.enum(['operator', 'rollout-aborted']) }).strict(),
);
/**
 * An abort that arrived while the lane was rolling back: nothing more is exposed, but the rollback runs and is
 * tracked to its end. The lane then ends rolled back, or, if the rollback fails, aborted (`lane-aborted`).
 */
export const LaneAbortDeferredSchema = laneEvent(
  'lane-abort-deferred',
  z.object({ cause: z.enum(['operator', 'rollout-aborted']), rollbackOfferId: IdSchema }).strict(),
);
export const LANE_OUTCOMES = ['completed', 'rolled-back', 'aborted'] as const;
export const RolloutCompletedSchema = rolloutEvent(
  'rollout-completed',
  z.object({ lanes: z.record(DeviceClassSchema, z.enum(LANE_OUTCOMES)) }).strict(),
);
export const RolloutAbortedSchema = rolloutEvent('rollout-aborted', z.object({}).strict());
/**
 * A lane's workflow closed while its lane had not finished: the class is neither exposing nor watched any more. The
 * rollout stays open (it cannot complete without the class) and shows the class as lost with the cause; the
 * fleet-halt rule counts it like a breached class (its health is unknown); an operator aborts the rollout.
 */
export const LaneLostSchema = rolloutEvent(
  'lane-lost',
  z
    .object({
      lane: DeviceClassSchema,
      cause: z.enum(['failed', 'terminated', 'timed-out', 'canceled', 'closed-unreported']),
      /** What Temporal said (the failure message), for the audit trail. */
      detail: z.string().max(1000),
      /** The lane's status as the rollout last heard it. */
      lastStatus: z.string().min(1).max(32),
    })
    .strict(),
);
/**
 * An operator restarted a lost lane (`restart`): a new workflow for the class carries on from the fold of the
 * class's events in the log. The class is no longer lost.
 */
export const LaneRestartedSchema = rolloutEvent(
  'lane-restarted',
  z
    .object({
      lane: DeviceClassSchema,
      /** How it had been lost. */
      lostCause: z.enum(['failed', 'terminated', 'timed-out', 'canceled']),
    })
    .strict(),
);
export const FleetHaltedSchema = rolloutEvent(
  'fleet-halted',
  z
    .object({
      cause: z.enum(['breached-classes', 'failure-spike', 'operator']),
      /** A sentence for the audit trail. */
      reason: z.string().min(1).max(1000),
      breachedLanes: z.array(DeviceClassSchema),
      /** Classes whose lane workflow was lost (`lane-lost`), counted with the breached ones; absent when none. */
      lostLanes: z.array(DeviceClassSchema).optional(),
      /** Lanes that must pause now (running when the halt was decided). */
      haltLanes: z.array(DeviceClassSchema),
      evidence: HealthEvidenceSchema.optional(),
    })
    .strict(),
);
/**
 * The rollout has a schedule (the plan's `schedule`): it starts its classes at `waitUntil` (null: at once, the plan
 * had no `startAt` or it had passed) and applies `endBehavior` at `endAt` (both null when the plan has no end).
 */
export const RolloutScheduledSchema = rolloutEvent(
  'rollout-scheduled',
  z
    .object({
      waitUntil: TimestampSchema.nullable(),
      endAt: TimestampSchema.nullable(),
      endBehavior: EndBehaviorSchema.nullable(),
    })
    .strict(),
);
/** The scheduled start came (`startAt`): the rollout starts its classes now. */
export const ScheduleStartedSchema = rolloutEvent('schedule-started', z.object({ startAt: TimestampSchema }).strict());
/**
 * The schedule's `endAt` came while the rollout ran. `stop`: the classes in `stopLanes` stop (they abort; the rest
 * were finished or only count their patched share) and the rollout completes once they ended; `cancel`: a
 * `rollout-aborted` by the schedule follows. `lanesStarted` false: the end came before the scheduled start was acted
 * on (a worker down the whole window), and the rollout ends without having started a class.
 */
export const ScheduleEndedSchema = rolloutEvent(
  'schedule-ended',
  z
    .object({
      endAt: TimestampSchema,
      endBehavior: EndBehaviorSchema,
      stopLanes: z.array(DeviceClassSchema),
      lanesStarted: z.boolean(),
    })
    .strict(),
);
export const OperatorCommandAcceptedSchema = z
  .object({
    ...metadata,
    lane: DeviceClassSchema.nullable(),
    type: z.literal('operator-command-accepted'),
    data: z.object({ command: OperatorCommandTypeSchema }).strict(),
  })
  .strict();

/** Every event of the rollout log, discriminated on `type`. */
export const DomainEventSchema = z
  .discriminatedUnion('type', [
    RolloutStartedSchema,
    LaneStartedSchema,
    PhaseStartedSchema,
    ExposureIssuedSchema,
    ExposureWidenedSchema,
    ExposureHeldSchema,
    BakeElapsedSchema,
    MinBakeElapsedSchema,
    PhasePassedSchema,
    HealthEvaluatedSchema,
    ThresholdBreachedSchema,
    LanePausedSchema,
    LaneResumedSchema,
    RetryIssuedSchema,
    RollbackStartedSchema,
    RollbackCompletedSchema,
    RollbackFailedSchema,
    GateWaitingSchema,
    GateApprovedSchema,
    PatchingStartedSchema,
    LaneCompletedSchema,
    LaneStalledSchema,
    LaneStallClearedSchema,
    RegressionEvaluatedSchema,
    WatchStartedSchema,
    LaneAbortedSchema,
    LaneAbortDeferredSchema,
    RolloutCompletedSchema,
    RolloutAbortedSchema,
    LaneLostSchema,
    LaneRestartedSchema,
    FleetHaltedSchema,
    RolloutScheduledSchema,
    ScheduleStartedSchema,
    ScheduleEndedSchema,
    OperatorCommandAcceptedSchema,
  ])
  .superRefine((event, ctx) => {
    const expected = eventIdOf(event.rolloutId, event.lane, event.seq);
    if (event.eventId !== expected) {
      ctx.addIssue({ code: 'custom', path: ['eventId'], message: `must be ${expected} (rolloutId/lane/seq)` });
    }
  });
export type DomainEvent = z.infer<typeof DomainEventSchema>;
export type DomainEventType = DomainEvent['type'];
/** The event of one type, e.g. `EventOf<'exposure-issued'>`. */
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;
/** Events that belong to a lane stream (lane is a device class). */
export type LaneEvent = Extract<DomainEvent, { lane: string }>;

/**
 * The deterministic id of an event: `${rolloutId}/${lane ?? '_'}/${seq}`. A retried append produces the
 * same id, so readers and the log adapter recognise a duplicate instead of counting it twice.
 */
export function eventIdOf(rolloutId: string, lane: string | null, seq: number): string {
  return `${rolloutId}/${lane ?? '_'}/${seq}`;
}

/** The fields a decider supplies for a new event; `eventIdOf` and the schema version are filled in. */
type Draft<E extends DomainEvent> = Omit<E, 'eventId' | 'schemaVersion' | 'actor' | 'reason'> & {
  actor?: string | undefined;
  reason?: string | undefined;
};

/**
 * Builds a domain event with its deterministic id and the current schema version. Deciders use it so
 * no event is ever hand-assembled with a wrong id; `actor`/`reason` are only set when given.
 */
export function makeEvent<E extends DomainEvent>(draft: Draft<E>): E {
  const { actor, reason, ...rest } = draft;
  return {
    ...rest,
    eventId: eventIdOf(draft.rolloutId, draft.lane, draft.seq),
    schemaVersion: DOMAIN_EVENT_SCHEMA_VERSION,
    ...(actor !== undefined ? { actor } : {}),
    ...(reason !== undefined ? { reason } : {}),
  } as unknown as E;
}

/** Whether an event belongs to a lane stream (as opposed to the rollout-level stream `_`). */
export function isLaneEvent(event: DomainEvent): event is LaneEvent {
  return event.lane !== null;
}
