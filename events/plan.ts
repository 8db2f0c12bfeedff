/**
 * The rollout plan: what an SRE writes (YAML or JSON) to push one BSI release through phased cohorts per
 * device class. `RolloutPlanSchema` is the single source of truth for the file format; `parsePlan` turns
 * text into a validated plan or a list of precise errors (path, value, rule) — never a stack trace; and
 * `laneConfigOf` resolves one device class's effective settings (artifact, phases, thresholds, policy)
 * after per-class overrides, which is what a lane carries in its `lane-started` event.
 *
 * Shape (see examples/plans/):
 * ```yaml
 * releaseId: bsi-2026-03-a
 * artifact: { build: 26.3.1 }
 * deviceClasses: [phone-a, phone-b, tablet-c, laptop-x1]
 * severity: high              # optional: critical | high | medium | low (+ exploited: true) chooses phases, minSample
 *                             # and completion where the plan gives none (`severity.ts`); without it phases and
 *                             # thresholds.minSample are required
 * phases:                      # share of the class in percent; bake as '30s' / '10m' / '24h' / '1h30m' or seconds
 *   - { share: 1, bake: 10m }
 *   - { share: 5, bake: { min: 2m, max: 30m } }   # ends once proven healthy after 2m, at 30m at the latest
 *   - { share: 10, bake: 1h, approval: manual }   # gate: an operator approves before this phase starts
 *   - { share: 100, bake: 0 }
 * thresholds:                  # a build at or below maxFailureRate passes; one above it is halted
 *   maxFailureRate: 0.02
 *   minSample: 200             # outcomes of the attempt before a phase may pass
 *   proveBelowMultiple: 2      # optional: a phase passes only once the rate is proven below 2 × maxFailureRate
 *   installTimeoutSec: 1800
 *   errorCodes: { ignore: [E_LOW_BATTERY], criteria: [{ codes: [E_BOOT_LOOP], maxFailureRate: 0.001 }] }
 * breachPolicy: { action: retry, attempts: 2, backoff: 5m, then: rollback }   # or { action: pause } / { action: rollback }
 * fleetHalt: { breachedClasses: 2 }                     # and/or failureSpike: { falseHaltProbability: 0.01 }
 * rollbackTimeout: 30m
 * completion:                  # optional: after its last phase a class completes once this share reports success
 *   { patchedShare: 0.95, deadline: 72h, stallAfter: 2h }   # …or at the deadline; silent for stallAfter: stalled
 * regression:                  # optional: post-install signals against the class's not-yet-offered devices
 *   { signals: [app-crash], maxRateRatio: 1.5, falseHaltProbability: 0.01, watch: 24h }
 * notifications:               # webhooks (README, "Notifications"); a json webhook names its secret's env variable
 *   webhooks: [{ name: sre, url: 'https://hooks.example.com/bsi', format: json, secretEnv: BSI_HOOK_SECRET }]
 * rateLimit: { maxPerMinute: 500 }   # or AWS IoT Jobs' ramp: { baseRatePerMinute, incrementFactor, rateIncreaseCriteria, maximumPerMinute }
 * fleetRateLimit: { maxPerMinute: 2000 }                # split over the classes by their expectedDevices
 * maintenanceWindows: { timeZone: Europe/Berlin, windows: [{ days: [mon, tue, wed, thu], start: '01:00', end: '05:00' }] }
 * classes:                     # per-class overrides
 *   laptop-x1: { artifact: { build: 26.3.2 }, thresholds: { maxFailureRate: 0.01 } }
 *   phone-a: { completion: { expectedDevices: 250000 } }   # the class size, when known (else it is estimated)
 * ```
 */
import { z } from 'zod';
import { ScheduleSchema } from './schedule';
import YAML from 'yaml';
import { ThresholdsSchema, calibrationOf, planThresholdsProblems, thresholdsProblems, type Thresholds } from './health';
import { thresholdsProblemsV1 } from './health-v1';
import { DeviceClassSchema, IdSchema } from './install-event';
import { SignalNameSchema } from './post-install';
import { MaintenanceWindowsSchema } from './maintenance-window';
import { FleetRateLimitSchema, LanePacingSchema, RateLimitSchema, lanePacingOf, type LanePacing } from './pacing';
import { NotificationsSchema } from './webhook-config';
import {
  SeveritySchema,
  severityMinSample,
  severityPhases,
  severityRateLimit,
  SEVERITY_DEFAULTS,
  SEVERITY_PROVE_BELOW_MULTIPLE,
  type ResolvedPhase,
  type Severity,
} from './severity';

/** The number of cohort buckets per percent of a class: a share of `s`% exposes buckets `[0, s × 100)`. */
export const BUCKETS_PER_PERCENT = 100;
/** Longest bake, backoff or rollback timeout a plan may ask for: 30 days, in seconds. */
export const MAX_DURATION_SEC = 30 * 24 * 3600;

type DurationUnit = 's' | 'm' | 'h' | 'd';
const UNIT_SECONDS: Record<DurationUnit, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration written as `'30s'`, `'10m'`, `'24h'`, `'2d'`, `'1h30m'` into seconds, or returns
 * undefined when the text is not a duration. Kept separate from the schema so CLIs can reuse it.
 */
export function parseDurationSec(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d{1,7}[smhd])+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+)([smhd])/g)) {
    total += Number(match[1]) * UNIT_SECONDS[match[2] as DurationUnit];
  }
  return total;
}

/**
 * Writes whole seconds the way plans write durations (`'2m10s'`, `'1h30m'`, `'0s'`): what `parseDurationSec` reads
 * back to the same number. Timelines and previews use it so people read the plan's own units.
 */
export function formatDurationSec(seconds: number): string {
  let rest = Math.max(0, Math.floor(seconds));
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_SECONDS[unit]);
    rest -= n * UNIT_SECONDS[unit];
    if (n > 0) out += `${n}${unit}`;
  }
  return out === '' ? '0s' : out;
}

