/**
 * Install events: what devices report about one offered update (acknowledged, downloading, installing,
 * succeeded, failed, rolled back). They arrive on the `bsi.install-events` Kafka topic from a fleet we
 * do not control, so this schema is a hostile-input boundary: every object is strict, every string and
 * number is bounded, and anything that does not parse goes to the dead-letter topic with the reason.
 */
import { z } from 'zod';

/** An identifier that crosses a boundary: 1..128 printable ASCII characters, no whitespace. */
export const IdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** A device class (hardware model) name: 1..64 of letters, digits, `_` and `-`, starting with a letter or digit. */
export const DeviceClassSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]*$/,
    'must be letters, digits, "_" or "-" (max 64), starting with a letter or digit',
  );

/** An error code reported by a device or an update service, e.g. `E_DISK_FULL`. */
export const ErrorCodeSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'must be letters, digits, "_", ".", ":" or "-" (max 64)');

/** An ISO-8601 timestamp with a time zone (`2026-03-01T12:00:00Z`, offsets and fractions allowed). */
export const TimestampSchema = z.iso.datetime({ offset: true });

export const INSTALL_EVENT_TYPES = [
  'offered-ack',
  'download-started',
  'install-started',
  'succeeded',
  'failed',
  'rolled-back',
  'rollback-failed',
] as const;
export const InstallEventTypeSchema = z.enum(INSTALL_EVENT_TYPES);
export type InstallEventType = z.infer<typeof InstallEventTypeSchema>;

/** The fields of an install event, the same in every version of the wire format but `schemaVersion`. */
const installEventFields = {
  /** Unique per report; the ingest dedupes on it. */
  eventId: IdSchema,
  deviceId: IdSchema,
  deviceClass: DeviceClassSchema,
  rolloutId: IdSchema,
  releaseId: IdSchema,
  /** Echo of the command that offered the update: attributes late events to the right phase and attempt. */
  offerId: IdSchema,
  /** The device's install attempt for this offer, from 1. */
  attempt: z.number().int().min(1).max(1000),
  type: InstallEventTypeSchema,
  /** Present only on `failed` and `rollback-failed`. */
  errorCode: ErrorCodeSchema.optional(),
  osVersion: z.string().min(1).max(64),
  at: TimestampSchema,
};

/** `errorCode` belongs to failures only. */
function checkErrorCode(event: { type: InstallEventType; errorCode?: string | undefined }, ctx: z.RefinementCtx): void {
  const failure = event.type === 'failed' || event.type === 'rollback-failed';
  if (!failure && event.errorCode !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['errorCode'],
      message: `errorCode is only allowed on failed and rollback-failed events, not on ${event.type}`,
    });
  }
}

/** One report from one device, version 1 of the wire format. */
export const InstallEventSchema = z
  .object({ ...installEventFields, schemaVersion: z.literal(1) })
  .strict()
  .superRefine(checkErrorCode);
export type InstallEvent = z.infer<typeof InstallEventSchema>;

/**
 * An install event in version 2 of the wire format: the same fields and rules as version 1 (v2 adds the health
 * report, `health-report.ts`, beside it); `device-record.ts` reads either version as v2.
 */
export const InstallEventV2Schema = z
  .object({ ...installEventFields, schemaVersion: z.literal(2) })
  .strict()
  .superRefine(checkErrorCode);
export type InstallEventV2 = z.infer<typeof InstallEventV2Schema>;

/** The outcome an install event means for health counting: `final` outcomes end a device's install. */
export type InstallOutcome = 'progress' | 'succeeded' | 'failed' | 'rolled-back' | 'rollback-failed';

/**
 * Classifies an install event type for the health aggregator: progress reports (ack, download, install
 * start) versus final outcomes. Kept here so the ingest and the simulator agree on what "final" means.
 */
export function outcomeOf(type: InstallEventType): InstallOutcome {
  switch (type) {
    case 'offered-ack':
    case 'download-started':
    case 'install-started':
      return 'progress';
    case 'succeeded':
    case 'failed':
    case 'rolled-back':
    case 'rollback-failed':
      return type;
    default: {
      const _exhaustive: never = type;
      throw new Error(`unexpected type: ${JSON.stringify(_exhaustive)}`);
    }
  }
}
