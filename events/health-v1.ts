/**
 * The health judge of rules version 1, kept verbatim for lanes that started under it: a running rollout keeps the
 * rules it started with (its `lane-started` config has no `rulesVersion`), so a worker deploy never changes its
 * decisions. New lanes are judged by `health.ts`. Do not change this file's behaviour.
 *
 * Version 1 judged each phase window on its own counts at falseHaltProbability / phases, tested against a baseline
 * of maxFailureRate / 4 (so a build just under the threshold was halted often), and weighed error codes.
 */
import { type HealthCounts, type HealthEvidence, type HealthVerdict, type Thresholds } from './health';

/**
 * The sequential rule's alternatives, as multiples of the odds of `maxFailureRate` (1 = the threshold
 * itself; 3 and 10 = a spike), mixed with equal weights. See `evaluateHealth`.
 */
export const SEQUENTIAL_ODDS_FACTORS_V1: readonly number[] = Object.freeze([1, 3, 10]);

// Bound once: global lookups are slow in sandboxed realms (vm contexts such as Jest's and Temporal's).
const log = Math.log;
const exp = Math.exp;
const max = Math.max;

/** Default type II error of the sequential rule's early acceptance (see `Thresholds.falsePassProbability`). */
const DEFAULT_FALSE_PASS_PROBABILITY = 0.05;

/**
 * Lists the threshold combinations a plan validator must refuse that the schema alone cannot express
 * (a zod refinement on `ThresholdsSchema` would forbid `.partial()` for per-class overrides, so the check
 * lives here). Today that is one rule: the sequential rule's baseline must lie strictly below
 * `maxFailureRate`, or its two hypotheses coincide. Returns one sentence per problem, empty when sound;
 * `evaluateHealth` throws a `RangeError` with the same sentence when called with such thresholds.
 */
export function thresholdsProblemsV1(thresholds: Thresholds): string[] {
  const baseline = baselineOf(thresholds);
  if (baseline >= thresholds.maxFailureRate) {
    return [
      `baselineFailureRate ${baseline} must be below maxFailureRate ${thresholds.maxFailureRate}: ` +
        'the sequential rule tests the one against the other',
    ];
  }
  return [];
}

/**
 * Judges one lane's counts against its thresholds. `healthy` means the evidence supports the build
 * (enough sample and no breach); `insufficient-evidence` means keep waiting (it never passes a phase);
 * `breach` means the class's breach policy must fire now.
 *
 * What counts: every final outcome is one device of the sample, except failures whose error code is
 * ignored (neither failure nor success). A failure weighs 1 unless its code has a weight (0.5, 3, …),
 * timeouts weigh 1 (a crashed device reports nothing), devices in progress are not judged. With weights
 * the failure count may be fractional; both rules use it as is.
 *
 * The plain rule (what AWS IoT Jobs offers): nothing before `minSample` final outcomes, then breach when
 * the failure rate exceeds `maxFailureRate`, healthy otherwise.
 *
 * The sequential rule is a one-sided, always-valid mixture sequential probability ratio test (Wald's
 * likelihood ratio with Ville's bound; Robbins' "power-one" test). H0: p = baseline (default
 * maxFailureRate / 4) is tested against the alternatives whose odds are 1, 3 and 10 times those of
 * maxFailureRate (2%, 5.8%, 17% at a 2% threshold), mixed with equal weights, on the binomial
 * log-likelihood ratio `F·ln(p1/p0) + (n − F)·ln((1 − p1)/(1 − p0))` of F failures in n outcomes. It
 * breaches as soon as the log of the mixture reaches ln(1/α), α = `falseHaltProbability`, at any sample
 * size. Why this rule: each likelihood ratio, hence their mixture, is a non-negative martingale with mean
 * 1 under H0 (a supermartingale for any p ≤ baseline), so by Ville's inequality the chance that it
 * *ever* reaches 1/α is at most α — however long the rollout runs and however often it is evaluated
 * (after every device, every delta, or replayed). Wald's two-sided SPRT (bound ln((1−β)/α)) holds its α
 * only if the test stops at its first crossing; a rollout keeps watching after "looks fine", and
 * restarting or re-consulting it accumulates error. A Bayesian posterior bound (P(p > max | data) >
 * 1 − α) has no frequentist false-halt guarantee under continuous monitoring at all. The mixture, rather
 * than the single alternative p = maxFailureRate, because how bad a bad build is is unknown: the 1×
 * component is the most efficient test for the marginal bad build, the 3× and 10× components halt a
 * real spike after two or three failures instead of four or five, and the price is ln 3 ≈ 1.1 nats of
 * extra evidence at the threshold rate (bench/policy.ts measures the trade). Builds between baseline
 * and maxFailureRate sit in the indifference zone: no guarantee either way.
 *
 * Early acceptance is the mirror test: healthy as soon as the simple LLR of maxFailureRate against the
 * baseline falls to ln β, β = `falsePassProbability` (default 0.05); its inverse is a supermartingale for
 * every p ≥ maxFailureRate, so a build that bad is called healthy this way with probability at most β.
 * Phases are often too small for that (≈ 200 clean outcomes at the defaults), so the plan's own criterion
 * also makes a build healthy: at least `minSample` outcomes at a rate at or below `maxFailureRate`, and
 * no breach. A rate above the threshold that is not yet significant is `insufficient-evidence`, never a
 * breach. The α guarantee holds per window of counts: a decider that judges k windows separately (one
 * per phase, say) spends up to k·α on a good build, unless it passes α/k to each.
 */
