/**
 * The postmortem of one rollout, computed from its domain log (folded with the workflow's own `fold` /
 * `evolveLane`) and, when available, the install events of its time range: per class, the timeline of
 * every decision with who decided, why and the evidence; the state as of any time; the blast radius; the
 * exposure windows; the time from the first failing report to the halt; the data of the HTML charts;
 * a fidelity check (the lane decider, re-run over the recorded inputs, reproduces the log); and, on
 * request, a what-if. It leads with what went wrong: a summary of each halted class (`incidents`), and the
 * halted classes before the healthy ones. Pure: every renderer (text, JSON, HTML) reads this one structure.
 */
import type { DomainEvent, OutcomeCounts } from '../events/domain-events';
import { LANE_CRITERION, criterionName, pct, type HealthEvidence } from '../events/health';
import {
  attemptCounts,
  describeWaitingFor,
  finalOutcomes,
  foldLane,
  regressionNow,
  summedWindows,
  type LaneState,
} from '../events/lane';
import type { LaneConfig, RolloutPlan } from '../events/plan';
import { signalText, type RegressionEvidence, type SignalEvidence } from '../events/regression';
import { fold, type RolloutState } from '../events/rollout';
import { describeEvent } from './describe';
import { scheduleNote, supersedeNotes } from './rollout-notes';
import { ChangeIndex, type CountChange, type DeviceFact } from './outcomes';
import { decisionsOf, haltOf, redecideLane } from './redecide';
import { compareWhatIf, exposureOf, firstDifference, laneConfigsOf, type WhatIfReport } from './what-if';

/** One decision in a class's timeline. */
export type DecisionEntry = {
  at: string;
  seq: number;
  lane: string | null;
  type: DomainEvent['type'];
  /** Who decided: the operator (actor) or `engine`. */
  by: string;
  what: string;
  /** Why: the operator's reason, the pause detail, or the evidence's explanation. */
  why: string | null;
  evidence: (HealthEvidence & { counts?: OutcomeCounts }) | null;
  /** Post-install evidence: every watched signal of a `regression-evaluated`, the signal of a regression breach. */
  regression: SignalEvidence[] | null;
};

/** Install-event facts of a class (absent when the install events could not be read). */
export type ClassOutcomes = {
  /** Devices that installed before the halt took effect (all that installed when the lane never halted). */
  blastRadius: {
    haltAt: string | null;
    haltType: string | null;
    installed: number;
    failed: number;
    installedAfterHalt: number;
  };
  exposureWindow: {
    startedAt: string;
    /**
     * The class size the shares below are of: the plan's `completion.expectedDevices` for the class when it gives one
     * (`classSizeSource: 'plan'`), else estimated from the exposed sample: installed devices ÷ the widest exposed share.
     */
    classSizeEstimate: number;
    classSizeSource: 'plan' | 'estimate';
    patched50At: string | null;
    patched50Sec: number | null;
    patched90At: string | null;
    patched90Sec: number | null;
    patched95At: string | null;
    patched95Sec: number | null;
    patched99At: string | null;
    patched99Sec: number | null;
  };
  firstFailureToHalt: { firstFailureAt: string; haltAt: string; seconds: number } | null;
};

/** Chart data of one class: times in ms since the epoch. */
export type ClassSeries = {
  /** Installed devices as % of the estimated class size. */
  exposure: [number, number][];
  /** Exposed cohort bound in % (a step line). */
  bound: [number, number][];
  /** Failure rate of the judged window after each health delta, per offer. */
  failureRate: { offerId: string; points: [number, number][] }[];
  threshold: number | null;
  markers: { t: number; type: string; label: string }[];
};

