/**
 * The rollout decider: one BSI rollout across its device classes (`initialRolloutState`, `evolveRollout`,
 * `decideRollout`), and `fold(events)`, the one fold that gives the whole rollout view (rollout + every
 * lane) from the event log — the same fold runs in the workflow, in `status` and in `replay`.
 *
 * The rollout state embeds each lane's full `LaneState`, folded with `evolveLane` from the lane events in
 * the same log, so rollout-level rules read exactly what the lanes decided. Rules:
 * - Fleet-wide halt: once `fleetHalt.breachedClasses` classes have breached, every further breach halts all
 *   running lanes (`fleet-halted`, with the breached classes as the reason); and a breach of the fleet's
 *   summed exposure outcomes against `fleetHalt.failureSpike` halts all running lanes once.
 * - An operator `pause` without a lane halts the fleet (cause `operator`); `abort` without a lane aborts
 *   the rollout. Lane-scoped commands are checked against the lane (refusals surface here too) and yield
 *   no rollout-level events: the lane workflow decides them.
 * - The rollout completes when every planned lane is completed, rolled back or aborted. A completed or
 *   aborted rollout accepts no command.
 * - A plan's `schedule` (events/schedule.ts): `rollout-scheduled` at the start; a rollout that waits for its
 *   `startAt` starts no lane until a `schedule-tick` at or after it (`schedule-started`), and may be aborted
 *   meanwhile; at `endAt` (`schedule-ended`) `stop` stops every open lane that could still offer a cohort and the
 *   rollout completes once they ended, `cancel` aborts the rollout (`rollout-aborted` by the schedule).
 */
import { z } from 'zod';
import {
  LaneLossSchema,
  type LaneLostInput,
  type ScheduleTick,
  type LaneReport,
  type OperatorCommand,
  type Refusal,
  type RolloutInput,
  refuse,
} from './commands';
import { type DomainEvent, type EventOf, OutcomeCountsSchema, SupersedesSchema, makeEvent } from './domain-events';
import { addCounts, assessFleetSpike, pct, type SpikeSegment } from './health';
import { evaluateHealthV1 } from './health-v1';
import {
  LaneStateSchema,
  attemptCounts,
  decideLane,
  evolveLane,
  initialLaneState,
  isLaneFinished,
  toHealthCounts,
  type LaneState,
} from './lane';
import { RULES_VERSION, RolloutPlanSchema, type RolloutPlan } from './plan';
import { EndBehaviorSchema, endBehaviorOf, reached, waitUntilOf } from './schedule';
import type { HealthEvidence } from './health';

export const RolloutStatusSchema = z.enum(['pending', 'running', 'completed', 'aborted']);
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;

/** The whole rollout view: rollout-level facts plus every lane's folded state. Plain JSON. */
export const RolloutStateSchema = z
  .object({
    rolloutId: z.string(),
    status: RolloutStatusSchema,
    plan: RolloutPlanSchema.nullable(),
    /** The seq the next rollout-level event (stream `_`) gets. */
    nextSeq: z.number().int().min(0),
    startedAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
    /** Every planned lane (pending until its `lane-started`). */
    lanes: z.record(z.string(), LaneStateSchema),
    /** Classes that breached at least once, in order of their first breach. */
    breachedLanes: z.array(z.string()),
    /** Summed outcomes of every exposure window of every lane (for the failure-spike rule and status). */
    fleetTotals: OutcomeCountsSchema,
    /** Fleet halts so far, and whether the failure-spike rule has fired. */
    halts: z.number().int().min(0),
    spikeHalted: z.boolean(),
    /** The judging rules the rollout runs under; absent in states carried by runs from before version 2 (= 1). */
    rulesVersion: z.number().int().min(1).optional(),
    /** Lanes whose workflow closed before the lane finished (`lane-lost`), by class; absent when none. */
    lostLanes: z
      .record(
        z.string(),
        z.object({ cause: LaneLossSchema, detail: z.string(), at: z.string(), lastStatus: z.string() }).strict(),
      )
      .optional(),
    /**
     * The plan's schedule as `rollout-scheduled` recorded it: when the lanes start (`waitUntil`, null once they
     * started or when they started at once), the end and its behaviour, and the end once it came. Absent: no schedule.
     */
    schedule: z
      .object({
        waitUntil: z.string().nullable(),
        endAt: z.string().nullable(),
        endBehavior: EndBehaviorSchema.nullable(),
        ended: z
          .object({ at: z.string(), endBehavior: EndBehaviorSchema, stopLanes: z.array(z.string()) })
          .strict()
          .nullable(),
      })
      .strict()
      .optional(),
    /** The rollout this one supersedes, as `rollout-started` recorded it (events/supersede.ts); absent: none. */
    supersedes: SupersedesSchema.optional(),
  })
  .strict();
