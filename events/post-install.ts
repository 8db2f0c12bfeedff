/**
 * Post-install health: what devices report about the hours after an install (crashes, kernel panics, compatibility
 * errors), aggregated by the ingest per lane into two groups of the class, over the same calendar time: devices
 * that run the lane's build (`updated`) and devices of the class not offered it yet (`control`, the concurrent
 * control). A regression judge compares the two groups' rates per watched signal. This file is the contract between
 * the ingest (which builds the deltas) and the lane (which judges them); the wire format of the device reports is in
 * `install-event.ts`.
 */
import { z } from 'zod';
import { OffsetRangeSchema } from './offset-range';
import { DeviceClassSchema, TimestampSchema } from './install-event';

/**
 * A watched signal, e.g. `app-crash`, `kernel-panic`, `compat-error:E_WEBVIEW`: 1..64 characters, a lower-case name
 * first; after a `:` a qualifier such as an error code, which keeps its own case.
 */
export const SignalNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[a-z0-9][a-z0-9_.-]*(:[A-Za-z0-9_.:-]+)?$/,
    'must be a lower-case name of letters, digits, "_", "." or "-", optionally ":" and a qualifier such as an error code (max 64)',
  );
export type SignalName = z.infer<typeof SignalNameSchema>;

/** Most distinct signals one report or one group of a delta may carry. */
export const MAX_SIGNALS = 64;

/**
 * One group's exposure over a delta: the devices' summed uptime in seconds and their events per signal in it. A
 * rate is events ÷ uptime, so groups of different sizes compare.
 */
export const ExposureCountsSchema = z
  .object({
    uptimeSec: z.number().min(0).max(1e15),
    events: z
      .record(SignalNameSchema, z.number().int().min(0).max(1_000_000_000))
      .refine((events) => Object.keys(events).length <= MAX_SIGNALS, { message: `at most ${MAX_SIGNALS} signals` }),
  })
  .strict();
export type ExposureCounts = z.infer<typeof ExposureCountsSchema>;

/**
 * Post-install reports of one lane's class from one ingest flush: `updated` (devices that run the lane's build, from
 * any exposure offer of the lane) and `control` (devices of the class outside every cohort the lane exposed), with the
 * Kafka ranges of `bsi.install-events` they cover (the lane keeps one high-water mark per partition for them, so a
 * redelivered delta changes nothing).
 */
export const PostInstallDeltaSchema = z
  .object({
    updated: ExposureCountsSchema,
    control: ExposureCountsSchema,
    ranges: z.array(OffsetRangeSchema).min(1).max(1000),
  })
  .strict();
export type PostInstallDelta = z.infer<typeof PostInstallDeltaSchema>;

/** A post-install delta as the lane decides on it (the workflow stamps `at`). */
export const PostInstallDeltaInputSchema = z
  .object({
    type: z.literal('post-install-delta'),
    lane: DeviceClassSchema,
    delta: PostInstallDeltaSchema,
    at: TimestampSchema,
  })
  .strict();
export type PostInstallDeltaInput = z.infer<typeof PostInstallDeltaInputSchema>;

/**
 * The key under which a lane reports its post-install high-water marks (partition → last offset counted) in
 * `highWaterMarksQuery`, beside its offers' marks. Offer ids are event ids (`rollout/lane/seq`) and never equal it.
 */
export const POST_INSTALL_MARK_KEY = 'post-install';