/** A duration: whole seconds, or a string like `'30s'`, `'10m'`, `'24h'`, `'1h30m'`. Output: seconds. */
export const DurationSchema = z
  .union([z.number(), z.string()], { error: 'must be seconds or a duration like "30s", "10m", "24h"' })
  .transform((value, ctx) => {
    const seconds = typeof value === 'number' ? value : parseDurationSec(value);
    if (seconds === undefined || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_DURATION_SEC) {
      ctx.addIssue({
        code: 'custom',
        message: `must be whole seconds (0..${MAX_DURATION_SEC}) or a duration like "30s", "10m", "24h" (max 30d)`,
      });
      return z.NEVER;
    }
    return seconds;
  });

/** The build a device class receives. */
export const ArtifactSchema = z
  .object({
    /** The build version, e.g. `26.3.1`. */
    build: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, 'must be a version like "26.3.1"'),
    /** Where the update service fetches it (optional; the update service may know by build). */
    url: z.url().max(2048).optional(),
    /** Content hash of the artifact, lower-case hex. */
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, 'must be 64 lower-case hex digits')
      .optional(),
  })
  .strict();
export type Artifact = z.infer<typeof ArtifactSchema>;

/**
 * A bake written as a range: the phase ends as soon as its health is proven once `min` has passed, and at `max` as a
 * plain bake does (where it keeps waiting for evidence if there is not enough). Output: seconds.
 */
export const BakeRangeSchema = z
  .object({ min: DurationSchema, max: DurationSchema })
  .strict()
  .refine((range) => range.min <= range.max, { message: 'min must be at most max', path: ['min'] });
export type BakeRange = z.infer<typeof BakeRangeSchema>;

/** A phase's bake: one duration (the phase bakes exactly that long, as it always did) or `{ min, max }`. */
export type Bake = z.output<typeof DurationSchema> | BakeRange;
/** A bake as a plan file writes it. */
export type BakeInput = z.input<typeof DurationSchema> | z.input<typeof BakeRangeSchema>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A phase's bake: a duration, or `{ min, max }` (two durations, min ≤ max). An object is judged as a range and
 * anything else as a duration, so each gets its own precise errors (a union would only say "invalid input").
 */
export const BakeSchema = z
  .custom<BakeInput>(() => true)
  .transform((value, ctx): Bake => {
    if (!isRecord(value) && typeof value !== 'number' && typeof value !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'must be a duration like "10m", or { min, max } of two durations' });
      return z.NEVER;
    }
    const result = isRecord(value) ? BakeRangeSchema.safeParse(value) : DurationSchema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      // Reported as `validatePlan` reports every other field: `unknown field` per unknown key, `required` if absent.
      const problems =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown field' }))
          : [{ path: issue.path, message: valueAt(value, issue.path) === undefined ? 'required' : issue.message }];
      for (const problem of problems) ctx.addIssue({ code: 'custom', ...problem });
    }
    return z.NEVER;
  });

/** One phase: a share of the class (percent), how long it bakes, and an optional manual gate before it starts. */
export const PhaseSchema = z
  .object({
    /** Percent of the device class exposed once this phase starts (cumulative), 0 < share ≤ 100, at most 2 decimals. */
    share: z
      .number()
      .gt(0)
      .max(100)
      .refine((share) => Math.abs(share * BUCKETS_PER_PERCENT - Math.round(share * BUCKETS_PER_PERCENT)) < 1e-9, {
        message: 'must have at most 2 decimals (a cohort bucket is 0.01%)',
      }),
    /**
     * How long the phase runs before it may pass (it also needs a healthy verdict): one duration, or `{ min, max }`
     * (it passes as soon as its health is proven once `min` has passed, and otherwise as a plain bake of `max`).
     */
    bake: BakeSchema,
    /** `manual`: an operator must approve before this phase starts exposing devices. */
    approval: z.literal('manual').optional(),
  })
  .strict();
export type Phase = z.infer<typeof PhaseSchema>;

type Issue = { path: (string | number)[]; message: string };

function phaseIssues(phases: readonly Phase[], at: (string | number)[] = []): Issue[] {
  const issues: Issue[] = [];
  phases.forEach((phase, index) => {
    const previous = phases[index - 1];
    if (previous !== undefined && phase.share <= previous.share) {
      issues.push({
        path: [...at, index, 'share'],
        message: `must be greater than the previous phase (${previous.share})`,
      });
    }
  });
  const last = phases[phases.length - 1];
  if (last !== undefined && last.share !== 100) {
    issues.push({ path: [...at, phases.length - 1, 'share'], message: 'the last phase must have share 100' });
  }
  return issues;
}

