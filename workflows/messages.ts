/**
 * Message definitions shared by the workflows, the client (CLI), the ingest bridge and the tests: one
 * module, so a name can never drift between sender and receiver. Workflow ids are derived from the
 * rollout id, so anyone who knows a rollout can reach its workflows without a lookup.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { LaneLoss, OperatorRequest, Refusal } from '../events/commands';
import {
  ActorSchema,
  DomainEventSchema,
  HealthDeltaSchema,
  ReasonSchema,
  type DomainEvent,
  type HealthDelta,
  type Supersedes,
} from '../events/domain-events';
import { DeviceClassSchema, IdSchema } from '../events/install-event';
import { PostInstallDeltaSchema } from '../events/post-install';
import type { LaneState } from '../events/lane';
import type { LaneConfig, RolloutPlan } from '../events/plan';
import type { RolloutState } from '../events/rollout';
import type { PlanWebhook } from '../events/webhook-config';
import type { CarriedLane, CarriedRollout } from './carried';

/** Workflow id of the rollout workflow of `rolloutId`. */
export function rolloutWorkflowId(rolloutId: string): string {
  return `rollout/${rolloutId}`;
}

/** Workflow id of the lane (child) workflow of one device class; stable across continue-as-new. */
export function laneWorkflowId(rolloutId: string, lane: string): string {
  return `rollout/${rolloutId}/lane/${lane}`;
}

/**
 * What the ingest signals to a lane: aggregated outcomes per offer, each with the Kafka ranges it
 * covers, batched so one flush is one signal. The lane stamps the time itself and drops a delta whose
 * ranges are at or below its high-water mark for that offer and partition, so a redelivered signal
 * changes nothing. (Marks are per offer because two offers' deltas may cover the same offsets.)
 */
export const HealthDeltaSignalSchema = z
  .object({
    lane: DeviceClassSchema,
    deltas: z.array(z.object({ offerId: IdSchema, delta: HealthDeltaSchema }).strict()).max(64),
    /** Post-install reports of the lane's class (`events/post-install.ts`); absent in signals of older ingests. */
    postInstall: z.array(PostInstallDeltaSchema).min(1).max(8).optional(),
  })
  .strict()
  .refine((signal) => signal.deltas.length > 0 || signal.postInstall !== undefined, {
    message: 'needs at least one delta',
    path: ['deltas'],
  });
export type HealthDeltaSignal = z.infer<typeof HealthDeltaSignalSchema>;

/** Health deltas from the ingest (payload validated by zod in the handler; invalid ones are logged and dropped). */
export const healthDeltaSignal = defineSignal<[HealthDeltaSignal]>('healthDelta');

/**
 * The lane's high-water marks of `bsi.install-events`: offerId → partition → last counted offset (a
 * decimal string). The ingest asks on start-up and after a rebalance, to know from which offset its
 * deltas are new: it rebuilds device state from the topic and sends only what lies above the mark.
 */
export const highWaterMarksQuery = defineQuery<Record<string, Record<string, string>>>('highWaterMarks');

/** An operator command (pause, resume, approve, retry, rollback, abort) with actor and reason. */
export const operatorUpdate = defineUpdate<OperatorCommandResult, [OperatorRequest]>('operatorCommand');

/** What an accepted operator command did: the ids of the events it appended. */
export type OperatorCommandResult = { accepted: true; eventIds: string[] };

/** Answered operator requests by request id (the Update id), oldest first; plain JSON (carried through continue-as-new). */
export type RecentAnswers = { requestId: string; answer: OperatorCommandResult | Refusal }[];

/** The lane's folded state (phase, exposure bound, per-offer counts and verdicts, waiting-for…), as plain JSON. */
export const laneStateQuery = defineQuery<LaneState>('laneState');

/**
 * How many inputs the lane has received but not yet decided (health deltas counted one by one). The
 * ingest may use it as backpressure: a lane decides on the order of a thousand deltas per second.
 */
export const lanePendingQuery = defineQuery<number>('lanePending');

/** The rollout's folded view: rollout status and every lane as the rollout knows it from the lanes' reports. */
export const rolloutStatusQuery = defineQuery<RolloutState>('rolloutStatus');

/**
 * A lane reports the significant events it just appended (everything but `regression-evaluated`, and
 * `health-evaluated` only when the plan has a fleet-wide failure-spike rule), so the rollout decider can apply the
 * fleet-wide halt and see the rollout complete. Validated with `LaneReportSignalSchema` in the handler.
 */