/** The postmortem of one class. */
export type ClassReport = {
  lane: string;
  build: string | null;
  status: LaneState['status'];
  phase: number;
  cohortBound: number;
  attempt: number;
  waitingFor: string;
  counts: OutcomeCounts | null;
  verdict: string | null;
  decisions: DecisionEntry[];
  halt: { at: string; type: string; seq: number } | null;
  /**
   * Health deltas the lane applied although some of their offsets were at or below its marks (`overlap`): those
   * offsets were counted twice. 0 on the normal recovery path; see docs/ingest.md for when it can happen.
   */
  overlappingDeltas: number;
  /**
   * How a lane with a completion rule completed (its `lane-completed`): its patched share reached the target, or its
   * deadline passed, with the share it had then. Null for a lane without the rule, or not completed.
   */
  completion: {
    at: string;
    endedBy: 'patched-share' | 'deadline';
    patchedShare: number;
    classSize: number;
    sizeSource: 'plan' | 'estimate';
  } | null;
  /**
   * Lanes with a regression rule (null for the others): the attempt judged and each watched signal's evidence as the
   * lane holds it (rates per device-hour of the updated devices and the control, ratio, e-value and bound, verdict).
   */
  regression: { attempt: number; signals: SignalEvidence[] } | null;
  /** `lane-stalled` events of the class: when, and since when it had heard nothing. */
  stalls: { at: string; quietSince: string; offerId: string; clearedAt: string | null }[];
  outcomes: ClassOutcomes | null;
  series: ClassSeries;
  /** The lane decider re-run over the recorded inputs with the recorded configuration. */
  fidelity: {
    identical: boolean;
    decisions: number;
    firstDifference: string | null;
    rebuiltDeltas: number;
    mismatchedDeltas: number;
    recordedOnlyDeltas: number;
  };
};

/** What went wrong in one halted class: the postmortem's first section. */
export type Incident = {
  lane: string;
  build: string | null;
  status: LaneState['status'];
  /** The halt that took effect (see `ClassReport.halt`): who halted the class and why. */
  halt: { at: string; type: string; seq: number; by: string; why: string | null };
  /**
   * The last breach at or before the halt, or null when the class was halted without one (operator, fleet halt). A
   * post-install regression's breach carries its evidence (`regression`) instead of install counts.
   */
  breach:
    | { at: string; phase: number; attempt: number; rule: 'regression'; regression: RegressionEvidence }
    | {
        at: string;
        phase: number;
        attempt: number;
        /** The judge's rule (`sequential`, `plain`) and the criterion that fired (`all failures`, or a per-code one). */
        rule: string;
        criterion: string;
        /** The codes the criterion judges; null for the lane's own (every code not ignored or judged apart, timeouts). */
        codes: string[] | null;
        /** The failures the judge saw, by code, and the timeouts (the attempt's windows up to the breach). */
        failedByCode: Record<string, number>;
        timedOut: number;
        failures: number;
        sample: number;
        failureRate: number;
        threshold: number;
        explanation: string;
      }
    | null;
  /**
   * Devices of the class that got the build, from the lane's counts over every exposure window: `devices` reported
   * an outcome or were still installing; `beforeHalt` installed before the halt took effect (install events; null
   * when they were not read).
   */
  devices: { devices: number; failed: number; timedOut: number; beforeHalt: number | null };
  /** Seconds from the first failing device report to the halt (install events; null when not read or none). */
  firstFailureToHaltSec: number | null;
  /** The rollback, if one started: `finished`, `failed`, or `running`; devices rolled back and rollbacks failed. */
  rollback: { state: 'finished' | 'failed' | 'running'; rolledBack: number; failed: number } | null;
};

/** The whole postmortem. */
export type ReplayReport = {
  /** What went wrong: one entry per halted class, in plan order. The classes below list the same ones first. */
  incidents: Incident[];
  /** Sentences on the rollout as a whole: what it supersedes or is superseded by, its schedule (`rollout-notes.ts`). */
  notes: string[];
  /** The rollout this one supersedes, as its `rollout-started` records it, or null. */
  supersedes: RolloutState['supersedes'] | null;
  /** The rollouts that supersede this one (their `rollout-started` names it), when they were looked up. */
  supersededBy: string[];
  rolloutId: string;
  releaseId: string | null;
  status: RolloutState['status'];
  startedAt: string | null;
  lastEventAt: string | null;
  /** The `--at` time, or null for the whole log. */
  asOf: string | null;
  events: number;
  rolloutDecisions: DecisionEntry[];
  classes: ClassReport[];
  /** The folded rollout view as of `asOf` (the same fold as the workflow and `status`). */
  state: RolloutState;
  install: { records: number; counted: number; skipped: number } | null;
  whatIf: WhatIfReport | null;
};

