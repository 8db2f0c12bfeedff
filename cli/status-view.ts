/**
 * Renders a rollout's status for a person: one table row per device class (phase, exposure, outcome
 * counts, the judged window's failure rate and the class total against its threshold, verdict — a breach's evidence
 * where the class halted on one —, what it waits for), a line per breach that halted a class, the live multi-bar view
 * of `status --watch`, and what the check of the rollout's event log found (event ids with two contents),
 * also in `--json`. `now` is passed in so the output is testable.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { LaneStatusView, RolloutStatusView } from '../client';
import { isRolloutFinished } from '../client/operations';
import type { WaitingFor } from '../events/domain-events';
import { formatRate, formatRatio } from '../events/regression';
import { isLaneFinished } from '../events/lane';
import { conflictWarning, type EventConflict } from '../replay/event-conflicts';

const percent = (x: number | null, digits = 2): string => (x === null ? '-' : `${(x * 100).toFixed(digits)}%`);

function failedOf(lane: LaneStatusView): number {
  return Object.values(lane.total.failedByCode).reduce((a, b) => a + b, 0);
}

function inSeconds(until: string, now: number): string {
  return durationText((Date.parse(until) - now) / 1000);
}

/** Seconds as the status writes a wait: `45s`, `3m20s`, `2.5h`. */
function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

/** What a lane waits for, in words: "bake 25s", "approval of phase 3", "operator (paused: breach)". */
export function waitingText(
  lane: Pick<LaneStatusView, 'waitingFor' | 'pausedBy' | 'status'> &
    Partial<Pick<LaneStatusView, 'abortPending' | 'lost'>>,
  now: number,
): string {
  if (lane.lost) return 'operator (lane workflow lost: abort the rollout)';
  const w: WaitingFor | null = lane.waitingFor;
  if (w === null)
    return lane.status === 'completed' || lane.status === 'rolled-back' || lane.status === 'aborted' ? 'done' : '-';
  switch (w.kind) {
    case 'bake':
      // A { min, max } bake: proven health ends it from min on, the max ends it at the latest.
      if (w.maxUntil !== undefined) return `min bake ${inSeconds(w.until, now)} (max ${inSeconds(w.maxUntil, now)})`;
      if (w.minUntil !== undefined) return `proof, or bake ${inSeconds(w.until, now)}`;
      return `bake ${inSeconds(w.until, now)}`;
    case 'approval':
      return `approval of phase ${w.phase + 1}`;
    case 'evidence':
      return `evidence for phase ${w.phase + 1}`;
    case 'operator':
      return `operator${lane.pausedBy ? ` (paused: ${lane.pausedBy})` : ''}`;
    case 'retry-backoff':
      return `retry ${w.attempt} in ${inSeconds(w.until, now)}`;
    case 'rollback':
      return `rollback (≤ ${inSeconds(w.until, now)})${lane.abortPending ? ', then abort' : ''}`;
    case 'patching':
      return `${percent(w.patchedShare, 0)} patched, or deadline ${inSeconds(w.until, now)}`;
    case 'watch':
      return `regression watch ${inSeconds(w.until, now)}`;
    case 'step':
      return `next step ${inSeconds(w.until, now)} (${w.cohortBound / 100}% of ${w.targetBound / 100}%)`;
    case 'window':
      return `window opens ${inSeconds(w.until, now)} (${w.holds === 'step' ? 'next step' : 'offer'} of phase ${w.phase + 1})`;
    default: {
      const _exhaustive: never = w;
      return _exhaustive;
    }
  }
}

const ROLLBACK_STATUSES: readonly LaneStatusView['status'][] = ['rolling-back', 'rolled-back', 'rollback-failed'];

/**
 * Whether the lane's row shows its last breach rather than the verdict of the window judged now: a class rolled back
 * (or rolling back) after a breach, whose rollback window's verdict says nothing about the build, and a class paused
 * by a breach.
 */
export function showsBreach(
  lane: Pick<LaneStatusView, 'status' | 'pausedBy' | 'lastBreach'>,
): lane is typeof lane & { lastBreach: NonNullable<LaneStatusView['lastBreach']> } {
  if (lane.lastBreach === null) return false;
  return lane.status === 'rolling-back' || lane.status === 'rolled-back' || lane.pausedBy === 'breach';
}

/**
 * The rate cell: the judged window's rate with the window named, the class total, and the maximum —
 * `4.00% (phase 3) · 1.20% total / 5.00%`. A completed class shows its total alone: the last window's judgement is
 * not what the class got.
 */
