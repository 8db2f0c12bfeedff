/**
 * The fleet simulator's scenario file: how many devices each class has, how each build behaves on
 * them (failure probability and error codes, silent crashes), how long devices take to check in and
 * install, how often reports are duplicated or reordered on the way, and optionally the devices' post-install
 * health reports (base rates, regressions of a build on a class, fleet-wide spikes, reporting delays). Validated with
 * zod like every other input; `parseScenario` returns path/value/rule errors, never a stack trace.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MAX_REPORT_PERIOD_SEC } from '../events/health-report';
import { DeviceClassSchema, ErrorCodeSchema } from '../events/install-event';
import { MAX_SIGNALS, SignalNameSchema } from '../events/post-install';

/** A positive duration distribution: log-normal with the given median, clipped at `max` (seconds). */
export const DelaySchema = z
  .object({ median: z.number().min(0).max(86_400), max: z.number().min(0).max(86_400) })
  .strict()
  .refine((d) => d.max >= d.median, { message: 'max must be ≥ median', path: ['max'] });
export type Delay = z.infer<typeof DelaySchema>;

const probability = z.number().min(0).max(1);

/** How a build behaves on a device class; every field defaults to the scenario's defaults. */
export const BehaviourSchema = z
  .object({
    /** Probability an install attempt fails (reports `failed`). */
    failureRate: probability,
    /** Relative weights of the error codes failed installs report. */
    errorCodes: z.record(ErrorCodeSchema, z.number().positive()).refine((m) => Object.keys(m).length > 0, {
      message: 'needs at least one error code',
    }),
    /** Probability a device crashes after install-started and never reports again. */
    silentRate: probability,
    /** Probability a report is sent twice (same eventId). */
    duplicateRate: probability,
    /** Probability the final report overtakes install-started on the way. */
    reorderRate: probability,
    /** Probability a rollback succeeds on a device (else `rollback-failed`). */
    rollbackSuccessRate: probability,
    checkInDelaySec: DelaySchema,
    installDurationSec: DelaySchema,
    rollbackDurationSec: DelaySchema,
  })
  .strict();
export type Behaviour = z.infer<typeof BehaviourSchema>;

export const ClassScenarioSchema = z
  .object({
    devices: z.number().int().min(1).max(2_000_000),
    osVersion: z.string().min(1).max(64).default('26.3.0'),
    /** Overrides for every build on this class. */
    behaviour: BehaviourSchema.partial().default({}),
    /** Overrides for one build (by build version) on this class, e.g. the bad build. */
    builds: z.record(z.string().min(1).max(64), BehaviourSchema.partial()).default({}),
  })
  .strict();

/**
 * A build that installs fine and then raises a signal's rate on one class: on `build`, devices of `class` see
 * `signal` at `factor` × its base rate from `afterHours` (simulated) after their install on.
 */
export const RegressionSchema = z
  .object({
    class: DeviceClassSchema,
    build: z.string().min(1).max(64),
    signal: SignalNameSchema,
    factor: z.number().min(0).max(1000),
    afterHours: z.number().min(0).max(10_000).default(0),
  })
  .strict();
export type Regression = z.infer<typeof RegressionSchema>;

/** A fleet-wide spike: every device, updated or not, sees `signal` at `factor` × its rate between two times. */
export const SpikeSchema = z
  .object({
    signal: SignalNameSchema,
    factor: z.number().min(0).max(1000),
    /** Simulated hours since the simulator started. */
    fromHours: z.number().min(0).max(10_000),
    toHours: z.number().min(0).max(10_000),
  })
  .strict()
  .refine((s) => s.toHours > s.fromHours, { message: 'toHours must be after fromHours', path: ['toHours'] });
export type Spike = z.infer<typeof SpikeSchema>;

/**
 * Post-install health reports: every device of every class reports each period its uptime and its events per signal,
 * drawn from the base rates (and the regressions and spikes in force). Time is compressed like the simulator's other
 * times: a period lasts `periodSec` real seconds and stands for `periodSec × timeScale` simulated ones (5 s × 180 =
 * 15 minutes); rates are per simulated hour of uptime, hours of regressions and spikes are simulated hours.
 */