/** Install events of the rollout, as `OutcomeTracker` rebuilt them. */
export type InstallFacts = {
  changes: readonly CountChange[];
  facts: ReadonlyMap<string, ReadonlyMap<string, DeviceFact>>;
  records: number;
  skipped: number;
};

function evidenceOf(e: DomainEvent): DecisionEntry['evidence'] {
  switch (e.type) {
    case 'threshold-breached':
      return e.data.evidence.rule === 'regression' ? null : e.data.evidence;
    case 'rollback-failed':
      return { ...e.data.evidence, counts: e.data.totals };
    case 'health-evaluated':
      return { ...e.data.verdict.evidence, counts: e.data.totals };
    case 'fleet-halted':
      return e.data.evidence ?? null;
    default:
      return null;
  }
}

function whyOf(e: DomainEvent): string | null {
  if (e.reason !== undefined) return e.reason;
  switch (e.type) {
    case 'lane-paused':
      return e.data.detail ?? e.data.cause;
    case 'threshold-breached':
    case 'rollback-failed':
      return e.data.evidence.explanation;
    case 'fleet-halted':
      return e.data.reason;
    case 'bake-elapsed':
      return `verdict ${e.data.verdict} when the bake ended`;
    case 'health-evaluated':
      return e.data.verdict.evidence.explanation;
    default:
      return null;
  }
}

/** A timeline entry for an event: who, what, why and evidence. */
export function decisionEntry(e: DomainEvent): DecisionEntry {
  return {
    at: e.at,
    seq: e.seq,
    lane: e.lane,
    type: e.type,
    by: e.actor ?? 'engine',
    what: describeEvent(e),
    why: whyOf(e),
    evidence: evidenceOf(e),
    regression: regressionEvidenceIn(e),
  };
}

/** The post-install evidence an event carries (see `DecisionEntry.regression`), or null. */
function regressionEvidenceIn(e: DomainEvent): SignalEvidence[] | null {
  if (e.type === 'regression-evaluated') return e.data.signals;
  if (e.type === 'threshold-breached' && e.data.evidence.rule === 'regression') return [e.data.evidence];
  return null;
}

/** A class's post-install judgement in words, one signal a line (the text and HTML reports). */
export function regressionLines(r: NonNullable<ClassReport['regression']>): string[] {
  return r.signals.map((s) => `${signalText(s)} (attempt ${r.attempt})`);
}

/**
 * The decisions of a lane's stream: every event except health evaluations, which appear only where the
 * verdict of an offer's window changed (the evidence that moved something) or where the delta counted offsets
 * a second time (`overlap`), plus the fleet halts that halted this lane.
 */
export function laneTimeline(log: readonly DomainEvent[], lane: string): DecisionEntry[] {
  const out: DecisionEntry[] = [];
  const lastVerdict = new Map<string, string>();
  for (const e of log) {
    if (e.lane === null) {
      if (e.type === 'fleet-halted' && e.data.haltLanes.includes(lane)) out.push(decisionEntry(e));
      continue;
    }
    if (e.lane !== lane) continue;
    if (e.type === 'health-evaluated') {
      const verdict = e.data.verdict.verdict;
      if (lastVerdict.get(e.data.offerId) === verdict && e.data.overlap === undefined) continue;
      lastVerdict.set(e.data.offerId, verdict);
    }
    if (e.type === 'regression-evaluated') {
      // Post-install judgements: where the verdict changed, or offsets were counted twice.
      const verdict = `${e.data.attempt}|${e.data.verdict}`;
      if (lastVerdict.get(' post-install') === verdict && e.data.overlap === undefined) continue;
      lastVerdict.set(' post-install', verdict);
    }
    out.push(decisionEntry(e));
  }
  return out;
}

/** What the renderers say about a class whose lane applied `n` (> 0) overlapping deltas. */
export function overlapSentence(n: number): string {
  return (
    `${n} health delta${n === 1 ? '' : 's'} overlapped the lane's high-water marks: the offsets named by OVERLAP in ` +
    `the timeline were counted twice, so the lane's counts differ from what the devices reported by their changes`
  );
}

const MAX_POINTS = 400;

function thin<T>(points: T[]): T[] {
  if (points.length <= MAX_POINTS) return points;
  const step = points.length / MAX_POINTS;
  const out: T[] = [];
  for (let i = 0; i < MAX_POINTS; i++) out.push(points[Math.floor(i * step)]!);
  out.push(points[points.length - 1]!);
  return out;
}