/** The phases of a class: shares strictly increase and the last one is 100. */
export const PhasesSchema = z
  .array(PhaseSchema)
  .min(1)
  .max(20)
  .superRefine((phases, ctx) => {
    for (const issue of phaseIssues(phases)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

/** The device classes of a plan: names are unique. */
export const DeviceClassesSchema = z
  .array(DeviceClassSchema)
  .min(1)
  .max(500)
  .superRefine((names, ctx) => {
    names.forEach((name, index) => {
      const first = names.indexOf(name);
      if (first !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `duplicate device class (first at deviceClasses[${first}])`,
        });
      }
    });
  });

/** What a lane does when its failures cross the threshold. */
export const BreachPolicySchema = z.discriminatedUnion(
  'action',
  [
    z.object({ action: z.literal('pause') }).strict(),
    z.object({ action: z.literal('rollback') }).strict(),
    z
      .object({
        action: z.literal('retry'),
        /** How many automatic retries the lane gets in total (each is a fresh attempt, judged on fresh outcomes). */
        attempts: z.number().int().min(1).max(10),
        /** Wait after a breach before the retry offer goes out. */
        backoff: DurationSchema,
        /** What happens on a breach once the retries are used up. */
        then: z.enum(['pause', 'rollback']),
      })
      .strict(),
  ],
  { error: 'must be { action: pause }, { action: rollback } or { action: retry, attempts, backoff, then }' },
);
export type BreachPolicy = z.infer<typeof BreachPolicySchema>;

/**
 * The fleet-wide spike rule (rules version 2): every class's outcomes pooled, each judged against its own
 * maxFailureRate, so a moderate rise across many classes halts the fleet before any one class is significant.
 */
export const FailureSpikeSchema = z
  .object({
    /** The most the spike rule may halt a fleet whose every class is at or below its threshold (α). */
    falseHaltProbability: z.number().gt(0).lt(0.5).default(0.01),
  })
  .strict();
export type FailureSpike = z.infer<typeof FailureSpikeSchema>;

/** When the whole rollout halts: after N classes breached, and/or on a fleet-wide failure spike. */
export const FleetHaltSchema = z
  .object({
    /** Halt every running lane once this many device classes have breached their thresholds. */
    breachedClasses: z.number().int().min(1).optional(),
    /**
     * A fleet-wide failure spike halts every lane. Rules version 1 stored a thresholds object here (the fleet's
     * summed outcomes judged against it); plan files now give `{ falseHaltProbability }`.
     */
    failureSpike: z.union([FailureSpikeSchema, ThresholdsSchema]).optional(),
  })
  .strict()
  .refine((rule) => rule.breachedClasses !== undefined || rule.failureSpike !== undefined, {
    message: 'needs breachedClasses and/or failureSpike',
  });
export type FleetHalt = z.infer<typeof FleetHaltSchema>;

type OverrideShape = { [K in keyof Thresholds]-?: z.ZodOptional<z.ZodType<NonNullable<Thresholds[K]>>> };
const thresholdOverrideShape = Object.fromEntries(
  Object.entries(ThresholdsSchema.shape).map(([key, schema]) => [
    key,
    (schema instanceof z.ZodDefault ? (schema.unwrap() as z.ZodType) : (schema as z.ZodType)).optional(),
  ]),
) as unknown as OverrideShape;

/**
 * A partial `ThresholdsSchema` without defaults: only the keys a class override writes replace the
 * plan's thresholds (a `.partial()` would fill defaults and silently reset keys the override never named).
 */
export const ThresholdsOverrideSchema = z.object(thresholdOverrideShape).strict();
export type ThresholdsOverride = z.infer<typeof ThresholdsOverrideSchema>;

/**
 * How manual gates are approved. `twoPersonRule: true`: whoever started the rollout may not approve its gates, so a
 * phase behind a gate always had two people (the starter and an approver). Absent or false: anyone with the role.
 */
export const ApprovalsSchema = z
  .object({
    twoPersonRule: z.boolean().default(false),
  })
  .strict();
export type Approvals = z.infer<typeof ApprovalsSchema>;

/** The share of a class whose successes complete its lane, when the plan gives none: 95 %. */
export const DEFAULT_PATCHED_SHARE = 0.95;
/** How long a lane waits for that share after its last phase passed, when the plan gives no deadline: 72 h. */
export const DEFAULT_COMPLETION_DEADLINE_SEC = 72 * 3600;
/** How long exposed devices may report nothing before the lane is flagged stalled, by default: 2 h. */
export const DEFAULT_STALL_AFTER_SEC = 2 * 3600;

const patchedShareSchema = z
  .number({ error: 'must be a share of the class between 0 and 1, e.g. 0.95' })
  .gt(0, { error: 'must be a share of the class above 0 and at most 1, e.g. 0.95' })
  .max(1, { error: 'must be a share of the class (at most 1, e.g. 0.95 for 95 %), not a percentage' });
const positiveDurationSchema = DurationSchema.refine((seconds) => seconds > 0, { message: 'must be longer than 0s' });
const expectedDevicesSchema = z
  .number({ error: 'must be a whole number of devices' })
  .int({ error: 'must be a whole number of devices' })
  .min(1)
  .max(1_000_000_000);

/**
 * When a class's lane completes ("patched, not just exposed"): after its last phase passes, the lane keeps counting
 * until `patchedShare` of the class reported success, or `deadline` (from that pass) is over; a lane whose exposed
 * devices report nothing for `stallAfter` is flagged stalled (it tells a person, it stops nothing). A plan without
 * this key completes its lanes at their last phase, as plans always did.
 */
export const CompletionSchema = z
  .object({
    patchedShare: patchedShareSchema.default(DEFAULT_PATCHED_SHARE),
    deadline: positiveDurationSchema.default(DEFAULT_COMPLETION_DEADLINE_SEC),
    stallAfter: positiveDurationSchema.default(DEFAULT_STALL_AFTER_SEC),
    /** Refused here with where it belongs: a class size is per class. */
    expectedDevices: z
      .never({ error: 'is the size of one class: give it as classes.<class>.completion.expectedDevices' })
      .optional(),
  })
  .strict();
export type Completion = z.infer<typeof CompletionSchema>;

/**
 * A class's completion keys: any of the plan's (only those it names replace them) and `expectedDevices`, the class
 * size when it is known; without it the lane estimates the size from what its devices reported (`events/lane.ts`).
 */
export const CompletionOverrideSchema = z
  .object({
    patchedShare: patchedShareSchema.optional(),
    deadline: positiveDurationSchema.optional(),
    stallAfter: positiveDurationSchema.optional(),
    expectedDevices: expectedDevicesSchema.optional(),
  })
  .strict();
export type CompletionOverride = z.infer<typeof CompletionOverrideSchema>;

// ---------- regression: post-install signals judged against a concurrent control (issue #17) ----------

/** Most signals one class may watch: each splits the false-halt budget, and each is a row of the lane's state. */
export const MAX_WATCHED_SIGNALS = 16;

const watchedSignalsSchema = z
  .array(SignalNameSchema)
  .min(1, { error: 'must name at least one signal, e.g. [app-crash]' })
  .max(MAX_WATCHED_SIGNALS, { error: `at most ${MAX_WATCHED_SIGNALS} signals (each splits the false-halt budget)` })
  .superRefine((signals, ctx) => {
    signals.forEach((signal, index) => {
      const first = signals.indexOf(signal);
      if (first !== index) {
        ctx.addIssue({ code: 'custom', path: [index], message: `duplicate signal (first at signals[${first}])` });
      }
    });
  });
const maxRateRatioSchema = z
  .number({ error: "must be a rate ratio such as 1.5 (updated devices may have 1.5 × the control's rate)" })
  .min(1, { error: 'must be at least 1: a ratio below 1 would halt a build that changes nothing' })
  .max(100);
const regressionAlphaSchema = z
  .number({ error: 'must be a probability such as 0.01' })
  .gt(0, { error: 'must be above 0 and below 0.5, e.g. 0.01' })
  .lt(0.5, { error: 'must be above 0 and below 0.5, e.g. 0.01' });
const minEventsSchema = z
  .number({ error: 'must be a whole number of events' })
  .int({ error: 'must be a whole number of events' })
  .min(0)
  .max(1_000_000);

/** Updated devices' events of a signal before it may breach, when the plan gives none (`RegressionSchema`). */
export const DEFAULT_MIN_EVENTS = 5;

/**
 * The regression rule (`events/regression.ts`, docs/judge.md): per watched signal, the rate among updated devices is
 * tested against the class's concurrent control (devices not offered the build yet) over the same hours, and the
 * breach policy fires once it is significantly above `maxRateRatio` × the control's. `falseHaltProbability` bounds,
 * over the lane's life, the chance of a halt when every signal's true ratio is at most `maxRateRatio`. `watch`: after
 * its last phase passes, a class completes only once that phase's devices were watched this long. A plan without the
 * key judges install outcomes only, as plans always did.
 */
export const RegressionSchema = z
  .object({
    signals: watchedSignalsSchema,
    maxRateRatio: maxRateRatioSchema.default(1.5),
    falseHaltProbability: regressionAlphaSchema.default(0.01),
    watch: DurationSchema.default(0),
    /** Updated devices' events of a signal before it may breach: a floor that only lowers the halt probability. */
    minEvents: minEventsSchema.default(DEFAULT_MIN_EVENTS),
  })
  .strict();
export type Regression = z.infer<typeof RegressionSchema>;

/** A class's regression keys: only those it names replace the plan's (the whole rule when the plan has none). */
export const RegressionOverrideSchema = z
  .object({
    signals: watchedSignalsSchema.optional(),
    maxRateRatio: maxRateRatioSchema.optional(),
    falseHaltProbability: regressionAlphaSchema.optional(),
    watch: DurationSchema.optional(),
    minEvents: minEventsSchema.optional(),
  })
  .strict();
export type RegressionOverride = z.infer<typeof RegressionOverrideSchema>;

/** A lane's regression rule as `lane-started` records it (durations in seconds). */
export const LaneRegressionSchema = z
  .object({
    signals: z.array(SignalNameSchema).min(1).max(MAX_WATCHED_SIGNALS),
    maxRateRatio: z.number().min(1).max(100),
    falseHaltProbability: z.number().gt(0).lt(0.5),
    watchSec: z.number().int().min(0),
    minEvents: z.number().int().min(0),
  })
  .strict();
export type LaneRegression = z.infer<typeof LaneRegressionSchema>;

/** A class's regression rule: the plan's keys with the class's replacing them; nothing when neither names one. */
function regressionOf(
  plan: Regression | undefined,
  override: RegressionOverride | undefined,
): { regression?: LaneRegression } {
  if (plan === undefined && override === undefined) return {};
  const merged = RegressionSchema.parse({ ...plan, ...override });
  const { watch, ...rest } = merged;
  return { regression: { ...rest, watchSec: watch } };
}

/**
 * The regression rule's problems: a class override that names regression keys while neither it nor the plan names
 * the signals to watch, and a class whose watch window is longer than its completion deadline (the plan's, or its
 * severity's; counted from the same pass, it would cut the watch short).
 */
function regressionProblems(plan: RolloutPlan): Issue[] {
  const issues: Issue[] = [];
  for (const name of plan.deviceClasses) {
    const override = plan.classes[name];
    const at = override?.regression !== undefined ? ['classes', name, 'regression'] : ['regression'];
    if (plan.regression === undefined && override?.regression === undefined) continue;
    if (plan.regression === undefined && override?.regression?.signals === undefined) {
      issues.push({ path: [...at, 'signals'], message: 'required (the plan has no regression rule to inherit)' });
      continue;
    }
    // Zod runs this refinement even when a key is invalid (reported on its own): merge only what parses.
    const regression = RegressionSchema.safeParse({ ...plan.regression, ...override?.regression });
    const planCompletion = plan.completion ?? severityCompletion(plan.severity);
    if (planCompletion === undefined && override?.completion === undefined) continue;
    const completion = CompletionSchema.safeParse({ ...planCompletion, ...override?.completion });
    if (regression.success && completion.success && regression.data.watch > completion.data.deadline) {
      issues.push({
        path: [...at, 'watch'],
        message: `must be at most the completion deadline of class ${name} (${formatDurationSec(completion.data.deadline)}), which would cut the watch short`,
      });
    }
  }
  // One message per path: a plan-level problem shared by every class is reported once.
  return issues.filter((issue, i) => issues.findIndex((o) => o.path.join('.') === issue.path.join('.')) === i);
}

/** Per-class overrides: any of artifact, phases, thresholds (merged key by key), breach policy and completion. */
export const ClassOverrideSchema = z
  .object({
    artifact: ArtifactSchema.optional(),
    phases: PhasesSchema.optional(),
    thresholds: ThresholdsOverrideSchema.optional(),
    breachPolicy: BreachPolicySchema.optional(),
    completion: CompletionOverrideSchema.optional(),
    regression: RegressionOverrideSchema.optional(),
    // Pacing (events/pacing.ts, events/maintenance-window.ts): the class's own rate limit and windows replace the plan's.
    rateLimit: RateLimitSchema.optional(),
    maintenanceWindows: MaintenanceWindowsSchema.optional(),
  })
  .strict();
export type ClassOverride = z.infer<typeof ClassOverrideSchema>;

/**
 * The plan's thresholds: `ThresholdsSchema`, except that `minSample` may be left to the severity (`severity.ts`); a
 * plan without a severity must give it.
 */
export const PlanThresholdsSchema = ThresholdsSchema.extend({ minSample: ThresholdsSchema.shape.minSample.optional() });
export type PlanThresholds = z.infer<typeof PlanThresholdsSchema>;

/** The rollout plan file. Parsing its own output again yields the same plan (durations are already seconds). */
export const RolloutPlanSchema = z
  .object({
    /** Optional: the caller generates one when the plan does not fix it. */
    rolloutId: IdSchema.optional(),
    releaseId: IdSchema,
    /** Default build for every class; `classes.<name>.artifact` gives a class its own. */
    artifact: ArtifactSchema,
    deviceClasses: DeviceClassesSchema,
    // ---- severity (issue #16): defaults for what the plan leaves out (`severity.ts`) ----
    /** How urgent the fix is: selects default phases, minimum sample and completion rule (`severity.ts`). */
    severity: SeveritySchema.optional(),
    /** The flaw is being exploited: the severity's defaults go faster (halved bakes, a smaller minimum sample). */
    exploited: z.boolean().optional(),
    /** Required unless `severity` is set, which then chooses them. */
    phases: PhasesSchema.optional(),
    // ---- end of severity ----
    thresholds: PlanThresholdsSchema,
    breachPolicy: BreachPolicySchema,
    fleetHalt: FleetHaltSchema.optional(),
    /** How long a rollback may run before it is judged complete (failures during it fail it sooner). */
    rollbackTimeout: DurationSchema.default(1800),
    classes: z.record(DeviceClassSchema, ClassOverrideSchema).default({}),
    /** Who may approve manual gates (the two-person rule). */
    approvals: ApprovalsSchema.optional(),
    /** When a class is done: a share of it patched, or a deadline (absent: at its last phase, as before). */
    completion: CompletionSchema.optional(),
    /** Post-install signals judged against the class's concurrent control, and the watch window (absent: none). */
    regression: RegressionSchema.optional(),
    /** Webhooks told about breaches, halts, rollbacks, gates, lost lanes and the end (`events/webhook-config.ts`). */
    notifications: NotificationsSchema.optional(),
    // Pacing: at most so many devices offered a minute per class (`rateLimit`) and over the fleet (`fleetRateLimit`,
    // split by class size), and the local hours in which installs may start (`maintenanceWindows`).
    rateLimit: RateLimitSchema.optional(),
    fleetRateLimit: FleetRateLimitSchema.optional(),
    maintenanceWindows: MaintenanceWindowsSchema.optional(),
    /** When the rollout starts its classes and when it stops or cancels (`events/schedule.ts`); absent: at once, never. */
    schedule: ScheduleSchema.optional(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    const issues: Issue[] = [...pacingIssues(plan)];
    if (plan.severity === undefined) {
      if (plan.phases === undefined) issues.push({ path: ['phases'], message: 'required unless severity is set' });
      if (plan.thresholds.minSample === undefined) {
        issues.push({ path: ['thresholds', 'minSample'], message: 'required unless severity is set' });
      }
      if (plan.exploited !== undefined) {
        issues.push({ path: ['exploited'], message: 'only means something with a severity (it speeds its defaults)' });
      }
    }
    // The soundness checks below read no minSample; a severity's is filled in per class (`laneConfigOf`).
    const complete = (t: PlanThresholds): Thresholds => ({ ...t, minSample: t.minSample ?? 1 });
    const sound = (thresholds: Thresholds, path: (string | number)[]) => {
      for (const message of thresholdsProblems(thresholds)) issues.push({ path, message });
    };
    sound(complete(plan.thresholds), ['thresholds']);
    const spike = plan.fleetHalt?.failureSpike;
    if (spike !== undefined && 'maxFailureRate' in spike) {
      for (const message of thresholdsProblemsV1(spike)) issues.push({ path: ['fleetHalt', 'failureSpike'], message });
    }
    for (const [name, override] of Object.entries(plan.classes)) {
      if (!plan.deviceClasses.includes(name)) {
        issues.push({
          path: ['classes', name],
          message: `override for unknown device class (deviceClasses: ${[...new Set(plan.deviceClasses)].join(', ')})`,
        });
      }
      if (override.thresholds) {
        // Each side is valid on its own, so the merge is too; only cross-key soundness can fail.
        sound(ThresholdsSchema.parse(complete({ ...plan.thresholds, ...override.thresholds })), [
          'classes',
          name,
          'thresholds',
        ]);
      }
    }
    issues.push(...regressionProblems(plan));
    const breached = plan.fleetHalt?.breachedClasses;
    if (breached !== undefined && breached > plan.deviceClasses.length) {
      issues.push({
        path: ['fleetHalt', 'breachedClasses'],
        message: `cannot exceed the number of device classes (${plan.deviceClasses.length})`,
      });
    }
    for (const issue of issues)
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: undefined });
  });
