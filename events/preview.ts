/**
 * The pre-launch preview of a plan (`rollout validate --explain`): per device class, what the judge promises, how
 * many outcomes a bad build needs before it is halted, what each phase needs to pass, and the plan's traps (a phase
 * that can never gather its evidence, a bake shorter than the install timeout, a class too small to catch a
 * marginally bad build).
 *
 * The numbers come from the judge itself (`breachBoundary`, `overturnMargin` in `health.ts`) on the exact binomial
 * model: outcomes arrive one at a time and each fails independently at the true rate. Exposure before a halt is
 * these outcomes plus the devices still installing at that moment (`bench:policy` measures both in a full
 * simulation of the lane). Pure: no I/O.
 */
import { haltModel } from './halt-model';
import { guaranteeSentence, overturnMargin, pct, provenBelow, type Thresholds } from './health';
export { haltModel } from './halt-model';
import type { Severity } from './severity';
import { describeWindows } from './maintenance-window';
import { rampAt, stepOf, type LanePacing, type Ramp } from './pacing';
import { laneConfigOf, rulesVersionOf, type LaneCompletion, type LaneConfig, type RolloutPlan } from './plan';

/** What a bad build of one multiple of the threshold costs before it is halted. */
export interface BadBuildPreview {
  /** The true failure rate ÷ maxFailureRate. */
  multiple: number;
  /** Probability that the rule halts it before the class is used up. */
  haltProbability: number;
  /** Expected final outcomes before the halt (capped at the class size: a lane that never halts uses them all). */
  expectedOutcomes: number;
  /** The phase (0-based) whose cumulative share first covers the expected outcomes; null without a class size. */
  haltPhase: number | null;
}

/** What one phase needs to pass at a good build's rate. */
export interface PhasePreview {
  phase: number;
  share: number;
  /** The bake, or for a `{ min, max }` bake its max. */
  bakeSec: number;
  /** The min of a `{ min, max }` bake (from then on proven health ends the phase); null for a plain bake. */
  minBakeSec: number | null;
  /** Devices the phase newly offers (null without a class size). */
  newDevices: number | null;
  /** Outcomes of its own devices the phase needs before it may pass, at half the threshold rate (null: never). */
  outcomesToPass: number | null;
  /** Of those devices, how many may still be installing when it passes. */
  mayStillInstall: number | null;
}

/** The preview of one class. */
export interface ClassPreview {
  deviceClass: string;
  classSize: number | null;
  rule: Thresholds['rule'];
  rulesVersion: number;
  /** Final outcomes of an attempt a phase needs before it may pass (the plan's, or its severity's). */
  minSample: number;
  /** The multiple of the threshold a phase must prove the failure rate below before it passes; null: none asked. */
  proveBelowMultiple: number | null;
  guarantee: string;
  /** Plain rule only: the chance a build at exactly the threshold is halted over the class (no guarantee). */
  falseHaltAtThreshold: number | null;
  badBuilds: BadBuildPreview[];
  phases: PhasePreview[];
  /** When the class is done after its last phase (the plan's `completion`); null: once its last phase is exposed. */
  completion: LaneCompletion | null;
  /** What the plan's severity chose for this class and what the plan (or class) gave itself; null: no severity. */
  severity: SeverityPreview | null;
  /**
   * The class's rate limit (null: none) and, per phase, how long its exposure takes from its first order to the step
   * that completes it (`pacingPreview`).
   */
  pacing: (LanePacing & { exposeSec: number[] }) | null;
  /** The class's maintenance windows in words, or null when orders may go out at any time. */
  maintenanceWindows: string | null;
  warnings: string[];
}

/** Where one setting of a class came from: the severity's defaults, the plan, or the class's override. */
export type SettingSource = 'severity' | 'plan' | 'class';