export function evaluateHealthV1(counts: HealthCounts, thresholds: Thresholds): HealthVerdict {
  const a = assessHealthV1(counts, thresholds);
  const common = {
    sample: a.sample,
    failures: a.failures,
    failureRate: a.failureRate,
    threshold: thresholds.maxFailureRate,
    minSample: thresholds.minSample,
    timedOut: counts.timedOut,
    ignored: a.ignored,
    inProgress: counts.inProgress,
  };
  const evidence: HealthEvidence =
    a.llr === undefined
      ? { ...common, rule: a.rule, explanation: explain(a, counts, thresholds) }
      : {
          ...common,
          rule: a.rule,
          llr: a.llr,
          bound: a.bound,
          acceptLlr: a.acceptLlr,
          acceptBound: a.acceptBound,
          baselineFailureRate: a.baselineFailureRate,
          explanation: explain(a, counts, thresholds),
        };
  return { verdict: a.verdict, evidence };
}

/** The numbers behind a verdict, without the sentence: what `assessHealth` returns. */
export interface HealthAssessmentV1 {
  verdict: HealthVerdict['verdict'];
  rule: HealthEvidence['rule'];
  sample: number;
  failures: number;
  failureRate: number;
  ignored: number;
  /**
   * Sequential rule only: the mixture log-likelihood ratio and its halt bound ln(1/α); the simple one of
   * maxFailureRate against the baseline and its accept bound ln β; and the baseline (H0's rate).
   */
  llr?: number;
  bound?: number;
  acceptLlr?: number;
  acceptBound?: number;
  baselineFailureRate?: number;
}

/**
 * The verdict of `evaluateHealth` and the numbers behind it, without building the evidence sentence:
 * the same judgement (evaluateHealth is this plus formatting), cheap enough to run after every device
 * in hot loops such as the what-if replay and the policy benchmark. See `evaluateHealth` for the rules.
 */
export function assessHealthV1(counts: HealthCounts, thresholds: Thresholds): HealthAssessmentV1 {
  const { ignore } = thresholds.errorCodes;
  const weigh = thresholds.errorCodes.weigh ?? {};
  let reported = 0;
  let weighted = 0;
  let ignored = 0;
  for (const code in counts.failedByCode) {
    const n = counts.failedByCode[code] ?? 0;
    if (ignore.includes(code)) {
      ignored += n;
      continue;
    }
    reported += n;
    weighted += n * (weigh[code] ?? 1);
  }
  const sample = counts.succeeded + reported + counts.timedOut;
  const failures = weighted + counts.timedOut;
  const failureRate = sample > 0 ? failures / sample : 0;
  const enough = sample >= thresholds.minSample;
  const under = failureRate <= thresholds.maxFailureRate;
  const rule = thresholds.rule;
  if (rule === 'plain') {
    const verdict = !enough ? 'insufficient-evidence' : under ? 'healthy' : 'breach';
    return { verdict, rule: enough ? 'plain' : 'min-sample', sample, failures, failureRate, ignored };
  }
  if (rule !== 'sequential') {
    const _exhaustive: never = rule;
    throw new RangeError(`unknown health rule ${String(_exhaustive)}`);
  }
  const p0 = baselineOf(thresholds);
  const p1 = thresholds.maxFailureRate;
  if (p0 >= p1) throw new RangeError(thresholdsProblemsV1(thresholds).join('; '));
  // log of the equally weighted mixture of the alternatives' likelihood ratios (log-sum-exp, stable)
  const odds1 = p1 / (1 - p1);
  let top = -Infinity;
  for (const factor of SEQUENTIAL_ODDS_FACTORS_V1)
    top = max(top, binomialLlr(failures, sample, p0, oddsTimes(odds1, factor)));
  let sum = 0;
  for (const factor of SEQUENTIAL_ODDS_FACTORS_V1)
    sum += exp(binomialLlr(failures, sample, p0, oddsTimes(odds1, factor)) - top);
  const llr = top + log(sum / SEQUENTIAL_ODDS_FACTORS_V1.length);
  const acceptLlr = binomialLlr(failures, sample, p0, p1);
  const bound = -log(thresholds.falseHaltProbability);
  const acceptBound = log(thresholds.falsePassProbability ?? DEFAULT_FALSE_PASS_PROBABILITY);
  // Breach first; then early acceptance; then the plan's minimum-sample criterion; else wait.
  let verdict: HealthAssessmentV1['verdict'] = 'insufficient-evidence';
  let decidedBy: HealthAssessmentV1['rule'] = enough ? 'sequential' : 'min-sample';
  if (llr >= bound) [verdict, decidedBy] = ['breach', 'sequential'];
  else if (acceptLlr <= acceptBound) [verdict, decidedBy] = ['healthy', 'sequential'];
  else if (enough && under) [verdict, decidedBy] = ['healthy', 'plain'];
  return {
    verdict,
    rule: decidedBy,
    sample,
    failures,
    failureRate,
    ignored,
    llr,
    bound,
    acceptLlr,
    acceptBound,
    baselineFailureRate: p0,
  };
}

