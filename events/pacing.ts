/**
 * Rate limits: at most so many devices offered per minute, per class, with an optional exponential ramp that follows
 * AWS IoT Jobs' `exponentialRate` (`baseRatePerMinute`, `incrementFactor`, `rateIncreaseCriteria` with
 * `numberOfNotifiedThings` or `numberOfSucceededThings`, and `maximumPerMinute`). A plan may also give a fleet-wide
 * rate, split over the classes by size once, when the lanes start (`laneConfigOf`).
 *
 * How a lane paces (`events/lane.ts`): a rate-limited phase is exposed in steps. The first order of a phase offers what
 * one step allows above the bound already offered; every later step (`exposure-widened`) raises the bound of the same
 * offer, until the phase's bound; the phase's bake starts when its exposure is complete. A step is whole cohort
 * buckets (0.01 % of the class): at a rate of r devices a minute in a class of N devices, a bucket holds N / 10000
 * devices, so a step every minute offers ⌊r × 10000 / N⌋ buckets; when that is less than one, a step offers one bucket
 * every ⌈60 × N / (10000 × r)⌉ seconds. Rounding down keeps the pace at or below the rate.
 *
 * Where it differs from AWS IoT Jobs: AWS counts things one by one and caps rates at 1000 a minute; here a step is whole
 * buckets, so "notified" is the devices of the buckets offered (buckets × N / 10000, the class size the plan gives, not
 * a count of real devices) and rates may go up to 1,000,000 a minute. AWS requires `maximumPerMinute` beside
 * `exponentialRate` as here. The rate rises by `incrementFactor` each time `numberOf…Things` more devices were notified
 * (or reported success) since the last rise, never above `maximumPerMinute`.
 *
 * Pure: the lane records the rate, its level and what it counted in its events, so a worker restart or a
 * continue-as-new (the state is folded from events) resumes the pace where it was.
 */
import { z } from 'zod';

/** The number of cohort buckets of a class (events/cohort.ts). */
const BUCKETS = 10000;
/** Highest rate a plan may give, in devices per minute. */
export const MAX_RATE_PER_MINUTE = 1_000_000;

const rateSchema = z
  .number({ error: 'must be a number of devices per minute' })
  .int({ error: 'must be a whole number of devices per minute' })
  .min(1)
  .max(MAX_RATE_PER_MINUTE);

/** What raises an exponential rate: so many devices notified, or so many successes, since the last rise. */
export const RateIncreaseCriteriaSchema = z.union(
  [
    z.object({ numberOfNotifiedThings: z.number().int().min(1).max(1_000_000_000) }).strict(),
    z.object({ numberOfSucceededThings: z.number().int().min(1).max(1_000_000_000) }).strict(),
  ],
  { error: 'must be { numberOfNotifiedThings: N } or { numberOfSucceededThings: N } (one of them)' },
);

/** A plain rate: at most `maxPerMinute` devices offered a minute. */
export const PlainRateSchema = z.object({ maxPerMinute: rateSchema }).strict();

/** AWS IoT Jobs' exponential rate: `baseRatePerMinute` at first, × `incrementFactor` at each rise, at most `maximumPerMinute`. */
export const ExponentialRateSchema = z
  .object({
    baseRatePerMinute: rateSchema,
    /** AWS allows 1.1 to 5 with one decimal; the same here. */
    incrementFactor: z
      .number()
      .min(1.1)
      .max(5)
      .refine((f) => Math.abs(f * 10 - Math.round(f * 10)) < 1e-9, {
        error: 'must have one decimal at most, e.g. 1.5',
      }),
    rateIncreaseCriteria: RateIncreaseCriteriaSchema,
    maximumPerMinute: rateSchema,
  })
  .strict()
  .refine((rate) => rate.baseRatePerMinute <= rate.maximumPerMinute, {
    error: 'must be at most maximumPerMinute',
    path: ['baseRatePerMinute'],
  });

/**
 * A class's rate limit (plan key `rateLimit`, with a per-class override): `{ maxPerMinute }`, or the exponential ramp.
 * Exported so other plan keys (a severity's defaults) can select one.
 */
