/**
 * What a workflow run hands to the next through continue-as-new, checked on the way in. A run started by older
 * code carried an older shape; code deployed since may have changed the state's schema; a bug may have carried
 * something no schema explains. Each run therefore upcasts what it was handed to the current shape and validates
 * it with zod before it uses it:
 *
 * - version 1 (no `v`): carried by code from before request ids were remembered — `recentAnswers` may be absent;
 *   older lane and rollout states lack fields that are optional in their schemas (`abortPending`, `lostLanes`,
 *   `rulesVersion`), so they parse as they are.
 * - version 2 (`v: 2`): the current shape.
 *
 * When the state does not validate, the workflow does not guess: it rebuilds its state from the event log, the
 * source of truth (`laneStateFromLog` / `rolloutStateFromLog`), and keeps the inbox items that validate one by
 * one (an item that does not is logged with the reason and dropped: it could not have been decided anyway).
 */
import { z } from 'zod';
import { OperatorRequestSchema, LaneLossSchema } from '../events/commands';
import { ActorSchema, DomainEventSchema, HealthDeltaSchema, ReasonSchema } from '../events/domain-events';
import { IdSchema } from '../events/install-event';
import { LaneStateSchema } from '../events/lane';
import { RolloutStateSchema } from '../events/rollout';
import type { LaneInboxItem, RecentAnswers, RolloutInboxItem } from './messages';

/** The shape of carried state this code writes. */
export const CARRIED_VERSION = 2;

const RecentAnswersSchema = z.array(
  z
    .object({
      requestId: z.string().min(1),
      answer: z.union([
        z.object({ accepted: z.literal(true), eventIds: z.array(z.string()) }).strict(),
        z.object({ refused: z.literal(true), reason: z.string() }).strict(),
      ]),
    })
    .strict(),
);

const ticket = z.number().int().min(0);

const LaneInboxItemSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('health'), offerId: IdSchema, delta: HealthDeltaSchema }).strict(),
  // Validated when its round takes it, as when it was received.
  z.object({ kind: z.literal('health-signal'), payload: z.unknown() }).strict(),
  z.object({ kind: z.literal('fleet-halt'), reason: z.string().min(1).max(1000) }).strict(),
  z.object({ kind: z.literal('rollout-aborted'), actor: ActorSchema, reason: ReasonSchema }).strict(),
  z.object({ kind: z.literal('operator'), ticket, request: OperatorRequestSchema }).strict(),
]);

const RolloutInboxItemSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('report'), lane: z.string().min(1), events: z.array(DomainEventSchema) }).strict(),
  z.object({ kind: z.literal('operator'), ticket, request: OperatorRequestSchema }).strict(),
  z
    .object({ kind: z.literal('lane-closed'), lane: z.string().min(1), cause: LaneLossSchema, detail: z.string() })
    .strict(),
]);

const CarriedLaneSchema = z
  .object({
    v: z.literal(CARRIED_VERSION),
    state: LaneStateSchema,
    inbox: z.array(LaneInboxItemSchema),
    runs: z.number().int().min(0),
    recentAnswers: RecentAnswersSchema,
  })
  .strict();
export type CarriedLane = z.infer<typeof CarriedLaneSchema>;

const CarriedRolloutSchema = z
  .object({
    v: z.literal(CARRIED_VERSION),
    state: RolloutStateSchema,
    inbox: z.array(RolloutInboxItemSchema),
    lanesStarted: z.boolean(),
    runs: z.number().int().min(0),
    recentAnswers: RecentAnswersSchema,
  })
  .strict();
export type CarriedRollout = z.infer<typeof CarriedRolloutSchema>;

/** What a run makes of what it was handed: the carried state, or the parts that could be kept and why not all. */
export type Read<T extends { state: unknown }> =
  { ok: true; carried: T } | { ok: false; problem: string; salvaged: Omit<T, 'state'> };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Version 1 → 2: a version-less object gets `v` and an empty `recentAnswers` where it had none. */
function upcast(raw: unknown): unknown {
  if (!isObject(raw) || raw.v !== undefined) return raw;
  return { ...raw, v: CARRIED_VERSION, recentAnswers: raw.recentAnswers ?? [] };
}

function problemOf(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** The items of an inbox that validate one by one, and how many did not. */
function salvageItems<T>(raw: unknown, schema: z.ZodType<T>): { items: T[]; dropped: number } {
  const list = Array.isArray(raw) ? raw : [];
  const items: T[] = [];
  for (const item of list) {
    const parsed = schema.safeParse(item);
    if (parsed.success) items.push(parsed.data);
  }
  return { items, dropped: list.length - items.length };
}

function salvageAnswers(raw: unknown): RecentAnswers {
  const parsed = RecentAnswersSchema.safeParse(isObject(raw) ? raw.recentAnswers : undefined);
  return parsed.success ? parsed.data : [];
}

function runsOf(raw: unknown): number {
  const runs = isObject(raw) ? raw.runs : undefined;
  return typeof runs === 'number' && Number.isInteger(runs) && runs >= 0 ? runs : 0;
}

/** Reads what a lane run was handed through continue-as-new (see the module comment). */
export function readCarriedLane(raw: unknown): Read<CarriedLane> & { dropped?: number } {
  const parsed = CarriedLaneSchema.safeParse(upcast(raw));
  if (parsed.success) return { ok: true, carried: parsed.data };
  const { items, dropped } = salvageItems<LaneInboxItem>(isObject(raw) ? raw.inbox : undefined, LaneInboxItemSchema);
  return {
    ok: false,
    problem: problemOf(parsed.error),
    dropped,
    salvaged: { v: CARRIED_VERSION, inbox: items, runs: runsOf(raw), recentAnswers: salvageAnswers(raw) },
  };
}

/** Reads what a rollout run was handed through continue-as-new (see the module comment). */
export function readCarriedRollout(raw: unknown): Read<CarriedRollout> & { dropped?: number } {
  const parsed = CarriedRolloutSchema.safeParse(upcast(raw));
  if (parsed.success) return { ok: true, carried: parsed.data };
  const { items, dropped } = salvageItems<RolloutInboxItem>(
    isObject(raw) ? raw.inbox : undefined,
    RolloutInboxItemSchema,
  );
  // Lanes are started right after `rollout-started`; when the flag itself is unreadable, assume they were (starting
  // them twice is refused by Temporal, and the lane watch reports a lane that is missing).
  const lanesStarted = isObject(raw) && typeof raw.lanesStarted === 'boolean' ? raw.lanesStarted : true;
  return {
    ok: false,
    problem: problemOf(parsed.error),
    dropped,
    salvaged: { v: CARRIED_VERSION, inbox: items, lanesStarted, runs: runsOf(raw), recentAnswers: salvageAnswers(raw) },
  };
}