const MARKED = new Set<DomainEvent['type']>([
  'phase-started',
  'threshold-breached',
  'lane-paused',
  'retry-issued',
  'rollback-started',
  'rollback-completed',
  'rollback-failed',
  'lane-completed',
  'lane-aborted',
  'lane-abort-deferred',
]);

function seriesOf(
  log: readonly DomainEvent[],
  lane: string,
  config: LaneConfig | null,
  facts: ReadonlyMap<string, DeviceFact> | undefined,
  classSize: number | null,
): ClassSeries {
  const laneEvents = log.filter((e) => e.lane === lane);
  const bound: [number, number][] = [];
  const rates = new Map<string, [number, number][]>();
  const markers: ClassSeries['markers'] = [];
  for (const e of laneEvents) {
    const t = Date.parse(e.at);
    if (e.type === 'exposure-issued' || e.type === 'exposure-widened') bound.push([t, e.data.cohortBound / 100]);
    if (e.type === 'health-evaluated' && e.data.window === 'exposure') {
      const list = rates.get(e.data.offerId) ?? [];
      list.push([t, e.data.verdict.evidence.failureRate]);
      rates.set(e.data.offerId, list);
    }
    if (MARKED.has(e.type)) markers.push({ t, type: e.type, label: describeEvent(e) });
  }
  for (const e of log) {
    if (e.type === 'fleet-halted' && e.data.haltLanes.includes(lane)) {
      markers.push({ t: Date.parse(e.at), type: e.type, label: describeEvent(e) });
    }
  }
  const exposure: [number, number][] = [];
  if (facts !== undefined && classSize !== null && classSize > 0) {
    const times = [...facts.values()].map((f) => f.installedMs).sort((a, b) => a - b);
    times.forEach((t, i) => exposure.push([t, ((i + 1) / classSize) * 100]));
  }
  return {
    exposure: thin(exposure),
    bound,
    failureRate: [...rates].map(([offerId, points]) => ({ offerId, points: thin(points) })),
    threshold: config?.thresholds.maxFailureRate ?? null,
    markers,
  };
}

function outcomesOf(
  laneEvents: readonly DomainEvent[],
  facts: ReadonlyMap<string, DeviceFact>,
): { outcomes: ClassOutcomes; classSize: number } {
  const exposure = exposureOf(laneEvents, laneEvents, facts);
  const started = laneEvents.find((e) => e.type === 'lane-started');
  const startedAt = started?.at ?? laneEvents[0]?.at ?? new Date(0).toISOString();
  const startMs = Date.parse(startedAt);
  let widest = 0;
  for (const e of laneEvents) {
    if (e.type === 'exposure-issued' || e.type === 'exposure-widened') widest = Math.max(widest, e.data.cohortBound);
  }
  const expected = started?.type === 'lane-started' ? started.data.config.completion?.expectedDevices : undefined;
  const classSize = expected ?? (widest === 0 ? 0 : Math.round(facts.size / (widest / 10000)));
  const patched = [...facts.values()]
    .map((f) => f.patchedMs)
    .filter((t): t is number => t !== null)
    .sort((a, b) => a - b);
  const at = (share: number): [string | null, number | null] => {
    const need = Math.ceil(classSize * share);
    const t = need > 0 ? patched[need - 1] : undefined;
    return t === undefined ? [null, null] : [new Date(t).toISOString(), (t - startMs) / 1000];
  };
  const [patched50At, patched50Sec] = at(0.5);
  const [patched90At, patched90Sec] = at(0.9);
  const [patched95At, patched95Sec] = at(0.95);
  const [patched99At, patched99Sec] = at(0.99);
  const haltMs = exposure.haltAt === null ? Infinity : Date.parse(exposure.haltAt);
  let firstFailure = Infinity;
  for (const f of facts.values()) if (f.failedMs !== null && f.failedMs < firstFailure) firstFailure = f.failedMs;
  return {
    classSize,
    outcomes: {
      blastRadius: {
        haltAt: exposure.haltAt,
        haltType: exposure.haltType,
        installed: exposure.exposed,
        failed: exposure.failed,
        installedAfterHalt: facts.size - exposure.exposed,
      },
      exposureWindow: {
        startedAt,
        classSizeEstimate: classSize,
        classSizeSource: expected === undefined ? 'estimate' : 'plan',
        patched50At,
        patched50Sec,
        patched90At,
        patched90Sec,
        patched95At,
        patched95Sec,
        patched99At,
        patched99Sec,
      },
      firstFailureToHalt:
        exposure.haltAt !== null && firstFailure <= haltMs
          ? {
              firstFailureAt: new Date(firstFailure).toISOString(),
              haltAt: exposure.haltAt,
              seconds: (haltMs - firstFailure) / 1000,
            }
          : null,
    },
  };
}

