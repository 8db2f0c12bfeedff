/**
 * The regression judge: whether a build raises a post-install signal's rate (app crashes, kernel panics,
 * compatibility errors) among the devices that run it, compared with the class's concurrent control (devices not
 * offered it yet) over the same calendar time. docs/judge.md ("The regression rule") has the maths and its proof.
 *
 * Per watched signal and per post-install delta, with x_u, x_c events over exposures T_u, T_c (device-seconds of
 * uptime): conditionally on n = x_u + x_c, x_u ~ Binomial(n, p), p = ρ·T_u / (ρ·T_u + T_c), ρ the true ratio of the
 * updated devices' rate to the control's. H0: ρ ≤ maxRateRatio (ρ0). Each delta multiplies, per alternative
 * ρ1 = ρ0 · f, a likelihood ratio (p1/p0)^x_u · ((1 − p1)/(1 − p0))^x_c whose mean is at most 1 under any ρ ≤ ρ0, so
 * their product is a non-negative supermartingale and the mixture over the alternatives too: by Ville's inequality it
 * ever reaches S/α (S watched signals) with probability at most α/S. A fleet-wide spike multiplies both groups' rates
 * alike and leaves ρ, so p, unchanged: it is no evidence. A delta without exposure in either group (no control at
 * 100 %, or no updated device yet) carries none either.
 *
 * Pure: no I/O, no clock, no randomness. The lane keeps the per-alternative log ratios (`RegressionSignalState`),
 * plain JSON of a fixed size per signal.
 */
import { z } from 'zod';
import type { LaneRegression } from './plan';
import type { ExposureCounts, PostInstallDelta } from './post-install';

/** The alternatives, as multiples of the tolerated ratio: 1.25× to 5× it. */
export const REGRESSION_FACTORS: readonly number[] = Object.freeze([1.25, 1.5, 2, 3, 5]);
/** The mixture weights of the alternatives (equal). */
export const REGRESSION_WEIGHTS: readonly number[] = Object.freeze([0.2, 0.2, 0.2, 0.2, 0.2]);

/** One group's running exposure for one signal: events and device-seconds of uptime. */
export const GroupTotalsSchema = z.object({ events: z.number().int().min(0), uptimeSec: z.number().min(0) }).strict();
export type GroupTotals = z.infer<typeof GroupTotalsSchema>;

/** What the lane keeps per watched signal: both groups' totals since the attempt began and the log ratios. */
export const RegressionSignalStateSchema = z
  .object({
    updated: GroupTotalsSchema,
    control: GroupTotalsSchema,
    /** Per alternative (`REGRESSION_FACTORS`), the log of its likelihood ratio against ρ0 so far. */
    logLr: z.array(z.number()).length(REGRESSION_FACTORS.length),
  })
  .strict();
export type RegressionSignalState = z.infer<typeof RegressionSignalStateSchema>;

/** A signal's verdict: significantly above the tolerated ratio, no sign of it yet, or nothing to compare yet. */
export const RegressionVerdictSchema = z.enum(['breach', 'watching', 'no-evidence']);
export type RegressionVerdict = z.infer<typeof RegressionVerdictSchema>;

/** One group's figures in a signal's evidence. */
export const GroupEvidenceSchema = z
  .object({
    events: z.number().int().min(0),
    uptimeSec: z.number().min(0),
    exposureHours: z.number().min(0),
    /** Events per device-hour, null without exposure. */
    ratePerHour: z.number().min(0).nullable(),
  })
  .strict();
export type GroupEvidence = z.infer<typeof GroupEvidenceSchema>;

/** One watched signal's judgement after a delta. */
export const SignalEvidenceSchema = z
  .object({
    signal: z.string().min(1).max(64),
    updated: GroupEvidenceSchema,
    control: GroupEvidenceSchema,
    /** The updated devices' rate ÷ the control's; null when either has no exposure or the control no event. */
    ratio: z.number().min(0).nullable(),
    /** The tolerated ratio (ρ0). */
    maxRateRatio: z.number(),
    /** Per alternative, the log likelihood ratio so far (what the lane keeps). */
    logLr: z.array(z.number()),
    /** The log of the mixture e-value, and the bound ln(S/α) it breaches at. */
    logE: z.number(),
    bound: z.number(),
    verdict: RegressionVerdictSchema,
  })
  .strict();
