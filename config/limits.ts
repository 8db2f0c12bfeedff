/**
 * The deployment's resource limits, from the environment: the largest plan file (`BSI_MAX_PLAN_BYTES`, default
 * 256 KiB) and the most rollouts running at once (`BSI_MAX_ACTIVE_ROLLOUTS`, default 20). Read by the CLI and by the
 * API, which refuse beyond them before the engine sees anything.
 */
import { z } from 'zod';

/** Default largest plan file, in bytes. */
export const DEFAULT_MAX_PLAN_BYTES = 256 * 1024;
/** Default most rollouts running at once. */
export const DEFAULT_MAX_ACTIVE_ROLLOUTS = 20;

const LimitsSchema = z.object({
  BSI_MAX_PLAN_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(DEFAULT_MAX_PLAN_BYTES),
  BSI_MAX_ACTIVE_ROLLOUTS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_MAX_ACTIVE_ROLLOUTS),
});

/** The limits. */
export interface CliLimits {
  maxPlanBytes: number;
  maxActiveRollouts: number;
}

/**
 * Reads the limits from an environment record; throws an Error naming the variable, its value and the rule
 * when one is invalid (so a typo never silently lifts a limit).
 */
export function loadLimits(env: Readonly<Record<string, string | undefined>> = process.env): CliLimits {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = LimitsSchema.safeParse(defined);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `${name}=${JSON.stringify(defined[name] ?? null)}: ${i.message}`;
    });
    throw new Error(`invalid limit: ${problems.join('; ')}`);
  }
  return { maxPlanBytes: parsed.data.BSI_MAX_PLAN_BYTES, maxActiveRollouts: parsed.data.BSI_MAX_ACTIVE_ROLLOUTS };
}