/**
 * The exposure window in words, as the text and HTML reports print it: `class ≈ 25000 devices (estimated); patched
 * 50% after 12.0 s, 90% after 30.5 s, 95% after 41.2 s, 99% not reached` (times from the lane's start).
 */
export function exposureWindowSentence(w: ClassOutcomes['exposureWindow']): string {
  const secs = (x: number | null): string => (x === null ? 'not reached' : `after ${x.toFixed(1)} s`);
  const size = `class ≈ ${w.classSizeEstimate} devices (${w.classSizeSource === 'plan' ? 'from the plan' : 'estimated'})`;
  return (
    `${size}; patched 50% ${secs(w.patched50Sec)}, 90% ${secs(w.patched90Sec)}, 95% ${secs(w.patched95Sec)}, ` +
    `99% ${secs(w.patched99Sec)}`
  );
}

/** How a lane with a completion rule ended, in words (null without the rule), and the stalls it flagged. */
export function completionSentence(c: Pick<ClassReport, 'completion' | 'stalls'>): string | null {
  const done = c.completion;
  const stalls = c.stalls.length === 0 ? '' : `; stalled ${c.stalls.length}× (first at ${c.stalls[0]?.at ?? '?'})`;
  if (done === null) return stalls === '' ? null : stalls.slice(2);
  const why = done.endedBy === 'deadline' ? 'its completion deadline passed' : 'its target share reported success';
  const size = done.sizeSource === 'plan' ? 'the plan' : 'estimated';
  return `completed at ${done.at}: ${why}, ${(done.patchedShare * 100).toFixed(1)}% of ${done.classSize} devices (${size}) patched${stalls}`;
}

/** How a lane with a completion rule completed, from its `lane-completed` (null without the rule). */
function completionOf(laneEvents: readonly DomainEvent[]): ClassReport['completion'] {
  const done = laneEvents.find((e) => e.type === 'lane-completed');
  if (done?.type !== 'lane-completed') return null;
  const { endedBy, patchedShare, classSize, sizeSource } = done.data;
  if (
    endedBy === undefined ||
    endedBy === 'watch' ||
    patchedShare === undefined ||
    classSize === undefined ||
    sizeSource === undefined
  ) {
    return null;
  }
  return { at: done.at, endedBy, patchedShare, classSize, sizeSource };
}

/** The stalls a lane flagged, each with when it cleared (null while it lasts). */
function stallsOf(laneEvents: readonly DomainEvent[]): ClassReport['stalls'] {
  const stalls: ClassReport['stalls'] = [];
  for (const e of laneEvents) {
    if (e.type === 'lane-stalled') {
      stalls.push({ at: e.at, quietSince: e.data.quietSince, offerId: e.data.offerId, clearedAt: null });
    } else if (e.type === 'lane-stall-cleared') {
      const open = stalls[stalls.length - 1];
      if (open !== undefined && open.clearedAt === null) open.clearedAt = e.at;
    }
  }
  return stalls;
}