export const RateLimitSchema = z.union([PlainRateSchema, ExponentialRateSchema], {
  error: 'must be { maxPerMinute } or { baseRatePerMinute, incrementFactor, rateIncreaseCriteria, maximumPerMinute }',
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

/** The fleet-wide rate (plan key `fleetRateLimit`), split over the classes by their sizes when the lanes start. */
export const FleetRateLimitSchema = z.object({ maxPerMinute: rateSchema }).strict();
export type FleetRateLimit = z.infer<typeof FleetRateLimitSchema>;

/**
 * A lane's pace as `lane-started` records it for life: the class size the rate is converted with, the first rate, the
 * cap (the class's own, lowered to its share of the fleet rate), and the ramp when there is one.
 */
export const LanePacingSchema = z
  .object({
    classSize: z.number().int().min(1),
    baseRatePerMinute: z.number().int().min(1),
    maxPerMinute: z.number().int().min(1),
    ramp: z
      .object({
        factor: z.number().min(1),
        every: z.number().int().min(1),
        counting: z.enum(['notified', 'succeeded']),
      })
      .strict()
      .optional(),
    /** The fleet rate this lane's share came from, when the plan gives one (status and `--explain` say so). */
    fleetMaxPerMinute: z.number().int().min(1).optional(),
  })
  .strict();
export type LanePacing = z.infer<typeof LanePacingSchema>;

/**
 * A lane's rate limit from the plan's keys: the class's own rate (`rate`), capped at its part of the fleet rate
 * (`fleet.maxPerMinute × fleet.share`, at least 1), for a class of `classSize` devices; undefined when neither is given.
 */
export function lanePacingOf(
  rate: RateLimit | undefined,
  fleet: { maxPerMinute: number; share: number } | undefined,
  classSize: number,
): LanePacing | undefined {
  if (rate === undefined && fleet === undefined) return undefined;
  const fleetCap = fleet === undefined ? undefined : Math.max(1, Math.floor(fleet.maxPerMinute * fleet.share));
  const own = rate === undefined ? undefined : 'maxPerMinute' in rate ? rate.maxPerMinute : rate.maximumPerMinute;
  const cap = Math.min(own ?? Infinity, fleetCap ?? Infinity);
  const base = rate !== undefined && 'baseRatePerMinute' in rate ? Math.min(rate.baseRatePerMinute, cap) : cap;
  const exponential = rate !== undefined && 'rateIncreaseCriteria' in rate ? rate : undefined;
  const criteria = exponential?.rateIncreaseCriteria;
  return {
    classSize,
    baseRatePerMinute: base,
    maxPerMinute: cap,
    ...(exponential !== undefined &&
      criteria !== undefined && {
        ramp: {
          factor: exponential.incrementFactor,
          ...('numberOfNotifiedThings' in criteria
            ? { every: criteria.numberOfNotifiedThings, counting: 'notified' as const }
            : { every: criteria.numberOfSucceededThings, counting: 'succeeded' as const }),
        },
      }),
    ...(fleet !== undefined && { fleetMaxPerMinute: fleet.maxPerMinute }),
  };
}

/** Where a lane's ramp stands: the rate, how many rises it had, and the count at the last rise. */
export const RampSchema = z
  .object({
    ratePerMinute: z.number().int().min(1),
    level: z.number().int().min(0),
    /** The count (`notified` devices, or successes) at the last rise; the next rise comes `every` later. */
    levelFrom: z.number().int().min(0),
    /** Buckets this lane has offered so far, every offer and retry summed (the `notified` count, in buckets). */
    notifiedBuckets: z.number().int().min(0),
  })
  .strict();
export type Ramp = z.infer<typeof RampSchema>;

/** The devices the notified buckets stand for in a class of `classSize`. */
export function notifiedDevices(pacing: LanePacing, notifiedBuckets: number): number {
  return Math.floor((notifiedBuckets * pacing.classSize) / BUCKETS);
}

/**
 * The ramp at the next step: from the last one (or the base rate), raised by the factor for every `every` devices
 * notified (or successes, `succeeded`) since the last rise, at most `maxPerMinute`.
 */
export function rampAt(pacing: LanePacing, last: Ramp | undefined, succeeded: number): Ramp {
  // Only the ramp's own fields: `last` may be a lane's whole pace record.
  const ramp: Ramp =
    last === undefined
      ? { ratePerMinute: pacing.baseRatePerMinute, level: 0, levelFrom: 0, notifiedBuckets: 0 }
      : {
          ratePerMinute: last.ratePerMinute,
          level: last.level,
          levelFrom: last.levelFrom,
          notifiedBuckets: last.notifiedBuckets,
        };
  const rule = pacing.ramp;
  if (rule === undefined) return { ...ramp, ratePerMinute: pacing.maxPerMinute };
  const count = rule.counting === 'notified' ? notifiedDevices(pacing, ramp.notifiedBuckets) : succeeded;
  let { level, levelFrom } = ramp;
  const rateAt = (n: number) => Math.min(pacing.maxPerMinute, Math.floor(pacing.baseRatePerMinute * rule.factor ** n));
  while (count - levelFrom >= rule.every && rateAt(level) < pacing.maxPerMinute) {
    level += 1;
    levelFrom += rule.every;
  }
  return { ...ramp, level, levelFrom, ratePerMinute: rateAt(level) };
}

/**
 * One step at `ratePerMinute` in a class of `classSize` devices: whole buckets, every minute when a minute's devices
 * fill at least one bucket (rounded down), else one bucket at the interval that keeps to the rate (rounded up).
 */
export function stepOf(ratePerMinute: number, classSize: number): { buckets: number; everySec: number } {
  const perMinute = (ratePerMinute * BUCKETS) / classSize;
  if (perMinute >= 1) return { buckets: Math.floor(perMinute), everySec: 60 };
  return { buckets: 1, everySec: Math.ceil(60 / perMinute) };
}