export const HealthScenarioSchema = z
  .object({
    periodSec: z.number().min(0.1).max(MAX_REPORT_PERIOD_SEC).default(5),
    timeScale: z.number().min(1).max(1_000_000).default(180),
    /** Mean share of a period a device is up (drawn uniformly in [2 × share − 1, 1], at least 0). */
    uptimeShare: probability.default(0.9),
    /** Base rate of each signal: events per simulated hour of uptime. */
    rates: z
      .record(SignalNameSchema, z.number().min(0).max(10_000))
      .refine((r) => Object.keys(r).length > 0 && Object.keys(r).length <= MAX_SIGNALS, {
        message: `needs 1..${MAX_SIGNALS} signals`,
      }),
    /** Delay from a period's end to its report being sent (real seconds); a device's reports keep their order. */
    reportDelaySec: DelaySchema.default({ median: 0.2, max: 1 }),
    /** Probability a device is offline at a period's end: that report and the next ones wait 1–4 periods more. */
    offlineRate: probability.default(0),
    regressions: z.array(RegressionSchema).max(100).default([]),
    spikes: z.array(SpikeSchema).max(100).default([]),
  })
  .strict()
  .superRefine((health, ctx) => {
    health.regressions.forEach((r, i) => {
      if (!(r.signal in health.rates)) {
        ctx.addIssue({ code: 'custom', path: ['regressions', i, 'signal'], message: `no base rate for ${r.signal}` });
      }
    });
    health.spikes.forEach((s, i) => {
      if (!(s.signal in health.rates)) {
        ctx.addIssue({ code: 'custom', path: ['spikes', i, 'signal'], message: `no base rate for ${s.signal}` });
      }
    });
  });
export type HealthScenario = z.infer<typeof HealthScenarioSchema>;

export const ScenarioSchema = z
  .object({
    /** Seeds every random draw: the same scenario and orders give the same reports. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    defaults: BehaviourSchema,
    classes: z
      .record(DeviceClassSchema, ClassScenarioSchema)
      .refine((c) => Object.keys(c).length > 0, { message: 'needs at least one device class' }),
    /** Post-install health reports; absent: devices send install events only. */
    health: HealthScenarioSchema.optional(),
  })
  .strict()
  .superRefine((scenario, ctx) => {
    scenario.health?.regressions.forEach((r, i) => {
      if (!(r.class in scenario.classes)) {
        ctx.addIssue({
          code: 'custom',
          path: ['health', 'regressions', i, 'class'],
          message: `not a class of the scenario (${Object.keys(scenario.classes).join(', ')})`,
        });
      }
    });
  });
export type Scenario = z.infer<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/** The behaviour of `build` on `deviceClass`: defaults, then the class's overrides, then the build's. */
export function behaviourOf(scenario: Scenario, deviceClass: string, build: string): Behaviour {
  const cls = scenario.classes[deviceClass];
  return { ...scenario.defaults, ...cls?.behaviour, ...cls?.builds[build] };
}

export type ScenarioError = { path: string; value: unknown; rule: string };

/**
 * Parses a scenario from YAML or JSON text. Returns the scenario or every problem with its path, the
 * offending value and the rule it broke.
 */
export function parseScenario(text: string): { ok: true; scenario: Scenario } | { ok: false; errors: ScenarioError[] } {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return { ok: false, errors: [{ path: '(file)', value: null, rule: (err as Error).message.split('\n')[0] ?? '' }] };
  }
  const parsed = ScenarioSchema.safeParse(raw);
  if (parsed.success) return { ok: true, scenario: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.map((issue) => {
      let value: unknown = raw;
      for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key as string];
      return { path: issue.path.map(String).join('.') || '(root)', value: value ?? null, rule: issue.message };
    }),
  };
}
