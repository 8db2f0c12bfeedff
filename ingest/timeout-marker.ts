/**
 * The install-timeout marker: a record the ingest itself appends to `bsi.install-events` when a device
 * started installing and went silent past its lane's `installTimeoutSec`. Putting the decision into the
 * log (rather than deciding from the clock while counting) keeps counting a pure function of the log:
 * a restart or another member replays the same markers at the same offsets and reaches the same counts.
 * The marker names the device by its 64-bit table key (hex), so the table never has to keep device ids.
 */
import { z } from 'zod';
import { IdSchema } from '../events/install-event';

/** Value of the `kind` field that tells a marker from a device report (device reports have no `kind`). */
export const TIMEOUT_MARKER_KIND = 'install-timeout';

/** The marker's wire format, version 1. */
export const TimeoutMarkerSchema = z
  .object({
    kind: z.literal(TIMEOUT_MARKER_KIND),
    v: z.literal(1),
    rolloutId: IdSchema,
    offerId: IdSchema,
    /** The device's 64-bit table key as 16 lower-case hex digits (see `deviceKeyOf`). */
    deviceKey: z.string().regex(/^[0-9a-f]{16}$/),
    /** The install attempt that timed out. */
    attempt: z.number().int().min(1).max(1000),
    /** Kafka append time (ms) of the install-started report the timeout is measured from. */
    startedAtMs: z.number().int().min(0),
    /** Ingest wall-clock time (ms) when the timeout was decided; informational. */
    decidedAtMs: z.number().int().min(0),
  })
  .strict();
export type TimeoutMarker = z.infer<typeof TimeoutMarkerSchema>;
