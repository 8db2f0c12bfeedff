/**
 * Reading old domain events. Stored events are never rewritten: a reader upcasts each raw record to the
 * current `DomainEvent` shape in memory, one version step at a time.
 *
 * Version 1 → 2 (the change this path exists for):
 * - v1 had no `lane` metadata: lane events named their device class in `data.deviceClass`, and rollout-level
 *   events had none. v2 moves it to `lane` (null for rollout-level events) so every event is routable by
 *   its envelope alone.
 * - v1 `exposure-issued` carried the exposed share as `data.percent` (e.g. 2.5); v2 carries the cohort
 *   bound in buckets, `data.cohortBound` = percent × 100.
 * Event ids did not change (`${rolloutId}/${deviceClass ?? '_'}/${seq}`), so v1 ids stay valid.
 */
import { z } from 'zod';
import { DOMAIN_EVENT_SCHEMA_VERSION, DomainEventSchema, type DomainEvent } from './domain-events';
import { formatPath } from './plan';

/** The envelope of a version-1 event: the data is checked after it is upcast, by the current schema. */
export const DomainEventV1Schema = z
  .object({
    eventId: z.string(),
    rolloutId: z.string(),
    seq: z.number(),
    at: z.string(),
    schemaVersion: z.literal(1),
    actor: z.string().optional(),
    reason: z.string().optional(),
    type: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .strict();
export type DomainEventV1 = z.infer<typeof DomainEventV1Schema>;

/** Why a raw record could not be read as a domain event: its path and the rule it broke. */
export class UpcastError extends Error {
  constructor(
    message: string,
    readonly issues: readonly { path: string; rule: string }[],
  ) {
    super(message);
    this.name = 'UpcastError';
  }
}

/**
 * Upcasts a version-1 event to version 2 (see the file comment for what changed). Pure: returns a new
 * object and leaves the stored record untouched.
 */
export function upcastV1(event: DomainEventV1): Record<string, unknown> {
  const { deviceClass, ...data } = event.data;
  if (event.type === 'exposure-issued' && typeof data.percent === 'number') {
    data.cohortBound = Math.round(data.percent * 100);
    delete data.percent;
  }
  return { ...event, schemaVersion: 2, lane: typeof deviceClass === 'string' ? deviceClass : null, data };
}

function issuesOf(error: z.ZodError): { path: string; rule: string }[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), rule: issue.message }));
}

/**
 * Reads one raw record of the rollout log (any supported `schemaVersion`) as a current `DomainEvent`,
 * or explains why it cannot: `{ ok: false, error }` for an unknown version or a malformed record.
 */
export function safeUpcast(raw: unknown): { ok: true; event: DomainEvent } | { ok: false; error: UpcastError } {
  const version =
    typeof raw === 'object' && raw !== null ? (raw as { schemaVersion?: unknown }).schemaVersion : undefined;
  let current: unknown = raw;
  if (version === 1) {
    const v1 = DomainEventV1Schema.safeParse(raw);
    if (!v1.success) {
      return { ok: false, error: new UpcastError('malformed version-1 domain event', issuesOf(v1.error)) };
    }
    current = upcastV1(v1.data);
  } else if (version !== DOMAIN_EVENT_SCHEMA_VERSION) {
    return {
      ok: false,
      error: new UpcastError(`unsupported domain event schemaVersion ${JSON.stringify(version) ?? 'undefined'}`, [
        { path: 'schemaVersion', rule: `must be 1..${DOMAIN_EVENT_SCHEMA_VERSION}` },
      ]),
    };
  }
  const parsed = DomainEventSchema.safeParse(current);
  if (!parsed.success) return { ok: false, error: new UpcastError('malformed domain event', issuesOf(parsed.error)) };
  return { ok: true, event: parsed.data };
}

/**
 * Reads one raw record of the rollout log as a current `DomainEvent`, upcasting older versions; throws
 * an `UpcastError` (with paths and rules) for a record no version explains. Replay and the log reader
 * call it on every record they read.
 */
export function upcast(raw: unknown): DomainEvent {
  const result = safeUpcast(raw);
  if (!result.ok) throw result.error;
  return result.event;
}
