/**
 * Severity defaults: a plan may state `severity: critical | high | medium | low` (and `exploited: true`) instead of
 * spelling out its phases, minimum sample and completion rule. Each default applies only where the plan (or the
 * class's override) does not give the key itself; `laneConfigOf` (`plan.ts`) resolves them per class and the lane
 * records the result in `lane-started` for life, so a later change of this table never changes a running lane.
 *
 * | severity | phases (share: bake)                                              | completion deadline |
 * | -------- | ----------------------------------------------------------------- | ------------------- |
 * | critical | canary: { min 6h, max 12h }, 100 %                                 | 48h                 |
 * | high     | canary: { min 2h, max 24h }, 10 %: { min 4h, max 24h }, 100 %      | 96h                 |
 * | medium   | canary: { min 6h, max 24h }, 10 %: { min 12h, max 48h }, 50 %: { min 12h, max 48h }, 100 % | 7d |
 * | low      | canary: { min 24h, max 72h }, 5 %: { min 24h, max 72h }, 25 %: { min 24h, max 72h }, 100 % | 14d |
 *
 * The canary holds 1.5 × the minimum sample in devices, so the evidence arrives within about one round of check-ins
 * (about two thirds of a fleet is online at any time): the share giving that many devices, to the nearest cohort
 * bucket (0.01 %; at least 0.01 %, at most 50 %), when the class size is known
 * (`classes.<c>.completion.expectedDevices`), 1 % when it is not. A phase passes only on a
 * healthy verdict over at least `minSample` outcomes, so the canary is where a bad build is caught: every severity's
 * default `minSample` is the fewest outcomes by which the judge halts a build failing at 3× `maxFailureRate` with
 * 99 % probability (the exact binomial model, `halt-model.ts`, with the lane's own α and calibration): 668 at 2 %
 * and α = 1 %. Every severity completes a class once 95 % of it reports the fix installed (flagged stalled after
 * 2 h of silence), or at the deadline.
 *
 * Critical's canary bakes at least 6 h, longer than its minimum sample needs (about 4 h on a fleet that checks in every
 * 4 h): by then most of the canary has reported, which catches more of the rare 3× builds that the minimum sample
 * alone lets through (1 %), for about an hour more to 95 % patched (`npm run bench:exposure`).
 *
 * Every severity asks for proof before a phase passes (`thresholds.proveBelowMultiple: 2`, `health.ts`): the evidence
 * must show the failure rate below twice `maxFailureRate` (a one-sided always-valid test at α), not merely no breach.
 * A 3× build whose canary happened to fail rarely (the 1 % the minimum sample lets through) then waits for more
 * evidence, and is flagged stalled when none comes, instead of being offered to the whole class; a good build is
 * proven well within the minimum sample, so the defaults lose no time to it.
 *
 * A canary at least as large as the phase after it (a small class) replaces that phase.
 *
 * `exploited: true` (the flaw is being exploited): every bake is halved, and the minimum sample catches a 3× build
 * with 95 % rather than 99 % probability (fewer outcomes, so the canary passes sooner: 491 at 2 % and α = 1 %).
 *
 * Rate limits (`severityRateLimit`), chosen only when the class size is known (`expectedDevices`: a rate in devices
 * needs it) and only where the plan and the class give none: `critical` and `high` none — after the canary every device
 * should get the fix the moment it checks in, and a pace below the fleet's own uptake (about a 240th of the class a
 * minute on a 4-hour check-in) would only keep the hole open longer; `medium` AWS IoT Jobs' exponential ramp, from the
 * class in 40 h (a 2,400th a minute) doubling at every tenth of the class notified, up to the class in 4 h (a 240th);
 * `low` a flat cap of the class in a day (a 1,440th a minute), so a routine fix never loads the update servers above
 * what one day's spread allows.
 *
 * Pure: no I/O.
 */
import { z } from 'zod';
import { haltModel } from './halt-model';
import { calibrationOf, ThresholdsSchema, type Thresholds } from './health';
import type { RateLimit } from './pacing';

/** How urgent a fix is; it selects the defaults below. */
export const SeveritySchema = z.enum(['critical', 'high', 'medium', 'low'], {
  error: 'must be one of critical, high, medium, low',
});
export type Severity = z.infer<typeof SeveritySchema>;

/** A phase of the defaults: share in percent (`'canary'`: sized by the class, see above), bake in seconds. */
export interface SeverityPhase {
  share: number | 'canary';
  bake: number | { min: number; max: number };
}

/** What one severity chooses. */
export interface SeverityDefaults {
  phases: readonly SeverityPhase[];
  /** The completion deadline in seconds (patched share 95 % and stallAfter 2 h, as the plan's defaults). */
  completionDeadlineSec: number;
}

const H = 3600;
const range = (minH: number, maxH: number) => ({ min: minH * H, max: maxH * H });