export type RolloutPlan = z.infer<typeof RolloutPlanSchema>;
/** What a plan file may contain before defaults and duration parsing. */
export type RolloutPlanInput = z.input<typeof RolloutPlanSchema>;

/**
 * The judging rules new rollouts run under. A lane records its version in `lane-started` (`LaneConfig.rulesVersion`)
 * and keeps it for life, so a worker deploy never changes how a running lane is judged. Version 1: each phase
 * window judged alone at α / phases against maxFailureRate / 4, weighted codes, pooled fleet spike. Version 2:
 * evidence accumulates over the attempt's phases, tested against maxFailureRate itself (`health.ts`), per-code
 * criteria, no pass that devices still out could overturn, per-class fleet spike. Version 3: the sequential rule's
 * mixture is weighted toward large rises and each criterion's halt bound is calibrated exactly to its share of α
 * instead of Ville's ln(k/α); the lane records both in its thresholds (`calibration`).
 */
export const RULES_VERSION = 3;

/** One phase as a lane runs it: cohort bound in buckets and bake in seconds. */
export const LanePhaseSchema = z
  .object({
    share: z.number().gt(0).max(100),
    /** Exclusive upper cohort bucket: devices with `cohortOf(...) < cohortBound` are exposed. */
    cohortBound: z.number().int().min(1).max(10000),
    /** The bake; for a phase with a `{ min, max }` bake, its max (it ends here at the latest, as a plain bake). */
    bakeSec: z.number().int().min(0),
    /**
     * Only for a `{ min, max }` bake: its min. From then on proven health ends the phase (`phase-passed`). Absent for a
     * plain bake and in every lane started before ranges existed, whose phases all bake `bakeSec` as they always did.
     */
    minBakeSec: z.number().int().min(0).optional(),
    approval: z.enum(['manual', 'none']),
  })
  .strict()
  .refine((phase) => phase.minBakeSec === undefined || phase.minBakeSec <= phase.bakeSec, {
    message: 'minBakeSec must be at most bakeSec',
    path: ['minBakeSec'],
  });
