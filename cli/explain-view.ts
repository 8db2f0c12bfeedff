/**
 * The text of `rollout validate --explain`: the preview of `events/preview.ts` per class, for a person.
 */
import { pct } from '../events/health';
import { formatDurationSec } from '../events/plan';
import type { LaneCompletion } from '../events/plan';
import type { ClassPreview, PhasePreview } from '../events/preview';

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

function renderClass(p: ClassPreview): string {
  const size = p.classSize === null ? 'class size not given (--class-size)' : `${p.classSize} devices`;
  const lines = [`${p.deviceClass} (${size}, ${p.rule} rule, rules version ${p.rulesVersion})`, `  ${p.guarantee}`];
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
  if (p.warnings.length > 0) {
    lines.push('  warnings:');
    for (const w of p.warnings) lines.push(`    - ${w}`);
  }
  return lines.join('\n');
}
