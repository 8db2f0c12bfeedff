/**
 * LaneWorkflow: one device class of one rollout, as a durable interpreter of the lane decider
 * (`events/lane.ts`). Its state is the fold of its own events (plain JSON). It runs the shared loop
 * (`./interpreter`):
 *
 *   decide (every pending input, in arrival order) → append the events → act (fleet orders, report to the
 *   rollout) → wait (for the next input, or the deadline the lane waits for).
 *
 * Inputs: health deltas from the ingest (signal, batched per flush), the rollout's fleet halt and abort
 * (signals), operator commands (an Update whose validator runs the decider, so a refused command is
 * rejected with the reason and never enters history), and timers (bake, retry backoff, rollback; for a lane with a
 * completion rule also its completion deadline and its stall deadline, `laneDeadlineOf`). Time is
 * the workflow clock. History stays bounded: the lane continues as new with its folded state and any
 * undelivered inputs when Temporal suggests it or the run grows past a safe bound.
 */
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isRefusal, stampCommand, type LaneInput } from '../events/commands';
import { POST_INSTALL_MARK_KEY } from '../events/post-install';
import type { DomainEvent } from '../events/domain-events';
import { fleetCommandsOf } from '../events/fleet-commands';
import { decideLane, initialLaneState, isLaneFinished, laneDeadlineOf, stepLane, type LaneState } from '../events/lane';
import {
  MAX_CARRIED_INPUTS,
  MAX_INPUTS_PER_RUN,
  kafkaActivityOptions,
  laneWatchActivityOptions,
} from './activity-options';
import { CARRIED_VERSION, readCarriedLane } from './carried';
import { createInterpreter, now } from './interpreter';
import {
  FleetHaltSignalSchema,
  HealthDeltaSignalSchema,
  RolloutAbortSignalSchema,
  fleetHaltSignal,
  healthDeltaSignal,
  highWaterMarksQuery,
  lanePendingQuery,
  laneReportSignal,
  laneStateQuery,
  rolloutAbortSignal,
  type LaneInboxItem,
  type LaneWorkflowInput,
  type LaneWorkflowResult,
  type RecentAnswers,
} from './messages';
import { rejected } from './operator-update';

const { publishCommands } = proxyActivities<Activities>(kafkaActivityOptions);
const { laneStateFromLog } = proxyActivities<Activities>(laneWatchActivityOptions);

