/**
 * The lane decider: one device class's rollout, as a pure Decider (`initialLaneState`, `evolveLane`,
 * `decideLane`). The lane walks its phases (expose a cohort bound, bake, require a healthy verdict, pass
 * manual gates), judges health deltas from the ingest, and on a breach applies the class's policy
 * (pause; retry with backoff, then escalate; roll back — including a rollback that fails).
 *
 * Rules worth knowing:
 * - A phase passes only when its bake is over AND the verdict is `healthy`. When the bake ends on anything else
 *   the lane records `bake-elapsed` and waits for evidence; the first healthy verdict afterwards moves it on.
 *   Insufficient evidence never passes a phase. A phase with a `{ min, max }` bake (`minBakeSec` in its config) passes
 *   on the same healthy verdict as soon as its minimum bake is over: at that moment (`min-bake-elapsed`) or on any
 *   health delta after it; otherwise at its max exactly as a plain bake. Such a lane records why each phase ended
 *   (`phase-passed`, `endedBy`); a lane without a range records what lanes always did.
 * - Outcomes are counted per offer window (phase × attempt, or a rollback). Under rules version 2 (`health.ts`)
 *   the verdict judges the current attempt's windows summed — evidence accumulates across phases, since cohorts
 *   nest and every phase samples the same class — and a phase passes only when the devices still installing could
 *   not overturn it and at least one of its own devices has reported. A retry is judged on fresh outcomes. Rules
 *   version 1 lanes (started before) judge each window alone (`health-v1.ts`). Late outcomes of a superseded
 *   attempt are still recorded (`actionable: false`) for replay. A breach in an earlier phase's window of the
 *   current attempt still fires the policy: evidence is evidence.
 * - Idempotence: a delta whose every Kafka range is at or below the lane's high-water mark for that offer and
 *   partition is dropped (no events). Marks are per offer because the ingest cuts one Kafka batch into one
 *   delta per offer, all covering the same offsets. A delta with any range above its mark is applied whole: its
 *   counts are one sum over all its ranges and cannot be split by offset. If one of its ranges also starts at or
 *   below its mark (it straddles the mark, or lies below it beside a range above), the changes at offsets up to the
 *   mark are counted a second time, and `health-evaluated` says so in `overlap`. The ingest cuts every delta above
 *   the marks it read, so this needs a mark that moved after the ingest read it: a partition assigned afresh (a
 *   rebalance, a restarted member or consumer) while a delta for it sent before was not yet decided by the lane
 *   (docs/ingest.md, "When a delta can straddle a mark"). Applying it whole never loses an outcome; but the doubled
 *   changes hold successes as well as failures, so they can move the verdict either way (toward a breach, or
 *   toward an earlier pass), and the window's totals differ from the truth by them.
 * - Automatic retries are counted per lane (`retriesUsed`), not per phase; operator retries are free.
 * - A paused lane ignores its timers; `lane-resumed` restores what it waited for (an expired bake fires at once).
 * - A lane paused by a breach does not `resume`: an operator chooses `retry` (fresh attempt) or `rollback`.
 * - An abort during a rollback is deferred (`lane-abort-deferred`): nothing more is exposed, the rollback runs and its
 *   outcomes are counted to its end; the lane then ends rolled back, or aborted if the rollback failed.
 * - Patched, not just exposed: a lane whose config has a `completion` rule does not complete when its last phase
 *   passes. It records `patching-started` and keeps counting until `patchedShare` of the class reported success
 *   (`lane-completed`, `endedBy: 'patched-share'`) or its deadline passes (`endedBy: 'deadline'`), both with the share
 *   reached. The class size is the plan's `expectedDevices`, else an estimate (`classSizeOf`). Health is still judged
 *   while it patches: a breach then applies the breach policy as in any phase. Such a lane is also flagged
 *   `lane-stalled` when, while it waits on devices (bake, evidence, patching), its exposed devices report nothing for
 *   `stallAfter`, and `lane-stall-cleared` when they report again; a stall halts nothing. A lane without the rule
 *   (every lane started before it existed) decides exactly what it always did.
 * - Post-install regressions: a lane whose config has a `regression` rule judges post-install deltas (updated devices
 *   against the class's concurrent control, per watched signal, `regression.ts`): each is recorded
 *   (`regression-evaluated`, idempotent by its own high-water marks per partition in `regression.highWater`), and a
 *   breach while the lane can act on it fires the breach policy (`threshold-breached`, rule `regression`). A retry
 *   starts the evidence afresh. With a `watch`, the last phase's pass records `watch-started` and the lane completes
 *   (or starts patching, with a completion rule) only at the watch's end (timer kind `watch`). A lane without the rule
 *   refuses post-install deltas and decides exactly what it always did.
 *
 * - Pacing (`events/pacing.ts`, `events/maintenance-window.ts`): a lane whose config has a rate limit (`pacing`)
 *   exposes a phase in steps: its first order (`exposure-issued`) offers what one step allows above the bound the
 *   attempt already offered, each later step (`exposure-widened`, timer `step`) raises the bound of the same offer,
 *   and the phase's bake starts with the step that reaches its bound. Health is judged all along (a breach during the
 *   steps applies the policy as in a bake); a phase never passes before its bake. A retry is a fresh offer and is
 *   paced from bucket 0 again, since it re-offers every device below the bound. The ramp counts over the lane's life
 *   (all offers), and a pause stops the clock of steps: on resume an overdue step goes out at once, one step, no burst.
 *   A lane whose config has maintenance windows sends no new order outside them: a phase's (or a retry's) first
 *   offer, or a step, is held (`exposure-held`, timer `window`) until the next opening. A rollback is never held.
 *   A lane without these keys (every lane started before they existed) decides exactly what it always did.
 *
 * The state is plain JSON (no Map, Set or classes): it crosses Temporal's continue-as-new.
 */
import { z } from 'zod';
import {
  type OperatorCommand,
  type LaneInput,
  type Refusal,
  type HealthDeltaInput,
  type TimerFired,
  refuse,
} from './commands';
import type { PostInstallDeltaInput } from './post-install';
import {
  RegressionEvidenceSchema,
  RegressionSignalStateSchema,
  emptySignalState,
  judgeDelta,
  regressionEvidenceOf,
  signalEvidenceOf,
  type RegressionEvidence,
  type SignalEvidence,
} from './regression';
import {
  type DeltaOverlap,
  type DomainEvent,
  type OffsetRange,
  type EventOf,
  type OutcomeCounts,
  type WaitingFor,
  type Pace,
  OutcomeCountsSchema,
  PaceSchema,
  WaitingForSchema,
  makeEvent,
} from './domain-events';
import {
  HealthEvidenceSchema,
  HealthVerdictSchema,
  addCounts,
  emptyCounts,
  evaluateHealth,
  type HealthCounts,
  type HealthEvidence,
  type HealthVerdict,
} from './health';
import { evaluateHealthV1 } from './health-v1';
import { windowAt } from './maintenance-window';
import { rampAt, stepOf } from './pacing';
import { LaneConfigSchema, rulesVersionOf, type LaneConfig } from './plan';

export const LANE_STATUSES = [
  'pending',
  'running',
  'paused',
  'rolling-back',
  'rolled-back',
  'rollback-failed',
  'completed',
  'aborted',
] as const;
export const LaneStatusSchema = z.enum(LANE_STATUSES);
export type LaneStatus = z.infer<typeof LaneStatusSchema>;

/** Outcomes of one offer: a phase attempt (`exposure`) or a rollback. */
export const OfferWindowSchema = z
  .object({
    kind: z.enum(['exposure', 'rollback']),
    phase: z.number().int().min(0),
    /** The exposure attempt, or the rollback attempt for a rollback window. */
    attempt: z.number().int().min(1),
    totals: OutcomeCountsSchema,
    verdict: HealthVerdictSchema.nullable(),
  })
  .strict();
export type OfferWindow = z.infer<typeof OfferWindowSchema>;

/** The evidence of a lane's breach, as `threshold-breached` recorded it. */
export const LastBreachSchema = z
  .object({
    at: z.string(),
    offerId: z.string(),
    phase: z.number().int().min(0),
    attempt: z.number().int().min(1),
    evidence: z.union([HealthEvidenceSchema, RegressionEvidenceSchema]),
  })
  .strict();
export type LastBreach = z.infer<typeof LastBreachSchema>;

/** A count of successes at a time: what the patching estimate (`patchedEtaOf`) measures a rate between. */
export const SuccessSampleSchema = z.object({ at: z.string(), succeeded: z.number().int().min(0) }).strict();
export type SuccessSample = z.infer<typeof SuccessSampleSchema>;