export const laneReportSignal = defineSignal<[LaneReportSignal]>('laneReport');

/** Payload of `laneReportSignal`: the lane and its new events, in order. */
export const LaneReportSignalSchema = z
  .object({ lane: DeviceClassSchema, events: z.array(DomainEventSchema).min(1).max(1000) })
  .strict();
export type LaneReportSignal = z.infer<typeof LaneReportSignalSchema>;

/** The rollout decided a fleet-wide halt: the lane pauses if it is running (`lane-paused`, cause `fleet-halt`). */
export const fleetHaltSignal = defineSignal<[FleetHaltSignal]>('fleetHalt');

/** Payload of `fleetHaltSignal`: the sentence for the audit trail. */
export const FleetHaltSignalSchema = z.object({ reason: z.string().min(1).max(1000) }).strict();
export type FleetHaltSignal = z.infer<typeof FleetHaltSignalSchema>;

/** The rollout was aborted by an operator: every unfinished lane aborts (`lane-aborted`, cause `rollout-aborted`). */
export const rolloutAbortSignal = defineSignal<[RolloutAbortSignal]>('rolloutAbort');

/** Payload of `rolloutAbortSignal`: who aborted the rollout and why (copied into each lane's audit trail). */
export const RolloutAbortSignalSchema = z.object({ actor: ActorSchema, reason: ReasonSchema }).strict();
export type RolloutAbortSignal = z.infer<typeof RolloutAbortSignalSchema>;

/** What a lane workflow is started with; `carried` is set only by its own continue-as-new. */
export interface LaneWorkflowInput {
  rolloutId: string;
  lane: string;
  /** The class's effective settings (`laneConfigOf(plan, lane)`). */
  config: LaneConfig;
  /** Workflow id to report significant events to (the rollout); null for a lane run on its own. */
  reportTo: string | null;
  /** Also report every `health-evaluated` (needed by a fleet-wide failure-spike rule). */
  reportHealth: boolean;
  /** The plan's webhooks (`notifications.webhooks`), told about the lane's notifying events; absent: none. */
  webhooks?: PlanWebhook[];
  /**
   * State handed over by continue-as-new (or by a restart): the folded state, undelivered inputs, the run count and
   * the answered request ids. Older code carried older shapes: a run reads it with `readCarriedLane`.
   */
  carried?: CarriedLane;
}

/** An input a lane has received but not yet decided on (plain JSON: it survives continue-as-new). */
export type LaneInboxItem =
  | { kind: 'health'; offerId: string; delta: HealthDelta }
  /** A health-delta signal as received: validated when its round takes it (keeps handlers O(1)). */
  | { kind: 'health-signal'; payload: unknown }
  | { kind: 'fleet-halt'; reason: string }
  | { kind: 'rollout-aborted'; actor: string; reason: string }
  | { kind: 'operator'; ticket: number; request: OperatorRequest };

/** How a lane workflow ended. */
export interface LaneWorkflowResult {
  lane: string;
  status: LaneState['status'];
  attempt: number;
  cohortBound: number;
  /** Runs of this lane (1 + continue-as-new count). */
  runs: number;
}

/** What a rollout workflow is started with; `carried` is set only by its own continue-as-new. */
export interface RolloutWorkflowInput {
  rolloutId: string;
  plan: RolloutPlan;
  actor: string;
  reason: string;
  /** The rollout this one supersedes and its superseded classes (`supersedesOf`, events/supersede.ts); absent: none. */
  supersedes?: Supersedes;
  /** What continue-as-new hands over; older code carried older shapes: a run reads it with `readCarriedRollout`. */
  carried?: CarriedRollout;
}

/** An input the rollout has received but not yet decided on (plain JSON). */
export type RolloutInboxItem =
  | { kind: 'report'; lane: string; events: DomainEvent[] }
  | { kind: 'operator'; ticket: number; request: OperatorRequest }
  | { kind: 'lane-closed'; lane: string; cause: LaneLoss; detail: string };

/** The rollout's summary: its final status and each lane's outcome (as in `rollout-completed`). */
export interface RolloutSummary {
  rolloutId: string;
  status: RolloutState['status'];
  lanes: Record<string, LaneState['status']>;
  halts: number;
  breachedLanes: string[];
}