export type SignalEvidence = z.infer<typeof SignalEvidenceSchema>;

/** The evidence of a regression breach (`threshold-breached` with `rule: 'regression'`): the signal that crossed. */
export const RegressionEvidenceSchema = SignalEvidenceSchema.extend({
  rule: z.literal('regression'),
  /** The lane's false-halt probability for the rule, split over its signals. */
  falseHaltProbability: z.number(),
  signals: z.number().int().min(1),
  explanation: z.string(),
}).strict();
export type RegressionEvidence = z.infer<typeof RegressionEvidenceSchema>;

// Bound once: global lookups are slow in sandboxed realms (vm contexts such as Jest's and Temporal's).
const log = Math.log;
const exp = Math.exp;

/** A signal's state before any evidence: no exposure, every log ratio 0. */
export function emptySignalState(): RegressionSignalState {
  return {
    updated: { events: 0, uptimeSec: 0 },
    control: { events: 0, uptimeSec: 0 },
    logLr: REGRESSION_FACTORS.map(() => 0),
  };
}

/**
 * The log ratios after one delta's counts of one signal. A delta with no event, or without exposure in either group,
 * is no evidence and leaves them as they are (p0 would be 0 or 1: every outcome is certain under both hypotheses).
 * `1 − p` is computed as T_c / (ρ·T_u + T_c), so it stays exact when the control's exposure is small.
 */
export function nextLogLr(
  logLr: readonly number[],
  updated: { events: number; uptimeSec: number },
  control: { events: number; uptimeSec: number },
  maxRateRatio: number,
): number[] {
  const xu = updated.events;
  const xc = control.events;
  const tu = updated.uptimeSec;
  const tc = control.uptimeSec;
  if (xu + xc === 0 || tu <= 0 || tc <= 0) return [...logLr];
  const d0 = maxRateRatio * tu + tc;
  const logP0 = log((maxRateRatio * tu) / d0);
  const logQ0 = log(tc / d0);
  return REGRESSION_FACTORS.map((f, k) => {
    const rho1 = maxRateRatio * f;
    const d1 = rho1 * tu + tc;
    return (logLr[k] ?? 0) + xu * (log((rho1 * tu) / d1) - logP0) + xc * (log(tc / d1) - logQ0);
  });
}

/** The log of the mixture e-value Σ w_k · exp(logLr_k), computed without overflow. */
export function mixtureLogE(logLr: readonly number[]): number {
  const terms = logLr.map((l, k) => log(REGRESSION_WEIGHTS[k] ?? 0) + l);
  const top = Math.max(...terms);
  return top + log(terms.reduce((s, t) => s + exp(t - top), 0));
}

/** The bound a signal's log e-value breaches at: ln(S/α) for S watched signals (Ville, the budget split evenly). */
export function regressionBound(rule: Pick<LaneRegression, 'signals' | 'falseHaltProbability'>): number {
  return log(rule.signals.length / rule.falseHaltProbability);
}

/** One group's totals as evidence: exposure hours and the rate per device-hour. */
function groupEvidence(group: GroupTotals): GroupEvidence {
  const exposureHours = group.uptimeSec / 3600;
  return {
    events: group.events,
    uptimeSec: group.uptimeSec,
    exposureHours,
    ratePerHour: exposureHours > 0 ? group.events / exposureHours : null,
  };
}

/** A group's count of one signal in a delta (0 when the signal is absent). */
function countOf(group: ExposureCounts, signal: string): { events: number; uptimeSec: number } {
  return { events: group.events[signal] ?? 0, uptimeSec: group.uptimeSec };
}

