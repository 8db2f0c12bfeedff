/**
 * The text of `rollout validate --explain`: the preview of `events/preview.ts` per class, for a person.
 */
import { pct } from '../events/health';
import { formatDurationSec } from '../events/plan';
import type { LaneCompletion } from '../events/plan';
import type { ClassPreview, PhasePreview, SeverityPreview } from '../events/preview';

/** Renders the preview of every class, warnings last in each. */
export function renderPreview(previews: readonly ClassPreview[]): string {
  return previews.map(renderClass).join('\n\n');
}

/** `bake 10m`, or for a `{ min, max }` bake `bake min 2m, max 30m (ends once proven healthy after min)`. */
function bakeText(ph: PhasePreview): string {
  if (ph.minBakeSec === null) return `bake ${formatDurationSec(ph.bakeSec)}`;
  return `bake min ${formatDurationSec(ph.minBakeSec)}, max ${formatDurationSec(ph.bakeSec)} (ends once proven healthy after min)`;
}

/** When the class is done: on its patched share (or the deadline), or, without a completion rule, once fully exposed. */
function completionText(c: LaneCompletion | null): string {
  if (c === null) return 'done once its last phase is exposed (no completion rule: devices may still be unpatched)';
  const size =
    c.expectedDevices === undefined
      ? 'estimated from the devices heard of'
      : `${c.expectedDevices} devices, per the plan`;
  return (
    `done once ${+(c.patchedShare * 100).toFixed(2)}% of the class reports success (class size ${size}), ` +
    `or at the latest ${formatDurationSec(c.deadlineSec)} after its last phase is exposed; ` +
    `flagged stalled after ${formatDurationSec(c.stallAfterSec)} without a report`
  );
}

/** The severity's line and, per setting, whether the severity chose it or the plan (or the class) gave it. */
function severityLines(s: SeverityPreview, p: ClassPreview): string[] {
  const canary =
    s.canarySizedFor === null
      ? 'canary of 1 %: the plan gives no class size (classes.<class>.completion.expectedDevices)'
      : `canary sized for ${s.canarySizedFor} devices`;
  const value = (key: SeverityPreview['settings'][number]['key']): string => {
    if (key === 'phases') return `${p.phases.map((ph) => `${ph.share}%`).join(' → ')}, ${canary}`;
    if (key === 'thresholds.minSample') return String(p.minSample);
    if (key === 'thresholds.proveBelowMultiple') {
      return p.proveBelowMultiple === null
        ? 'none: a phase passes on the absence of a breach'
        : `${p.proveBelowMultiple}: a phase passes only once its failure rate is proven below ${p.proveBelowMultiple} × maxFailureRate`;
    }
    if (key === 'rateLimit') {
      if (p.pacing !== null) return `at most ${p.pacing.maxPerMinute} devices/min (see "paced" below)`;
      return s.severity === 'critical' || s.severity === 'high'
        ? 'none: every device gets the fix once it checks in'
        : 'none: the plan gives no class size to turn devices into cohort buckets';
    }
    return p.completion === null ? 'none' : `deadline ${formatDurationSec(p.completion.deadlineSec)}`;
  };
  const origin = {
    severity: `chosen by severity ${s.severity}`,
    plan: 'given by the plan',
    class: 'given by the class',
  };
  return [
    `  severity ${s.severity}${s.exploited ? ', exploited (bakes halved, minSample catches a 3× build at 95 %)' : ''}:`,
    ...s.settings.map((setting) => `    ${setting.key}: ${value(setting.key)}  [${origin[setting.from]}]`),
  ];
}

/** The class's rate limit (with the time each phase's exposure takes at it) and its maintenance windows. */
function pacingText(p: ClassPreview): string[] {
  const lines: string[] = [];
  const r = p.pacing;
  if (r !== null) {
    const fleet = r.fleetMaxPerMinute === undefined ? '' : ` (its share of ${r.fleetMaxPerMinute}/min fleet-wide)`;
    const ramp =
      r.ramp === undefined
        ? `at most ${r.maxPerMinute} devices/min${fleet}`
        : `${r.baseRatePerMinute} devices/min, × ${r.ramp.factor} every ${r.ramp.every} devices ` +
          `${r.ramp.counting === 'notified' ? 'notified' : 'reporting success'}, at most ${r.maxPerMinute}/min${fleet}`;
    const times = r.exposeSec.map((sec, i) => `phase ${i} ${formatDurationSec(sec)}`).join(', ');
    const longest = r.ramp?.counting === 'succeeded' ? ' (at most: no rise counted)' : '';
    lines.push(
      `  paced: ${ramp}, in steps of whole buckets of ${r.classSize} devices; each phase's exposure takes ` +
        `${times}${longest}, and its bake starts after`,
    );
  }
  if (p.maintenanceWindows !== null) {
    lines.push(`  orders go out only in its maintenance windows: ${p.maintenanceWindows} (a rollback at any time)`);
  }
  return lines;
}

function renderClass(p: ClassPreview): string {
  const size = p.classSize === null ? 'class size not given (--class-size)' : `${p.classSize} devices`;
  const lines = [`${p.deviceClass} (${size}, ${p.rule} rule, rules version ${p.rulesVersion})`, `  ${p.guarantee}`];
  if (p.severity !== null) lines.push(...severityLines(p.severity, p));
  for (const b of p.badBuilds) {
    const where = b.haltPhase === null ? '' : `, in phase ${b.haltPhase} (${p.phases[b.haltPhase]?.share}%)`;
    lines.push(
      `  a build failing at ${b.multiple}× the threshold: halted with probability ${pct(b.haltProbability)}, ` +
        `after ≈ ${b.expectedOutcomes} outcomes on average${where}; devices still installing then add to the exposure`,
    );
  }
  lines.push("  phases (at half the threshold rate: outcomes of the phase's own devices it needs to pass):");
  for (const ph of p.phases) {
    const devices = ph.newDevices === null ? '' : `  ${ph.newDevices} new devices`;
    const need =
      ph.newDevices === null
        ? ''
        : ph.outcomesToPass === null
          ? '  never passes'
          : `  needs ${ph.outcomesToPass} (${ph.mayStillInstall} may still be installing)`;
    lines.push(`    ${ph.phase}  ${ph.share}%  ${bakeText(ph)}${devices}${need}`);
  }
  lines.push(`  ${completionText(p.completion)}`);
  lines.push(...pacingText(p));
  if (p.warnings.length > 0) {
    lines.push('  warnings:');
    for (const w of p.warnings) lines.push(`    - ${w}`);
  }
  return lines.join('\n');
}
