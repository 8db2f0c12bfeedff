/**
 * Kafka offsets and offset ranges of `bsi.install-events`, as deltas carry them. Kept apart from `domain-events.ts`
 * (which re-exports them) so the post-install contract can use them without importing the domain events, which
 * import it in turn.
 */
import { z } from 'zod';

/** A Kafka offset as a decimal string (int64 does not fit a JS number; kafkajs gives strings too). */
export const KafkaOffsetSchema = z.string().regex(/^\d{1,19}$/, 'must be a decimal Kafka offset (string)');

/**
 * The inclusive Kafka offset range of one `bsi.install-events` partition that a health delta covers.
 * Offsets are decimal strings, compared as BigInt: that is what kafkajs hands out, and int64 offsets can
 * exceed `Number.MAX_SAFE_INTEGER`.
 */
export const OffsetRangeSchema = z
  .object({
    partition: z.number().int().min(0).max(100_000),
    fromOffset: KafkaOffsetSchema,
    toOffset: KafkaOffsetSchema,
  })
  .strict()
  .refine((range) => BigInt(range.fromOffset) <= BigInt(range.toOffset), {
    message: 'fromOffset must be ≤ toOffset',
    path: ['toOffset'],
  });
export type OffsetRange = z.infer<typeof OffsetRangeSchema>;