/** The severity of a plan, per class: each setting it may choose, its value and where it came from. */
export interface SeverityPreview {
  severity: Severity;
  exploited: boolean;
  /** The class size the canary was sized for (`classes.<c>.completion.expectedDevices`); null: unknown, 1 %. */
  canarySizedFor: number | null;
  settings: {
    key: 'phases' | 'thresholds.minSample' | 'thresholds.proveBelowMultiple' | 'completion' | 'rateLimit';
    from: SettingSource;
  }[];
}

/** The horizon of the binomial model when the class size is unknown. */
const DEFAULT_HORIZON = 100_000;

/**
 * Previews every class of a plan. `classSizes` gives the devices per class (one number for all, or per class); a
 * class it does not size is sized by the plan's `completion.expectedDevices` for it, when given; without either the
 * phase checks that need a size are skipped and the model runs to 100,000 outcomes.
 */
export function previewPlan(
  plan: RolloutPlan,
  classSizes: Record<string, number> | number | undefined,
): ClassPreview[] {
  return plan.deviceClasses.map((name) => {
    const size = typeof classSizes === 'number' ? classSizes : classSizes?.[name];
    const config = laneConfigOf(plan, name);
    return {
      ...previewClass(config, size ?? config.completion?.expectedDevices ?? null),
      severity: severityOf(plan, name),
    };
  });
}

/** What the plan's severity chose for one class (null without a severity). */
function severityOf(plan: RolloutPlan, deviceClass: string): SeverityPreview | null {
  if (plan.severity === undefined) return null;
  const override = plan.classes[deviceClass] ?? {};
  const source = (byClass: unknown, byPlan: unknown): SettingSource =>
    byClass !== undefined ? 'class' : byPlan !== undefined ? 'plan' : 'severity';
  return {
    severity: plan.severity,
    exploited: plan.exploited === true,
    canarySizedFor: override.completion?.expectedDevices ?? null,
    settings: [
      { key: 'phases', from: source(override.phases, plan.phases) },
      { key: 'thresholds.minSample', from: source(override.thresholds?.minSample, plan.thresholds.minSample) },
      {
        key: 'thresholds.proveBelowMultiple',
        from: source(override.thresholds?.proveBelowMultiple, plan.thresholds.proveBelowMultiple),
      },
      { key: 'completion', from: source(undefined, plan.completion) },
      { key: 'rateLimit', from: source(override.rateLimit, plan.rateLimit) },
    ],
  };
}

