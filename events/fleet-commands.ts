/**
 * Fleet commands: the orders the engine publishes to `bsi.commands` (key `${rolloutId}/${lane}`) for the
 * update services that talk to devices — and for the fleet simulator, which is just another consumer.
 * Three kinds:
 * - `expose`: offer `artifact` to the devices of `lane` whose cohort bucket is below `cohortBound`
 *   (first attempt of a phase); devices echo `offerId` in their install reports. Under a rate limit an offer goes out
 *   in steps: later orders repeat its `offerId` with a higher `cohortBound` (each has its own `orderId`); a consumer
 *   offers the devices between the bound it carried out before and the new one.
 * - `retry`: the same, for a fresh attempt (`attempt` ≥ 2) after a breach; outcomes are counted afresh
 *   under the new `offerId`.
 * - `rollback`: take `artifact` back off every device below `cohortBound`; devices echo the rollback `offerId`.
 *
 * Orders are derived from domain events by a pure function (`fleetCommandsOf`), and each order's id is the
 * id of the event that caused it, so a republished order (an activity retried after a crash) is
 * recognisable: consumers drop an `orderId` they have already carried out.
 */
import { z } from 'zod';
import type { DomainEvent } from './domain-events';
import { DeviceClassSchema, IdSchema, TimestampSchema } from './install-event';
import { ArtifactSchema, type LaneConfig } from './plan';

export const FLEET_COMMAND_SCHEMA_VERSION = 1;
export const FLEET_COMMAND_KINDS = ['expose', 'retry', 'rollback'] as const;
export const FleetCommandKindSchema = z.enum(FLEET_COMMAND_KINDS);
export type FleetCommandKind = z.infer<typeof FleetCommandKindSchema>;

/** One order on `bsi.commands`. Strict: a consumer refuses fields it does not know. */
export const FleetCommandSchema = z
  .object({
    schemaVersion: z.literal(FLEET_COMMAND_SCHEMA_VERSION),
    /** The id of the domain event that caused the order (`rolloutId/lane/seq`): the dedupe key. */
    orderId: z.string().min(1).max(400),
    kind: FleetCommandKindSchema,
    rolloutId: IdSchema,
    /** The device class the order addresses. */
    lane: DeviceClassSchema,
    releaseId: IdSchema,
    /** The build offered (expose, retry) or taken back (rollback). */
    artifact: ArtifactSchema,
    /** Devices echo this id in their install reports, so outcomes land in the right window. */
    offerId: IdSchema,
    /** Exposure attempt (expose: 1, retry: ≥ 2) or rollback attempt. */
    attempt: z.number().int().min(1),
    /** Phase index of the exposure; for a rollback, the phase the lane had reached. */
    phase: z.number().int().min(0),
    /**
     * Devices with `cohortOf(deviceId, cohortSalt ?? rolloutId) < cohortBound` are addressed (0..10000 buckets).
     */
    cohortBound: z.number().int().min(0).max(10000),
    /**
     * The salt of the lane's buckets when it is not the rollout id: a superseding lane's, the id of the rollout it
     * supersedes (events/supersede.ts), so the same devices as the old lane's are addressed. Absent: `rolloutId`.
     */
    cohortSalt: IdSchema.optional(),
    /** When the engine decided the order (workflow time). */
    issuedAt: TimestampSchema,
  })
  .strict()
  .superRefine((order, ctx) => {
    if (order.kind === 'expose' && order.attempt !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['attempt'],
        message: 'an expose order is attempt 1; later ones are retry',
      });
    }
    if (order.kind === 'retry' && order.attempt < 2) {
      ctx.addIssue({ code: 'custom', path: ['attempt'], message: 'a retry order is attempt 2 or later' });
    }
  });
export type FleetCommand = z.infer<typeof FleetCommandSchema>;

/** The Kafka key of an order: one key per lane, so a lane's orders stay in order on one partition. */
export function fleetCommandKey(order: Pick<FleetCommand, 'rolloutId' | 'lane'>): string {
  return `${order.rolloutId}/${order.lane}`;
}

/**
 * The fleet orders a batch of a lane's new events calls for, in event order: an `exposure-issued` becomes
 * `expose` (attempt 1) or `retry` (a later attempt, i.e. the retry offer going out when its backoff is
 * over), an `exposure-widened` (a rate step) repeats its offer's order with the higher bound, and a `rollback-started`
 * becomes `rollback`. A `retry-issued` only schedules the retry, so it
 * orders nothing by itself. `lanePhase` is the lane's phase before the batch (a rollback order names the
 * phase the lane had reached). Pure, so the lane workflow and any replay derive the same orders.
 */
export function fleetCommandsOf(events: readonly DomainEvent[], config: LaneConfig, lanePhase = 0): FleetCommand[] {
  const orders: FleetCommand[] = [];
  let phase = Math.max(0, lanePhase);
  for (const event of events) {
    if (event.lane === null) continue;
    const common = {
      schemaVersion: FLEET_COMMAND_SCHEMA_VERSION,
      orderId: event.eventId,
      rolloutId: event.rolloutId,
      lane: event.lane,
      releaseId: config.releaseId,
      artifact: config.artifact,
      issuedAt: event.at,
      ...(config.cohortSalt !== undefined && { cohortSalt: config.cohortSalt }),
    } as const;
    if (event.type === 'phase-started') phase = event.data.phase;
    // A rate step (`exposure-widened`) orders its offer again, as its first order did, with the higher bound.
    if (event.type === 'exposure-issued' || event.type === 'exposure-widened') {
      phase = event.data.phase;
      orders.push({
        ...common,
        kind: event.data.attempt === 1 ? 'expose' : 'retry',
        offerId: event.data.offerId,
        attempt: event.data.attempt,
        phase: event.data.phase,
        cohortBound: event.data.cohortBound,
      });
    } else if (event.type === 'rollback-started') {
      orders.push({
        ...common,
        kind: 'rollback',
        offerId: event.data.offerId,
        attempt: event.data.rollbackAttempt,
        phase,
        cohortBound: event.data.cohortBound,
      });
    }
  }
  return orders;
}
