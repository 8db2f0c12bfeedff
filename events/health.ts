/**
 * The health judge: given one lane's outcome counts for the current attempt (every phase of it so far) and the
 * plan's thresholds, says whether the build must halt, whether there is not yet enough evidence, or whether the
 * evidence lets the current phase pass — always with the evidence behind the verdict.
 *
 * The promise (rules version 2): for every true failure rate at or below the class's `maxFailureRate` (and every
 * error-code criterion's rate at or below its own maximum), the probability that the lane is ever halted by the
 * rule is at most `falseHaltProbability`, over the lane's whole life. `guaranteeSentence` words it for a class.
 *
 * Pure: no I/O, no clock, no randomness. Lanes that started under rules version 1 are judged by `health-v1.ts`.
 */
import { z } from 'zod';
import { calibratedBound, mixtureLogRatio, mixtureOf, type Mixture } from './calibration';

/** One error-code criterion: failures with these codes are judged on their own, against their own maximum rate. */
export const ErrorCriterionSchema = z
  .object({
    /** A name for the audit trail; defaults to the codes joined by `+`. */
    name: z.string().min(1).max(64).optional(),
    /** The error codes this criterion judges (each code belongs to at most one criterion). */
    codes: z.array(z.string().min(1).max(128)).min(1).max(50),
    /** The failure rate of these codes above which a build is bad (0..1), e.g. 0.001 for a boot loop. */
    maxFailureRate: z.number().gt(0).lt(1),
  })
  .strict();
export type ErrorCriterion = z.infer<typeof ErrorCriterionSchema>;

/** How failures are sorted: ignored, judged by their own criterion, or (every other code and timeouts) by the lane's. */
export const ErrorCodePolicySchema = z
  .object({
    /** Error codes that are not the build's fault (e.g. low battery): neither failure nor success. */
    ignore: z.array(z.string().min(1)).default([]),
    /**
     * Per-code criteria (AWS IoT Jobs' per-failure-type abort criteria): a code listed here counts toward its own
     * criterion only. The false-halt budget is split evenly over the lane's criterion and these.
     */
    criteria: z.array(ErrorCriterionSchema).max(10).default([]),
    /**
     * Rules version 1 only (lanes started before the change): failure weights. Weights broke the false-halt
     * guarantee (a weight-3 code let one device count as three failures), so plan files may no longer use them;
     * `planThresholdsProblems` says what to write instead. Stored events keep them and are judged as they were.
     */
    weigh: z.record(z.string().min(1), z.number().min(0).max(100)).optional(),
  })
  .strict();
export type ErrorCodePolicy = z.infer<typeof ErrorCodePolicySchema>;

/** The thresholds of a lane: the plan's `thresholds`, after per-class overrides are merged. */
export const ThresholdsSchema = z
  .object({
    /** Failure rate above which a build is bad (0..1): a build at or below it passes, one above it is halted. */
    maxFailureRate: z.number().gt(0).lt(1),
    /**
     * Final outcomes of the current attempt (every phase so far) a phase needs before it may pass; the plain rule
     * judges only from there on.
     */
    minSample: z.number().int().min(1),
    /** Seconds after install-started without a final report before a device counts as failed (timed out). */
    installTimeoutSec: z.number().positive(),
    errorCodes: ErrorCodePolicySchema.default({ ignore: [], criteria: [] }),
    /** Which rule judges: `sequential` (the guarantee above) or `plain` (rate over threshold; no guarantee). */
    rule: z.enum(['plain', 'sequential']).default('sequential'),
    /** The most the sequential rule may halt a build at or below the threshold, over the lane's life (α). */
    falseHaltProbability: z.number().gt(0).lt(0.5).default(0.01),
    /**
     * Rules version 3, set by the engine when a lane starts (refused in plan files): the sequential rule's mixture
     * weights (one per `SEQUENTIAL_ODDS_FACTORS` entry) and its halt bound per criterion, the lane's first, each the
     * lowest whose exact chance of ever being crossed at the criterion's threshold is at most its share of α
     * (`calibration.ts`). Absent: rules version 2, equal weights and Ville's bound ln(k/α).
     */
    calibration: z
      .object({
        weights: z.array(z.number().gt(0)).min(1).max(10),
        bounds: z.array(z.number().positive()).min(1).max(11),
      })
      .strict()
      .optional(),
    /** Rules version 1 only (stored events): the old rule's null hypothesis. Refused in plan files. */
    baselineFailureRate: z.number().gt(0).lt(1).optional(),
    /** Rules version 1 only (stored events): the old rule's early-acceptance error. Refused in plan files. */
    falsePassProbability: z.number().gt(0).lt(0.5).optional(),
    /**
     * A phase passes only once its evidence proves the lane's failure rate below this multiple of `maxFailureRate`
     * (the mirrored mixture test, `provenBelow`, at `falseHaltProbability`): a bad build whose first devices happened
     * to fail rarely waits for more evidence instead of passing on the mere absence of a breach. Every severity sets
     * 2 (`severity.ts`); absent (plans without it, and every lane started before it existed): no proof is asked.
     */
    proveBelowMultiple: z.number().gt(1).max(10).optional(),
  })
  .strict();
