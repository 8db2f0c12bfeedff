/**
 * The health judge: given the outcome counts of one lane (device class) in its current phase and the
 * plan's thresholds, says whether the build is healthy, whether there is not yet enough evidence, or
 * whether a failure threshold has been breached — always with the evidence behind the verdict.
 *
 * Pure: no I/O, no clock, no randomness. CONTRACT FILE shared by the decider and the policy benchmark:
 * the exported names and shapes below are relied on elsewhere; extend, do not rename.
 */
import { z } from 'zod';

/** How failures of one error code are treated: counted (weight 1), ignored, or weighed. */
export const ErrorCodePolicySchema = z
  .object({
    /** Error codes that are not the build's fault (e.g. low battery): neither failure nor success. */
    ignore: z.array(z.string().min(1)).default([]),
    /** Error codes that count with another weight than 1 (e.g. 0.5 for a flaky network class, 3 for a boot loop). */
    weigh: z.record(z.string().min(1), z.number().min(0).max(100)).default({}),
  })
  .strict();

/** The thresholds of a lane: the plan's `thresholds`, after per-class overrides are merged. */
export const ThresholdsSchema = z
  .object({
    /** Failure rate above which a build is bad (0..1). The plain rule halts when the observed rate exceeds it. */
    maxFailureRate: z.number().gt(0).lt(1),
    /** Devices with a final outcome needed before the plain rule may judge. */
    minSample: z.number().int().min(1),
    /** Seconds after install-started without a final report before a device counts as failed (timed out). */
    installTimeoutSec: z.number().positive(),
    errorCodes: ErrorCodePolicySchema.default({ ignore: [], weigh: {} }),
    /** Which rule judges: `plain` (rate over threshold once minSample is reached) or `sequential` (SPRT-style). */
    rule: z.enum(['plain', 'sequential']).default('sequential'),
    /** Probability the statistical rule may halt a good build (type I error). */
    falseHaltProbability: z.number().gt(0).lt(0.5).default(0.01),
    /** Failure rate a good build is expected to show (the statistical rule's null hypothesis); default maxFailureRate / 4. */
    baselineFailureRate: z.number().gt(0).lt(1).optional(),
  })
  .strict();
export type Thresholds = z.infer<typeof ThresholdsSchema>;

/** Outcome counts of one lane for the window being judged (usually the current phase and attempt). */
export const HealthCountsSchema = z
  .object({
    /** Devices whose install succeeded. */
    succeeded: z.number().int().min(0),
    /** Devices whose install failed, by error code (code `unknown` when the device gave none). */
    failedByCode: z.record(z.string(), z.number().int().min(0)),
    /** Devices that started installing and went silent past installTimeoutSec. */
    timedOut: z.number().int().min(0),
    /** Devices that started and have not reported a final outcome yet (not judged). */
    inProgress: z.number().int().min(0),
  })
  .strict();
export type HealthCounts = z.infer<typeof HealthCountsSchema>;

export const HealthEvidenceSchema = z
  .object({
    /** Devices with a final outcome that counts (ignored error codes excluded). */
    sample: z.number().min(0),
    /** Weighted failures, including timeouts (weight 1). */
    failures: z.number().min(0),
    /** failures / sample (0 when sample is 0). */
    failureRate: z.number().min(0),
    threshold: z.number(),
    minSample: z.number(),
    /** The rule that decided: `plain`, `sequential`, or `min-sample` when evidence was insufficient. */
    rule: z.enum(['plain', 'sequential', 'min-sample']),
    /** For the sequential rule: log-likelihood ratio and the bound it is compared with. */
    llr: z.number().optional(),
    bound: z.number().optional(),
    /** A sentence a person reads in the audit trail, e.g. "31 of 412 failed (7.5%) > 5% after ≥ 400". */
    explanation: z.string(),
  })
  .strict();
export type HealthEvidence = z.infer<typeof HealthEvidenceSchema>;

export const HealthVerdictSchema = z
  .object({
    verdict: z.enum(['healthy', 'insufficient-evidence', 'breach']),
    evidence: HealthEvidenceSchema,
  })
  .strict();
export type HealthVerdict = z.infer<typeof HealthVerdictSchema>;

/**
 * Judges one lane's counts against its thresholds. `healthy` means the evidence supports the build
 * (enough sample and no breach); `insufficient-evidence` means keep waiting (it never passes a phase);
 * `breach` means the class's breach policy must fire now.
 */
export function evaluateHealth(counts: HealthCounts, thresholds: Thresholds): HealthVerdict {
  throw new Error(`evaluateHealth: not built yet (${JSON.stringify({ counts, thresholds })})`);
}