function rateCell(lane: LaneStatusView): string {
  const max = percent(lane.maxFailureRate);
  const total = `${percent(lane.totalFailureRate)} total`;
  if (lane.status === 'completed') return `${total} / ${max}`;
  if (lane.failureRate === null) return `- · ${total} / ${max}`;
  const window = lane.windowLabel.replace(/, attempt 1$/, '');
  return `${percent(lane.failureRate)} (${window}) · ${total} / ${max}`;
}

/** The verdict cell: the last breach with its evidence where it explains the row, else the window's verdict. */
function verdictCell(lane: LaneStatusView): string {
  if (showsBreach(lane)) {
    const b = lane.lastBreach;
    if (b.regression !== undefined) {
      return `breach (phase ${b.phase + 1}: ${b.regression.signal} ${formatRatio(b.regression.ratio)} > ${b.regression.maxRateRatio}×)`;
    }
    return `breach (phase ${b.phase + 1}: ${percent(b.failureRate)} > ${percent(b.maxFailureRate)})`;
  }
  if (lane.verdict === null) return '-';
  return ROLLBACK_STATUSES.includes(lane.status) ? `${lane.verdict} (rollback)` : lane.verdict;
}

/**
 * The lane's row cells, shared by the table and the watch bars. Installed / failed / timed out count the
 * whole class (every phase and attempt); the rate cell names the window it judges beside the class total.
 */
export function laneCells(lane: LaneStatusView, now: number): Record<string, string> {
  return {
    class: lane.lane,
    status: lane.lost ? `lost (${lane.lost.cause})` : lane.stalled ? `${lane.status} (stalled)` : lane.status,
    phase: lane.phase < 0 ? `-/${lane.phases}` : `${lane.phase + 1}/${lane.phases}`,
    exposed: `${lane.exposurePercent.toFixed(2)}%`,
    installed: String(lane.total.succeeded),
    failed: String(failedOf(lane)),
    timedOut: String(lane.total.timedOut),
    rolledBack:
      lane.rolledBack + lane.rollbackFailed > 0
        ? `${lane.rolledBack}${lane.rollbackFailed > 0 ? ` (${lane.rollbackFailed} failed)` : ''}`
        : '-',
    rate: rateCell(lane),
    verdict: verdictCell(lane),
    patched: patchedCell(lane),
    waiting: waitingText(lane, now),
  };
}

/** `62.1% / 95% eta 14:02:10Z` (est.): the patched share against its target; `-` for a lane without a completion rule. */
function patchedCell(lane: LaneStatusView): string {
  const p = lane.patched;
  if (p === null) return '-';
  const eta = p.eta === null ? '' : ` eta ${p.eta.slice(11, 19)}Z`;
  return `${percent(p.patchedShare, 1)} / ${percent(p.target, 0)}${eta}${p.sizeSource === 'estimate' ? ' (est. size)' : ''}`;
}

/** `PATCHED phone-a: 50% after 1m20s, 90% after 2m5s, 95% -, 99% - (of 25000 devices, estimated)`, for lanes with a rule. */
export function patchedLine(lane: LaneStatusView): string | null {
  const p = lane.patched;
  // A class rolled back (or rolling back) is being unpatched: its times say nothing more.
  if (p === null || ROLLBACK_STATUSES.includes(lane.status)) return null;
  const times = Object.entries(p.secondsTo)
    .map(([m, s]) => `${m}% ${s === null ? '-' : `after ${durationText(s)}`}`)
    .join(', ');
  const of = `of ${p.classSize} devices, ${p.sizeSource === 'plan' ? 'from the plan' : 'estimated'}`;
  return `  PATCHED ${lane.lane}: ${times} (${of})`;
}

/**
 * `REGRESSION phone-a (attempt 1): app-crash 2.10× / 1.5× watching (0.021/h vs 0.01/h, 120 vs 1080 device-h)`:
 * per watched signal the ratio of the updated devices' rate to the control's, the tolerated ratio and the verdict, for
 * a lane with a regression rule; null for the others.
 */
export function regressionLine(lane: LaneStatusView): string | null {
  const r = lane.regression;
  if (r === null) return null;
  const signals = r.signals.map(
    (s) =>
      `${s.signal} ${formatRatio(s.ratio)} / ${s.maxRateRatio}× ${s.verdict} (${formatRate(s.updatedRatePerHour)} vs ` +
      `${formatRate(s.controlRatePerHour)}, ${Math.round(s.updatedHours)} vs ${Math.round(s.controlHours)} device-h)`,
  );
  return `  REGRESSION ${lane.lane} (attempt ${r.attempt}): ${signals.join('; ')}`;
}