export type LanePhase = z.infer<typeof LanePhaseSchema>;

/** A lane's completion rule as `lane-started` records it: seconds, and the class size when the plan gives it. */
export const LaneCompletionSchema = z
  .object({
    patchedShare: z.number().gt(0).max(1),
    deadlineSec: z.number().int().min(1),
    stallAfterSec: z.number().int().min(1),
    expectedDevices: z.number().int().min(1).optional(),
  })
  .strict();
export type LaneCompletion = z.infer<typeof LaneCompletionSchema>;

/** A class's effective settings after overrides: what its lane runs, carried by `lane-started`. */
export const LaneConfigSchema = z
  .object({
    deviceClass: DeviceClassSchema,
    releaseId: IdSchema,
    artifact: ArtifactSchema,
    phases: z.array(LanePhaseSchema).min(1),
    thresholds: ThresholdsSchema,
    breachPolicy: BreachPolicySchema,
    rollbackTimeoutSec: z.number().int().min(0),
    /** The judging rules the lane runs under (absent: version 1, for lanes started before version 2). */
    rulesVersion: z.number().int().min(2).max(RULES_VERSION).optional(),
    /**
     * The plan's two-person rule with the identity that started the rollout, who may not approve the lane's gates.
     * Absent (every lane started before the rule existed, and plans without it): anyone may approve.
     */
    approvals: z
      .object({ twoPersonRule: z.literal(true), startedBy: z.string().min(1).max(128) })
      .strict()
      .optional(),
    /**
     * When the lane completes after its last phase (`CompletionSchema`, durations in seconds). Absent (every lane
     * started before completion existed, and plans without the key): it completes when its last phase passes.
     */
    completion: LaneCompletionSchema.optional(),
    /**
     * The regression rule and watch window (`RegressionSchema`, `events/regression.ts`). Absent (every lane started
     * before the rule existed, and plans without the key): the lane refuses post-install deltas and completes as before.
     */
    regression: LaneRegressionSchema.optional(),
    /**
     * The lane's rate limit (`events/pacing.ts`): class size, rates and ramp, the fleet share already applied. Absent
     * (every lane started before rate limits existed, and plans without them): each phase is exposed in one order.
     */
    pacing: LanePacingSchema.optional(),
    /** The class's maintenance windows; absent: orders go out at any time, as they always did. */
    maintenanceWindows: MaintenanceWindowsSchema.optional(),
    /**
     * The salt of the lane's cohort buckets, `cohortOf(deviceId, cohortSalt)`: the id of the rollout a superseding
     * lane supersedes (events/supersede.ts), so its buckets are the old lane's devices. Absent (every other lane, and
     * every lane started before superseding existed): the lane's own rollout id.
     */
    cohortSalt: IdSchema.optional(),
  })
  .strict();