/** The breach behind a halt: the lane's last `threshold-breached` up to the halt, with the failures it judged. */
function breachOf(laneEvents: readonly DomainEvent[], haltSeq: number, config: LaneConfig | null): Incident['breach'] {
  const breach = laneEvents.filter((e) => e.type === 'threshold-breached' && e.seq <= haltSeq).at(-1);
  if (breach?.type !== 'threshold-breached') return null;
  const { evidence, offerId, phase, attempt } = breach.data;
  if (evidence.rule === 'regression')
    return { at: breach.at, phase, attempt, rule: 'regression', regression: evidence };
  // The counts the judge saw: the lane's fold just before the breach (rules version 2 judged the attempt's windows
  // summed, version 1 the breached window alone).
  const before = foldLane(laneEvents.filter((e) => e.seq < breach.seq));
  const judged =
    evidence.scope === 'attempt' ? attemptCounts(before, attempt) : (before.windows[offerId]?.totals ?? null);
  const criterion = evidence.breachedBy ?? LANE_CRITERION;
  const named = config?.thresholds.errorCodes.criteria.find((c) => criterionName(c) === criterion);
  const shown = evidence.criteria?.find((c) => c.name === criterion);
  return {
    at: breach.at,
    phase,
    attempt,
    rule: breach.data.rule,
    criterion,
    codes: named?.codes ?? null,
    failedByCode: judged?.failedByCode ?? {},
    timedOut: judged?.timedOut ?? evidence.timedOut ?? 0,
    failures: shown?.failures ?? evidence.failures,
    sample: evidence.sample,
    failureRate: shown?.failureRate ?? evidence.failureRate,
    threshold: shown?.threshold ?? evidence.threshold,
    explanation: evidence.explanation,
  };
}

/** How the lane's last rollback ended: a `rollback-completed` or `rollback-failed` after its start, else running. */
function rollbackOf(laneEvents: readonly DomainEvent[], state: LaneState): Incident['rollback'] {
  if (state.rollback === null) return null;
  const start = laneEvents.filter((e) => e.type === 'rollback-started').at(-1);
  const end = laneEvents.find(
    (e) => (e.type === 'rollback-completed' || e.type === 'rollback-failed') && e.seq > (start?.seq ?? -1),
  );
  const counts = summedWindows(state, 'rollback');
  return {
    state: end === undefined ? 'running' : end.type === 'rollback-completed' ? 'finished' : 'failed',
    rolledBack: counts.succeeded,
    // As `rollout status` counts failed rollbacks: devices that reported one.
    failed: Object.values(counts.failedByCode).reduce((a, b) => a + b, 0),
  };
}

/** The incident of a halted class (null when the class was not halted). */
function incidentOf(c: ClassReport, laneEvents: readonly DomainEvent[], state: LaneState | undefined): Incident | null {
  if (c.halt === null || state === undefined) return null;
  const haltEvent = laneEvents.find((e) => e.seq === c.halt?.seq);
  const entry = haltEvent === undefined ? null : decisionEntry(haltEvent);
  const got = summedWindows(state, 'exposure');
  const outcomes = finalOutcomes(got);
  return {
    lane: c.lane,
    build: c.build,
    status: c.status,
    halt: { ...c.halt, by: entry?.by ?? 'engine', why: entry?.why ?? null },
    breach: breachOf(laneEvents, c.halt.seq, state.config),
    devices: {
      devices: outcomes + got.inProgress,
      failed: outcomes - got.succeeded - got.timedOut,
      timedOut: got.timedOut,
      beforeHalt: c.outcomes?.blastRadius.installed ?? null,
    },
    firstFailureToHaltSec: c.outcomes?.firstFailureToHalt?.seconds ?? null,
    rollback: rollbackOf(laneEvents, state),
  };
}

/**
 * An incident in a few labelled lines, the same words in the text and the HTML postmortem: what failed (rule,
 * criterion, codes), when, how many devices got the build, first failure to halt, and the rollback.
 */
