/**
 * LaneWorkflow: one device class of one rollout, as a durable interpreter of the lane decider
 * (`events/lane.ts`). Its state is the fold of its own events (plain JSON). It loops:
 *
 *   decide (every pending input, in arrival order) → append the events → act (fleet orders, report to the
 *   rollout) → wait (for the next input, or the deadline the lane waits for).
 *
 * Inputs: health deltas from the ingest (signal, batched per flush), the rollout's fleet halt and abort
 * (signals), operator commands (an Update whose validator runs the decider, so a refused command is
 * rejected with the reason and never enters history), and timers (bake, retry backoff, rollback). Time is
 * the workflow clock. History stays bounded: the lane continues as new with its folded state and any
 * undelivered inputs when Temporal suggests it or the run grows past a safe bound.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isRefusal, stampCommand, type LaneInput } from '../events/commands';
import type { DomainEvent } from '../events/domain-events';
import { fleetCommandsOf } from '../events/fleet-commands';
import { decideLane, foldLane, initialLaneState, isLaneFinished, type LaneState } from '../events/lane';
import {
  HARD_MAX_HISTORY_EVENTS,
  MAX_CARRIED_INPUTS,
  MAX_HISTORY_BYTES,
  MAX_HISTORY_EVENTS,
  MAX_INPUTS_PER_RUN,
  MAX_ITEMS_PER_ROUND,
  kafkaActivityOptions,
  laneWatchActivityOptions,
} from './activity-options';
import { CARRIED_VERSION, readCarriedLane } from './carried';
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
import { handleOperatorUpdates, rejected, type OperatorAnswers } from './operator-update';

const { appendEvents, publishCommands } = proxyActivities<Activities>(kafkaActivityOptions);
const { laneStateFromLog } = proxyActivities<Activities>(laneWatchActivityOptions);

/** The workflow clock as an ISO timestamp (deterministic inside a workflow). */
function now(): string {
  return new Date().toISOString();
}

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
  const inbox: LaneInboxItem[] = [...(kept?.inbox ?? [])];
  const runs = (kept?.runs ?? 0) + 1;
  const recentAnswers: RecentAnswers = [...(kept?.recentAnswers ?? [])];
  const answers: OperatorAnswers = {};
  let decidedThisRun = 0;

  // Validated (zod) when a round takes it, not here: a burst of signals then costs O(1) each in one activation.
  setHandler(healthDeltaSignal, (payload) => {
    inbox.push({ kind: 'health-signal', payload });
  });

  setHandler(fleetHaltSignal, (payload) => {
    const parsed = FleetHaltSignalSchema.safeParse(payload);
    if (parsed.success) inbox.push({ kind: 'fleet-halt', reason: parsed.data.reason });
    else log.warn('dropped an invalid fleet-halt signal', { lane });
  });

  setHandler(rolloutAbortSignal, (payload) => {
    const parsed = RolloutAbortSignalSchema.safeParse(payload);
    if (parsed.success) inbox.push({ kind: 'rollout-aborted', ...parsed.data });
    else log.warn('dropped an invalid rollout-abort signal', { lane });
  });

  setHandler(laneStateQuery, () => state);
  setHandler(highWaterMarksQuery, () => state.highWater);
  setHandler(lanePendingQuery, () => pendingInputs());

  handleOperatorUpdates(
    answers,
    (request) => {
      if (request.lane !== undefined && request.lane !== null && request.lane !== lane) {
        throw rejected(`command for lane ${request.lane} sent to lane ${lane}`);
      }
      const answer = decideLane(state, stampCommand({ ...request, lane }, now()));
      if (isRefusal(answer)) throw rejected(answer.reason);
    },
    (ticket, request) => inbox.push({ kind: 'operator', ticket, request: { ...request, lane } }),
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
      return parsed.data.deltas.map(({ offerId, delta }) => ({ type: 'health-delta', lane, offerId, delta, at }));
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

  /** The timer input the lane is due for now, if its deadline has passed. */
  function dueTimer(at: string): LaneInput | null {
    const waiting = state.waitingFor;
    if (waiting === null || !('until' in waiting) || Date.parse(at) < Date.parse(waiting.until)) return null;
    if (waiting.kind !== 'bake' && waiting.kind !== 'retry-backoff' && waiting.kind !== 'rollback') return null;
    return { type: 'timer-fired', lane, kind: waiting.kind, at };
  }

  /** Events the rollout needs to hear about. */
  function eventsForRollout(events: readonly DomainEvent[]): DomainEvent[] {
    return events.filter((event) => event.type !== 'health-evaluated' || input.reportHealth);
  }

  /** decide → append → act, for a batch of inputs (plus any due timer) in one activity round. */
  async function round(items: LaneInboxItem[], extra: LaneInput[] = []): Promise<number> {
    const at = now();
    const phaseBefore = state.phase;
    const events: DomainEvent[] = [];
    const accepted: { ticket: number; eventIds: string[] }[] = [];
    const decideOne = (item: LaneInboxItem | null, next: LaneInput) => {
      decidedThisRun++;
      const answer = decideLane(state, next);
      if (isRefusal(answer)) {
        if (item?.kind === 'operator') answers[item.ticket] = answer;
        else if (item !== null)
          log.warn('decider refused an input; dropped', { lane, kind: item.kind, reason: answer.reason });
        return;
      }
      events.push(...answer);
      state = foldLane(answer, state);
      if (item?.kind === 'operator') accepted.push({ ticket: item.ticket, eventIds: answer.map((e) => e.eventId) });
    };
    for (const item of items) for (const next of deciderInputsOf(item, at)) decideOne(item, next);
    for (const next of extra) decideOne(null, next);
    const timer = dueTimer(at);
    if (timer !== null) decideOne(null, timer);

    if (events.length > 0) {
      await appendEvents(events);
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
    for (const { ticket, eventIds } of accepted) answers[ticket] = { accepted: true, eventIds };
    return events.length;
  }

  function historyIsLong(): boolean {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      info.historyLength > MAX_HISTORY_EVENTS ||
      info.historySize > MAX_HISTORY_BYTES ||
      decidedThisRun > MAX_INPUTS_PER_RUN
    );
  }

  /** The number of decider inputs an inbox item stands for (a signal carries up to 64 deltas). */
  function weightOf(item: LaneInboxItem): number {
    const deltas = item.kind === 'health-signal' ? (item.payload as { deltas?: unknown[] })?.deltas : undefined;
    return Array.isArray(deltas) ? Math.max(1, deltas.length) : 1;
  }

  function pendingInputs(): number {
    return inbox.reduce((n, item) => n + weightOf(item), 0);
  }

  /** Takes the next round's items off the inbox: whole items, about MAX_ITEMS_PER_ROUND inputs in all. */
  function nextItems(): LaneInboxItem[] {
    let budget = MAX_ITEMS_PER_ROUND;
    let count = 0;
    while (count < inbox.length && budget > 0) budget -= weightOf(inbox[count++]!);
    return inbox.splice(0, count);
  }

  /** Lets every in-flight Update finish (deciding what it waits for) before the run closes. */
  async function settleHandlers(): Promise<void> {
    while (!allHandlersFinished()) {
      await condition(() => allHandlersFinished() || inbox.some((item) => item.kind === 'operator'));
      if (!allHandlersFinished()) await round(nextItems());
    }
  }

  if (state.status === 'pending') {
    await round([], [{ type: 'start-lane', rolloutId, lane, config, at: now() }]);
  }

  // True when the last round ran past a deadline and changed nothing: then wait for input only.
  let idleAtDeadline = false;
  while (!isLaneFinished(state.status)) {
    if (historyIsLong()) {
      // Catch up first if too much is pending to carry over (a burst of signals), within a hard bound.
      while (pendingInputs() > MAX_CARRIED_INPUTS && workflowInfo().historyLength < HARD_MAX_HISTORY_EVENTS) {
        await round(nextItems());
      }
      await settleHandlers();
      if (isLaneFinished(state.status)) break;
      log.info('continuing as new with the folded state', { lane, runs, pending: inbox.length });
      await continueAsNew<typeof laneWorkflow>({
        ...input,
        carried: { v: CARRIED_VERSION, state, inbox: [...inbox], runs, recentAnswers },
      });
    }
    const waiting = state.waitingFor;
    const until = waiting !== null && 'until' in waiting ? Date.parse(waiting.until) : null;
    if (inbox.length === 0) {
      if (until === null || idleAtDeadline) await condition(() => inbox.length > 0 || historyIsLong());
      else if (until > Date.now()) await condition(() => inbox.length > 0 || historyIsLong(), until - Date.now());
    }
    const appended = await round(nextItems());
    idleAtDeadline = appended === 0 && until !== null && until <= Date.now();
  }

  await settleHandlers();
  return { lane, status: state.status, attempt: state.attempt, cohortBound: state.cohortBound, runs };
}
