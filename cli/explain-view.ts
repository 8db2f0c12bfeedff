/**
 * The text of `rollout validate --explain`: the preview of `events/preview.ts` per class, for a person.
 */
import { pct } from '../events/health';
import { formatDurationSec } from '../events/plan';
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
  if (p.warnings.length > 0) {
    lines.push('  warnings:');
    for (const w of p.warnings) lines.push(`    - ${w}`);
  }
  return lines.join('\n');
}