/**
 * `PACING phone-a: offered 1.20% of 10.00%, 4000/min (max 4000/min), next step 14:02:10Z` for a rate-limited lane, and
 * its windows (`WINDOW phone-a: mon,tue 01:00–05:00 (Europe/Berlin), order held until …`); nothing for other lanes.
 */
export function pacingLines(lane: LaneStatusView): string[] {
  const lines: string[] = [];
  const p = lane.pacing;
  if (p !== null && !isLaneFinished(lane.status)) {
    const fleet = p.fleetMaxPerMinute === null ? '' : `, its share of ${p.fleetMaxPerMinute}/min fleet-wide`;
    const next = p.nextStepAt === null ? '' : `, next step ${p.nextStepAt}`;
    lines.push(
      `  PACING ${lane.lane}: offered ${(p.offered / 100).toFixed(2)}% of ${(p.targetBound / 100).toFixed(2)}%, ` +
        `${p.ratePerMinute}/min (max ${p.maxPerMinute}/min${fleet})${next}`,
    );
  }
  const w = lane.maintenanceWindows;
  if (w !== null && !isLaneFinished(lane.status)) {
    lines.push(`  WINDOW ${lane.lane}: ${w.windows}${w.heldUntil === null ? '' : `, order held until ${w.heldUntil}`}`);
  }
  return lines;
}

/** `STALLED phone-a: no outcome since …` for a lane whose exposed devices went quiet, or null. */
export function stalledLine(lane: LaneStatusView): string | null {
  const s = lane.stalled;
  if (s === null) return null;
  return `  STALLED ${lane.lane}: no outcome since ${s.quietSince} (flagged ${s.at}) on offer ${s.offerId}, exposed up to ${(s.cohortBound / 100).toFixed(2)}%`;
}

const COLUMNS: [keyof ReturnType<typeof laneCells>, string][] = [
  ['class', 'CLASS'],
  ['status', 'STATUS'],
  ['phase', 'PHASE'],
  ['exposed', 'EXPOSED'],
  ['installed', 'INSTALLED'],
  ['failed', 'FAILED'],
  ['timedOut', 'TIMED OUT'],
  ['rolledBack', 'ROLLED BACK'],
  ['rate', 'FAIL RATE (WINDOW) · CLASS TOTAL / MAX'],
  ['verdict', 'VERDICT'],
  ['patched', 'PATCHED / TARGET'],
  ['waiting', 'WAITING FOR'],
];

/**
 * The schedule line of the status: `scheduled, starts at T` while it waits, when and how it ends, or how it ended;
 * null without a schedule.
 */
export function scheduleLine(view: Pick<RolloutStatusView, 'schedule' | 'status'>): string | null {
  const s = view.schedule;
  if (s === null || s === undefined) return null;
  if (s.ended !== null) {
    const how =
      s.ended.endBehavior === 'cancel'
        ? 'the rollout was cancelled'
        : `stopped ${s.ended.stopLanes.join(', ') || 'no class'} (no new cohort)`;
    return `  SCHEDULE ended at ${s.ended.at}: ${how}`;
  }
  const end = s.endAt === null ? '' : `; at ${s.endAt} it ${s.endBehavior === 'cancel' ? 'cancels' : 'stops'}`;
  if (view.status === 'running' && s.waitUntil !== null) return `  SCHEDULED, starts at ${s.waitUntil}${end}`;
  return end === '' ? null : `  SCHEDULE${end.slice(1)}`;
}