export type RolloutState = z.infer<typeof RolloutStateSchema>;

/** Whether a rollout waits for its scheduled start (it has started no lane yet). */
export function awaitsScheduledStart(state: RolloutState): boolean {
  return state.status === 'running' && (state.schedule?.waitUntil ?? null) !== null;
}

/**
 * The next time of its schedule the rollout must act at (its start, then its end), or null when none is left. The
 * workflow sets a timer for it and hands the decider a `schedule-tick` when it fires.
 */
export function nextScheduleTime(state: RolloutState): string | null {
  const schedule = state.schedule;
  if (schedule === undefined || state.status !== 'running' || schedule.ended !== null) return null;
  return schedule.waitUntil ?? schedule.endAt;
}

/** The state of a rollout before its `rollout-started` event. */
export function initialRolloutState(): RolloutState {
  return {
    rolloutId: '',
    status: 'pending',
    plan: null,
    nextSeq: 0,
    startedAt: null,
    updatedAt: null,
    lanes: {},
    breachedLanes: [],
    fleetTotals: { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 },
    halts: 0,
    spikeHalted: false,
  };
}

function evolveLaneView(state: RolloutState, event: DomainEvent, lane: string): RolloutState {
  const lanes = { ...state.lanes, [lane]: evolveLane(state.lanes[lane] ?? initialLaneState(), event) };
  let { breachedLanes, fleetTotals } = state;
  if (event.type === 'threshold-breached' && !breachedLanes.includes(lane)) {
    breachedLanes = [...breachedLanes, lane];
  }
  if (event.type === 'health-evaluated' && event.data.window === 'exposure') {
    fleetTotals = addCounts(fleetTotals, event.data.delta.counts);
  }
  return { ...state, lanes, breachedLanes, fleetTotals };
}

/**
 * Folds one event of the rollout log into the rollout view. Lane events update that lane's state (via
 * `evolveLane`), breached classes and fleet totals; rollout-level events update the rollout. The only
 * way the rollout view moves.
 */