/** The table (see the file's comment). Rate limits go here too, as `rateLimit`, once their schema exists. */
export const SEVERITY_DEFAULTS: Readonly<Record<Severity, SeverityDefaults>> = Object.freeze({
  critical: {
    phases: [
      { share: 'canary', bake: range(6, 12) },
      { share: 100, bake: 0 },
    ],
    completionDeadlineSec: 48 * H,
  },
  high: {
    phases: [
      { share: 'canary', bake: range(2, 24) },
      { share: 10, bake: range(4, 24) },
      { share: 100, bake: 0 },
    ],
    completionDeadlineSec: 96 * H,
  },
  medium: {
    phases: [
      { share: 'canary', bake: range(6, 24) },
      { share: 10, bake: range(12, 48) },
      { share: 50, bake: range(12, 48) },
      { share: 100, bake: 0 },
    ],
    completionDeadlineSec: 7 * 24 * H,
  },
  low: {
    phases: [
      { share: 'canary', bake: range(24, 72) },
      { share: 5, bake: range(24, 72) },
      { share: 25, bake: range(24, 72) },
      { share: 100, bake: 0 },
    ],
    completionDeadlineSec: 14 * 24 * H,
  },
});

/** The multiple of `maxFailureRate` the default minimum sample is sized to catch. */
export const CATCH_MULTIPLE = 3;
/** How sure the default minimum sample makes the judge of catching it: 99 %, or 95 % when exploited. */
export const CATCH_PROBABILITY = 0.99;
export const CATCH_PROBABILITY_EXPLOITED = 0.95;

/**
 * The multiple of `maxFailureRate` every severity's phases must prove the failure rate below before they pass
 * (`thresholds.proveBelowMultiple`), unless the plan gives its own.
 */
export const SEVERITY_PROVE_BELOW_MULTIPLE = 2;

/** The canary holds this many times the minimum sample in devices (when the class size is known). */
export const CANARY_FACTOR = 1.5;

/** The share of the canary when the class size is unknown (percent). */
export const CANARY_SHARE_UNSIZED = 1;

/** A phase as the plan schema writes it after parsing (share in percent, bake in seconds). */
export interface ResolvedPhase {
  share: number;
  bake: number | { min: number; max: number };
}

const minSampleCache = new Map<string, number>();

/**
 * The default minimum sample for thresholds `t` (its `minSample` is not read): the fewest outcomes by which the judge,
 * on the lane's own criterion with the calibration a new lane records, halts a build failing at 3× `maxFailureRate`
 * with 99 % probability (95 % when `exploited`). The sequential rule's number even for a plan on the plain rule (whose
 * own halts depend on minSample itself). Remembered per process (a few milliseconds each).
 */
export function severityMinSample(t: Thresholds, exploited: boolean): number {
  const probability = exploited ? CATCH_PROBABILITY_EXPLOITED : CATCH_PROBABILITY;
  const key = JSON.stringify([t.maxFailureRate, t.falseHaltProbability, t.errorCodes.criteria.length, probability]);
  let n = minSampleCache.get(key);
  if (n === undefined) {
    const judged = ThresholdsSchema.parse({ ...t, rule: 'sequential', calibration: undefined });
    const calibrated = { ...judged, calibration: calibrationOf(judged) };
    const rate = Math.min(0.999, CATCH_MULTIPLE * t.maxFailureRate);
    n = Math.max(1, haltModel(calibrated, rate, 1_000_000, probability).outcomes);
    minSampleCache.set(key, n);
  }
  return n;
}

/** The canary's share (percent) for a class of `classSize` devices (undefined: unknown) and a minimum sample. */
export function canaryShare(classSize: number | undefined, minSample: number): number {
  if (classSize === undefined) return CANARY_SHARE_UNSIZED;
  const share = Math.round(((CANARY_FACTOR * minSample) / classSize) * 10_000) / 100;
  return Math.min(50, Math.max(0.01, share));
}

/**
 * The phases a severity chooses for one class: the table's, with the canary sized by the class and, when
 * `exploited`, every bake halved (whole seconds).
 */
export function severityPhases(
  severity: Severity,
  exploited: boolean,
  classSize: number | undefined,
  minSample: number,
): ResolvedPhase[] {
  const half = (sec: number) => (exploited ? Math.floor(sec / 2) : sec);
  const phases: ResolvedPhase[] = [];
  for (const phase of SEVERITY_DEFAULTS[severity].phases) {
    const share = phase.share === 'canary' ? canaryShare(classSize, minSample) : phase.share;
    // A canary as large as the next phase (a small class) stands in for it: shares must strictly increase.
    if (share <= (phases[phases.length - 1]?.share ?? 0)) continue;
    const bake =
      typeof phase.bake === 'number' ? half(phase.bake) : { min: half(phase.bake.min), max: half(phase.bake.max) };
    phases.push({ share, bake });
  }
  return phases;
}

/**
 * The rate limit a severity chooses for a class of `classSize` devices (see the file's comment), or undefined: none
 * for `critical` and `high`, and none when the class size is unknown.
 */
export function severityRateLimit(severity: Severity, classSize: number | undefined): RateLimit | undefined {
  if (classSize === undefined) return undefined;
  const perMinute = (minutes: number) => Math.max(1, Math.round(classSize / minutes));
  switch (severity) {
    case 'critical':
    case 'high':
      return undefined;
    case 'medium':
      return {
        baseRatePerMinute: perMinute(40 * 60),
        incrementFactor: 2,
        rateIncreaseCriteria: { numberOfNotifiedThings: Math.max(1, Math.round(classSize / 10)) },
        maximumPerMinute: perMinute(4 * 60),
      };
    case 'low':
      return { maxPerMinute: perMinute(24 * 60) };
    default: {
      const _exhaustive: never = severity;
      throw new Error(`unexpected severity ${String(_exhaustive)}`);
    }
  }
}
