/**
 * The fleet simulator's scenario file: how many devices each class has, how each build behaves on
 * them (failure probability and error codes, silent crashes), how long devices take to check in and
 * install, and how often reports are duplicated or reordered on the way. Validated with zod like every
 * other input; `parseScenario` returns path/value/rule errors, never a stack trace.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DeviceClassSchema, ErrorCodeSchema } from '../events/install-event';

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
  })
  .strict();
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