/** Previews one class's settings for a class of `classSize` devices (null: unknown). */
export function previewClass(config: LaneConfig, classSize: number | null): ClassPreview {
  const t = config.thresholds;
  const horizon = classSize ?? DEFAULT_HORIZON;
  const warnings: string[] = [];
  const cumulative = config.phases.map((p) => (classSize === null ? null : Math.floor((classSize * p.share) / 100)));
  const badBuilds = [2, 5].map((multiple) => {
    const rate = Math.min(0.999, multiple * t.maxFailureRate);
    const { haltProbability, expectedOutcomes } = haltModel(t, rate, horizon);
    const covering = cumulative.findIndex((n) => n !== null && n >= expectedOutcomes);
    return {
      multiple,
      haltProbability: round(haltProbability, 4),
      expectedOutcomes: Math.round(expectedOutcomes),
      haltPhase: classSize === null ? null : covering >= 0 ? covering : config.phases.length - 1,
    };
  });
  const two = badBuilds[0]!;
  if (two.haltProbability < 0.5) {
    warnings.push(
      `a build failing at twice the threshold (${pct(2 * t.maxFailureRate)}) is halted with probability only ` +
        `${pct(two.haltProbability)} over ${horizon} outcomes: the class is too small to tell it from a good one`,
    );
  }
  const phases: PhasePreview[] = [];
  let before = 0;
  config.phases.forEach((phase, index) => {
    const total = cumulative[index] ?? null;
    const newDevices = total === null ? null : total - (cumulative[index - 1] ?? 0);
    let outcomesToPass: number | null = null;
    let mayStillInstall: number | null = null;
    if (newDevices !== null && total !== null) {
      const need = passNeed(t, before, newDevices);
      if (need === null) {
        const why =
          newDevices < 1
            ? `it offers no device of its own (${phase.share}% of ${classSize} devices)`
            : `its ${total} devices (with the phases before) cannot give minSample ${t.minSample} outcomes`;
        warnings.push(
          `phase ${index} (${phase.share}%) can never pass: ${why}; the lane would wait for evidence forever`,
        );
      } else {
        [outcomesToPass, mayStillInstall] = [need, newDevices - need];
      }
      before = total;
    }
    if (phase.bakeSec < t.installTimeoutSec && index < config.phases.length - 1) {
      warnings.push(
        `phase ${index} bakes ${phase.bakeSec} s, less than installTimeoutSec ${t.installTimeoutSec} s: a device ` +
          'that dies silently counts as failed only after the timeout, so the phase waits for its devices past the bake',
      );
    }
    phases.push({
      phase: index,
      share: phase.share,
      bakeSec: phase.bakeSec,
      minBakeSec: phase.minBakeSec ?? null,
      newDevices,
      outcomesToPass,
      mayStillInstall,
    });
  });
  let falseHaltAtThreshold: number | null = null;
  if (t.rule === 'plain') {
    falseHaltAtThreshold = round(haltModel(t, t.maxFailureRate, horizon).haltProbability, 4);
    warnings.push(
      `the plain rule halts a build at exactly the threshold with probability ≈ ${pct(falseHaltAtThreshold)} ` +
        `over ${horizon} outcomes; the sequential rule bounds it by falseHaltProbability (${pct(t.falseHaltProbability)})`,
    );
  }
  return {
    deviceClass: config.deviceClass,
    classSize,
    rule: t.rule,
    rulesVersion: rulesVersionOf(config),
    minSample: t.minSample,
    proveBelowMultiple: t.proveBelowMultiple ?? null,
    guarantee: guaranteeSentence(t),
    falseHaltAtThreshold,
    badBuilds,
    phases,
    completion: config.completion ?? null,
    severity: null,
    pacing: config.pacing === undefined ? null : { ...config.pacing, exposeSec: exposeSecOf(config, config.pacing) },
    maintenanceWindows: config.maintenanceWindows === undefined ? null : describeWindows(config.maintenanceWindows),
    warnings,
  };
}

/**
 * Seconds from each phase's first order to the step that completes its exposure, stepping as the lane does (the same
 * `rampAt` and `stepOf`), with no pause, no breach and no window held. A ramp on successes is taken as never rising
 * (no success is known before the launch), so its times are the longest they can be; a ramp on notified devices is
 * exact.
 */
function exposeSecOf(config: LaneConfig, pacing: LanePacing): number[] {
  let ramp: Ramp | undefined;
  let offered = 0;
  return config.phases.map((phase) => {
    let seconds = 0;
    let interval = 0;
    while (offered < phase.cohortBound) {
      seconds += interval;
      ramp = rampAt(pacing, ramp, 0);
      const step = stepOf(ramp.ratePerMinute, pacing.classSize);
      const next = Math.min(phase.cohortBound, offered + step.buckets);
      ramp = { ...ramp, notifiedBuckets: ramp.notifiedBuckets + (next - offered) };
      offered = next;
      interval = step.everySec;
    }
    return seconds;
  });
}

/**
 * The phase's own outcomes needed to pass at half the threshold rate: at least one, the attempt's minSample, and
 * few enough devices still installing that all of them failing could not breach, and with `proveBelowMultiple` the
 * proof. Null when the phase cannot get there with its `newDevices`.
 */
function passNeed(t: Thresholds, before: number, newDevices: number): number | null {
  const rate = t.maxFailureRate / 2;
  for (let own = Math.max(1, t.minSample - before); own <= newDevices; own++) {
    const n = before + own;
    const failures = Math.round(rate * n);
    const proven = t.proveBelowMultiple === undefined || provenBelow(t, failures, n).proven;
    if (proven && overturnMargin(t, failures, n) >= newDevices - own) return own;
  }
  return null;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