/** The patched shares (percent) whose times a lane with a completion rule records, and status and postmortem show. */
export const PATCHED_MILESTONES = [50, 90, 95, 99] as const;

/** The folded state of one lane: everything a workflow needs to act, as plain JSON. */
export const LaneStateSchema = z
  .object({
    rolloutId: z.string(),
    lane: z.string(),
    /** The seq the lane's next event gets. */
    nextSeq: z.number().int().min(0),
    status: LaneStatusSchema,
    config: LaneConfigSchema.nullable(),
    /** Index of the current phase; -1 before the first phase started. */
    phase: z.number().int().min(-1),
    /** Exposed cohort bound in buckets (0..10000): devices with a bucket below it were offered the build. */
    cohortBound: z.number().int().min(0).max(10000),
    /** The current exposure attempt (1, then 2, 3… after retries). */
    attempt: z.number().int().min(1),
    /** Automatic retries used so far (the breach policy's budget). */
    retriesUsed: z.number().int().min(0),
    /** The offer of the current phase attempt, or null before the first exposure. */
    offerId: z.string().nullable(),
    /** What the lane waits for; null when it is pending, between steps, or finished. */
    waitingFor: WaitingForSchema.nullable(),
    /** Why the lane is paused and what it goes back to on resume. */
    pause: z
      .object({ cause: z.enum(['operator', 'breach', 'fleet-halt']), resumeTo: WaitingForSchema.nullable() })
      .strict()
      .nullable(),
    /** Outcome counts and verdict per offer id. */
    windows: z.record(z.string(), OfferWindowSchema),
    /** The latest verdict of the current exposure (or rollback) window. */
    lastVerdict: HealthVerdictSchema.nullable(),
    /**
     * High-water marks: offerId → install-events partition → highest offset applied (decimal string).
     * Per offer, because the ingest cuts one Kafka batch into one delta per offer, all covering the same offsets.
     */
    highWater: z.record(z.string(), z.record(z.string(), z.string())),
    /** The running (or last) rollback. */
    rollback: z
      .object({ offerId: z.string(), attempt: z.number().int().min(1), until: z.string() })
      .strict()
      .nullable(),
    breaches: z.number().int().min(0),
    updatedAt: z.string().nullable(),
    /** An abort that waits for the running rollback to end (`lane-abort-deferred`); absent in older states. */
    abortPending: z.enum(['operator', 'rollout-aborted']).nullable().optional(),
    /**
     * The most recent `threshold-breached` of the lane: when, which window, and its evidence. Kept because the
     * windows' verdicts move on after a breach (late outcomes, a retry, the rollback window). Absent until the first
     * breach, and in states carried from code before this field (a breach recorded before then is not in it).
     */
    lastBreach: LastBreachSchema.optional(),
    /** When the current phase attempt was exposed (its bake began); absent in older states. */
    exposedAt: z.string().optional(),
    /** Lanes with a completion rule: when an exposed device last reported (an outcome or an install start). */
    lastReportAt: z.string().optional(),
    /** Lanes with a completion rule: the stall flagged by `lane-stalled`, null once cleared. */
    stalled: z.object({ at: z.string(), quietSince: z.string(), offerId: z.string() }).strict().nullable().optional(),
    /**
     * Lanes with a completion rule: success counts for the patching estimate. `checkpoints` (at most 2, at least
     * `RATE_WINDOW_SEC` apart) and the `latest` count; the rate is measured from the oldest checkpoint to the latest.
     */
    successes: z
      .object({ checkpoints: z.array(SuccessSampleSchema).max(2), latest: SuccessSampleSchema })
      .strict()
      .optional(),
    /** Lanes with a completion rule: when the lane started, what `patchedAt` is measured from. */
    startedAt: z.string().optional(),
    /**
     * Lanes with a completion rule: when its patched share (`patchedShareOf`, as estimated then) first reached each of
     * `PATCHED_MILESTONES` (keys `'50'`, `'90'`, `'95'`, `'99'`).
     */
    patchedAt: z.record(z.string(), z.string()).optional(),
    /**
     * Lanes with a regression rule (`events/regression.ts`): the post-install high-water marks (install-events
     * partition → highest offset applied), the attempt the evidence is of (a retry starts it afresh), and per watched
     * signal both groups' totals and the log likelihood ratios. Absent for lanes without the rule.
     */
    regression: z
      .object({
        highWater: z.record(z.string(), z.string()),
        attempt: z.number().int().min(1),
        signals: z.record(z.string(), RegressionSignalStateSchema),
      })
      .strict()
      .optional(),
    /**
     * Lanes with a rate limit: the current paced offer (`offerId`), the bound it reached (`offered`), and its pace as
     * its last order recorded it (target, rate, ramp, next step). Absent before the first paced order.
     */
    pace: PaceSchema.extend({ offerId: z.string(), offered: z.number().int().min(0).max(10000) })
      .strict()
      .optional(),
  })
  .strict();
export type LaneState = z.infer<typeof LaneStateSchema>;

const ZERO_COUNTS: OutcomeCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
const TERMINAL: readonly LaneStatus[] = ['completed', 'rolled-back', 'aborted'];

/**
 * The state of a lane before its `lane-started` event. `rolloutId` and `lane` are optional labels so a
 * rollout view can list planned lanes that have not started yet.
 */
export function initialLaneState(rolloutId = '', lane = ''): LaneState {
  return {
    rolloutId,
    lane,
    nextSeq: 0,
    status: 'pending',
    config: null,
    phase: -1,
    cohortBound: 0,
    attempt: 1,
    retriesUsed: 0,
    offerId: null,
    waitingFor: null,
    pause: null,
    windows: {},
    lastVerdict: null,
    highWater: {},
    rollback: null,
    breaches: 0,
    updatedAt: null,
  };
}

/** Whether a lane status is final: completed, rolled back or aborted (a failed rollback is not final). */
export function isLaneFinished(status: LaneStatus): boolean {
  return TERMINAL.includes(status);
}

/**
 * The offer id of a phase attempt, `${lane}/p${phase}a${attempt}`: deterministic, unique within a
 * rollout, echoed by devices so their reports are attributed to the right phase and attempt.
 */
export function exposureOfferId(lane: string, phase: number, attempt: number): string {
  return `${lane}/p${phase}a${attempt}`;
}

/** The offer id of the lane's n-th rollback, `${lane}/rb${n}`. */
export function rollbackOfferId(lane: string, rollbackAttempt: number): string {
  return `${lane}/rb${rollbackAttempt}`;
}

/**
 * Turns running totals into what the health judge accepts: `inProgress` and `timedOut` clamped at zero (they can dip
 * below zero transiently when deltas arrive out of order).
 */
export function toHealthCounts(totals: OutcomeCounts): HealthCounts {
  return {
    ...totals,
    failedByCode: { ...totals.failedByCode },
    timedOut: Math.max(0, totals.timedOut),
    inProgress: Math.max(0, totals.inProgress),
  };
}

function addSeconds(at: string, seconds: number): string {
  return new Date(Date.parse(at) + seconds * 1000).toISOString();
}

function reached(at: string, until: string): boolean {
  return Date.parse(at) >= Date.parse(until);
}

function maxOffset(a: string | undefined, b: string): string {
  return a !== undefined && BigInt(a) >= BigInt(b) ? a : b;
}

/** How far apart the patching estimate's checkpoints are (`successes`): its rate covers the last 5 to 10 minutes. */
export const RATE_WINDOW_SEC = 300;

/** Whether a delta holds a report of a device (a success, a failure, or an install start), not only timeouts. */
function reportsIn(counts: OutcomeCounts): boolean {
  let failed = 0;
  for (const code in counts.failedByCode) failed += counts.failedByCode[code] ?? 0;
  return counts.succeeded > 0 || failed > 0 || counts.inProgress > 0;
}

/**
 * Devices heard of (final outcomes and devices still installing) in the exposure windows of phases up to `phase`, any
 * attempt. An exposure order reaches only devices not offered before, so these are the devices of the buckets below
 * that phase's bound that reported; a device that failed and reported again on a retry is in two windows.
 */
function devicesSeen(state: LaneState, phase: number): number {
  let seen = 0;
  for (const window of Object.values(state.windows)) {
    if (window.kind !== 'exposure' || window.phase > phase) continue;
    seen += finalOutcomes(window.totals) + Math.max(0, window.totals.inProgress);
  }
  return seen;
}