export type LaneConfig = z.infer<typeof LaneConfigSchema>;

/** The salt of a lane's cohort buckets: its config's `cohortSalt`, else its own rollout id. */
export function cohortSaltOf(config: Pick<LaneConfig, 'cohortSalt'> | null | undefined, rolloutId: string): string {
  return config?.cohortSalt ?? rolloutId;
}

/** The rules version of a lane: what its `lane-started` config says, 1 when it says nothing. */
export function rulesVersionOf(config: Pick<LaneConfig, 'rulesVersion'>): number {
  return config.rulesVersion ?? 1;
}

/**
 * Resolves the effective settings of one device class: the class's artifact, phases, thresholds (plan
 * thresholds with the override's keys replaced), breach policy and the rules version its lane runs under
 * (the rollout's; version 1 configs carry no `rulesVersion`, as they were stored) and, when the plan asks for the
 * two-person rule, who started the rollout (`startedBy`). Pure; throws only when the
 * class is not in the plan, which is a programming error (the plan was validated).
 */
export function laneConfigOf(
  plan: RolloutPlan,
  deviceClass: string,
  rulesVersion = RULES_VERSION,
  startedBy?: string,
): LaneConfig {
  if (!plan.deviceClasses.includes(deviceClass)) {
    throw new Error(`device class ${deviceClass} is not in plan ${plan.releaseId}`);
  }
  const override = plan.classes[deviceClass] ?? {};
  const thresholds = thresholdsOf(plan, override, rulesVersion);
  const phases: readonly (Phase | ResolvedPhase)[] =
    override.phases ??
    plan.phases ??
    severityPhases(
      severityOf(plan),
      plan.exploited === true,
      override.completion?.expectedDevices,
      thresholds.minSample,
    );
  return {
    deviceClass,
    releaseId: plan.releaseId,
    artifact: override.artifact ?? plan.artifact,
    phases: phases.map((phase) => ({
      share: phase.share,
      cohortBound: Math.round(phase.share * BUCKETS_PER_PERCENT),
      // A plain bake gives the config it always gave; a range adds its min (the lane records it for life).
      ...(typeof phase.bake === 'number'
        ? { bakeSec: phase.bake }
        : { bakeSec: phase.bake.max, minBakeSec: phase.bake.min }),
      approval: ('approval' in phase && phase.approval) || 'none',
    })),
    thresholds,
    breachPolicy: override.breachPolicy ?? plan.breachPolicy,
    rollbackTimeoutSec: plan.rollbackTimeout,
    ...(rulesVersion >= 2 ? { rulesVersion } : {}),
    ...(plan.approvals?.twoPersonRule === true &&
      startedBy !== undefined && { approvals: { twoPersonRule: true as const, startedBy } }),
    ...completionOf(plan.completion ?? severityCompletion(plan.severity), override.completion),
    ...regressionOf(plan.regression, override.regression),
    ...pacingOf(plan, deviceClass),
  };
}

