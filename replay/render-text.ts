/**
 * The postmortem as text for a terminal: first what went wrong (a summary of each halted class), then per class
 * (halted ones first) state, blast radius, exposure window, first failure to halt, fidelity, then the decision
 * timeline (who, what, why, evidence); and the what-if, if asked.
 */
import {
  completionSentence,
  exposureWindowSentence,
  incidentFacts,
  overlapSentence,
  regressionLines,
  type ClassReport,
  type DecisionEntry,
  type Incident,
  type ReplayReport,
} from './postmortem';
import type { WhatIfReport } from './what-if';

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
/** One timeline line: time, who, what, why, and the evidence's numbers. */
export function formatDecision(d: DecisionEntry): string {
  const who = d.by === 'engine' ? 'engine' : `by ${d.by}`;
  const why = d.why !== null && !d.what.includes(d.why) ? ` — why: ${d.why}` : '';
  const ev = d.evidence;
  const evidence =
    ev === null
      ? ''
      : ` [evidence: ${ev.failures} of ${ev.sample} failed (${pct(ev.failureRate)}), threshold ${pct(ev.threshold)}, min sample ${ev.minSample}, rule ${ev.rule}${ev.llr !== undefined ? `, llr ${ev.llr.toFixed(2)} ≥ ${ev.bound?.toFixed(2) ?? '?'}` : ''}]`;
  return `  ${d.at.replace('T', ' ')}  #${String(d.seq).padEnd(4)} ${who.padEnd(10)} ${d.what}${why}${evidence}`;
}

function classText(c: ClassReport): string[] {
  const lines = [
    `■ ${c.lane}  build ${c.build ?? '?'}  — ${c.status}, phase ${c.phase + 1}, exposure ${c.cohortBound / 100}%, attempt ${c.attempt}, waiting for ${c.waitingFor}`,
  ];
  if (c.halt !== null) lines.push(`  halt: ${c.halt.type} at ${c.halt.at} (#${c.halt.seq})`);
  if (c.overlappingDeltas > 0) lines.push(`  WARNING: ${overlapSentence(c.overlappingDeltas)}`);
  const completion = completionSentence(c);
  if (completion !== null) lines.push(`  completion: ${completion}`);
  if (c.regression !== null) lines.push(...regressionLines(c.regression).map((l) => `  post-install: ${l}`));
  const o = c.outcomes;
  if (o !== null) {
    const b = o.blastRadius;
    lines.push(
      `  blast radius: ${b.installed} devices installed the build ${b.haltAt === null ? '(never halted)' : 'before the halt'}, ${b.failed} of them failed` +
        (b.installedAfterHalt > 0 ? `; ${b.installedAfterHalt} more installed after it (offers already out)` : ''),
    );
    lines.push(`  exposure window: ${exposureWindowSentence(o.exposureWindow)}`);
    if (o.firstFailureToHalt !== null) {
      lines.push(
        `  first failing report ${o.firstFailureToHalt.firstFailureAt} → halt ${o.firstFailureToHalt.haltAt}: ${o.firstFailureToHalt.seconds.toFixed(3)} s`,
      );
    }
  } else {
    lines.push('  (install events not read: no blast radius or exposure window)');
  }
  const f = c.fidelity;
  lines.push(
    f.identical
      ? `  re-decided: all ${f.decisions} decisions identical to the log (${f.rebuiltDeltas} deltas rebuilt from install events, ${f.mismatchedDeltas} differed, ${f.recordedOnlyDeltas} recorded only)`
      : `  re-decided: DIFFERS from the log at ${f.firstDifference ?? '?'}`,
  );
  lines.push('  timeline:');
  lines.push(...c.decisions.map(formatDecision));
  return lines;
}

/** What went wrong, as text: one block per halted class, or a line saying none was halted. */
export function incidentsText(incidents: readonly Incident[]): string[] {
  if (incidents.length === 0) return ['WHAT WENT WRONG: no class was halted'];
  const lines = [`WHAT WENT WRONG: ${incidents.length} class${incidents.length === 1 ? '' : 'es'} halted`];
  for (const i of incidents) {
    lines.push(`  ■ ${i.lane}  build ${i.build ?? '?'}  — ${i.status}`);
    for (const [label, text] of incidentFacts(i)) lines.push(`    ${`${label}:`.padEnd(30)} ${text}`);
  }
  return lines;
}

/** The what-if section as text. */
export function whatIfText(w: WhatIfReport): string[] {
  const lines = [`WHAT-IF ${w.source}: ${w.differs ? 'decisions would differ' : 'no difference'}`];
  for (const c of w.classes) {
    if (!c.differs) {
      lines.push(`  ${c.lane}: no difference`);
      continue;
    }
    const halt = (x: { haltAt: string | null; haltType: string | null }) =>
      x.haltAt === null ? 'no halt' : `${x.haltType} at ${x.haltAt}`;
    lines.push(`  ${c.lane}: first difference at ${c.firstDifference?.at ?? '?'}`);
    lines.push(`    recorded plan: ${c.firstDifference?.baseline ?? '(nothing)'}`);
    lines.push(`    what-if:       ${c.firstDifference?.whatIf ?? '(nothing)'}`);
    lines.push(`    halt: recorded plan ${halt(c.baseline)}; what-if ${halt(c.whatIf)}`);
    if (c.haltEarlierSec !== null) {
      lines.push(
        `    the what-if halts ${Math.abs(c.haltEarlierSec).toFixed(3)} s ${c.haltEarlierSec >= 0 ? 'earlier' : 'later'}`,
      );
    }
    lines.push(
      `    exposed: ${c.baseline.exposed} → ${c.whatIf.exposed} (${c.fewerExposed} fewer), failed among them: ${c.baseline.failed} → ${c.whatIf.failed} (${c.fewerFailed} fewer)`,
    );
    for (const r of c.refused) lines.push(`    recorded ${r.command} at ${r.at} would be refused: ${r.reason}`);
    if (c.droppedDeltas > 0)
      lines.push(`    ${c.droppedDeltas} health deltas belong to offers the what-if never issues`);
  }
  lines.push('  Note: exposure counts only exposures that really happened.');
  for (const note of w.notes) lines.push(`  - ${note}`);
  return lines;
}

/** The whole postmortem as text. */
export function renderText(r: ReplayReport): string {
  const lines = [
    `rollout ${r.rolloutId} (${r.releaseId ?? '?'}) — ${r.status}; started ${r.startedAt ?? '?'}; ${r.events} events${r.asOf !== null ? `; state as of ${r.asOf}` : ''}`,
  ];
  lines.push(...r.notes);
  if (r.install !== null) {
    lines.push(
      `install events: ${r.install.records} records read, ${r.install.counted} counted, ${r.install.skipped} not counted`,
    );
  }
  lines.push('', ...incidentsText(r.incidents));
  if (r.rolloutDecisions.length > 0) lines.push('', 'rollout decisions:');
  for (const d of r.rolloutDecisions) lines.push(formatDecision(d));
  for (const c of r.classes) lines.push('', ...classText(c));
  if (r.whatIf !== null) lines.push('', ...whatIfText(r.whatIf));
  return `${lines.join('\n')}\n`;
}
