/**
 * Inputs to the deciders. Operator commands (pause, resume, approve, retry, rollback, abort, restart) always carry
 * who acted and why; internal inputs come from the workflow (`start`, `timer-fired`, `fleet-halt`,
 * `lane-report`) and from the ingest (`health-delta`). Time (`at`) and ids always arrive in the input:
 * the core never reads a clock or draws a random number.
 */
import { z } from 'zod';
import { ActorSchema, DomainEventSchema, HealthDeltaSchema, ReasonSchema, SupersedesSchema } from './domain-events';
import { DeviceClassSchema, IdSchema, TimestampSchema } from './install-event';
import { LaneConfigSchema, RolloutPlanSchema } from './plan';
import { PostInstallDeltaInputSchema } from './post-install';

const operatorFields = {
  actor: ActorSchema,
  reason: ReasonSchema,
  /** The device class the command targets; absent or null for the whole rollout. */
  lane: DeviceClassSchema.nullable().optional(),
};

function request<T extends string>(type: T) {
  return z.object({ type: z.literal(type), ...operatorFields }).strict();
}
function command<T extends string>(type: T) {
  return z.object({ type: z.literal(type), ...operatorFields, at: TimestampSchema }).strict();
}

/**
 * An operator command as the CLI sends it (the payload of the Temporal Update): no time yet — the
 * workflow stamps `at` with its own deterministic clock when it decides.
 */
export const OperatorRequestSchema = z.discriminatedUnion('type', [
  request('pause'),
  request('resume'),
  request('approve'),
  request('retry'),
  request('rollback'),
  request('abort'),
  request('restart'),
]);
export type OperatorRequest = z.infer<typeof OperatorRequestSchema>;

/** An operator command as the deciders see it: the request plus the time it is decided at. */
export const OperatorCommandSchema = z.discriminatedUnion('type', [
  command('pause'),
  command('resume'),
  command('approve'),
  command('retry'),
  command('rollback'),
  command('abort'),
  command('restart'),
]);
export type OperatorCommand = z.infer<typeof OperatorCommandSchema>;

/**
 * Stamps an operator request with the decision time, turning it into a decider input. The workflow
 * calls it with `new Date().toISOString()` from its deterministic workflow clock.
 */
export function stampCommand(requestInput: OperatorRequest, at: string): OperatorCommand {
  return { ...requestInput, at };
}

/** Start a lane: the workflow resolves the class's settings with `laneConfigOf(plan, deviceClass)`. */
export const StartLaneSchema = z
  .object({
    type: z.literal('start-lane'),
    rolloutId: IdSchema,
    lane: DeviceClassSchema,
    config: LaneConfigSchema,
    at: TimestampSchema,
  })
  .strict();
export type StartLane = z.infer<typeof StartLaneSchema>;

/**
 * Aggregated install outcomes for one lane and one offer, from the ingest. `offerId` attributes the
 * outcomes to the phase attempt (or rollback) that offered the update, so late reports land where they
 * belong. `delta.ranges` are the Kafka ranges (offsets as decimal strings) the delta covers: the lane
 * drops a delta whose every range is at or below its high-water mark for that offer and partition.
 */
export const HealthDeltaInputSchema = z
  .object({
    type: z.literal('health-delta'),
    lane: DeviceClassSchema,
    offerId: IdSchema,
    delta: HealthDeltaSchema,
    at: TimestampSchema,
  })
  .strict();
export type HealthDeltaInput = z.infer<typeof HealthDeltaInputSchema>;

/** A timer the lane asked for (through `waitingFor.until`) has fired. Stale timers change nothing. */
export const TimerFiredSchema = z
  .object({
    type: z.literal('timer-fired'),
    lane: DeviceClassSchema,
    /**
     * `patching`: a lane's completion deadline; `stall`: its exposed devices went quiet for `stallAfter`; `step`: a
     * rate-limited offer's next step is due; `window`: a maintenance window opens for an order held outside it;
     * `watch`: a lane's post-install watch window is over.
     */
    kind: z.enum(['bake', 'retry-backoff', 'rollback', 'patching', 'stall', 'step', 'window', 'watch']),
    at: TimestampSchema,
  })
  .strict();
export type TimerFired = z.infer<typeof TimerFiredSchema>;