export function incidentFacts(i: Incident): [string, string][] {
  const b = i.breach;
  let failed = `no breach: halted by ${i.halt.by}${i.halt.why === null ? '' : ` (${i.halt.why})`}`;
  let when = `halted ${i.halt.at} (${i.halt.type})`;
  if (b !== null && 'regression' in b) {
    failed = `post-install regression, ${b.regression.signal}: ${b.regression.explanation}`;
    when =
      `breach ${b.at} in phase ${b.phase + 1}, attempt ${b.attempt}; halted ${i.halt.at} (${i.halt.type}` +
      `${i.halt.by === 'engine' ? '' : ` by ${i.halt.by}`})`;
  } else if (b !== null) {
    const seen = Object.entries(b.failedByCode)
      .sort(([, x], [, y]) => y - x)
      .map(([code, n]) => `${code} ${n}`);
    if (b.timedOut > 0) seen.push(`timed out ${b.timedOut}`);
    failed =
      `${b.criterion === LANE_CRITERION ? 'all failures' : `criterion ${b.criterion}`}` +
      `${b.codes === null ? '' : ` (codes ${b.codes.join(', ')})`}, ${b.rule} rule: ` +
      `${b.failures} of ${b.sample} (${pct(b.failureRate)}) significantly above ${pct(b.threshold)}` +
      `${seen.length === 0 ? '' : `; failures seen: ${seen.join(', ')}`}`;
    when =
      `breach ${b.at} in phase ${b.phase + 1}, attempt ${b.attempt}; halted ${i.halt.at} (${i.halt.type}` +
      `${i.halt.by === 'engine' ? '' : ` by ${i.halt.by}`})`;
  }
  const d = i.devices;
  const devices =
    `${d.devices} got build ${i.build ?? '?'} (${d.failed} failed${d.timedOut > 0 ? `, ${d.timedOut} timed out` : ''})` +
    (d.beforeHalt === null ? '' : `; ${d.beforeHalt} installed it before the halt`);
  const r = i.rollback;
  const rollback =
    r === null
      ? 'none started'
      : `${r.state}: ${r.rolledBack} devices rolled back${r.failed > 0 ? `, ${r.failed} failed to roll back` : ''}`;
  const toHalt = i.firstFailureToHaltSec;
  return [
    ['what failed', failed],
    ['when', when],
    ['devices', devices],
    [
      'first failing report → halt',
      toHalt !== null
        ? `${toHalt.toFixed(3)} s`
        : d.beforeHalt === null
          ? 'not known (install events not read)'
          : 'no failing report before the halt',
    ],
    ['rollback', rollback],
  ];
}

/** Restricts install facts to what was known at `asOfMs`. */
function factsAsOf(facts: ReadonlyMap<string, DeviceFact>, asOfMs: number): Map<string, DeviceFact> {
  const out = new Map<string, DeviceFact>();
  for (const [key, f] of facts) {
    if (f.installedMs > asOfMs) continue;
    out.set(key, {
      ...f,
      failedMs: f.failedMs !== null && f.failedMs <= asOfMs ? f.failedMs : null,
      patchedMs: f.patchedMs !== null && f.patchedMs <= asOfMs ? f.patchedMs : null,
    });
  }
  return out;
}

/** What `buildReport` needs. */
export type ReportInput = {
  rolloutId: string;
  /** The rollout's whole domain log (as `readRolloutLog` returns it). */
  events: readonly DomainEvent[];
  install?: InstallFacts | undefined;
  /** State as of this time (ISO); events after it are left out. */
  at?: string | undefined;
  /** A what-if alternative plan (already merged onto the recorded one) and where it came from. */
  whatIf?: { plan: RolloutPlan; source: string } | undefined;
  /** The rollouts that supersede this one (`findSupersedingRollouts`, replay/superseded-by.ts), when looked up. */
  supersededBy?: readonly string[] | undefined;
};

/**
 * Builds the postmortem. With `at`, everything (timeline, state, blast radius, charts) is as of that time:
 * only events with `at ≤ asOf` and install reports appended by then.
 */
