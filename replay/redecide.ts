/**
 * Re-decides a lane: runs the lane decider (`decideLane` / `evolveLane`, the workflow's own) again over
 * what the live lane received — its start, the health deltas the ingest sent (counts rebuilt from the
 * install events those deltas covered), its post-install deltas (as recorded), its timers, operator commands and
 * fleet halts — with the recorded configuration (a fidelity check: it must reproduce the log) or another one
 * (what-if).
 *
 * Timing: every recorded input keeps its recorded time and order (the `seq` of the event it caused). A
 * timer fires at the time the live timer fired when the re-run waits for the same deadline, else at its
 * deadline. Deltas of an offer the re-run has not issued yet wait until it issues it (then they are
 * applied at that moment: the same devices, reacting later); deltas of offers it never issues are
 * dropped, as those devices were never exposed. Decisions happen at the live ingest's batch boundaries.
 *
 * Pure: no I/O, no clock.
 */
import type { LaneInput, TimerFired } from '../events/commands';
import type { DomainEvent, EventOf, HealthDelta, OutcomeCounts } from '../events/domain-events';
import { decideLane, evolveLane, initialLaneState, laneDeadlineOf, type LaneState } from '../events/lane';
import type { LaneConfig } from '../events/plan';
import { addChange, zeroCounts, type ChangeIndex, type CountChange } from './outcomes';

/** A recorded input of the lane, in time and seq order. */
type TimedInput = { atMs: number; order: number; input: LaneInput };

/** The outcome of re-deciding one lane. */
export type Redecision = {
  lane: string;
  /** The lane's events as the re-run decided them. */
  events: DomainEvent[];
  /** Recorded operator commands the re-run's lane refused (its state differed), with the reason. */
  refused: { at: string; command: string; reason: string }[];
  /** Health deltas whose counts were rebuilt from install events and matched the recorded counts. */
  rebuiltDeltas: number;
  /** Health deltas whose rebuilt counts differed from the recorded ones (the recorded counts were used). */
  mismatchedDeltas: number;
  /** Health deltas for which no install events were found (the recorded counts were used). */
  recordedOnlyDeltas: number;
  /** Deltas of offers the re-run never issued (dropped: those devices were never exposed in it). */
  droppedDeltas: number;
  /** Deltas applied later than recorded because the re-run issued their offer later. */
  shiftedDeltas: number;
};

function countsEqual(a: OutcomeCounts, b: OutcomeCounts): boolean {
  if (a.succeeded !== b.succeeded || a.timedOut !== b.timedOut || a.inProgress !== b.inProgress) return false;
  const codes = new Set([...Object.keys(a.failedByCode), ...Object.keys(b.failedByCode)]);
  for (const code of codes) if ((a.failedByCode[code] ?? 0) !== (b.failedByCode[code] ?? 0)) return false;
  return true;
}

/** Rebuilds a recorded delta's counts from the install-event changes its ranges cover. */
function rebuild(
  offerId: string,
  delta: HealthDelta,
  index: ChangeIndex | undefined,
  covered: Set<CountChange>,
): OutcomeCounts | null {
  if (index === undefined) return null;
  const counts = zeroCounts();
  let n = 0;
  for (const range of delta.ranges) {
    for (const change of index.range(offerId, range.partition, Number(range.fromOffset), Number(range.toOffset))) {
      addChange(counts, change);
      covered.add(change);
      n++;
    }
  }
  return n === 0 ? null : counts;
}

/**
 * The live lane's timers: where each fired (`timerOf`'s key → time and the seq of the event it caused),
 * and every deadline the live lane waited for, fired or not.
 */
function recordedTimers(laneEvents: readonly DomainEvent[]): {
  fired: Map<string, { atMs: number; order: number }>;
  deadlines: Set<string>;
} {
  const fired = new Map<string, { atMs: number; order: number }>();
  const deadlines = new Set<string>();
  let state: LaneState = initialLaneState();
  for (const e of laneEvents) {
    const waiting = state.waitingFor;
    const firedHere =
      ((e.type === 'bake-elapsed' || e.type === 'min-bake-elapsed') && waiting?.kind === 'bake') ||
      ((e.type === 'exposure-issued' || e.type === 'exposure-held') && waiting?.kind === 'retry-backoff') ||
      // A rate step due, or a maintenance window opening: the step, the offer, or a hold until the next window.
      ((e.type === 'exposure-issued' || e.type === 'exposure-widened' || e.type === 'exposure-held') &&
        (waiting?.kind === 'step' || waiting?.kind === 'window')) ||
      (e.type === 'rollback-completed' && waiting?.kind === 'rollback') ||
      (e.type === 'lane-completed' && e.data.endedBy === 'deadline') ||
      ((e.type === 'patching-started' || e.type === 'lane-completed') && waiting?.kind === 'watch') ||
      e.type === 'lane-stalled';
    const timer = firedHere ? timerOf(state) : null;
    if (timer !== null) fired.set(timer.key, { atMs: Date.parse(e.at), order: e.seq });
    state = evolveLane(state, e);
    const next = timerOf(state);
    if (next !== null) deadlines.add(next.key);
  }
  return { fired, deadlines };
}