/** Devices seen ÷ the share of the class exposed: what a cohort bound says about the class size. */
function sizeAt(seen: number, cohortBound: number): number {
  return cohortBound <= 0 ? 0 : Math.ceil(seen / (cohortBound / 10000));
}

/** The success samples after a new count: `latest` moves, a checkpoint is added once the newest is old enough. */
function sampleSuccesses(samples: LaneState['successes'], point: SuccessSample): NonNullable<LaneState['successes']> {
  const checkpoints = samples?.checkpoints ?? [];
  const newest = checkpoints[checkpoints.length - 1];
  if (newest === undefined) return { checkpoints: [point], latest: point };
  const old = Date.parse(point.at) - Date.parse(newest.at) >= RATE_WINDOW_SEC * 1000;
  return { checkpoints: old ? [...checkpoints, point].slice(-2) : checkpoints, latest: point };
}

/**
 * The class size a lane judges its patched share against, or null for a lane without a completion rule. The plan's
 * `expectedDevices` when it gives one (`source: 'plan'`). Otherwise an estimate (`source: 'estimate'`), devices seen
 * ÷ the share exposed, the larger of two: (a) at the bound of the phase before the current one, the devices seen in
 * the windows of every phase up to it (those buckets have been exposed longest, and late reports still count), and
 * (b) at the current bound, every device seen. Where it can be wrong: devices that never report anything (offline,
 * without the update service) are never seen, so the estimate is too small and the share is reached too early; at
 * 100 % exposure (b) is only the devices heard of so far, which is why (a) is kept; (a) is a sample, off by about
 * √((1 − q) / (N q)) for a bound q of a class of N (0.6 % for half of 25,000 devices, 6 % for 1 % of them), so a
 * one-phase plan, or a last-but-one phase that exposes few devices, estimates poorly; and a device that failed and
 * reported again on a retry is seen twice. Give `expectedDevices` where the class size is known.
 */
export function classSizeOf(state: LaneState): { size: number; source: 'plan' | 'estimate' } | null {
  const completion = state.config?.completion;
  if (completion === undefined) return null;
  if (completion.expectedDevices !== undefined) return { size: completion.expectedDevices, source: 'plan' };
  const previous = state.phase > 0 ? state.config?.phases[state.phase - 1] : undefined;
  const narrower = previous === undefined ? 0 : sizeAt(devicesSeen(state, state.phase - 1), previous.cohortBound);
  return { size: Math.max(narrower, sizeAt(devicesSeen(state, state.phase), state.cohortBound)), source: 'estimate' };
}

/**
 * The patched share of a lane with a completion rule: successes over every exposure window (all phases and attempts)
 * ÷ `classSizeOf`, at most 1; 0 while the size is unknown (nothing seen yet). Null for a lane without the rule.
 */
export function patchedShareOf(state: LaneState): {
  succeeded: number;
  classSize: number;
  sizeSource: 'plan' | 'estimate';
  patchedShare: number;
} | null {
  const size = classSizeOf(state);
  if (size === null) return null;
  const succeeded = summedWindows(state, 'exposure').succeeded;
  const patchedShare = size.size === 0 ? 0 : Math.min(1, succeeded / size.size);
  return { succeeded, classSize: size.size, sizeSource: size.source, patchedShare };
}

/**
 * When a lane with a completion rule is to be flagged stalled if nothing is reported before: `stallAfter` after the
 * later of its last report and the current offer's exposure. Null when no stall is watched: no rule, already stalled,
 * not running (paused, rolling back, finished), or not waiting on devices (a gate or a retry backoff).
 */
export function stallDeadlineOf(state: LaneState): string | null {
  const completion = state.config?.completion;
  const kind = state.waitingFor?.kind;
  if (completion === undefined || state.status !== 'running' || (state.stalled ?? null) !== null) return null;
  if (kind !== 'bake' && kind !== 'evidence' && kind !== 'patching' && kind !== 'watch') return null;
  const quietSince = quietSinceOf(state);
  return quietSince === null ? null : addSeconds(quietSince, completion.stallAfterSec);
}

/** Since when the lane has heard nothing: the later of its last report and the current exposure. */
function quietSinceOf(state: LaneState): string | null {
  const { lastReportAt, exposedAt } = state;
  if (exposedAt === undefined) return lastReportAt ?? null;
  return lastReportAt !== undefined && Date.parse(lastReportAt) > Date.parse(exposedAt) ? lastReportAt : exposedAt;
}

/**
 * The lane's next deadline, the one its workflow arms a timer for: the end of what it waits for (bake, retry
 * backoff, rollback, completion deadline) or, for a lane with a completion rule, its stall deadline when that comes
 * first. A lane without the rule gets exactly the deadline of what it waits for, as before.
 */
export function laneDeadlineOf(state: LaneState): { kind: TimerFired['kind']; until: string } | null {
  const w = state.waitingFor;
  const base =
    w !== null &&
    (w.kind === 'bake' ||
      w.kind === 'retry-backoff' ||
      w.kind === 'rollback' ||
      w.kind === 'patching' ||
      w.kind === 'watch' ||
      w.kind === 'step' ||
      w.kind === 'window')
      ? { kind: w.kind, until: w.until }
      : null;
  const stall = stallDeadlineOf(state);
  if (stall !== null && (base === null || Date.parse(stall) < Date.parse(base.until))) {
    return { kind: 'stall', until: stall };
  }
  return base;
}

/**
 * When a lane in its patching stage reaches its target share at the recent rate of successes (from the oldest
 * checkpoint of `successes` to the latest count, 5 to 10 minutes back once it has run that long), or null: not
 * patching, the target already reached, or no successes over that span. A straight line: it does not know that the
 * last devices of a class (offline, rarely on) report slowest, so it is optimistic near the end.
 */
export function patchedEtaOf(state: LaneState): string | null {
  const w = state.waitingFor;
  const share = patchedShareOf(state);
  const samples = state.successes;
  if (w?.kind !== 'patching' || share === null || samples === undefined) return null;
  const from = samples.checkpoints[0];
  const { latest } = samples;
  if (from === undefined) return null;
  const seconds = (Date.parse(latest.at) - Date.parse(from.at)) / 1000;
  const rate = seconds > 0 ? (latest.succeeded - from.succeeded) / seconds : 0;
  const needed = Math.ceil(w.patchedShare * share.classSize) - latest.succeeded;
  if (rate <= 0 || needed <= 0) return null;
  return addSeconds(latest.at, Math.ceil(needed / rate));
}

/**
 * Says in words what a lane waits for ("approval of phase 1", "phase 0 to bake until …"): used in
 * refusal reasons and by `status` so people read the same sentence everywhere.
 */