/** The plan's severity; only called where the schema made it required (a plan without phases has one). */
function severityOf(plan: RolloutPlan): Severity {
  if (plan.severity === undefined) throw new Error(`plan ${plan.releaseId} has neither phases nor a severity`);
  return plan.severity;
}

/** A severity's completion rule (absent without a severity: the plan's own, or none). */
function severityCompletion(severity: Severity | undefined): Completion | undefined {
  if (severity === undefined) return undefined;
  return CompletionSchema.parse({ deadline: SEVERITY_DEFAULTS[severity].completionDeadlineSec });
}

// ── Pacing: rate limits and maintenance windows ─────────────────────────────────────────────────────────────────

/** The class size a rate is converted with: `classes.<class>.completion.expectedDevices`, the one place it is given. */
function classSizeIn(plan: RolloutPlan, deviceClass: string): number | undefined {
  return plan.classes[deviceClass]?.completion?.expectedDevices;
}

/**
 * Plan problems of the pacing keys: a class under a rate limit (its own, the plan's, or the fleet's) must have a size
 * to turn devices per minute into cohort buckets, and the fleet rate is split by every class's size.
 */
function pacingIssues(plan: RolloutPlan): Issue[] {
  const issues: Issue[] = [];
  for (const name of new Set(plan.deviceClasses)) {
    const limited =
      plan.classes[name]?.rateLimit !== undefined || plan.rateLimit !== undefined || plan.fleetRateLimit !== undefined;
    if (limited && classSizeIn(plan, name) === undefined) {
      issues.push({
        path: ['classes', name, 'completion', 'expectedDevices'],
        message:
          'required under a rate limit: devices per minute are turned into cohort buckets with the class size ' +
          `(give classes.${name}.completion.expectedDevices)`,
      });
    }
  }
  return issues;
}

/**
 * A class's pacing keys as its lane records them: its rate (the class's, else the plan's) capped at its share of the
 * fleet rate (fleet rate × class size ÷ the sizes of all classes, fixed when the lanes start), and its windows (the
 * class's, else the plan's). Nothing when the plan names none, so such a lane's config is what it always was.
 */
function pacingOf(
  plan: RolloutPlan,
  deviceClass: string,
): { pacing?: LanePacing; maintenanceWindows?: z.infer<typeof MaintenanceWindowsSchema> } {
  const override = plan.classes[deviceClass] ?? {};
  const rate =
    override.rateLimit ??
    plan.rateLimit ??
    (plan.severity === undefined ? undefined : severityRateLimit(plan.severity, classSizeIn(plan, deviceClass)));
  const windows = override.maintenanceWindows ?? plan.maintenanceWindows;
  const out: { pacing?: LanePacing; maintenanceWindows?: z.infer<typeof MaintenanceWindowsSchema> } = {};
  if (windows !== undefined) out.maintenanceWindows = windows;
  if (rate === undefined && plan.fleetRateLimit === undefined) return out;
  const size = classSizeIn(plan, deviceClass);
  if (size === undefined)
    throw new Error(`class ${deviceClass} has a rate limit but no expectedDevices (validate the plan)`);
  let fleet: { maxPerMinute: number; share: number } | undefined;
  if (plan.fleetRateLimit !== undefined) {
    const total = [...new Set(plan.deviceClasses)].reduce((sum, name) => sum + (classSizeIn(plan, name) ?? 0), 0);
    fleet = { maxPerMinute: plan.fleetRateLimit.maxPerMinute, share: size / total };
  }
  const pacing = lanePacingOf(rate, fleet, size);
  if (pacing !== undefined) out.pacing = pacing;
  return out;
}

/**
 * A class's completion rule: the plan's keys with the class's replacing them, defaults for the rest. Nothing when
 * neither the plan nor the class names `completion`, so such a lane's config is what it always was.
 */