/** The recorded inputs of one lane (everything but timers), rebuilt from its events. */
function recordedInputs(
  laneEvents: readonly DomainEvent[],
  config: LaneConfig,
  index: ChangeIndex | undefined,
  covered: Set<CountChange>,
  stats: Pick<Redecision, 'rebuiltDeltas' | 'mismatchedDeltas' | 'recordedOnlyDeltas'>,
): TimedInput[] {
  const inputs: TimedInput[] = [];
  laneEvents.forEach((e, i) => {
    const atMs = Date.parse(e.at);
    switch (e.type) {
      case 'lane-started':
        inputs.push({
          atMs,
          order: e.seq,
          input: { type: 'start-lane', rolloutId: e.rolloutId, lane: e.lane, config, at: e.at },
        });
        return;
      case 'health-evaluated': {
        const { offerId, delta } = e.data;
        const rebuilt = rebuild(offerId, delta, index, covered);
        let counts = delta.counts;
        if (rebuilt === null) stats.recordedOnlyDeltas++;
        else if (countsEqual(rebuilt, delta.counts)) {
          stats.rebuiltDeltas++;
          counts = rebuilt;
        } else stats.mismatchedDeltas++;
        inputs.push({
          atMs,
          order: e.seq,
          input: { type: 'health-delta', lane: e.lane, offerId, delta: { counts, ranges: delta.ranges }, at: e.at },
        });
        return;
      }
      case 'regression-evaluated':
        // Post-install deltas are re-judged as recorded (the ingest's groups cannot be rebuilt from outcomes).
        inputs.push({
          atMs,
          order: e.seq,
          input: { type: 'post-install-delta', lane: e.lane, delta: e.data.delta, at: e.at },
        });
        return;
      case 'operator-command-accepted': {
        if (e.actor === undefined || e.reason === undefined) return;
        const next = laneEvents[i + 1];
        const wholeRollout =
          (next?.type === 'lane-aborted' || next?.type === 'lane-abort-deferred') &&
          next.data.cause === 'rollout-aborted';
        inputs.push({
          atMs,
          order: e.seq,
          input: {
            type: e.data.command,
            actor: e.actor,
            reason: e.reason,
            ...(wholeRollout ? {} : { lane: e.lane }),
            at: e.at,
          },
        });
        return;
      }
      case 'lane-paused':
        if (e.data.cause === 'fleet-halt') {
          inputs.push({
            atMs,
            order: e.seq,
            input: { type: 'fleet-halt', lane: e.lane, reason: e.data.detail ?? 'fleet halt', at: e.at },
          });
        }
        return;
      default:
        return;
    }
  });
  return inputs;
}