/** The status as a text table with a header line. */
export function renderStatus(view: RolloutStatusView, now: number): string {
  const head = [
    `rollout ${view.rolloutId}  release ${view.releaseId ?? '-'}  ${view.status}  code ${view.codeVersion ?? 'unversioned'}`,
    view.startedAt ? `  started ${view.startedAt}` : '',
    view.halts > 0 ? `  fleet halts ${view.halts}` : '',
    view.breachedLanes.length > 0 ? `  breached: ${view.breachedLanes.join(', ')}` : '',
  ].join('');
  const lost = view.lanes.flatMap(({ lane, lost: l }) =>
    l ? [`  LOST ${lane}: its workflow ${l.cause} while ${l.lastStatus} (${l.detail})`] : [],
  );
  const breaches = view.lanes.flatMap((lane) =>
    showsBreach(lane)
      ? [
          `  BREACH ${lane.lane} at ${lane.lastBreach.at}, phase ${lane.lastBreach.phase + 1}: ${lane.lastBreach.explanation}`,
        ]
      : [],
  );
  const rows = view.lanes.map((lane) => laneCells(lane, now));
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((r) => (r[key] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const schedule = scheduleLine(view);
  const supersedes = view.supersedes
    ? `  SUPERSEDES ${view.supersedes.rolloutId}: ${Object.entries(view.supersedes.lanes)
        .map(([lane, old]) => `${lane} (${old.status} at ${(old.cohortBound / 100).toFixed(2)}%)`)
        .join(', ')}`
    : null;
  return [
    head,
    ...(schedule === null ? [] : [schedule]),
    ...(supersedes === null ? [] : [supersedes]),
    ...lost,
    line(COLUMNS.map(([, t]) => t)),
    ...rows.map((r) => line(COLUMNS.map(([k]) => r[k] ?? ''))),
    ...breaches,
    ...view.lanes.flatMap((lane) =>
      [stalledLine(lane), patchedLine(lane), regressionLine(lane)].filter((l): l is string => l !== null),
    ),
    ...view.lanes.flatMap(pacingLines),
  ].join('\n');
}

/**
 * What `status` learned from the rollout's event log: the event ids it met with two contents (`checked`, the same
 * check `rollout events` makes), or why it has no answer (`failed`: Kafka did not answer in time; `skipped`:
 * `--no-log-check`).
 */
export type LogCheck =
  { state: 'checked'; conflicts: EventConflict[] } | { state: 'failed'; reason: string } | { state: 'skipped' };

/** Conflicts `status` prints one by one; more are summed up in one line (`rollout events` prints them all). */
export const MAX_CONFLICTS_SHOWN = 5;

/**
 * `status --json`: the view plus `conflicts`, the event ids of the log met with two contents (an array, empty when
 * there are none), or null when the log was not checked; then `conflictsUnchecked` says why.
 */
export function statusJson(view: RolloutStatusView, check: LogCheck): string {
  return JSON.stringify({
    ...view,
    conflicts: check.state === 'checked' ? check.conflicts : null,
    ...(check.state === 'failed' && { conflictsUnchecked: check.reason }),
    ...(check.state === 'skipped' && { conflictsUnchecked: 'skipped (--no-log-check)' }),
  });
}

/**
 * The lines `status` writes to stderr about the event log: a warning per conflict, worded as `rollout events` words
 * it (at most `MAX_CONFLICTS_SHOWN`, then a count), or a note that the log could not be checked. None when the log
 * is consistent or the check was skipped on request.
 */
export function logCheckLines(check: LogCheck, rolloutId: string): string[] {
  switch (check.state) {
    case 'skipped':
      return [];
    case 'failed':
      return [`rollout: note: the event log was not checked for event ids with two contents: ${check.reason}`];
    case 'checked': {
      const { conflicts } = check;
      if (conflicts.length === 0) return [];
      const lines = [
        `rollout: warning: ${conflicts.length} event id(s) of rollout ${rolloutId} appear with two contents in the event log; ` +
          `this status is the workflows' state (\`rollout replay ${rolloutId} --check-determinism\` checks them)`,
        ...conflicts.slice(0, MAX_CONFLICTS_SHOWN).map((c) => `rollout: ${conflictWarning(c, 'was read first')}`),
      ];
      const more = conflicts.length - MAX_CONFLICTS_SHOWN;
      if (more > 0) lines.push(`rollout: warning: … and ${more} more (\`rollout events ${rolloutId}\` lists them all)`);
      return lines;
    }
    default: {
      const _exhaustive: never = check;
      return _exhaustive;
    }
  }
}

/** Whether the rollout has ended (nothing more will change). */
export function isFinished(view: RolloutStatusView): boolean {
  return isRolloutFinished(view);
}

/**
 * The live view of `status --watch`: one progress bar per device class (exposure of the class), with
 * the counts, the failure rate against its threshold, the verdict and what the lane waits for.
 */
export class WatchView {
  private readonly multi = new MultiBar(
    {
      format:
        '{class} [{bar}] {exposed} phase {phase} | ok {installed} fail {failed} t/o {timedOut} rb {rolledBack} | {rate} | {verdict} | patched {patched} | {waiting}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      noTTYOutput: true,
      notTTYSchedule: 5000,
    },
    Presets.shades_classic,
  );
  private readonly bars = new Map<string, SingleBar>();

  /** Updates the bars to a new status. */
  update(view: RolloutStatusView, now: number): void {
    const width = Math.max(...view.lanes.map((l) => l.lane.length));
    for (const lane of view.lanes) {
      const cells = { ...laneCells(lane, now), class: lane.lane.padEnd(width) };
      const bar = this.bars.get(lane.lane);
      if (bar) bar.update(lane.cohortBound, cells);
      else this.bars.set(lane.lane, this.multi.create(10000, lane.cohortBound, cells));
    }
  }

  /** Stops redrawing (leaves the last frame on screen). */
  stop(): void {
    this.multi.stop();
  }
}