/** Runs one lane of a rollout until it is completed, rolled back or aborted. */
export async function laneWorkflow(input: LaneWorkflowInput): Promise<LaneWorkflowResult> {
  const { rolloutId, lane, config } = input;
  // What an earlier run carried, upcast and validated (workflows/carried.ts); a state that does not validate is
  // rebuilt from the event log.
  const read = input.carried === undefined ? undefined : readCarriedLane(input.carried);
  let state: LaneState;
  if (read === undefined) state = initialLaneState(rolloutId, lane);
  else if (read.ok) state = read.carried.state;
  else {
    log.error('carried state does not validate: rebuilding it from the event log', {
      lane,
      problem: read.problem,
      droppedInboxItems: read.dropped,
    });
    state = (await laneStateFromLog({ rolloutId, lane, knownSeq: 0 })).state;
  }
  const kept = read === undefined ? undefined : read.ok ? read.carried : read.salvaged;
  const runs = (kept?.runs ?? 0) + 1;
  const recentAnswers: RecentAnswers = [...(kept?.recentAnswers ?? [])];

  const loop = createInterpreter<LaneInboxItem, LaneInput, LaneState>({
    inbox: kept?.inbox ?? [],
    logContext: { lane },
    state: () => state,
    deciderInputsOf,
    decide: (next) => {
      // The step's state is already evolved with its events: nothing is folded twice.
      const step = stepLane(state, next);
      if (isRefusal(step)) return step;
      state = step.state;
      return { events: step.events };
    },
    dueInput: dueTimer,
    act: (events, before) => publishOrdersAndReport(events, before.phase),
    weightOf,
    maxInputsPerRun: MAX_INPUTS_PER_RUN,
    maxCarriedInputs: MAX_CARRIED_INPUTS,
    notifications: { releaseId: config.releaseId, webhooks: input.webhooks ?? [] },
  });

  // Validated (zod) when a round takes it, not here: a burst of signals then costs O(1) each in one activation.
  setHandler(healthDeltaSignal, (payload) => {
    loop.push({ kind: 'health-signal', payload });
  });

  setHandler(fleetHaltSignal, (payload) => {
    const parsed = FleetHaltSignalSchema.safeParse(payload);
    if (parsed.success) loop.push({ kind: 'fleet-halt', reason: parsed.data.reason });
    else log.warn('dropped an invalid fleet-halt signal', { lane });
  });

  setHandler(rolloutAbortSignal, (payload) => {
    const parsed = RolloutAbortSignalSchema.safeParse(payload);
    if (parsed.success) loop.push({ kind: 'rollout-aborted', ...parsed.data });
    else log.warn('dropped an invalid rollout-abort signal', { lane });
  });

  setHandler(laneStateQuery, () => state);
  // A lane judging post-install signals keeps their marks apart; the ingest reads them under POST_INSTALL_MARK_KEY.
  setHandler(highWaterMarksQuery, () =>
    state.regression === undefined
      ? state.highWater
      : { ...state.highWater, [POST_INSTALL_MARK_KEY]: state.regression.highWater },
  );
  setHandler(lanePendingQuery, () => loop.pending());

  loop.acceptOperatorUpdates(
    (request) => {
      if (request.lane !== undefined && request.lane !== null && request.lane !== lane) {
        throw rejected(`command for lane ${request.lane} sent to lane ${lane}`);
      }
      const answer = decideLane(state, stampCommand({ ...request, lane }, now()));
      if (isRefusal(answer)) throw rejected(answer.reason);
    },
    (ticket, request) => ({ kind: 'operator', ticket, request: { ...request, lane } }),
    recentAnswers,
  );

  /** Turns an inbox item into decider inputs, stamped with the workflow clock; an invalid signal gives none. */
  function deciderInputsOf(item: LaneInboxItem, at: string): LaneInput[] {
    if (item.kind === 'health-signal') {
      const parsed = HealthDeltaSignalSchema.safeParse(item.payload);
      if (!parsed.success || parsed.data.lane !== lane) {
        log.warn('dropped an invalid health-delta signal', { lane, issues: parsed.error?.issues.slice(0, 5) });
        return [];
      }
      const outcomes = parsed.data.deltas.map(({ offerId, delta }): LaneInput => ({
        type: 'health-delta',
        lane,
        offerId,
        delta,
        at,
      }));
      const postInstall = (parsed.data.postInstall ?? []).map((delta): LaneInput => ({
        type: 'post-install-delta',
        lane,
        delta,
        at,
      }));
      return [...outcomes, ...postInstall];
    }
    return [deciderInputOf(item, at)];
  }

  function deciderInputOf(item: Exclude<LaneInboxItem, { kind: 'health-signal' }>, at: string): LaneInput {
    switch (item.kind) {
      case 'health':
        return { type: 'health-delta', lane, offerId: item.offerId, delta: item.delta, at };
      case 'fleet-halt':
        return { type: 'fleet-halt', lane, reason: item.reason, at };
      case 'rollout-aborted':
        return { type: 'abort', lane: null, actor: item.actor, reason: item.reason, at };
      case 'operator':
        return stampCommand(item.request, at);
      default: {
        const _exhaustive: never = item;
        return _exhaustive;
      }
    }
  }

  /** The number of decider inputs an inbox item stands for (a signal carries up to 64 deltas). */
  function weightOf(item: LaneInboxItem): number {
    if (item.kind !== 'health-signal') return 1;
    const { deltas, postInstall } = (item.payload ?? {}) as { deltas?: unknown[]; postInstall?: unknown[] };
    const count = (Array.isArray(deltas) ? deltas.length : 0) + (Array.isArray(postInstall) ? postInstall.length : 0);
    return Math.max(1, count);
  }

  /**
   * The timer input the lane is due for now, if its next deadline has passed (`laneDeadlineOf`). For a lane without a
   * completion rule that is the end of its bake, retry backoff or rollback, exactly as before the rule existed: the
   * config recorded at lane start decides, so a lane started before it replays the same commands.
   */
  function dueTimer(at: string): LaneInput | null {
    const deadline = laneDeadlineOf(state);
    if (deadline === null || Date.parse(at) < Date.parse(deadline.until)) return null;
    return { type: 'timer-fired', lane, kind: deadline.kind, at };
  }

  /**
   * Events the rollout needs to hear about: all but `health-evaluated`, unless the rollout judges health too, and
   * never `regression-evaluated` (one per post-install delta; no rollout rule reads it, and reporting each would grow
   * the rollout's history with the fleet's reports). No history recorded before this line holds one: lanes refused
   * post-install deltas until the regression rule existed, so no `patched()` is needed.
   */
  function eventsForRollout(events: readonly DomainEvent[]): DomainEvent[] {
    return events.filter(
      (event) => event.type !== 'regression-evaluated' && (event.type !== 'health-evaluated' || input.reportHealth),
    );
  }

  /**
   * What the lane does once a round's events are in the log: publishes the fleet orders they call for (the phase
   * before the round tells a first exposure from a retry), then reports them to the rollout. A report that fails is
   * logged, not retried: the rollout's lane watch finds a lane it stopped hearing from.
   */
  async function publishOrdersAndReport(events: readonly DomainEvent[], phaseBefore: LaneState['phase']) {
    const orders = fleetCommandsOf(events, config, phaseBefore);
    if (orders.length > 0) await publishCommands(orders);
    const report = eventsForRollout(events);
    if (input.reportTo !== null && report.length > 0) {
      try {
        await getExternalWorkflowHandle(input.reportTo).signal(laneReportSignal, { lane, events: report });
      } catch (err) {
        log.warn('could not report to the rollout workflow', { lane, reportTo: input.reportTo, err: String(err) });
      }
    }
  }

  // The deadline the lane waits for (bake, retry backoff, rollback) when the current wait began, and whether the last
  // round ran past it and changed nothing: then the lane waits for input only.
  let until: number | null = null;
  let idleAtDeadline = false;
  /** Waits for an input, or until the lane's next deadline (the next round then decides the timer). */
  async function waitForInputOrDeadline(ready: () => boolean): Promise<void> {
    const deadline = laneDeadlineOf(state);
    until = deadline === null ? null : Date.parse(deadline.until);
    if (loop.inbox.length === 0) {
      if (until === null || idleAtDeadline) await condition(ready);
      else if (until > Date.now()) await condition(ready, until - Date.now());
    }
  }

  if (state.status === 'pending') {
    await loop.round([], [{ type: 'start-lane', rolloutId, lane, config, at: now() }]);
  }

  await loop.run({
    running: () => !isLaneFinished(state.status),
    wait: waitForInputOrDeadline,
    afterRound: (appended) => {
      idleAtDeadline = appended === 0 && until !== null && until <= Date.now();
    },
    continueAsNew: () => {
      log.info('continuing as new with the folded state', { lane, runs, pending: loop.inbox.length });
      return continueAsNew<typeof laneWorkflow>({
        ...input,
        carried: { v: CARRIED_VERSION, state, inbox: [...loop.inbox], runs, recentAnswers },
      });
    },
  });

  await loop.settleHandlers();
  return { lane, status: state.status, attempt: state.attempt, cohortBound: state.cohortBound, runs };
}