export function evolveRollout(state: RolloutState, event: DomainEvent): RolloutState {
  if (event.lane !== null) return evolveLaneView(state, event, event.lane);
  const s: RolloutState = { ...state, nextSeq: event.seq + 1, updatedAt: event.at };
  switch (event.type) {
    case 'rollout-started': {
      const lanes: Record<string, LaneState> = {};
      for (const name of event.data.plan.deviceClasses) lanes[name] = initialLaneState(event.rolloutId, name);
      const rulesVersion = event.data.rulesVersion ?? 1;
      return {
        ...s,
        rolloutId: event.rolloutId,
        status: 'running',
        plan: event.data.plan,
        startedAt: event.at,
        lanes,
        rulesVersion,
        ...(event.data.supersedes !== undefined && { supersedes: event.data.supersedes }),
      };
    }
    case 'fleet-halted':
      return { ...s, halts: s.halts + 1, spikeHalted: s.spikeHalted || event.data.cause === 'failure-spike' };
    case 'rollout-completed':
      return { ...s, status: 'completed' };
    case 'rollout-aborted':
      return { ...s, status: 'aborted' };
    case 'lane-lost': {
      const { lane, cause, detail, lastStatus } = event.data;
      return { ...s, lostLanes: { ...s.lostLanes, [lane]: { cause, detail, lastStatus, at: event.at } } };
    }
    case 'lane-restarted': {
      const { [event.data.lane]: _restarted, ...lostLanes } = s.lostLanes ?? {};
      return { ...s, lostLanes };
    }
    case 'rollout-scheduled': {
      const { waitUntil, endAt, endBehavior } = event.data;
      return { ...s, schedule: { waitUntil, endAt, endBehavior, ended: null } };
    }
    case 'schedule-started':
      return s.schedule === undefined ? s : { ...s, schedule: { ...s.schedule, waitUntil: null } };
    case 'schedule-ended': {
      if (s.schedule === undefined) return s;
      const { endBehavior, stopLanes } = event.data;
      return { ...s, schedule: { ...s.schedule, ended: { at: event.at, endBehavior, stopLanes } } };
    }
    case 'operator-command-accepted':
      return s;
    default: {
      const _exhaustive: never = event;
      throw new Error(`unexpected event: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * Folds a rollout's event log into the whole rollout view (rollout + all lanes). Deterministic, and
 * folding a prefix then the rest equals folding all: `fold(a ++ b) = b.reduce(evolveRollout, fold(a))`.
 */
export function fold(events: readonly DomainEvent[], from: RolloutState = initialRolloutState()): RolloutState {
  return events.reduce(evolveRollout, from);
}

function emitter(state: RolloutState, at: string) {
  const events: DomainEvent[] = [];
  let seq = state.nextSeq;
  function emit<
    T extends
      | 'rollout-started'
      | 'rollout-completed'
      | 'rollout-aborted'
      | 'fleet-halted'
      | 'lane-lost'
      | 'lane-restarted'
      | 'rollout-scheduled'
      | 'schedule-started'
      | 'schedule-ended',
  >(type: T, data: EventOf<T>['data'], meta: { actor?: string; reason?: string } = {}): void {
    events.push(
      makeEvent<EventOf<T>>({ type, data, rolloutId: state.rolloutId, lane: null, seq: seq++, at, ...meta } as never),
    );
  }
  function accepted(command: OperatorCommand): void {
    events.push(
      makeEvent<EventOf<'operator-command-accepted'>>({
        type: 'operator-command-accepted',
        data: { command: command.type },
        rolloutId: state.rolloutId,
        lane: null,
        seq: seq++,
        at,
        actor: command.actor,
        reason: command.reason,
      }),
    );
  }
  return { events, emit, accepted };
}

/** Lanes running now, whose workflow still answers (a lost lane cannot be halted). */
function runningLanes(state: RolloutState): string[] {
  return Object.values(state.lanes)
    .filter((lane) => lane.status === 'running' && state.lostLanes?.[lane.lane] === undefined)
    .map((lane) => lane.lane);
}

/**
 * The spike rule's breach, or null. Version 2 pools every started lane's exposure attempts (`assessFleetSpike`):
 * an earlier attempt (it breached), or the current one of a lane paused on a breach, rolled back or aborted, counts
 * as handled. Version 1 judges the fleet's summed exposure outcomes with the thresholds stored in the plan.
 */
function fleetSpike(
  state: RolloutState,
  rule: NonNullable<NonNullable<RolloutPlan['fleetHalt']>['failureSpike']>,
): { explanation: string; evidence?: HealthEvidence } | null {
  if ('maxFailureRate' in rule) {
    const verdict = evaluateHealthV1(toHealthCounts(state.fleetTotals), rule);
    return verdict.verdict === 'breach'
      ? { explanation: verdict.evidence.explanation, evidence: verdict.evidence }
      : null;
  }
  if ((state.rulesVersion ?? 1) < 2) return null;
  const segments: SpikeSegment[] = [];
  for (const lane of Object.values(state.lanes)) {
    if (lane.config === null) continue;
    const attempts = new Set(
      Object.values(lane.windows)
        .filter((w) => w.kind === 'exposure')
        .map((w) => w.attempt),
    );
    const acted =
      (lane.status === 'paused' && lane.pause?.cause === 'breach') ||
      !(lane.status === 'running' || lane.status === 'paused' || lane.status === 'completed');
    for (const attempt of attempts) {
      segments.push({
        counts: attemptCounts(lane, attempt),
        thresholds: lane.config.thresholds,
        handled: attempt !== lane.attempt || acted,
      });
    }
  }
  const a = assessFleetSpike(segments, rule.falseHaltProbability);
  if (!a.breach) return null;
  const rate = a.sample > 0 ? a.failures / a.sample : 0;
  return {
    explanation:
      `${a.failures} of ${a.sample} failed (${pct(rate)}) over ${a.segments} lane attempts, each judged against its ` +
      `class's own threshold: pooled mixture LLR ${a.llr.toFixed(2)} ≥ ${a.bound.toFixed(2)} (false-halt ` +
      `probability ≤ ${pct(rule.falseHaltProbability)} while every class is at or below its threshold)`,
  };
}

function decideReport(state: RolloutState, input: LaneReport): readonly DomainEvent[] | Refusal {
  if (!(input.lane in state.lanes)) return refuse(`unknown device class ${input.lane}`);
  const foreign = input.events.find((event) => event.lane !== input.lane || event.rolloutId !== state.rolloutId);
  if (foreign !== undefined) return refuse(`report of lane ${input.lane} carries event ${foreign.eventId}`);
  if (state.status !== 'running') return [];
  const after = fold(input.events, state);
  const plan = after.plan;
  /* c8 ignore next */
  if (plan === null) return [];
  const out = emitter(state, input.at);
  const halt = plan.fleetHalt;
  const newlyBreached = after.breachedLanes.filter((lane) => !state.breachedLanes.includes(lane));
  const halted = newlyBreached.length > 0 && haltOnClasses(after, out);
  if (!halted && halt?.failureSpike !== undefined && !after.spikeHalted && after.fleetTotals !== state.fleetTotals) {
    const spike = fleetSpike(after, halt.failureSpike);
    if (spike !== null) {
      const haltLanes = runningLanes(after);
      out.emit('fleet-halted', {
        cause: 'failure-spike',
        reason: `fleet-wide failure spike: ${spike.explanation}`,
        breachedLanes: after.breachedLanes,
        haltLanes,
        ...(spike.evidence ? { evidence: spike.evidence } : {}),
      });
    }
  }
  const lanes = plan.deviceClasses.map((name) => after.lanes[name] ?? initialLaneState(state.rolloutId, name));
  if (lanes.every((lane) => isLaneFinished(lane.status))) {
    const outcomes: Record<string, 'completed' | 'rolled-back' | 'aborted'> = {};
    for (const lane of lanes) outcomes[lane.lane] = lane.status as 'completed' | 'rolled-back' | 'aborted';
    out.emit('rollout-completed', { lanes: outcomes });
  }
  return out.events;
}

/**
 * The breached-classes rule: once `fleetHalt.breachedClasses` classes have breached or been lost, halt every running
 * lane. Called when a class newly breached or was lost; emits `fleet-halted` and returns true when it fired.
 */
function haltOnClasses(after: RolloutState, out: ReturnType<typeof emitter>): boolean {
  const limit = after.plan?.fleetHalt?.breachedClasses;
  if (limit === undefined) return false;
  const lost = Object.keys(after.lostLanes ?? {}).filter((lane) => !after.breachedLanes.includes(lane));
  const counted = [...after.breachedLanes, ...lost];
  if (counted.length < limit) return false;
  const haltLanes = runningLanes(after);
  const what = lost.length > 0 ? 'breached or lost' : 'breached';
  out.emit('fleet-halted', {
    cause: 'breached-classes',
    reason: `${counted.length} device classes ${what} (${counted.join(', ')}), limit ${limit}: halting ${haltLanes.length > 0 ? haltLanes.join(', ') : 'no running lane'}`,
    breachedLanes: after.breachedLanes,
    ...(lost.length > 0 && { lostLanes: lost }),
    haltLanes,
  });
  return true;
}

/** A lane's workflow closed before its lane finished: record it (once), and let the breached-classes rule see it. */
function decideLaneLost(state: RolloutState, input: LaneLostInput): readonly DomainEvent[] | Refusal {
  const lane = state.lanes[input.lane];
  if (lane === undefined) return refuse(`unknown device class ${input.lane}`);
  if (state.status !== 'running' || isLaneFinished(lane.status) || state.lostLanes?.[input.lane] !== undefined) {
    return [];
  }
  const out = emitter(state, input.at);
  out.emit('lane-lost', { lane: input.lane, cause: input.cause, detail: input.detail, lastStatus: lane.status });
  haltOnClasses(fold(out.events, state), out);
  return out.events;
}

/** Who a schedule's decisions are recorded as (`actor` of `rollout-aborted` and of the lanes' aborts). */
export const SCHEDULE_ACTOR = 'schedule';

/** Lanes a `stop` at the schedule's end stops: open, not lost, and able to offer a cohort (not only patching). */
function lanesToStop(state: RolloutState): string[] {
  return Object.values(state.lanes)
    .filter(
      (lane) =>
        !isLaneFinished(lane.status) &&
        state.lostLanes?.[lane.lane] === undefined &&
        !(lane.status === 'running' && lane.waitingFor?.kind === 'patching'),
    )
    .map((lane) => lane.lane);
}

/**
 * The clock reached a time of the schedule: the scheduled start (`schedule-started`), or the end (`schedule-ended`,
 * then for `cancel` a `rollout-aborted` by the schedule). An end that came before the start was acted on ends the
 * rollout without a lane started (aborted: nothing rolled out). A tick before either time, or after the end was
 * decided, decides nothing: the workflow's timer may fire twice across a continue-as-new.
 */
function decideScheduleTick(state: RolloutState, input: ScheduleTick): readonly DomainEvent[] | Refusal {
  const schedule = state.schedule;
  if (state.status !== 'running' || schedule === undefined || schedule.ended !== null) return [];
  const out = emitter(state, input.at);
  const { waitUntil, endAt } = schedule;
  const endBehavior = schedule.endBehavior ?? 'stop';
  if (endAt !== null && reached(input.at, endAt)) {
    const lanesStarted = waitUntil === null;
    const stopLanes = lanesStarted && endBehavior === 'stop' ? lanesToStop(state) : [];
    out.emit('schedule-ended', { endAt, endBehavior, stopLanes, lanesStarted });
    if (!lanesStarted || endBehavior === 'cancel') {
      const why = lanesStarted
        ? `the schedule ended at ${endAt} (endBehavior cancel)`
        : `the schedule ended at ${endAt} before the rollout started its classes (due at ${waitUntil})`;
      out.emit('rollout-aborted', {}, { actor: SCHEDULE_ACTOR, reason: why });
    }
    return out.events;
  }
  if (waitUntil !== null && reached(input.at, waitUntil)) out.emit('schedule-started', { startAt: waitUntil });
  return out.events;
}

function meta(command: OperatorCommand): { actor: string; reason: string } {
  return { actor: command.actor, reason: command.reason };
}

function decideCommand(state: RolloutState, command: OperatorCommand): readonly DomainEvent[] | Refusal {
  if (state.status === 'pending') return refuse('the rollout has not started');
  if (state.status !== 'running') return refuse(`the rollout is ${state.status}: it accepts no more commands`);
  if (command.lane !== undefined && command.lane !== null) {
    const lane = state.lanes[command.lane];
    if (lane === undefined) {
      return refuse(`unknown device class ${command.lane} (classes: ${Object.keys(state.lanes).join(', ')})`);
    }
    const lost = state.lostLanes?.[command.lane];
    if (command.type === 'restart') {
      if (lost === undefined) {
        return refuse(`lane ${command.lane} is ${lane.status}, not lost: restart is for a class whose workflow closed`);
      }
      if (lost.cause === 'closed-unreported') {
        return refuse(
          `lane ${command.lane}'s workflow completed (its last report was lost): nothing to restart; abort the rollout`,
        );
      }
      const out = emitter(state, command.at);
      out.accepted(command);
      out.emit('lane-restarted', { lane: command.lane, lostCause: lost.cause }, meta(command));
      return out.events;
    }
    if (lost !== undefined) {
      return refuse(
        `lane ${command.lane}'s workflow was lost (${lost.cause}: ${lost.detail}); restart it first ` +
          '(rollout restart --class) or abort the rollout',
      );
    }
    const answer = decideLane(lane, command);
    return 'refused' in answer ? answer : [];
  }
  const out = emitter(state, command.at);
  switch (command.type) {
    case 'abort':
      out.accepted(command);
      out.emit('rollout-aborted', {}, { actor: command.actor, reason: command.reason });
      return out.events;
    case 'pause': {
      const haltLanes = runningLanes(state);
      if (haltLanes.length === 0) return refuse('no running lane to pause');
      out.accepted(command);
      out.emit(
        'fleet-halted',
        {
          cause: 'operator',
          reason: `operator ${command.actor}: ${command.reason}`,
          breachedLanes: state.breachedLanes,
          haltLanes,
        },
        { actor: command.actor, reason: command.reason },
      );
      return out.events;
    }
    case 'resume':
    case 'approve':
    case 'retry':
    case 'rollback':
    case 'restart':
      return refuse(`${command.type} needs a lane (a device class)`);
    default: {
      const _exhaustive: never = command;
      throw new Error(`unexpected command: ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * Decides what the rollout does on one input: start (from a validated plan), a lane's report (fleet-wide
 * halt, completion), or an operator command. Returns rollout-level events, or a refusal with a reason.
 * For a lane-scoped command it returns the lane's refusal or `[]` (no objection: route it to the lane
 * workflow, whose `decideLane` is authoritative). Pure; apply the result with `evolveRollout` — for a
 * `lane-report`, fold the reported events first, then the returned ones.
 */
export function decideRollout(state: RolloutState, input: RolloutInput): readonly DomainEvent[] | Refusal {
  switch (input.type) {
    case 'start-rollout': {
      if (state.status !== 'pending') return refuse(`rollout ${state.rolloutId} has already started`);
      if (input.plan.rolloutId !== undefined && input.plan.rolloutId !== input.rolloutId) {
        return refuse(`the plan fixes rolloutId ${input.plan.rolloutId}, not ${input.rolloutId}`);
      }
      const supersedes = input.supersedes;
      if (supersedes !== undefined) {
        if (supersedes.rolloutId === input.rolloutId) return refuse(`a rollout cannot supersede itself`);
        const foreign = Object.keys(supersedes.lanes).filter((lane) => !input.plan.deviceClasses.includes(lane));
        if (foreign.length > 0 || Object.keys(supersedes.lanes).length === 0) {
          return refuse(
            `the superseded classes (${Object.keys(supersedes.lanes).join(', ')}) must be classes of the plan`,
          );
        }
      }
      const schedule = input.plan.schedule;
      if (schedule?.endAt !== undefined && reached(input.at, schedule.endAt)) {
        return refuse(`the plan's schedule ended at ${schedule.endAt}: nothing to start (move or drop schedule.endAt)`);
      }
      const out = emitter({ ...state, rolloutId: input.rolloutId }, input.at);
      const rulesVersion = input.rulesVersion ?? RULES_VERSION;
      out.emit(
        'rollout-started',
        {
          plan: input.plan,
          ...(rulesVersion >= 2 ? { rulesVersion } : {}),
          ...(supersedes !== undefined && { supersedes }),
        },
        { actor: input.actor, reason: input.reason },
      );
      if (schedule !== undefined) {
        out.emit('rollout-scheduled', {
          waitUntil: waitUntilOf(schedule, input.at),
          endAt: schedule.endAt ?? null,
          endBehavior: schedule.endAt === undefined ? null : endBehaviorOf(schedule),
        });
      }
      return out.events;
    }
    case 'lane-report':
      if (state.status === 'pending') return refuse('the rollout has not started');
      return decideReport(state, input);
    case 'lane-lost':
      if (state.status === 'pending') return refuse('the rollout has not started');
      return decideLaneLost(state, input);
    case 'schedule-tick':
      return decideScheduleTick(state, input);
    default:
      // The operator commands; decideCommand's switch is the exhaustive one.
      return decideCommand(state, input);
  }
}

/**
 * One rollout step: decide, then fold (for a `lane-report`, the reported lane events and then the
 * rollout's own). Returns the refusal unchanged. The loop body of the rollout workflow.
 */
export function stepRollout(
  state: RolloutState,
  input: RolloutInput,
): { state: RolloutState; events: readonly DomainEvent[] } | Refusal {
  const answer = decideRollout(state, input);
  if ('refused' in answer) return answer;
  const reported = input.type === 'lane-report' ? fold(input.events, state) : state;
  return { state: fold(answer, reported), events: answer };
}