export type Thresholds = z.infer<typeof ThresholdsSchema>;

/** Outcome counts of one lane for what is judged (the current attempt's windows, summed). */
export const HealthCountsSchema = z
  .object({
    /** Devices whose install succeeded. */
    succeeded: z.number().int().min(0),
    /** Devices whose install failed, by error code (code `unknown` when the device gave none). */
    failedByCode: z.record(z.string(), z.number().int().min(0)),
    /** Devices that started installing and went silent past installTimeoutSec. */
    timedOut: z.number().int().min(0),
    /** Devices that started and have not reported a final outcome yet. */
    inProgress: z.number().int().min(0),
  })
  .strict();
export type HealthCounts = z.infer<typeof HealthCountsSchema>;

/** One criterion's numbers in a verdict's evidence. */
export const CriterionEvidenceSchema = z
  .object({
    name: z.string(),
    /** Failures this criterion counts (its codes; for the lane's own criterion every other code and timeouts). */
    failures: z.number().min(0),
    failureRate: z.number().min(0),
    threshold: z.number(),
    /** Sequential rule: the mixture log-likelihood ratio against the threshold, and its halt bound ln(k/α). */
    llr: z.number().optional(),
    bound: z.number().optional(),
  })
  .strict();
export type CriterionEvidence = z.infer<typeof CriterionEvidenceSchema>;

