/**
 * Message definitions shared by the workflows, the client (CLI), the ingest bridge and the tests: one
 * module, so a name can never drift between sender and receiver. Workflow ids are derived from the
 * rollout id, so anyone who knows a rollout can reach its workflows without a lookup.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { OperatorRequest } from '../events/commands';
import { HealthDeltaSchema } from '../events/domain-events';
import { DeviceClassSchema, IdSchema } from '../events/install-event';

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
    deltas: z
      .array(z.object({ offerId: IdSchema, delta: HealthDeltaSchema }).strict())
      .min(1)
      .max(64),
  })
  .strict();
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