/** The rollout decided a fleet-wide halt (`fleet-halted`): a running lane pauses. */
export const FleetHaltInputSchema = z
  .object({
    type: z.literal('fleet-halt'),
    lane: DeviceClassSchema,
    reason: z.string().min(1).max(1000),
    at: TimestampSchema,
  })
  .strict();
export type FleetHaltInput = z.infer<typeof FleetHaltInputSchema>;

/** Everything a lane decides on. */
export const LaneInputSchema = z.discriminatedUnion('type', [
  StartLaneSchema,
  HealthDeltaInputSchema,
  PostInstallDeltaInputSchema,
  TimerFiredSchema,
  FleetHaltInputSchema,
  ...OperatorCommandSchema.options,
]);
export type LaneInput = z.infer<typeof LaneInputSchema>;

/** Start a rollout from a validated plan; `rolloutId` is the plan's or one the caller generated. */
export const StartRolloutSchema = z
  .object({
    type: z.literal('start-rollout'),
    rolloutId: IdSchema,
    plan: RolloutPlanSchema,
    /** The rules version to run under (default: the current `RULES_VERSION`; a workflow replaying an older history passes 1). */
    rulesVersion: z.number().int().min(1).optional(),
    /** The rollout this one supersedes and its superseded classes (`supersedesOf`, events/supersede.ts). */
    supersedes: SupersedesSchema.optional(),
    actor: ActorSchema,
    reason: ReasonSchema,
    at: TimestampSchema,
  })
  .strict();
export type StartRollout = z.infer<typeof StartRolloutSchema>;

/**
 * A child lane reports the events it just appended (a lane finished, breached, paused…). The rollout
 * decider judges the rollout as it stands after them: fleet-wide halt, rollout completion. This is the
 * rollout's `lane-finished` input generalised: a breach report is what the fleet-halt rule needs.
 */
export const LaneReportSchema = z
  .object({
    type: z.literal('lane-report'),
    lane: DeviceClassSchema,
    events: z.array(DomainEventSchema).max(1000),
    at: TimestampSchema,
  })
  .strict();
export type LaneReport = z.infer<typeof LaneReportSchema>;

/** How a lane's workflow closed without finishing its lane (`lane-lost`). */
export const LANE_LOSSES = ['failed', 'terminated', 'timed-out', 'canceled', 'closed-unreported'] as const;
export const LaneLossSchema = z.enum(LANE_LOSSES);
export type LaneLoss = z.infer<typeof LaneLossSchema>;

/**
 * A lane's workflow closed while its lane had not finished (failed, terminated, timed out, cancelled), or closed
 * without its final report reaching the rollout: seen by the rollout through the child's result or its watch.
 */
export const LaneLostInputSchema = z
  .object({
    type: z.literal('lane-lost'),
    lane: DeviceClassSchema,
    cause: LaneLossSchema,
    detail: z.string().max(1000),
    at: TimestampSchema,
  })
  .strict();
export type LaneLostInput = z.infer<typeof LaneLostInputSchema>;

/**
 * The rollout's clock reached a time of its schedule (`startAt` or `endAt`, events/schedule.ts): the workflow hands
 * it over when the timer it set for that time fires; the decider checks which time has come.
 */
export const ScheduleTickSchema = z.object({ type: z.literal('schedule-tick'), at: TimestampSchema }).strict();
export type ScheduleTick = z.infer<typeof ScheduleTickSchema>;

/** Everything the rollout decides on. */
export const RolloutInputSchema = z.discriminatedUnion('type', [
  StartRolloutSchema,
  LaneReportSchema,
  LaneLostInputSchema,
  ScheduleTickSchema,
  ...OperatorCommandSchema.options,
]);
export type RolloutInput = z.infer<typeof RolloutInputSchema>;

/** A decider's answer to a command it will not carry out, with a reason a person reads. */
export type Refusal = { refused: true; reason: string };

/** Builds a refusal. */
export function refuse(reason: string): Refusal {
  return { refused: true, reason };
}

/**
 * Whether a decider's answer is a refusal. Workflows use it in Update validators: a refused command is
 * rejected (`ApplicationFailure.nonRetryable(reason, 'RolloutRejected')`) and never enters history.
 */
export function isRefusal(answer: unknown): answer is Refusal {
  return typeof answer === 'object' && answer !== null && (answer as { refused?: unknown }).refused === true;
}
