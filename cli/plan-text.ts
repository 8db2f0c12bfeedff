/**
 * The CLI's plan parsing: `parsePlan` with a guard, so a plan text that makes the YAML library throw (an alias
 * bomb: "Excessive alias count indicates a resource exhaustion attack") is refused with that reason like any
 * other bad plan, instead of escaping as an unexpected error.
 */
import { parsePlan, type ParsePlanResult } from '../events/plan';

/** Parses and validates a plan's text; never throws (see {@link parsePlan} for the result). */
export function parsePlanText(text: string, sourceName: string): ParsePlanResult {
  try {
    return parsePlan(text, sourceName);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [{ path: '(file)', value: undefined, rule: `${sourceName}: ${message}` }] };
  }
}