/** Log-likelihood ratio of F (possibly fractional) failures in n outcomes under p1 against p0. */
function binomialLlr(failures: number, sample: number, p0: number, p1: number): number {
  return failures * log(p1 / p0) + (sample - failures) * log((1 - p1) / (1 - p0));
}

/** The failure rate whose odds are `factor` times `odds`. */
function oddsTimes(odds: number, factor: number): number {
  return (factor * odds) / (1 + factor * odds);
}

/** The sequential rule's null hypothesis, defaulted. */
function baselineOf(thresholds: Thresholds): number {
  return thresholds.baselineFailureRate ?? thresholds.maxFailureRate / 4;
}

/** The sentence of the audit trail for an assessment. */
function explain(a: HealthAssessmentV1, counts: HealthCounts, t: Thresholds): string {
  const extras: string[] = [];
  if (counts.timedOut > 0) extras.push(`${counts.timedOut} timed out`);
  if (a.ignored > 0) extras.push(`${a.ignored} ignored`);
  if (counts.inProgress > 0) extras.push(`${counts.inProgress} in progress`);
  const more = extras.length > 0 ? ` [${extras.join(', ')}]` : '';
  const tally =
    a.sample === 0
      ? `no final outcomes yet${more}`
      : `${num(a.failures)} of ${a.sample} failed (${pct(a.failureRate)})${more}`;
  const versus = `${a.failureRate > t.maxFailureRate ? '>' : '≤'} ${pct(t.maxFailureRate)} after ≥ ${t.minSample}`;
  const wait = `${tally}; judged after ≥ ${t.minSample} outcomes`;
  if (
    a.llr === undefined ||
    a.bound === undefined ||
    a.acceptLlr === undefined ||
    a.acceptBound === undefined ||
    a.baselineFailureRate === undefined
  ) {
    return a.rule === 'min-sample' ? wait : `${tally} ${versus}`;
  }
  const base = pct(a.baselineFailureRate);
  if (a.verdict === 'breach') {
    const guarantee = `false-halt probability ≤ ${pct(t.falseHaltProbability)}`;
    return `${tally}: significantly above the ${base} baseline (mixture LLR ${num(a.llr)} ≥ ${num(a.bound)}, ${guarantee})`;
  }
  const accept = `LLR(${pct(t.maxFailureRate)} vs ${base}) = ${num(a.acceptLlr)}`;
  if (a.rule === 'sequential' && a.verdict === 'healthy') {
    return `${tally}: significantly below ${pct(t.maxFailureRate)} (${accept} ≤ ${num(a.acceptBound)})`;
  }
  const between = `mixture LLR ${num(a.llr)} < ${num(a.bound)} to halt, ${accept} > ${num(a.acceptBound)} to accept`;
  if (a.rule === 'plain') return `${tally} ${versus}; ${between}`;
  if (a.rule === 'min-sample') return `${wait}; ${between}`;
  return `${tally} ${versus} but not significant (${between})`;
}

/** A number with at most two decimals, trailing zeros dropped. */
function num(x: number): string {
  return String(Number(x.toFixed(2)));
}

/** A rate as a percentage with at most two decimals: 0.075 → "7.5%". */
function pct(rate: number): string {
  return `${num(rate * 100)}%`;
}