/** Deltas for install-event changes no recorded delta covered (e.g. after the lane's workflow ended): one per offer and second. */
function lateInputs(
  lane: string,
  changes: readonly CountChange[],
  covered: Set<CountChange>,
  notBeforeMs: number,
): TimedInput[] {
  const groups = new Map<string, CountChange[]>();
  for (const c of changes) {
    if (c.lane !== lane || covered.has(c)) continue;
    const key = `${c.offerId}|${Math.floor(c.timestampMs / 1000)}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [c]);
    else list.push(c);
  }
  const inputs: TimedInput[] = [];
  for (const list of groups.values()) {
    const counts = zeroCounts();
    const ranges = new Map<number, { from: number; to: number }>();
    for (const c of list) {
      addChange(counts, c);
      const r = ranges.get(c.partition);
      ranges.set(c.partition, {
        from: Math.min(r?.from ?? c.offset, c.offset),
        to: Math.max(r?.to ?? c.offset, c.offset),
      });
    }
    // The live lane never received these while its log was written: they arrive after its last event.
    const last = list.reduce((max, c) => Math.max(max, c.timestampMs), notBeforeMs);
    const at = new Date(last).toISOString();
    inputs.push({
      atMs: last,
      order: Number.MAX_SAFE_INTEGER,
      input: {
        type: 'health-delta',
        lane,
        offerId: list[0]!.offerId,
        delta: {
          counts,
          ranges: [...ranges].map(([partition, r]) => ({
            partition,
            fromOffset: String(r.from),
            toOffset: String(r.to),
          })),
        },
        at,
      },
    });
  }
  return inputs;
}

/**
 * The timer the lane's state asks for (`laneDeadlineOf`, the workflow's own: a paused lane has none), with the key it
 * is recorded under: kind and deadline, and for a bake its phase (a `{ min, max }` phase's minimum bake may end at
 * the very moment the next phase's zero bake does).
 */
function timerOf(state: LaneState): { kind: TimerFired['kind']; until: string; key: string } | null {
  const deadline = laneDeadlineOf(state);
  if (deadline === null) return null;
  const w = state.waitingFor;
  const phase = deadline.kind === 'bake' && w?.kind === 'bake' ? `|${w.phase}` : '';
  return { ...deadline, key: `${deadline.kind}${phase}|${deadline.until}` };
}

/**
 * Re-decides lane `lane` of a recorded rollout log with `config` (the recorded one, or a what-if). `index`
 * and `changes` are the install-event count changes (from `OutcomeTracker`); without them the recorded
 * delta counts are used as they are. Returns the re-run's events and how its inputs were rebuilt.
 */
export function redecideLane(
  log: readonly DomainEvent[],
  lane: string,
  config: LaneConfig,
  install?: { index: ChangeIndex; changes: readonly CountChange[] },
): Redecision {
  const laneEvents = log.filter((e) => e.lane === lane);
  const result: Redecision = {
    lane,
    events: [],
    refused: [],
    rebuiltDeltas: 0,
    mismatchedDeltas: 0,
    recordedOnlyDeltas: 0,
    droppedDeltas: 0,
    shiftedDeltas: 0,
  };
  const covered = new Set<CountChange>();
  const lastMs = laneEvents.reduce((max, e) => Math.max(max, Date.parse(e.at)), 0);
  const queue = recordedInputs(laneEvents, config, install?.index, covered, result);
  if (install !== undefined) for (const late of lateInputs(lane, install.changes, covered, lastMs)) queue.push(late);
  queue.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  const { fired, deadlines } = recordedTimers(laneEvents);
  const deferred = new Map<string, TimedInput[]>();

  let state = initialLaneState();
  const pending: TimedInput[] = [];
  const apply = (input: LaneInput): void => {
    const answer = decideLane(state, input);
    if ('refused' in answer) {
      // Observations a what-if lane does not take (an unknown offer, no regression rule) are no operator's refusal.
      if (input.type !== 'health-delta' && input.type !== 'post-install-delta' && input.type !== 'timer-fired') {
        result.refused.push({ at: input.at, command: input.type, reason: answer.reason });
      }
      return;
    }
    for (const e of answer) {
      state = evolveLane(state, e);
      result.events.push(e);
      if (e.type === 'exposure-issued' || e.type === 'rollback-started') {
        const waiting = deferred.get(e.data.offerId);
        if (waiting !== undefined) {
          deferred.delete(e.data.offerId);
          for (const d of waiting) {
            result.shiftedDeltas++;
            pending.push({ ...d, input: { ...d.input, at: e.at } });
          }
        }
      }
    }
  };

  let i = 0;
  for (;;) {
    while (pending.length > 0) apply(pending.shift()!.input);
    const next = queue[i];
    const timer = timerOf(state);
    const key = timer?.key ?? '';
    const recorded = fired.get(key);
    let timerAt = timer === null ? Infinity : Math.max(recorded?.atMs ?? 0, Date.parse(timer.until));
    const timerOrder = recorded?.order ?? Number.MAX_SAFE_INTEGER;
    // A deadline the live lane waited for but whose timer never fired: its next input came first.
    if (timer !== null && recorded === undefined && deadlines.has(key) && next !== undefined) {
      timerAt = Math.max(timerAt, next.atMs);
    }
    if (next === undefined && timer === null) break;
    if (
      timer !== null &&
      (next === undefined || timerAt < next.atMs || (timerAt === next.atMs && timerOrder < next.order))
    ) {
      apply({ type: 'timer-fired', lane, kind: timer.kind, at: new Date(timerAt).toISOString() });
      continue;
    }
    if (next === undefined) break;
    i++;
    const input = next.input;
    if (input.type === 'health-delta' && state.windows[input.offerId] === undefined && state.status !== 'pending') {
      const list = deferred.get(input.offerId) ?? [];
      list.push(next);
      deferred.set(input.offerId, list);
      continue;
    }
    apply(input);
  }
  for (const list of deferred.values()) result.droppedDeltas += list.length;
  return result;
}

/** The decision events of a lane: everything but `health-evaluated` and `regression-evaluated` (observations). */
export function decisionsOf(events: readonly DomainEvent[]): DomainEvent[] {
  return events.filter((e) => e.type !== 'health-evaluated' && e.type !== 'regression-evaluated');
}

/** Events that stop a lane's exposure (for a while or for good). */
const HALTING = new Set<DomainEvent['type']>(['threshold-breached', 'lane-paused', 'rollback-started', 'lane-aborted']);

/**
 * The halt that took effect: the first halting event (breach, pause, rollback, abort) after which the lane
 * issued no further exposure, or null when its exposure never stopped for good (it completed, or still runs).
 */
export function haltOf(laneEvents: readonly DomainEvent[]): DomainEvent | null {
  let halt: DomainEvent | null = null;
  for (const e of laneEvents) {
    if (e.type === 'exposure-issued') halt = null;
    else if (halt === null && HALTING.has(e.type)) halt = e;
  }
  return halt;
}

/** The offers a lane's events issued: offer id → the issuing event. */
export function issuedOffers(
  laneEvents: readonly DomainEvent[],
): Map<string, EventOf<'exposure-issued'> | EventOf<'rollback-started'>> {
  const offers = new Map<string, EventOf<'exposure-issued'> | EventOf<'rollback-started'>>();
  for (const e of laneEvents) {
    if (e.type === 'exposure-issued' || e.type === 'rollback-started') offers.set(e.data.offerId, e);
  }
  return offers;
}