function completionOf(
  plan: Completion | undefined,
  override: CompletionOverride | undefined,
): { completion?: LaneCompletion } {
  if (plan === undefined && override === undefined) return {};
  const { expectedDevices, ...keys } = override ?? {};
  const merged = CompletionSchema.parse({ ...plan, ...keys });
  return {
    completion: {
      patchedShare: merged.patchedShare,
      deadlineSec: merged.deadline,
      stallAfterSec: merged.stallAfter,
      ...(expectedDevices !== undefined && { expectedDevices }),
    },
  };
}

/**
 * A class's thresholds; from rules version 3 on with the sequential rule's calibration, computed once here. Without a
 * `minSample` of the plan's or the class's own, the severity's (`severityMinSample`).
 */
function thresholdsOf(plan: RolloutPlan, override: ClassOverride, rulesVersion: number): Thresholds {
  const merged = { ...plan.thresholds, ...override.thresholds };
  const minSample =
    merged.minSample ?? severityMinSample(ThresholdsSchema.parse({ ...merged, minSample: 1 }), plan.exploited === true);
  const proveBelowMultiple =
    merged.proveBelowMultiple ?? (plan.severity !== undefined ? SEVERITY_PROVE_BELOW_MULTIPLE : undefined);
  const thresholds = ThresholdsSchema.parse({
    ...merged,
    minSample,
    ...(proveBelowMultiple !== undefined && { proveBelowMultiple }),
  });
  if (rulesVersion < 3 || thresholds.rule !== 'sequential') return thresholds;
  return { ...thresholds, calibration: calibrationOf(thresholds) };
}

/** One problem in a plan: where (`classes.laptop-x1.phases[2].share`), the offending value, and the rule. */
export type PlanError = {
  path: string;
  value: unknown;
  rule: string;
  /** For syntax errors: 1-based line and column in the source text. */
  line?: number;
  column?: number;
};
export type ParsePlanResult = { ok: true; plan: RolloutPlan } | { ok: false; errors: PlanError[] };

/** Formats a schema path the way people write it: `classes.laptop-x1.phases[2].share`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function ruleOf(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type' && value === undefined) return 'required';
  return issue.message;
}

/**
 * The rules version 1 keys a plan file may no longer use (the schema still reads them in stored events), each with
 * its path, value and what to write instead: `errorCodes.weigh`, `baselineFailureRate`, `falsePassProbability`, and
 * a thresholds-shaped `fleetHalt.failureSpike`.
 */
function retiredKeys(plan: RolloutPlan, input: unknown): PlanError[] {
  const errors: PlanError[] = [];
  const check = (thresholds: Partial<Thresholds>, at: (string | number)[]) => {
    const maxFailureRate = thresholds.maxFailureRate ?? plan.thresholds.maxFailureRate;
    for (const problem of planThresholdsProblems({ ...thresholds, maxFailureRate })) {
      const path = [...at, ...problem.key.split('.')];
      errors.push({ path: formatPath(path), value: valueAt(input, path), rule: problem.message });
    }
  };
  check(plan.thresholds, ['thresholds']);
  for (const [name, override] of Object.entries(plan.classes)) {
    if (override.thresholds !== undefined) check(override.thresholds, ['classes', name, 'thresholds']);
  }
  const spike = plan.fleetHalt?.failureSpike;
  if (spike !== undefined && 'maxFailureRate' in spike) {
    const path = ['fleetHalt', 'failureSpike'];
    errors.push({
      path: formatPath(path),
      value: valueAt(input, path),
      rule:
        'failureSpike now judges every class against its own maxFailureRate (pooled over the fleet): give only ' +
        '{ falseHaltProbability: 0.01 }',
    });
  }
  return errors;
}

/**
 * Validates an already-parsed plan object (e.g. from a CLI flag or a workflow input) and returns the plan
 * or every problem with its path, value and rule. Unknown fields are reported one by one, and so are the keys
 * rules version 2 retired (`retiredKeys`), unless `allowRetiredKeys` (a what-if over a recorded version 1 plan).
 */
export function validatePlan(input: unknown, options: { allowRetiredKeys?: boolean } = {}): ParsePlanResult {
  const result = RolloutPlanSchema.safeParse(input);
  if (result.success) {
    const retired = options.allowRetiredKeys === true ? [] : retiredKeys(result.data, input);
    return retired.length === 0 ? { ok: true, plan: result.data } : { ok: false, errors: retired };
  }
  const errors: PlanError[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        errors.push({ path: formatPath(path), value: valueAt(input, path), rule: 'unknown field' });
      }
      continue;
    }
    const value = valueAt(input, issue.path);
    errors.push({ path: formatPath(issue.path), value, rule: ruleOf(issue, value) });
  }
  return { ok: false, errors };
}

/**
 * Parses a plan file's text, YAML or JSON (JSON is read as YAML 1.2), and validates it. Syntax errors
 * come back with line and column (`sourceName:3:7: …`), schema errors with path, value and rule; nothing
 * throws. `sourceName` (e.g. the file name) prefixes syntax messages so a person finds the spot.
 */
export function parsePlan(text: string, sourceName = 'plan'): ParsePlanResult {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => {
        const position = error.linePos?.[0];
        const message = error.message
          .split('\n', 1)
          .join('')
          .replace(/ at line \d+, column \d+:?$/, '');
        const where = position ? `${sourceName}:${position.line}:${position.col}` : sourceName;
        return {
          path: '(syntax)',
          value: undefined,
          rule: `${where}: ${message}`,
          ...(position ? { line: position.line, column: position.col } : {}),
        };
      }),
    };
  }
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // The YAML library refuses alias bombs ("Excessive alias count …") by throwing: a bad plan like any other.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [{ path: '(syntax)', value: undefined, rule: `${sourceName}: ${message}` }] };
  }
  if (input === null || input === undefined) {
    return { ok: false, errors: [{ path: '(root)', value: input, rule: `${sourceName} is empty` }] };
  }
  return validatePlan(input);
}