export function buildReport(input: ReportInput): ReplayReport {
  const asOfMs = input.at === undefined ? Infinity : Date.parse(input.at);
  const log = input.events.filter((e) => Date.parse(e.at) <= asOfMs);
  const state = fold(log);
  const index =
    input.install === undefined
      ? undefined
      : new ChangeIndex(input.install.changes.filter((c) => c.timestampMs <= asOfMs));
  const changes = input.install?.changes.filter((c) => c.timestampMs <= asOfMs) ?? [];
  const lanes = state.plan?.deviceClasses ?? Object.keys(state.lanes);
  const configs: Record<string, LaneConfig> = {};
  const allFacts = new Map<string, ReadonlyMap<string, DeviceFact>>();
  const incidents: Incident[] = [];
  const classes = lanes.map((lane): ClassReport => {
    const laneState = state.lanes[lane];
    const laneEvents = log.filter((e) => e.lane === lane);
    const config = laneState?.config ?? null;
    if (config !== null) configs[lane] = config;
    const rawFacts = input.install?.facts.get(lane);
    const facts = rawFacts === undefined ? undefined : asOfMs === Infinity ? rawFacts : factsAsOf(rawFacts, asOfMs);
    if (facts !== undefined) allFacts.set(lane, facts);
    const computed = facts === undefined || laneEvents.length === 0 ? null : outcomesOf(laneEvents, facts);
    const haltEvent = haltOf(laneEvents);
    const redo =
      config === null ? null : redecideLane(log, lane, config, index === undefined ? undefined : { index, changes });
    const diff = redo === null ? null : firstDifference(laneEvents, redo.events);
    const windowId =
      laneState?.status === 'rolling-back' ||
      laneState?.status === 'rolled-back' ||
      laneState?.status === 'rollback-failed'
        ? (laneState.rollback?.offerId ?? null)
        : (laneState?.offerId ?? null);
    const window = windowId === null ? undefined : laneState?.windows[windowId];
    const report: ClassReport = {
      lane,
      build: config?.artifact.build ?? null,
      status: laneState?.status ?? 'pending',
      phase: laneState?.phase ?? -1,
      cohortBound: laneState?.cohortBound ?? 0,
      attempt: laneState?.attempt ?? 1,
      waitingFor: describeWaitingFor(laneState?.waitingFor ?? null),
      counts: window?.totals ?? null,
      verdict: window?.verdict?.verdict ?? null,
      decisions: laneTimeline(log, lane),
      halt: haltEvent === null ? null : { at: haltEvent.at, type: haltEvent.type, seq: haltEvent.seq },
      overlappingDeltas: laneEvents.filter((e) => e.type === 'health-evaluated' && e.data.overlap !== undefined).length,
      completion: completionOf(laneEvents),
      regression: laneState === undefined ? null : regressionNow(laneState),
      stalls: stallsOf(laneEvents),
      outcomes: computed?.outcomes ?? null,
      series: seriesOf(log, lane, config, facts, computed?.classSize ?? null),
      fidelity: {
        identical: redo !== null && diff === null,
        decisions: redo === null ? 0 : decisionsOf(redo.events).length,
        firstDifference:
          diff === null
            ? null
            : `#${diff.index}: recorded ${diff.a ? `${diff.a.at} ${diff.a.type} ${JSON.stringify(diff.a.data).slice(0, 300)}` : '(none)'}, re-decided ${diff.b ? `${diff.b.at} ${diff.b.type} ${JSON.stringify(diff.b.data).slice(0, 300)}` : '(none)'}`,
        rebuiltDeltas: redo?.rebuiltDeltas ?? 0,
        mismatchedDeltas: redo?.mismatchedDeltas ?? 0,
        recordedOnlyDeltas: redo?.recordedOnlyDeltas ?? 0,
      },
    };
    const incident = incidentOf(report, laneEvents, laneState);
    if (incident !== null) incidents.push(incident);
    return report;
  });
  // What went wrong first: the halted classes, then the others, each in plan order.
  const halted = new Set(incidents.map((i) => i.lane));
  classes.sort((a, b) => Number(halted.has(b.lane)) - Number(halted.has(a.lane)));
  let whatIf: WhatIfReport | null = null;
  if (input.whatIf !== undefined) {
    const alternative = laneConfigsOf(input.whatIf.plan, configs);
    const install = index === undefined ? undefined : { index, changes };
    const runs = Object.keys(configs).map((lane) => ({
      baseline: redecideLane(log, lane, configs[lane]!, install),
      whatIf: redecideLane(log, lane, alternative[lane]!, install),
    }));
    whatIf = compareWhatIf(input.whatIf.source, log, runs, allFacts);
  }
  const supersededBy = [...(input.supersededBy ?? [])];
  const notes = [...supersedeNotes(state.supersedes, supersededBy), scheduleNote(log)].filter((n) => n !== null);
  return {
    incidents,
    notes,
    supersedes: state.supersedes ?? null,
    supersededBy,
    rolloutId: input.rolloutId,
    releaseId: state.plan?.releaseId ?? null,
    status: state.status,
    startedAt: state.startedAt,
    lastEventAt: log[log.length - 1]?.at ?? null,
    asOf: input.at ?? null,
    events: log.length,
    rolloutDecisions: log.filter((e) => e.lane === null).map(decisionEntry),
    classes,
    state,
    install:
      input.install === undefined
        ? null
        : { records: input.install.records, counted: changes.length, skipped: input.install.skipped },
    whatIf,
  };
}