export const HealthEvidenceSchema = z
  .object({
    /** Devices with a final outcome that counts (ignored error codes excluded). */
    sample: z.number().min(0),
    /** Failures, including timeouts (for rules version 1, weighted). */
    failures: z.number().min(0),
    /** failures / sample (0 when sample is 0). */
    failureRate: z.number().min(0),
    threshold: z.number(),
    minSample: z.number(),
    /** The rule that decided: `plain`, `sequential`, or `min-sample` when evidence was insufficient. */
    rule: z.enum(['plain', 'sequential', 'min-sample']),
    /** The lane's criterion: the mixture LLR and the halt bound it is compared with. */
    llr: z.number().optional(),
    bound: z.number().optional(),
    /** Rules version 1 only. */
    acceptLlr: z.number().optional(),
    acceptBound: z.number().optional(),
    baselineFailureRate: z.number().optional(),
    /** Devices that timed out (counted as failures). */
    timedOut: z.number().min(0).optional(),
    /** Devices whose error code is ignored (neither failure nor success). */
    ignored: z.number().min(0).optional(),
    /** Devices still installing. */
    inProgress: z.number().min(0).optional(),
    /** Rules version 2: what was judged (`attempt`: every phase of the current attempt so far). */
    scope: z.enum(['attempt', 'window']).optional(),
    /** Rules version 2: final outcomes of the current phase's own devices. */
    phaseOutcomes: z.number().min(0).optional(),
    /** Rules version 2: every criterion's numbers, the lane's first. */
    criteria: z.array(CriterionEvidenceSchema).optional(),
    /** Rules version 2: the criterion that breached. */
    breachedBy: z.string().optional(),
    /**
     * Rules version 2: what a healthy-looking verdict still waits for (`min-sample`, `phase-outcomes`, `in-progress`,
     * and with `proveBelowMultiple` `proof`).
     */
    waitingOn: z.enum(['min-sample', 'phase-outcomes', 'in-progress', 'proof']).optional(),
    /**
     * With `proveBelowMultiple`, once no criterion breaches: the rate the lane's failures must be proven below, the
     * mirrored mixture's log-likelihood ratio, and the bound ln(1/α) it must reach.
     */
    proof: z.object({ below: z.number(), llr: z.number(), bound: z.number() }).strict().optional(),
    /** Rules version 2: the promise in one sentence (see `guaranteeSentence`). */
    guarantee: z.string().optional(),
    /** A sentence a person reads in the audit trail. */
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
 * The sequential rule's alternatives, as multiples of the odds of the threshold (1.5× to 10×). Rules version 2 mixes
 * them with equal weights; version 3 with `SEQUENTIAL_WEIGHTS`.
 */
export const SEQUENTIAL_ODDS_FACTORS: readonly number[] = Object.freeze([1.5, 2, 3, 5, 10]);

/**
 * Rules version 3's mixture weights, per odds factor. Chosen with `bench/policy.ts`: the 1.5× and 2× components keep
 * a marginally bad build within 1.5× the devices Wald's SPRT needs for a known 2× build, and the weight on 5× and
 * 10× halts a spike after a few failures, although its failures reach the lane later than its successes (a crash is
 * silent until the install timeout).
 */
export const SEQUENTIAL_WEIGHTS: readonly number[] = Object.freeze([0.08, 0.12, 0.12, 0.42, 0.26]);

/**
 * The calibration a rules version 3 lane records: the weights, and per criterion (the lane's first, then the code
 * criteria) the lowest halt bound whose exact chance of ever being crossed at that criterion's threshold is at most
 * α / k. Ville's ln(k/α) is valid but loose (the ratio jumps past it), so calibrated lanes halt bad builds sooner
 * with the same promise. Pure; a few tens of milliseconds per new threshold, remembered per process.
 */
export function calibrationOf(t: Thresholds): NonNullable<Thresholds['calibration']> {
  const k = 1 + t.errorCodes.criteria.length;
  const spec = { factors: SEQUENTIAL_ODDS_FACTORS, weights: SEQUENTIAL_WEIGHTS };
  const alpha = t.falseHaltProbability / k;
  const rates = [t.maxFailureRate, ...t.errorCodes.criteria.map((c) => c.maxFailureRate)];
  return { weights: [...SEQUENTIAL_WEIGHTS], bounds: rates.map((rate) => calibratedBound(rate, alpha, spec).bound) };
}

// Bound once: global lookups are slow in sandboxed realms (vm contexts such as Jest's and Temporal's).
const log = Math.log;
const exp = Math.exp;

/**
 * Returns counts with nothing in them: the starting point of a lane's health window, so aggregators and
 * the decider fold deltas with `addCounts` from a common zero instead of hand-writing the shape.
 */
export function emptyCounts(): HealthCounts {
  return { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
}

/**
 * Adds two count records field by field (failures per error code included) and returns a new record,
 * leaving both inputs untouched. Addition is associative and commutative with `emptyCounts()` as
 * identity, so health deltas can be folded in any grouping.
 */
export function addCounts(a: HealthCounts, b: HealthCounts): HealthCounts {
  const failedByCode: Record<string, number> = { ...a.failedByCode };
  for (const [code, n] of Object.entries(b.failedByCode)) failedByCode[code] = (failedByCode[code] ?? 0) + n;
  return {
    succeeded: a.succeeded + b.succeeded,
    failedByCode,
    timedOut: a.timedOut + b.timedOut,
    inProgress: a.inProgress + b.inProgress,
  };
}

/** The name of the lane's own criterion in evidence: every failure no code criterion claims, and timeouts. */
export const LANE_CRITERION = 'all failures';

/** The name a criterion shows in evidence. */
export function criterionName(criterion: ErrorCriterion): string {
  return criterion.name ?? criterion.codes.join('+');
}

/**
 * Lists the threshold combinations a validator must refuse that the schema alone cannot express (a zod
 * refinement would forbid the per-class override shape): an ignored code that a criterion also judges, a code in
 * two criteria, two criteria with one name. One sentence per problem; empty when sound.
 */
export function thresholdsProblems(thresholds: Thresholds): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  const names = new Set<string>();
  for (const criterion of thresholds.errorCodes.criteria) {
    const name = criterionName(criterion);
    if (names.has(name) || name === LANE_CRITERION) problems.push(`criterion name "${name}" is used twice`);
    names.add(name);
    for (const code of criterion.codes) {
      if (thresholds.errorCodes.ignore.includes(code)) {
        problems.push(`error code ${code} is both ignored and judged by criterion "${name}"`);
      }
      const first = owner.get(code);
      if (first !== undefined) problems.push(`error code ${code} is in two criteria ("${first}" and "${name}")`);
      owner.set(code, name);
    }
  }
  return problems;
}

/**
 * What a plan file may no longer say (rules version 1 keys, kept in the schema only so stored events still read),
 * each with what to write instead. `weigh: { CODE: w }` meant "a failure with CODE counts w times", so a code's
 * failures could reach the threshold at maxFailureRate / w: that is the criterion suggested.
 */
export function planThresholdsProblems(
  thresholds: Pick<Thresholds, 'maxFailureRate' | 'baselineFailureRate' | 'falsePassProbability' | 'calibration'> & {
    errorCodes?: Pick<ErrorCodePolicy, 'weigh'>;
  },
): { key: string; message: string }[] {
  const problems: { key: string; message: string }[] = [];
  const weigh = thresholds.errorCodes?.weigh;
  if (weigh !== undefined && Object.keys(weigh).length > 0) {
    const suggestion = Object.entries(weigh)
      .map(([code, w]) =>
        w === 0
          ? `ignore ${code} (weight 0)`
          : `{ codes: [${code}], maxFailureRate: ${Number(Math.min(0.99, thresholds.maxFailureRate / w).toPrecision(3))} }`,
      )
      .join(', ');
    problems.push({
      key: 'errorCodes.weigh',
      message:
        'weights were removed: a weighted failure could count more than one device, which broke the false-halt ' +
        `guarantee. Give such codes their own criterion instead: errorCodes.criteria: [${suggestion}]`,
    });
  }
  if (thresholds.baselineFailureRate !== undefined) {
    problems.push({
      key: 'baselineFailureRate',
      message:
        'no longer used: the sequential rule now tests against maxFailureRate itself, so a build at or below it ' +
        'passes; remove the key',
    });
  }
  if (thresholds.calibration !== undefined) {
    problems.push({
      key: 'calibration',
      message: 'set by the engine when a lane starts (the calibrated halt bounds it records); remove the key',
    });
  }
  if (thresholds.falsePassProbability !== undefined) {
    problems.push({
      key: 'falsePassProbability',
      message: 'no longer used: a phase passes on evidence that cannot be overturned (see README); remove the key',
    });
  }
  return problems;
}

/** A criterion ready to judge: its threshold, its mixture's constants and its halt bound. */
interface Judged extends Mixture {
  name: string;
  threshold: number;
  bound: number;
}

function judgedOf(name: string, threshold: number, bound: number, weights?: readonly number[]): Judged {
  const spec = { factors: SEQUENTIAL_ODDS_FACTORS, weights: weights ?? SEQUENTIAL_ODDS_FACTORS.map(() => 1) };
  return { name, threshold, bound, ...mixtureOf(threshold, spec) };
}

/** The compiled thresholds: the lane's criterion first, then the code criteria (cached per thresholds object). */
const compiled = new WeakMap<Thresholds, Judged[]>();

function criteriaOf(t: Thresholds): Judged[] {
  let judged = compiled.get(t);
  if (judged === undefined) {
    const k = 1 + t.errorCodes.criteria.length;
    const ville = -log(t.falseHaltProbability / k);
    const cal = t.calibration;
    const boundOf = (i: number) => cal?.bounds[i] ?? ville;
    judged = [judgedOf(LANE_CRITERION, t.maxFailureRate, boundOf(0), cal?.weights)];
    t.errorCodes.criteria.forEach((c, i) =>
      judged!.push(judgedOf(criterionName(c), c.maxFailureRate, boundOf(i + 1), cal?.weights)),
    );
    compiled.set(t, judged);
  }
  return judged;
}

/** The numbers of one judgement, without sentences: what `assessHealth` returns. */
export interface HealthAssessment {
  verdict: HealthVerdict['verdict'];
  rule: HealthEvidence['rule'];
  sample: number;
  failures: number;
  failureRate: number;
  ignored: number;
  /** Failures per criterion, the lane's first (same order as `criteriaNames`). */
  criterionFailures: number[];
  /** Sequential rule: mixture LLR per criterion. */
  llrs?: number[];
  bounds?: number[];
  /** Index of the criterion that breached, if any. */
  breachedBy?: number;
  /** With `proveBelowMultiple` and no breach: the proof's numbers (`HealthEvidence.proof`). */
  proof?: { below: number; llr: number; bound: number; proven: boolean };
  waitingOn?: HealthEvidence['waitingOn'];
}

/** Whether one criterion breaches at F failures in n outcomes (the rule's core test). */
function breaches(t: Thresholds, j: Judged, failures: number, sample: number): boolean {
  if (t.rule === 'plain') return sample >= t.minSample && failures > j.threshold * sample;
  return mixtureLogRatio(j, failures, sample) >= j.bound;
}

/** Options of one judgement beyond the counts. */
export interface JudgeContext {
  /**
   * Final outcomes of the current phase's own devices (those offered the build in this phase). A phase passes
   * only with at least one of its own: evidence from earlier phases says nothing about an offer nobody answered.
   * Omitted: not checked (a rollback window, or a caller judging counts alone).
   */
  phaseOutcomes?: number;
}

/**
 * Judges one lane's counts for the current attempt. `breach`: a criterion's failures are significantly above its
 * threshold; the breach policy fires now. `healthy`: no breach, at least `minSample` outcomes (and one of the
 * phase's own), and counting every device still in progress as failed would not breach either — so no device
 * still out can overturn the verdict. Anything else is `insufficient-evidence`: wait, never pass.
 *
 * The sequential rule is a one-sided, always-valid mixture sequential probability ratio test per criterion. H0:
 * p = threshold; alternatives: odds 1.5, 2, 3, 5 and 10 times the threshold's, mixed with equal weights, on the
 * binomial likelihood ratio of F failures in n outcomes. It breaches as soon as the log of the mixture reaches
 * ln(k/α), with α = `falseHaltProbability` and k the number of criteria. For any true rate p ≤ threshold each
 * likelihood ratio, hence their mixture, is a non-negative supermartingale with mean at most 1 (the factor of one
 * outcome has mean p·p1/p0 + (1−p)(1−p1)/(1−p0) ≤ 1, as p1 > p0), so by Ville's inequality the chance that it
 * ever reaches k/α is at most α/k — however long the lane runs, however often it is judged (after every device,
 * every delta, replayed, across continue-as-new: the counts are the state), and whatever the phases. Over k
 * criteria the chance is at most α (union bound). Timeouts count as failures at once; a later report that
 * corrects one only lowers the statistic, so the bound holds for the rate of "failed or silent past the
 * timeout". The guarantee assumes what any sampling judge assumes: the order devices report in does not depend
 * on their outcome beyond what the install timeout catches.
 *
 * The plain rule (what AWS IoT Jobs offers): from `minSample` outcomes on, breach when a criterion's observed rate
 * exceeds its threshold. Judged continuously it halts a build at the threshold far more often than its numbers
 * suggest; `bench/policy.ts` measures it.
 */
export function assessHealth(counts: HealthCounts, t: Thresholds, context: JudgeContext = {}): HealthAssessment {
  if (t.rule !== 'plain' && t.rule !== 'sequential') {
    const _exhaustive: never = t.rule;
    throw new RangeError(`unknown health rule ${String(_exhaustive)}`);
  }
  const judged = criteriaOf(t);
  const { ignore, criteria } = t.errorCodes;
  const criterionFailures = new Array<number>(judged.length).fill(0);
  criterionFailures[0] = counts.timedOut;
  let reported = 0;
  let ignored = 0;
  for (const code in counts.failedByCode) {
    const n = counts.failedByCode[code] ?? 0;
    if (ignore.includes(code)) {
      ignored += n;
      continue;
    }
    reported += n;
    let index = 0;
    for (let c = 0; c < criteria.length; c++) if (criteria[c]!.codes.includes(code)) index = c + 1;
    criterionFailures[index]! += n;
  }
  const sample = counts.succeeded + reported + counts.timedOut;
  const failures = reported + counts.timedOut;
  const a: HealthAssessment = {
    verdict: 'healthy',
    rule: t.rule,
    sample,
    failures,
    failureRate: sample > 0 ? failures / sample : 0,
    ignored,
    criterionFailures,
  };
  if (t.rule === 'sequential') {
    a.llrs = [];
    a.bounds = [];
    for (let i = 0; i < judged.length; i++) {
      const llr = mixtureLogRatio(judged[i]!, criterionFailures[i]!, sample);
      a.llrs.push(llr);
      a.bounds.push(judged[i]!.bound);
      if (llr >= judged[i]!.bound && a.breachedBy === undefined) a.breachedBy = i;
    }
  } else {
    for (let i = 0; i < judged.length && a.breachedBy === undefined; i++) {
      if (breaches(t, judged[i]!, criterionFailures[i]!, sample)) a.breachedBy = i;
    }
  }
  if (a.breachedBy !== undefined) {
    a.verdict = 'breach';
    return a;
  }
  if (t.proveBelowMultiple !== undefined) a.proof = provenBelow(t, criterionFailures[0], sample);
  let waitingOn: HealthAssessment['waitingOn'];
  if (sample < t.minSample) waitingOn = 'min-sample';
  else if (context.phaseOutcomes !== undefined && context.phaseOutcomes < 1) waitingOn = 'phase-outcomes';
  else if (a.proof !== undefined && !a.proof.proven) waitingOn = 'proof';
  else if (counts.inProgress > 0) {
    // Would the devices still out breach the lane's criterion if every one of them failed?
    const out = counts.inProgress;
    if (breaches(t, judged[0]!, criterionFailures[0] + out, sample + out)) waitingOn = 'in-progress';
  }
  if (waitingOn !== undefined) {
    a.verdict = 'insufficient-evidence';
    a.waitingOn = waitingOn;
    if (waitingOn !== 'in-progress') a.rule = 'min-sample';
  }
  return a;
}

/**
 * The most devices that may still be installing for a phase to pass at F failures in n outcomes: the largest m
 * such that m more failures would not breach the lane's criterion. Used by the preview (`rollout validate
 * --explain`) and the status view to say what a phase waits for.
 */
export function overturnMargin(t: Thresholds, failures: number, sample: number): number {
  const j = criteriaOf(t)[0]!;
  if (breaches(t, j, failures, sample)) return -1;
  let lo = 0;
  let hi = 1;
  while (!breaches(t, j, failures + hi, sample + hi) && hi < 1e7) [lo, hi] = [hi, hi * 2];
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (breaches(t, j, failures + mid, sample + mid)) hi = mid;
    else lo = mid;
  }
  return lo;
}

/** Whether F failures (timeouts and codes no criterion claims) in n outcomes breach the lane's own criterion. */
export function laneBreaches(t: Thresholds, failures: number, sample: number): boolean {
  return breaches(t, criteriaOf(t)[0]!, failures, sample);
}

/**
 * The fewest failures among n outcomes at which the lane's criterion breaches (n + 1 when none can): the rule's
 * boundary, for the preview's exact binomial model and the status view.
 */
export function breachBoundary(t: Thresholds, sample: number): number {
  const j = criteriaOf(t)[0]!;
  if (!breaches(t, j, sample, sample)) return sample + 1;
  let lo = -1;
  let hi = sample;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (breaches(t, j, mid, sample)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The promise of the thresholds in one sentence, as the README, `rollout validate --explain` and every breach's
 * evidence say it. The plain rule makes no such promise, and the sentence says so.
 */
export function guaranteeSentence(t: Thresholds): string {
  const codes = t.errorCodes.criteria
    .map((c) => ` and at or below ${pct(c.maxFailureRate)} for ${criterionName(c)}`)
    .join('');
  if (t.rule === 'plain') {
    return (
      `The plain rule halts once ${t.minSample} outcomes show a failure rate above ${pct(t.maxFailureRate)}${codes}; ` +
      'it promises no false-halt probability (a build at the threshold is halted often).'
    );
  }
  const proof =
    t.proveBelowMultiple === undefined
      ? ''
      : ` A phase passes only once the evidence proves the failure rate below ${pct(t.maxFailureRate * t.proveBelowMultiple)}: ` +
        `a build failing at that rate or more passes a phase with probability at most ${pct(t.falseHaltProbability)}.`;
  return (
    `For every true failure rate at or below ${pct(t.maxFailureRate)}${codes}, the probability that this lane is ` +
    `ever halted by the rule is at most ${pct(t.falseHaltProbability)}, over its whole life.${proof}`
  );
}

/**
 * Judges one lane's counts (see `assessHealth`) and adds the evidence a person reads: every criterion's numbers,
 * the sentence of the audit trail and, on a breach, the guarantee sentence.
 */
export function evaluateHealth(counts: HealthCounts, t: Thresholds, context: JudgeContext = {}): HealthVerdict {
  const a = assessHealth(counts, t, context);
  const judged = criteriaOf(t);
  const criteria: CriterionEvidence[] = judged.map((j, i) => ({
    name: j.name,
    failures: a.criterionFailures[i]!,
    failureRate: a.sample > 0 ? a.criterionFailures[i]! / a.sample : 0,
    threshold: j.threshold,
    ...(a.llrs && a.bounds ? { llr: a.llrs[i]!, bound: a.bounds[i]! } : {}),
  }));
  const evidence: HealthEvidence = {
    sample: a.sample,
    failures: a.failures,
    failureRate: a.failureRate,
    threshold: t.maxFailureRate,
    minSample: t.minSample,
    rule: a.rule,
    ...(a.llrs && a.bounds ? { llr: a.llrs[0]!, bound: a.bounds[0]! } : {}),
    timedOut: counts.timedOut,
    ignored: a.ignored,
    inProgress: counts.inProgress,
    scope: 'attempt',
    ...(context.phaseOutcomes !== undefined ? { phaseOutcomes: context.phaseOutcomes } : {}),
    criteria,
    ...(a.breachedBy !== undefined ? { breachedBy: judged[a.breachedBy]!.name } : {}),
    ...(a.waitingOn !== undefined ? { waitingOn: a.waitingOn } : {}),
    ...(a.proof !== undefined ? { proof: { below: a.proof.below, llr: a.proof.llr, bound: a.proof.bound } } : {}),
    ...(a.verdict === 'breach' ? { guarantee: guaranteeSentence(t) } : {}),
    explanation: explain(a, counts, t, criteria),
  };
  return { verdict: a.verdict, evidence };
}

/** The sentence of the audit trail for an assessment. */
function explain(a: HealthAssessment, counts: HealthCounts, t: Thresholds, criteria: CriterionEvidence[]): string {
  const extras: string[] = [];
  if (counts.timedOut > 0) extras.push(`${counts.timedOut} timed out`);
  if (a.ignored > 0) extras.push(`${a.ignored} ignored`);
  if (counts.inProgress > 0) extras.push(`${counts.inProgress} in progress`);
  const more = extras.length > 0 ? ` [${extras.join(', ')}]` : '';
  const tally =
    a.sample === 0
      ? `no final outcomes yet${more}`
      : `${a.failures} of ${a.sample} failed (${pct(a.failureRate)})${more}`;
  const lead = `${tally} in this attempt`;
  if (a.verdict === 'breach') {
    const c = criteria[a.breachedBy ?? 0]!;
    const what = c.name === LANE_CRITERION ? 'failures' : `${c.name} failures`;
    const test =
      c.llr !== undefined && c.bound !== undefined
        ? `mixture LLR ${num(c.llr)} ≥ ${num(c.bound)}`
        : `plain rule, after ≥ ${t.minSample} outcomes`;
    return `${lead}: ${what} ${c.failures} (${pct(c.failureRate)}) significantly above ${pct(c.threshold)} (${test})`;
  }
  const lane = criteria[0]!;
  const versus =
    lane.llr !== undefined && lane.bound !== undefined
      ? `mixture LLR ${num(lane.llr)} < ${num(lane.bound)} to halt`
      : `${pct(a.failureRate)} ${a.failureRate > t.maxFailureRate ? '>' : '≤'} ${pct(t.maxFailureRate)}`;
  switch (a.waitingOn) {
    case 'min-sample':
      return `${lead}; no breach (${versus}); a phase passes after ≥ ${t.minSample} outcomes`;
    case 'phase-outcomes':
      return `${lead}; no breach (${versus}); waiting for a first outcome of this phase's own devices`;
    case 'in-progress':
      return `${lead}; no breach yet (${versus}), but the ${counts.inProgress} devices still installing could overturn it`;
    case 'proof': {
      const proof = a.proof!;
      return `${lead}; no breach (${versus}), but not yet proven below ${pct(proof.below)} (proof LLR ${num(proof.llr)} < ${num(proof.bound)}): a phase passes on proof, not on the absence of a breach`;
    }
    case undefined:
      return `${lead}; no breach (${versus}), and the devices still out cannot overturn it`;
    default: {
      const _exhaustive: never = a.waitingOn;
      return _exhaustive;
    }
  }
}

/** A number with at most two decimals, trailing zeros dropped. */
function num(x: number): string {
  return String(Number(x.toFixed(2)));
}

/** A rate as a percentage with at most two decimals: 0.075 → "7.5%". */
export function pct(rate: number): string {
  return `${num(rate * 100)}%`;
}

/** One stretch of evidence the fleet-spike rule pools: a lane attempt's counts, judged against its class's thresholds. */
export interface SpikeSegment {
  counts: HealthCounts;
  thresholds: Thresholds;
  /**
   * True when this evidence was already acted on (its attempt breached, or the lane left by a rollback or abort):
   * it may still clear the fleet, never incriminate it — its log-likelihood ratio counts only while negative.
   */
  handled: boolean;
}

/** The fleet-spike rule's numbers: the pooled mixture LLR, its bound, and the pooled counts. */
export interface SpikeAssessment {
  breach: boolean;
  llr: number;
  bound: number;
  sample: number;
  failures: number;
  segments: number;
}

/**
 * The fleet-wide spike rule (rules version 2). H0: every class fails at or below its own `maxFailureRate`; the
 * alternatives raise every class's odds by one common factor (1.5× … 10×, mixed equally). The statistic is the log
 * of the mixture of the products of each lane attempt's binomial likelihood ratio against its own class threshold
 * (the lane's criterion: every failure no code criterion claims, and timeouts). Under H0 that product is a
 * supermartingale; an attempt that stopped contributes its frozen value (a stopped supermartingale), and a handled
 * one contributes min(ratio, 1), which is smaller still — so by Ville's inequality the rule halts a fleet at or
 * below every threshold with probability at most `falseHaltProbability`, and a breach a lane already acted on never
 * counts toward a fleet halt. Pure.
 */
export function assessFleetSpike(segments: readonly SpikeSegment[], falseHaltProbability: number): SpikeAssessment {
  const totals = new Array<number>(SEQUENTIAL_ODDS_FACTORS.length).fill(0);
  let sample = 0;
  let failures = 0;
  for (const segment of segments) {
    const a = assessHealth(segment.counts, segment.thresholds);
    const j = criteriaOf(segment.thresholds)[0]!;
    const f = a.criterionFailures[0]!;
    sample += a.sample;
    failures += f;
    for (let i = 0; i < totals.length; i++) {
      const llr = f * j.failLog[i]! + (a.sample - f) * j.passLog[i]!;
      totals[i]! += segment.handled ? Math.min(0, llr) : llr;
    }
  }
  let top = -Infinity;
  for (const t of totals) if (t > top) top = t;
  let sum = 0;
  for (const t of totals) sum += exp(t - top);
  const llr = top + log(sum / totals.length);
  const bound = -log(falseHaltProbability);
  return { breach: llr >= bound, llr, bound, sample, failures, segments: segments.length };
}

/**
 * The proof a phase passes on (`proveBelowMultiple`): the sequential rule mirrored. H0: p = m × maxFailureRate (the
 * lane's criterion); alternatives: odds 1.5, 2, 3, 5 and 10 times lower, mixed with equal weights. For any true rate
 * p ≥ m × maxFailureRate each likelihood ratio has mean at most 1 per outcome (as for the halt rule, with p1 < p0 ≤ p),
 * so by Ville's inequality the chance that the mixture ever reaches 1/α is at most α: a build failing at m times the
 * threshold or more is proven below it, and passes a phase, with probability at most α over the lane's life. With
 * m = 2, α = 1 % and a 2 % threshold, a build failing at its expected rate is proven after about 210 outcomes at
 * 0.6 %, 310 at 1 % and 870 at 2 % (the threshold itself), so a good build is proven well within a severity's minimum
 * sample (668).
 */
export function provenBelow(
  t: Thresholds,
  failures: number,
  sample: number,
): { below: number; llr: number; bound: number; proven: boolean } {
  const below = Math.min(0.5, t.maxFailureRate * (t.proveBelowMultiple ?? 1));
  let mixture = proofMixtures.get(below);
  if (mixture === undefined) {
    mixture = mixtureOf(below, { factors: PROOF_ODDS_FACTORS, weights: PROOF_ODDS_FACTORS.map(() => 1) });
    proofMixtures.set(below, mixture);
  }
  const llr = mixtureLogRatio(mixture, failures, sample);
  const bound = -log(t.falseHaltProbability);
  return { below, llr, bound, proven: llr >= bound };
}

/** The proof's alternatives, as multiples of the odds of the rate to prove below. */
const PROOF_ODDS_FACTORS: readonly number[] = Object.freeze([1 / 1.5, 1 / 2, 1 / 3, 1 / 5, 1 / 10]);
const proofMixtures = new Map<number, Mixture>();