export function describeWaitingFor(waitingFor: WaitingFor | null): string {
  if (waitingFor === null) return 'nothing';
  switch (waitingFor.kind) {
    case 'bake':
      if (waitingFor.maxUntil !== undefined) {
        return `phase ${waitingFor.phase} to bake at least until ${waitingFor.until}, then until proven healthy or ${waitingFor.maxUntil}`;
      }
      if (waitingFor.minUntil !== undefined) {
        return `phase ${waitingFor.phase} to be proven healthy, or to bake until ${waitingFor.until}`;
      }
      return `phase ${waitingFor.phase} to bake until ${waitingFor.until}`;
    case 'approval':
      return `approval of phase ${waitingFor.phase}`;
    case 'evidence':
      return `evidence (a healthy verdict) for phase ${waitingFor.phase}`;
    case 'operator':
      return 'an operator';
    case 'retry-backoff':
      return `a retry backoff until ${waitingFor.until}`;
    case 'rollback':
      return `a rollback until ${waitingFor.until}`;
    case 'patching':
      return `${Math.round(waitingFor.patchedShare * 1000) / 10} % of the class patched, or the deadline ${waitingFor.until}`;
    case 'watch':
      return `phase ${waitingFor.phase}'s devices to be watched for post-install regressions until ${waitingFor.until}`;
    case 'step':
      return (
        `phase ${waitingFor.phase}'s exposure to widen at ${waitingFor.until} ` +
        `(offered ${waitingFor.cohortBound / 100} % of ${waitingFor.targetBound / 100} %)`
      );
    case 'window':
      return (
        `the maintenance window opening at ${waitingFor.until} ` +
        `(${waitingFor.holds === 'step' ? 'next step' : 'first offer'} of phase ${waitingFor.phase})`
      );
    default: {
      const _exhaustive: never = waitingFor;
      throw new Error(`unexpected waitingFor: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * Folds one event into a lane's state. Events of other lanes and rollout-level events leave it unchanged,
 * so a whole rollout log can be folded per lane. Never throws on a well-formed log; the only way lane
 * state moves is through this function.
 */
export function evolveLane(state: LaneState, event: DomainEvent): LaneState {
  if (event.lane === null) return state;
  if (event.type !== 'lane-started' && (state.status === 'pending' || event.lane !== state.lane)) return state;
  if (event.type === 'lane-started' && state.status !== 'pending') return state;
  const s: LaneState = { ...state, nextSeq: event.seq + 1, updatedAt: event.at };
  switch (event.type) {
    case 'lane-started':
      return {
        ...initialLaneState(event.rolloutId, event.lane),
        nextSeq: s.nextSeq,
        updatedAt: s.updatedAt,
        status: 'running',
        config: event.data.config,
        ...(event.data.config.completion !== undefined && { startedAt: event.at, patchedAt: {} }),
        ...(event.data.config.regression !== undefined && {
          regression: { highWater: {}, attempt: 1, signals: emptySignals(event.data.config.regression.signals) },
        }),
      };
    case 'phase-started':
      return { ...s, phase: event.data.phase, waitingFor: null };
    case 'exposure-issued': {
      const { offerId, phase, attempt, cohortBound, pace } = event.data;
      return {
        ...s,
        status: 'running',
        phase,
        attempt,
        // The widest bound offered so far (a paced retry starts below it): what a rollback takes back.
        cohortBound: Math.max(s.cohortBound, cohortBound),
        offerId,
        lastVerdict: null,
        exposedAt: event.at,
        waitingFor: exposureWait(event.data),
        windows: { ...s.windows, [offerId]: { kind: 'exposure', phase, attempt, totals: ZERO_COUNTS, verdict: null } },
        ...(pace !== undefined && { pace: { ...pace, offerId, offered: cohortBound } }),
      };
    }
    case 'exposure-widened': {
      const { offerId, cohortBound, pace } = event.data;
      return {
        ...s,
        cohortBound: Math.max(s.cohortBound, cohortBound),
        waitingFor: exposureWait(event.data),
        pace: { ...pace, offerId, offered: cohortBound },
      };
    }
    case 'exposure-held': {
      const { phase, attempt, holds, opensAt } = event.data;
      return { ...s, waitingFor: { kind: 'window', phase, attempt, holds, until: opensAt } };
    }
    case 'bake-elapsed':
      return { ...s, waitingFor: { kind: 'evidence', phase: event.data.phase } };
    case 'min-bake-elapsed': {
      const minUntil = s.waitingFor?.kind === 'bake' ? (s.waitingFor.minUntil ?? event.at) : event.at;
      return { ...s, waitingFor: { kind: 'bake', phase: event.data.phase, until: event.data.bakeUntil, minUntil } };
    }
    case 'phase-passed':
      return s;
    case 'health-evaluated': {
      const { offerId, totals, verdict, delta } = event.data;
      const marks = { ...s.highWater[offerId] };
      for (const range of delta.ranges) {
        marks[String(range.partition)] = maxOffset(marks[String(range.partition)], range.toOffset);
      }
      const highWater = { ...s.highWater, [offerId]: marks };
      const window = s.windows[offerId];
      const windows = window ? { ...s.windows, [offerId]: { ...window, totals, verdict } } : s.windows;
      const current = offerId === s.offerId || offerId === s.rollback?.offerId;
      const next = { ...s, highWater, windows, lastVerdict: current ? verdict : s.lastVerdict };
      if (s.config?.completion === undefined || event.data.window !== 'exposure') return next;
      const share = patchedShareOf(next)?.patchedShare ?? 0;
      const patchedAt = { ...s.patchedAt };
      for (const m of PATCHED_MILESTONES)
        if (share * 100 + 1e-9 >= m && patchedAt[m] === undefined) patchedAt[m] = event.at;
      return {
        ...next,
        ...(reportsIn(delta.counts) && { lastReportAt: event.at }),
        successes: sampleSuccesses(s.successes, { at: event.at, succeeded: summedWindows(next, 'exposure').succeeded }),
        patchedAt,
      };
    }
    case 'threshold-breached': {
      const { offerId, phase, attempt, evidence } = event.data;
      return { ...s, breaches: s.breaches + 1, lastBreach: { at: event.at, offerId, phase, attempt, evidence } };
    }
    case 'lane-paused':
      return {
        ...s,
        status: 'paused',
        pause: { cause: event.data.cause, resumeTo: event.data.resumeTo },
        waitingFor: { kind: 'operator' },
      };
    case 'lane-resumed':
      return { ...s, status: 'running', pause: null, waitingFor: event.data.resumeTo };
    case 'retry-issued':
      return {
        ...s,
        status: 'running',
        pause: null,
        retriesUsed: s.retriesUsed + (event.data.trigger === 'policy' ? 1 : 0),
        waitingFor: { kind: 'retry-backoff', attempt: event.data.attempt, until: event.data.notBefore },
        // A retry is judged on fresh evidence, post-install signals too (docs/judge.md, "The regression rule").
        ...(s.regression !== undefined &&
          s.config?.regression !== undefined && {
            regression: {
              ...s.regression,
              attempt: event.data.attempt,
              signals: emptySignals(s.config.regression.signals),
            },
          }),
      };
    case 'rollback-started': {
      const { offerId, rollbackAttempt, until } = event.data;
      const phase = Math.max(0, s.phase);
      return {
        ...s,
        status: 'rolling-back',
        pause: null,
        lastVerdict: null,
        rollback: { offerId, attempt: rollbackAttempt, until },
        waitingFor: { kind: 'rollback', until },
        windows: {
          ...s.windows,
          [offerId]: { kind: 'rollback', phase, attempt: rollbackAttempt, totals: ZERO_COUNTS, verdict: null },
        },
      };
    }
    case 'rollback-completed':
      return { ...s, status: 'rolled-back', waitingFor: null };
    case 'rollback-failed':
      return { ...s, status: 'rollback-failed', waitingFor: { kind: 'operator' } };
    case 'gate-waiting':
      return { ...s, status: 'running', waitingFor: { kind: 'approval', phase: event.data.phase } };
    case 'gate-approved':
      return { ...s, waitingFor: null };
    case 'patching-started':
      return {
        ...s,
        waitingFor: {
          kind: 'patching',
          phase: event.data.phase,
          patchedShare: event.data.target,
          until: event.data.deadline,
        },
      };
    case 'lane-completed':
      return { ...s, status: 'completed', waitingFor: null, ...(s.stalled !== undefined && { stalled: null }) };
    case 'lane-stalled':
      return { ...s, stalled: { at: event.at, quietSince: event.data.quietSince, offerId: event.data.offerId } };
    case 'lane-stall-cleared':
      return { ...s, stalled: null };
    case 'regression-evaluated': {
      if (s.regression === undefined) return s;
      const highWater = { ...s.regression.highWater };
      for (const range of event.data.delta.ranges) {
        highWater[String(range.partition)] = maxOffset(highWater[String(range.partition)], range.toOffset);
      }
      const signals = { ...s.regression.signals };
      for (const e of event.data.signals) {
        signals[e.signal] = {
          updated: { events: e.updated.events, uptimeSec: e.updated.uptimeSec },
          control: { events: e.control.events, uptimeSec: e.control.uptimeSec },
          logLr: e.logLr,
        };
      }
      return { ...s, regression: { ...s.regression, highWater, signals } };
    }
    case 'watch-started':
      return { ...s, waitingFor: { kind: 'watch', phase: event.data.phase, until: event.data.until } };
    case 'lane-aborted':
      return { ...s, status: 'aborted', pause: null, waitingFor: null, abortPending: null };
    case 'lane-abort-deferred':
      return { ...s, abortPending: event.data.cause };
    case 'operator-command-accepted':
      return s;
    default: {
      const _exhaustive: never = event;
      throw new Error(`unexpected event: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/** What an exposure order leaves the lane waiting for: the next step of a paced offer, else the phase's bake. */
function exposureWait(data: {
  phase: number;
  cohortBound: number;
  bakeUntil?: string | undefined;
  bakeMinUntil?: string | undefined;
  pace?: Pace | undefined;
}): WaitingFor {
  const { phase, bakeUntil, bakeMinUntil, pace } = data;
  if (bakeUntil === undefined) {
    // The schema requires nextStepAt when bakeUntil is absent.
    const until = pace?.nextStepAt ?? '';
    return { kind: 'step', phase, until, cohortBound: data.cohortBound, targetBound: pace?.targetBound ?? 10000 };
  }
  return bakeMinUntil === undefined
    ? { kind: 'bake', phase, until: bakeUntil }
    : { kind: 'bake', phase, until: bakeMinUntil, minUntil: bakeMinUntil, maxUntil: bakeUntil };
}

type Meta = { actor?: string | undefined; reason?: string | undefined };
type LaneEventType = Exclude<
  DomainEvent['type'],
  'rollout-started' | 'rollout-completed' | 'rollout-aborted' | 'fleet-halted'
>;

/**
 * Collects the events of one decision. Each new event gets the next seq and is folded into a scratch
 * copy of the state at once, so later steps of the same decision see its effect (e.g. `gate-approved`
 * then `phase-started`); the caller's state is never touched.
 */
class Decision {
  readonly events: DomainEvent[] = [];
  constructor(
    public state: LaneState,
    readonly at: string,
    private readonly meta: Meta = {},
  ) {}

  emit<T extends LaneEventType>(type: T, data: EventOf<T>['data'], meta: Meta = this.meta): this {
    const event = makeEvent<EventOf<T>>({
      type,
      data,
      rolloutId: this.state.rolloutId,
      lane: this.state.lane,
      seq: this.state.nextSeq,
      at: this.at,
      ...meta,
    } as unknown as Parameters<typeof makeEvent<EventOf<T>>>[0]);
    this.events.push(event);
    this.state = evolveLane(this.state, event);
    return this;
  }

  /** The decision's events and the state they lead to (already evolved: nothing to fold again). */
  step(): LaneStep {
    return { events: this.events, state: this.state };
  }
}

/** One decision: its events, and the lane state after them. */
export type LaneStep = { readonly events: readonly DomainEvent[]; readonly state: LaneState };

/** A decision with no events: the state stays as it is. */
function unchanged(state: LaneState): LaneStep {
  return { events: [], state };
}

function configOf(state: LaneState): LaneConfig {
  if (state.config === null) throw new Error(`lane ${state.lane} has no config: it has not started`);
  return state.config;
}

/** Starts phase `phase`: a manual gate waits for approval unless `approved`, otherwise expose and bake. */
function enterPhase(d: Decision, phase: number, at: string, approved: boolean): void {
  const config = configOf(d.state);
  const spec = config.phases[phase];
  if (spec === undefined) throw new Error(`lane ${d.state.lane} has no phase ${phase}`);
  if (spec.approval === 'manual' && !approved) {
    d.emit('gate-waiting', { phase });
    return;
  }
  if (approved) d.emit('gate-approved', { phase });
  d.emit('phase-started', { phase, share: spec.share, cohortBound: spec.cohortBound });
  expose(d, phase, d.state.attempt, at);
}

/** The bake fields of the order that completes a phase's exposure at `at`. */
function bakeOf(config: LaneConfig, phase: number, at: string): { bakeUntil: string; bakeMinUntil?: string } {
  const spec = config.phases[phase];
  if (spec === undefined) throw new Error(`lane ${config.deviceClass} has no phase ${phase}`);
  const early = spec.minBakeSec !== undefined && spec.minBakeSec < spec.bakeSec;
  return {
    bakeUntil: addSeconds(at, spec.bakeSec),
    ...(early && { bakeMinUntil: addSeconds(at, spec.minBakeSec ?? 0) }),
  };
}

/**
 * The first offer of `attempt` for `phase`: held outside a maintenance window, one order for the phase's bound
 * without a rate limit (as always), else the first step of a paced offer.
 */
function expose(d: Decision, phase: number, attempt: number, at: string): void {
  const config = configOf(d.state);
  const spec = config.phases[phase];
  if (spec === undefined) throw new Error(`lane ${d.state.lane} has no phase ${phase}`);
  const offerId = exposureOfferId(d.state.lane, phase, attempt);
  if (heldByWindow(d, phase, attempt, offerId, 'exposure', at)) return;
  if (config.pacing === undefined) {
    d.emit('exposure-issued', {
      phase,
      attempt,
      cohortBound: spec.cohortBound,
      offerId,
      artifact: config.artifact,
      ...bakeOf(config, phase, at),
    });
    return;
  }
  // A later phase of the same attempt goes on from the bound the attempt offered; a retry re-offers from bucket 0.
  const from = attempt === d.state.attempt ? (d.state.pace?.offered ?? 0) : 0;
  const { cohortBound, pace, bake } = pacedStep(d, phase, from, at);
  d.emit('exposure-issued', { phase, attempt, cohortBound, offerId, artifact: config.artifact, ...bake, pace });
}

/** The next step of the current paced offer (its `step` timer fired, or the window held it opened). */
function widen(d: Decision, at: string): void {
  const current = d.state.pace;
  if (current === undefined || current.offerId !== d.state.offerId) return;
  const { phase, attempt } = d.state;
  if (heldByWindow(d, phase, attempt, current.offerId, 'step', at)) return;
  const { cohortBound, pace, bake } = pacedStep(d, phase, current.offered, at);
  d.emit('exposure-widened', {
    phase,
    attempt,
    offerId: current.offerId,
    fromBound: current.offered,
    cohortBound,
    pace,
    ...bake,
  });
}

/**
 * One step of a paced offer that has reached `from`: the ramp now, the bound one step at its rate reaches (at most the
 * phase's), the new pace, and the bake when the step completes the phase's exposure.
 */
function pacedStep(
  d: Decision,
  phase: number,
  from: number,
  at: string,
): { cohortBound: number; pace: Pace; bake: { bakeUntil?: string; bakeMinUntil?: string } } {
  const config = configOf(d.state);
  const pacing = config.pacing;
  const target = config.phases[phase]?.cohortBound;
  if (pacing === undefined || target === undefined) throw new Error(`lane ${d.state.lane} paces no phase ${phase}`);
  const ramp = rampAt(pacing, d.state.pace, summedWindows(d.state, 'exposure').succeeded);
  const step = stepOf(ramp.ratePerMinute, pacing.classSize);
  const cohortBound = Math.min(target, from + step.buckets);
  const complete = cohortBound >= target;
  const pace: Pace = {
    ...ramp,
    notifiedBuckets: ramp.notifiedBuckets + (cohortBound - from),
    targetBound: target,
    ...(!complete && { nextStepAt: addSeconds(at, step.everySec) }),
  };
  return { cohortBound, pace, bake: complete ? bakeOf(config, phase, at) : {} };
}

/**
 * Outside the class's maintenance windows, holds an order (`exposure-held`) until the next opening and says so; a lane
 * without windows, or inside one, holds nothing.
 */
function heldByWindow(
  d: Decision,
  phase: number,
  attempt: number,
  offerId: string,
  holds: 'exposure' | 'step',
  at: string,
): boolean {
  const windows = configOf(d.state).maintenanceWindows;
  if (windows === undefined) return false;
  const { opensAt, closesAt } = windowAt(windows, at);
  // Open now: the window in force opened at or before `at`.
  if (Date.parse(opensAt) <= Date.parse(at)) return false;
  d.emit('exposure-held', { phase, attempt, offerId, holds, opensAt, closesAt, timeZone: windows.timeZone });
  return true;
}

/**
 * Whether a lane records why each phase ended (`phase-passed`): one whose config has a `{ min, max }` bake. Lanes
 * started before ranges existed, and lanes of plain bakes, decide exactly the events they always did.
 */
function recordsPhaseEnds(config: LaneConfig): boolean {
  return config.phases.some((phase) => phase.minBakeSec !== undefined);
}

/**
 * Whether the current phase may pass now on a healthy verdict: its bake is over (the lane waits for evidence), or
 * it has a `{ min, max }` bake whose minimum is over.
 */
function mayPassAt(waiting: WaitingFor | null, at: string): boolean {
  if (waiting?.kind === 'evidence') return true;
  return waiting?.kind === 'bake' && waiting.minUntil !== undefined && reached(at, waiting.minUntil);
}

/** Why a phase that passes at `at` ended: `evidence` before its (maximum) bake ran out, `bake` from then on. */
function endedByAt(waiting: WaitingFor | null, at: string): 'evidence' | 'bake' {
  if (waiting?.kind !== 'bake') return 'bake';
  return reached(at, waiting.maxUntil ?? waiting.until) ? 'bake' : 'evidence';
}

/**
 * The current phase passed (healthy, and its bake over or its minimum bake over): records why where the lane does
 * (`endedBy`: `evidence` before the maximum bake ran out, `bake` after), then the next phase, its gate, or the lane
 * is complete.
 */
function advance(d: Decision, at: string, endedBy: 'evidence' | 'bake'): void {
  const config = configOf(d.state);
  if (recordsPhaseEnds(config)) {
    const since = d.state.exposedAt ?? at;
    const elapsedSec = Math.max(0, Math.floor((Date.parse(at) - Date.parse(since)) / 1000));
    d.emit('phase-passed', { phase: d.state.phase, attempt: d.state.attempt, endedBy, elapsedSec });
  }
  const next = d.state.phase + 1;
  if (next < config.phases.length) {
    enterPhase(d, next, at, false);
    return;
  }
  const watchSec = config.regression?.watchSec ?? 0;
  if (watchSec > 0) {
    // Watched first: the lane completes (or starts patching) when the watch timer fires (`decideTimer`).
    d.emit('watch-started', {
      phase: d.state.phase,
      attempt: d.state.attempt,
      watchSec,
      until: addSeconds(at, watchSec),
    });
    return;
  }
  startPatchingOrComplete(d, at);
}

/**
 * After the last phase (and its watch window, if any): a lane without a completion rule completes; one with a rule
 * counts on until the target share reported success, or its deadline, counted from `passedAt`, when the last phase
 * passed.
 */
function startPatchingOrComplete(d: Decision, passedAt: string, endedBy?: 'watch'): void {
  const config = configOf(d.state);
  if (config.completion === undefined) {
    d.emit('lane-completed', {
      phases: config.phases.length,
      attempt: d.state.attempt,
      ...(endedBy !== undefined && { endedBy }),
    });
    return;
  }
  // Patched, not just exposed: count on until the target share reported success, or the deadline.
  const share = patchedShareOf(d.state);
  if (share === null) throw new Error(`lane ${d.state.lane} has a completion rule but no patched share`);
  d.emit('patching-started', {
    phase: d.state.phase,
    attempt: d.state.attempt,
    target: config.completion.patchedShare,
    deadline: addSeconds(passedAt, config.completion.deadlineSec),
    ...share,
  });
  completeIfPatched(d);
  // A deadline that passed during the watch window ends the lane at once.
  const waiting = d.state.waitingFor;
  if (d.state.status === 'running' && waiting?.kind === 'patching' && reached(d.at, waiting.until)) {
    complete(d, 'deadline');
  }
}

/** In the patching stage of a running lane, completes it once its patched share reached the target. */
function completeIfPatched(d: Decision): void {
  const waiting = d.state.waitingFor;
  if (d.state.status !== 'running' || waiting?.kind !== 'patching') return;
  const share = patchedShareOf(d.state);
  if (share !== null && share.patchedShare >= waiting.patchedShare) complete(d, 'patched-share');
}

/** Completes a lane in its patching stage, recording why and the share it reached. */
function complete(d: Decision, endedBy: 'patched-share' | 'deadline'): void {
  const config = configOf(d.state);
  const share = patchedShareOf(d.state);
  d.emit('lane-completed', {
    phases: config.phases.length,
    attempt: d.state.attempt,
    endedBy,
    ...(share !== null && share),
  });
}

function startRollback(d: Decision, at: string, trigger: 'policy' | 'escalation' | 'operator'): void {
  const config = configOf(d.state);
  const rollbackAttempt = (d.state.rollback?.attempt ?? 0) + 1;
  d.emit('rollback-started', {
    offerId: rollbackOfferId(d.state.lane, rollbackAttempt),
    rollbackAttempt,
    cohortBound: d.state.cohortBound,
    until: addSeconds(at, config.rollbackTimeoutSec),
    trigger,
  });
}

function scheduleRetry(d: Decision, at: string, trigger: 'policy' | 'operator', backoffSec: number): void {
  const attempt = d.state.attempt + 1;
  d.emit('retry-issued', {
    phase: d.state.phase,
    attempt,
    offerId: exposureOfferId(d.state.lane, d.state.phase, attempt),
    backoffSec,
    notBefore: addSeconds(at, backoffSec),
    trigger,
  });
}

/**
 * A breach of the current attempt (install outcomes or a post-install regression): record it and apply the class's
 * breach policy.
 */
function onBreach(
  d: Decision,
  at: string,
  offerId: string,
  window: Pick<OfferWindow, 'phase' | 'attempt'>,
  evidence: HealthEvidence | RegressionEvidence,
): void {
  const policy = configOf(d.state).breachPolicy;
  const breached = (response: 'pause' | 'retry' | 'rollback') =>
    d.emit('threshold-breached', {
      offerId,
      phase: window.phase,
      attempt: window.attempt,
      evidence,
      rule: evidence.rule,
      response,
    });
  const pause = (detail: string) =>
    d.emit('lane-paused', { cause: 'breach', resumeTo: d.state.waitingFor, detail }, {});
  switch (policy.action) {
    case 'pause':
      breached('pause');
      pause(evidence.explanation);
      return;
    case 'rollback':
      breached('rollback');
      startRollback(d, at, 'policy');
      return;
    case 'retry':
      if (d.state.retriesUsed < policy.attempts) {
        breached('retry');
        scheduleRetry(d, at, 'policy', policy.backoff);
      } else if (policy.then === 'pause') {
        breached('pause');
        pause(`retries exhausted (${policy.attempts}): ${evidence.explanation}`);
      } else {
        breached('rollback');
        startRollback(d, at, 'escalation');
      }
      return;
    default: {
      const _exhaustive: never = policy;
      throw new Error(`unexpected policy: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * The thresholds one window is judged with. Rules version 2 judges the attempt's accumulated evidence with one
 * always-valid test, so every window gets the plan's thresholds as they are. Rules version 1 judged each phase's
 * window alone and split the plan's `falseHaltProbability` evenly over the phases (Bonferroni); its rollback windows
 * got the plan's thresholds as they are.
 */
export function windowThresholds(config: LaneConfig, kind: OfferWindow['kind']): LaneConfig['thresholds'] {
  if (rulesVersionOf(config) >= 2 || kind !== 'exposure' || config.phases.length <= 1) return config.thresholds;
  return { ...config.thresholds, falseHaltProbability: config.thresholds.falseHaltProbability / config.phases.length };
}

/** Final outcomes in a window's totals (devices that reported or timed out, ignored codes included). */
export function finalOutcomes(totals: OutcomeCounts): number {
  let failed = 0;
  for (const code in totals.failedByCode) failed += totals.failedByCode[code] ?? 0;
  return totals.succeeded + failed + Math.max(0, totals.timedOut);
}

/**
 * The counts of one exposure attempt: every phase window of that attempt summed, with `replace` standing in for
 * the window of the same offer id (the totals a delta is about to give it).
 */
export function attemptCounts(
  state: LaneState,
  attempt: number,
  replace?: { offerId: string; totals: OutcomeCounts },
): HealthCounts {
  let sum: HealthCounts = emptyCounts();
  for (const [offerId, window] of Object.entries(state.windows)) {
    if (window.kind !== 'exposure' || window.attempt !== attempt) continue;
    sum = addCounts(sum, offerId === replace?.offerId ? replace.totals : window.totals);
  }
  if (replace !== undefined && !(replace.offerId in state.windows)) sum = addCounts(sum, replace.totals);
  return toHealthCounts(sum);
}

/**
 * The verdict of a window after its totals become `totals`. Rules version 2: an exposure window is judged on its
 * attempt's accumulated counts, with the current phase's own outcomes (a phase passes only with one of its own);
 * a rollback window on its own counts. Rules version 1: every window alone, at its `windowThresholds`.
 */
export function verdictOf(
  state: LaneState,
  offerId: string,
  window: OfferWindow,
  totals: OutcomeCounts,
): HealthVerdict {
  const config = configOf(state);
  if (rulesVersionOf(config) < 2) {
    return evaluateHealthV1(toHealthCounts(totals), windowThresholds(config, window.kind));
  }
  if (window.kind === 'rollback') return evaluateHealth(toHealthCounts(totals), config.thresholds);
  const counts = attemptCounts(state, window.attempt, { offerId, totals });
  const phaseOffer = exposureOfferId(state.lane, state.phase, window.attempt);
  const phaseTotals = phaseOffer === offerId ? totals : state.windows[phaseOffer]?.totals;
  const phaseOutcomes = phaseTotals === undefined ? 0 : finalOutcomes(phaseTotals);
  return evaluateHealth(counts, config.thresholds, { phaseOutcomes });
}

/** The verdict the current phase would pass on now (null before any evidence): what a bake's end consults. */
function currentVerdict(state: LaneState): HealthVerdict | null {
  if (state.offerId === null) return null;
  const window = state.windows[state.offerId];
  // No delta for the phase's own offer yet: nothing of its own to pass on (recorded as verdict `none`).
  if (window === undefined || window.verdict === null) return null;
  if (rulesVersionOf(configOf(state)) < 2) return window.verdict;
  return verdictOf(state, state.offerId, window, window.totals);
}

/**
 * Whether a healthy verdict from this window may pass the current phase: under rules version 2 any window of the
 * current attempt (the verdict judges the attempt), under version 1 only the current phase's own window.
 */
function passesOn(state: LaneState, window: OfferWindow): boolean {
  if (rulesVersionOf(configOf(state)) < 2) return window.phase === state.phase;
  return window.attempt === state.attempt;
}

/**
 * Whether a retry's offer has not gone out yet (its backoff runs, or a window holds it): outcomes of the attempt it
 * replaces then decide nothing.
 */
function awaitsRetryOffer(state: LaneState): boolean {
  const waiting = state.waitingFor;
  return waiting?.kind === 'retry-backoff' || (waiting?.kind === 'window' && waiting.attempt !== state.attempt);
}

function decideHealth(state: LaneState, input: HealthDeltaInput): LaneStep | Refusal {
  const window = state.windows[input.offerId];
  if (window === undefined) return refuse(`unknown offer ${input.offerId} for lane ${state.lane}`);
  const { above, overlap } = againstMarks(state.highWater[input.offerId] ?? {}, input.delta.ranges);
  // Every range at or below its mark: counted before (a redelivery), dropped.
  if (!above) return unchanged(state);
  const totals = addCounts(window.totals, input.delta.counts);
  const verdict = verdictOf(state, input.offerId, window, totals);
  const actionable =
    window.kind === 'exposure'
      ? state.status === 'running' && window.attempt === state.attempt && !awaitsRetryOffer(state)
      : state.status === 'rolling-back' && input.offerId === state.rollback?.offerId;
  const d = new Decision(state, input.at);
  d.emit('health-evaluated', {
    offerId: input.offerId,
    window: window.kind,
    phase: window.phase,
    attempt: window.attempt,
    delta: input.delta,
    // Only when some offsets are counted twice, so a delta above every mark gives the event it always gave.
    ...(overlap.length > 0 && { overlap }),
    totals,
    verdict,
    actionable,
  });
  const stall = state.stalled ?? null;
  if (stall !== null && window.kind === 'exposure' && reportsIn(input.delta.counts)) {
    d.emit('lane-stall-cleared', { stalledAt: stall.at, quietSince: stall.quietSince, offerId: input.offerId });
  }
  if (!actionable) {
    // A late outcome of an earlier attempt is still a device patched.
    if (window.kind === 'exposure') completeIfPatched(d);
    return d.step();
  }
  if (window.kind === 'rollback') {
    if (verdict.verdict === 'breach') {
      d.emit('rollback-failed', { offerId: input.offerId, totals, evidence: verdict.evidence });
      // The rollback has ended (failed): an abort that waited for it takes effect now.
      if (state.abortPending !== undefined && state.abortPending !== null) {
        d.emit('lane-aborted', { cause: state.abortPending });
      }
    }
    return d.step();
  }
  if (verdict.verdict === 'breach') {
    onBreach(d, input.at, input.offerId, window, verdict.evidence);
  } else if (verdict.verdict === 'healthy' && mayPassAt(state.waitingFor, input.at) && passesOn(state, window)) {
    advance(d, input.at, endedByAt(state.waitingFor, input.at));
  } else {
    completeIfPatched(d);
  }
  return d.step();
}

/**
 * Per partition, whether a delta's ranges reach above the lane's marks (else it was applied before: a redelivery)
 * and which of them start at or below their mark (offsets a delta applied whole counts twice).
 */
function againstMarks(
  marks: Readonly<Record<string, string>>,
  ranges: readonly OffsetRange[],
): { above: boolean; overlap: DeltaOverlap[] } {
  let above = false;
  const overlap: DeltaOverlap[] = [];
  for (const range of ranges) {
    const mark = marks[String(range.partition)];
    if (mark === undefined || BigInt(range.toOffset) > BigInt(mark)) above = true;
    if (mark !== undefined && BigInt(range.fromOffset) <= BigInt(mark)) {
      overlap.push({ partition: range.partition, fromOffset: range.fromOffset, mark });
    }
  }
  return { above, overlap };
}

/**
 * A post-install delta (`events/regression.ts`): refused by a lane without a regression rule; otherwise dropped when
 * every range is at or below the lane's post-install marks (a redelivery), else judged whole and recorded
 * (`regression-evaluated`). A breach while the lane can act on it (running, not in a retry backoff, with an exposure
 * out) records `threshold-breached` with the regression evidence and applies the breach policy, as install failures do.
 */
function decidePostInstall(state: LaneState, input: PostInstallDeltaInput): LaneStep | Refusal {
  const rule = state.config?.regression;
  if (rule === undefined || state.regression === undefined) {
    return refuse(`lane ${state.lane} watches no post-install signals: its plan has no regression rule`);
  }
  const { above, overlap } = againstMarks(state.regression.highWater, input.delta.ranges);
  if (!above) return unchanged(state);
  const judged = judgeDelta(state.regression.signals, input.delta, rule);
  const breach = judged.evidence.find((e) => e.verdict === 'breach');
  const actionable = state.status === 'running' && state.waitingFor?.kind !== 'retry-backoff' && state.offerId !== null;
  const d = new Decision(state, input.at);
  d.emit('regression-evaluated', {
    attempt: state.regression.attempt,
    delta: input.delta,
    ...(overlap.length > 0 && { overlap }),
    signals: judged.evidence,
    verdict:
      breach !== undefined
        ? 'breach'
        : judged.evidence.some((e) => e.verdict === 'watching')
          ? 'watching'
          : 'no-evidence',
    actionable,
  });
  if (actionable && breach !== undefined && state.offerId !== null) {
    onBreach(d, input.at, state.offerId, state, regressionEvidenceOf(breach, rule));
  }
  return d.step();
}

/** Per watched signal, the state before any evidence. */
function emptySignals(signals: readonly string[]): NonNullable<LaneState['regression']>['signals'] {
  return Object.fromEntries(signals.map((signal) => [signal, emptySignalState()]));
}

function decideTimer(state: LaneState, input: TimerFired): LaneStep {
  const waiting = state.waitingFor;
  const d = new Decision(state, input.at);
  if (input.kind === 'bake' && waiting?.kind === 'bake' && reached(input.at, waiting.until)) {
    const verdict = currentVerdict(state)?.verdict ?? 'none';
    if (waiting.maxUntil !== undefined) {
      // The minimum bake of a { min, max } phase is over: pass on proven health now, or bake on until the max.
      d.emit('min-bake-elapsed', {
        phase: waiting.phase,
        attempt: state.attempt,
        verdict,
        bakeUntil: waiting.maxUntil,
      });
      if (verdict === 'healthy') advance(d, input.at, endedByAt(waiting, input.at));
    } else {
      d.emit('bake-elapsed', { phase: waiting.phase, attempt: state.attempt, verdict });
      if (verdict === 'healthy') advance(d, input.at, 'bake');
    }
  } else if (input.kind === 'retry-backoff' && waiting?.kind === 'retry-backoff' && reached(input.at, waiting.until)) {
    expose(d, state.phase, waiting.attempt, input.at);
  } else if (input.kind === 'rollback' && waiting?.kind === 'rollback' && reached(input.at, waiting.until)) {
    const offerId = state.rollback?.offerId ?? '';
    d.emit('rollback-completed', { offerId, totals: state.windows[offerId]?.totals ?? ZERO_COUNTS });
  } else if (input.kind === 'patching' && waiting?.kind === 'patching' && reached(input.at, waiting.until)) {
    complete(d, 'deadline');
  } else if (input.kind === 'watch' && waiting?.kind === 'watch' && reached(input.at, waiting.until)) {
    const watchSec = configOf(state).regression?.watchSec ?? 0;
    startPatchingOrComplete(d, addSeconds(waiting.until, -watchSec), 'watch');
  } else if (input.kind === 'step' && waiting?.kind === 'step' && reached(input.at, waiting.until)) {
    widen(d, input.at);
  } else if (input.kind === 'window' && waiting?.kind === 'window' && reached(input.at, waiting.until)) {
    if (waiting.holds === 'step') widen(d, input.at);
    else expose(d, waiting.phase, waiting.attempt, input.at);
  } else if (input.kind === 'stall') {
    // Watched only with a rule, while running and waiting on devices (`stallDeadlineOf`): all of these are set then.
    const due = stallDeadlineOf(state);
    const { completion } = configOf(state);
    const quietSince = quietSinceOf(state);
    if (due !== null && reached(input.at, due) && completion && quietSince && state.offerId !== null && waiting) {
      d.emit('lane-stalled', {
        quietSince,
        stallAfterSec: completion.stallAfterSec,
        offerId: state.offerId,
        phase: state.phase,
        cohortBound: state.cohortBound,
        waiting: waiting.kind,
      });
    }
  }
  return d.step();
}

function decideOperator(state: LaneState, command: OperatorCommand): LaneStep | Refusal {
  const { status } = state;
  const meta: Meta = { actor: command.actor, reason: command.reason };
  const d = new Decision(state, command.at, meta);
  const accept = () => d.emit('operator-command-accepted', { command: command.type });
  switch (command.type) {
    case 'pause':
      if (status === 'paused') return refuse(`lane ${state.lane} is already paused`);
      if (status !== 'running') return refuse(`cannot pause lane ${state.lane}: it is ${status}`);
      accept().emit('lane-paused', { cause: 'operator', resumeTo: state.waitingFor });
      return d.step();
    case 'resume':
      if (status === 'rolled-back') {
        return refuse(`lane ${state.lane} was rolled back and cannot resume; start a new rollout for a fixed build`);
      }
      if (status === 'rollback-failed') return refuse(`lane ${state.lane}: rollback failed; roll back again or abort`);
      if (status !== 'paused' || state.pause === null)
        return refuse(`lane ${state.lane} is not paused (it is ${status})`);
      if (state.pause.cause === 'breach') {
        return refuse(`lane ${state.lane} paused on a threshold breach: retry (fresh attempt) or roll back`);
      }
      accept().emit('lane-resumed', { resumeTo: state.pause.resumeTo });
      return d.step();
    case 'approve': {
      const waiting = state.waitingFor;
      if (status === 'running' && waiting?.kind === 'approval') {
        const rule = state.config?.approvals;
        if (rule?.twoPersonRule && rule.startedBy === command.actor) {
          return refuse(
            `two-person rule: ${command.actor} started this rollout and may not also approve its gates; ` +
              `another approver must approve phase ${waiting.phase + 1} of lane ${state.lane}`,
          );
        }
        accept();
        enterPhase(d, waiting.phase, command.at, true);
        return d.step();
      }
      if (status === 'paused' && state.pause?.resumeTo?.kind === 'approval') {
        return refuse(`lane ${state.lane} is paused; resume it before approving`);
      }
      return refuse(`nothing to approve: lane ${state.lane} is ${status} and waits for ${describeWaitingFor(waiting)}`);
    }
    case 'retry':
      if (status !== 'paused' || state.pause?.cause !== 'breach') {
        return refuse(`lane ${state.lane} has not breached (it is ${status}): nothing to retry`);
      }
      accept();
      scheduleRetry(d, command.at, 'operator', 0);
      expose(d, state.phase, d.state.attempt + 1, command.at);
      return d.step();
    case 'rollback':
      if (status === 'rolling-back') return refuse(`lane ${state.lane} is already rolling back`);
      if (status === 'rolled-back') return refuse(`lane ${state.lane} is already rolled back`);
      if (status === 'aborted') return refuse(`lane ${state.lane} was aborted`);
      if (state.cohortBound === 0) return refuse(`lane ${state.lane} has exposed no device yet: abort it instead`);
      accept();
      startRollback(d, command.at, 'operator');
      return d.step();
    case 'abort': {
      if (isLaneFinished(status)) return refuse(`lane ${state.lane} is already ${status}`);
      const cause = command.lane === undefined || command.lane === null ? 'rollout-aborted' : 'operator';
      if (status === 'rolling-back' && state.rollback !== null) {
        // Stopping now would leave devices half rolled back and uncounted: forbid further exposure (a rolling-back
        // lane exposes nothing) and let the rollback run and be tracked to its end.
        if ((state.abortPending ?? null) !== null) {
          return refuse(`lane ${state.lane}: abort already requested; it takes effect when the rollback ends`);
        }
        accept().emit('lane-abort-deferred', { cause, rollbackOfferId: state.rollback.offerId });
        return d.step();
      }
      accept().emit('lane-aborted', { cause });
      return d.step();
    }
    case 'restart':
      return refuse(`lane ${state.lane} is ${status}, not lost: restart is for a class whose workflow closed`);
    default: {
      const _exhaustive: never = command;
      throw new Error(`unexpected command: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * One decider step: what happens to a lane on one input — the new events (possibly none) and the state they lead
 * to — or a refusal with a reason for commands the lane will not carry out. This is the loop body a lane workflow
 * runs (`decide → append events → act → wait`). Pure: the given state is never mutated; the returned state is the
 * given one evolved with the events (`evolveLane`, the only way lane state moves), so the caller need not fold them
 * again. Stale timers and duplicate deltas yield no events; deltas for an unknown offer and inputs for another
 * lane are refused.
 */
export function stepLane(state: LaneState, input: LaneInput): LaneStep | Refusal {
  if (input.type === 'start-lane') {
    if (state.status !== 'pending') return refuse(`lane ${state.lane} has already started`);
    const d = new Decision({ ...state, rolloutId: input.rolloutId, lane: input.lane }, input.at);
    d.emit('lane-started', { config: input.config });
    enterPhase(d, 0, input.at, false);
    return d.step();
  }
  if (state.status === 'pending') return refuse(`lane ${input.lane ?? state.lane} has not started`);
  if (input.lane !== undefined && input.lane !== null && input.lane !== state.lane) {
    return refuse(`input for lane ${input.lane} sent to lane ${state.lane}`);
  }
  switch (input.type) {
    case 'health-delta':
      return decideHealth(state, input);
    case 'post-install-delta':
      return decidePostInstall(state, input);
    case 'timer-fired':
      return decideTimer(state, input);
    case 'fleet-halt':
      if (state.status !== 'running') return unchanged(state);
      return new Decision(state, input.at)
        .emit('lane-paused', {
          cause: 'fleet-halt',
          resumeTo: state.waitingFor,
          detail: input.reason,
        })
        .step();
    default:
      // The operator commands; decideOperator's switch is the exhaustive one.
      return decideOperator(state, input);
  }
}

/**
 * The regression judgement a lane holds now, for status and the postmortem: the attempt its evidence is of and each
 * watched signal's evidence (rates, ratio, e-value, bound, verdict), in the rule's order; null without the rule.
 */
export function regressionNow(state: LaneState): { attempt: number; signals: SignalEvidence[] } | null {
  const rule = state.config?.regression;
  const judged = state.regression;
  if (rule === undefined || judged === undefined) return null;
  const signals = rule.signals.map((s) => signalEvidenceOf(s, judged.signals[s] ?? emptySignalState(), rule));
  return { attempt: judged.attempt, signals };
}

/**
 * Folds a lane's events (or a whole rollout log; other lanes are skipped) from the initial state.
 * The lane workflow uses it after continue-as-new checks and in tests; `fold` in rollout.ts gives the
 * whole rollout view.
 */
export function foldLane(events: readonly DomainEvent[], from: LaneState = initialLaneState()): LaneState {
  return events.reduce(evolveLane, from);
}

/** The events of one decider step (`stepLane`) alone, or its refusal. */
export function decideLane(state: LaneState, input: LaneInput): readonly DomainEvent[] | Refusal {
  const step = stepLane(state, input);
  return 'refused' in step ? step : step.events;
}

/**
 * Every window of one kind summed (`exposure`: what the class's devices got over all phases and attempts;
 * `rollback`: every rollback), with devices in progress clamped at 0 per window. Used by `status` and the postmortem.
 */
export function summedWindows(state: LaneState, kind: OfferWindow['kind']): OutcomeCounts {
  const sum: OutcomeCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
  for (const window of Object.values(state.windows)) {
    if (window.kind !== kind) continue;
    sum.succeeded += window.totals.succeeded;
    sum.timedOut += window.totals.timedOut;
    sum.inProgress += Math.max(0, window.totals.inProgress);
    for (const [code, n] of Object.entries(window.totals.failedByCode))
      sum.failedByCode[code] = (sum.failedByCode[code] ?? 0) + n;
  }
  return sum;
}

/** The counts of the lane's current exposure window (zero before the first exposure). */
export function currentCounts(state: LaneState): OutcomeCounts {
  return (state.offerId === null ? undefined : state.windows[state.offerId]?.totals) ?? ZERO_COUNTS;
}