/** The judgement of one signal from its state after a delta (see `judgeDelta`). */
export function signalEvidenceOf(signal: string, state: RegressionSignalState, rule: LaneRegression): SignalEvidence {
  const updated = groupEvidence(state.updated);
  const control = groupEvidence(state.control);
  const logE = mixtureLogE(state.logLr);
  const bound = regressionBound(rule);
  const ratio =
    updated.ratePerHour !== null && control.ratePerHour !== null && control.ratePerHour > 0
      ? updated.ratePerHour / control.ratePerHour
      : null;
  const compared = state.updated.uptimeSec > 0 && state.control.uptimeSec > 0;
  const verdict: RegressionVerdict =
    logE >= bound && state.updated.events >= rule.minEvents ? 'breach' : compared ? 'watching' : 'no-evidence';
  return { signal, updated, control, ratio, maxRateRatio: rule.maxRateRatio, logLr: state.logLr, logE, bound, verdict };
}

/**
 * Judges one post-install delta: each watched signal's state moves on by the delta's counts of it (signals the rule
 * does not watch are ignored), and its evidence says whether it breaches. Returns the new states and the evidence,
 * signals in the rule's order.
 */
export function judgeDelta(
  states: Readonly<Record<string, RegressionSignalState>>,
  delta: PostInstallDelta,
  rule: LaneRegression,
): { states: Record<string, RegressionSignalState>; evidence: SignalEvidence[] } {
  const next: Record<string, RegressionSignalState> = {};
  const evidence: SignalEvidence[] = [];
  for (const signal of rule.signals) {
    const before = states[signal] ?? emptySignalState();
    const u = countOf(delta.updated, signal);
    const c = countOf(delta.control, signal);
    const state: RegressionSignalState = {
      updated: { events: before.updated.events + u.events, uptimeSec: before.updated.uptimeSec + u.uptimeSec },
      control: { events: before.control.events + c.events, uptimeSec: before.control.uptimeSec + c.uptimeSec },
      logLr: nextLogLr(before.logLr, u, c, rule.maxRateRatio),
    };
    next[signal] = state;
    evidence.push(signalEvidenceOf(signal, state, rule));
  }
  return { states: next, evidence };
}

/** Events per device-hour as people read them: `0.012/h`. */
export function formatRate(ratePerHour: number | null): string {
  if (ratePerHour === null) return '-';
  return `${Number(ratePerHour.toPrecision(3))}/h`;
}

/** A rate ratio as people read it: `2.10×`, or `-` when there is none (no exposure, or no control event). */
export function formatRatio(ratio: number | null): string {
  return ratio === null ? '-' : `${ratio.toFixed(2)}×`;
}

/** The breach evidence of a signal that crossed its bound, with a sentence for the audit trail. */
export function regressionEvidenceOf(signal: SignalEvidence, rule: LaneRegression): RegressionEvidence {
  const { updated, control } = signal;
  const ratio = signal.ratio === null ? 'unbounded (no control event)' : formatRatio(signal.ratio);
  const explanation =
    `${signal.signal}: ${updated.events} events in ${updated.exposureHours.toFixed(1)} device-hours on the build ` +
    `(${formatRate(updated.ratePerHour)}) against ${control.events} in ${control.exposureHours.toFixed(1)} for the ` +
    `control (${formatRate(control.ratePerHour)}): ratio ${ratio}, tolerated ${rule.maxRateRatio}×; log e-value ` +
    `${signal.logE.toFixed(2)} ≥ bound ${signal.bound.toFixed(2)} (false-halt probability ` +
    `${rule.falseHaltProbability} over ${rule.signals.length} signal(s))`;
  return {
    ...signal,
    rule: 'regression',
    falseHaltProbability: rule.falseHaltProbability,
    signals: rule.signals.length,
    explanation,
  };
}

/**
 * One signal's judgement in a line, as the timeline, status and the postmortem write it:
 * `app-crash: 0.021/h on the build vs 0.0101/h control (2.08×, tolerated 1.5×), log e 3.21 / 5.70: watching`.
 */
export function signalText(e: SignalEvidence): string {
  return (
    `${e.signal}: ${formatRate(e.updated.ratePerHour)} on the build vs ${formatRate(e.control.ratePerHour)} control ` +
    `(${formatRatio(e.ratio)}, tolerated ${e.maxRateRatio}×), log e ${e.logE.toFixed(2)} / ${e.bound.toFixed(2)}: ${e.verdict}`
  );
}
