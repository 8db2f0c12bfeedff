/**
 * RolloutWorkflow (id `rollout/<rolloutId>`): one BSI rollout across its device classes, as a durable
 * interpreter of the rollout decider (`events/rollout.ts`) on the shared loop (`./interpreter`). It decides
 * `start-rollout`, appends `rollout-started`, and starts one LaneWorkflow child per device class with that
 * class's settings. Lanes move on their own and report their events back (signal); the rollout folds them and
 * decides what only it can see — the plan's fleet-wide halt (it then signals the running lanes to pause) and the
 * end of the rollout (`rollout-completed` with each lane's outcome). Whole-rollout operator commands (pause =
 * fleet halt, abort) are Updates with validators here; per-lane commands go to the lane itself.
 *
 * Lanes are started with ParentClosePolicy ABANDON: their lifetime is driven by the decider (abort is a
 * signal and an event in the log), not by the parent's run, so the rollout may continue as new freely.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isRefusal, stampCommand, type LaneLoss, type RolloutInput } from '../events/commands';
import type { DomainEvent } from '../events/domain-events';
import { isLaneFinished } from '../events/lane';
import { RULES_VERSION, laneConfigOf } from '../events/plan';
import { supersedingConfig } from '../events/supersede';
import {
  SCHEDULE_ACTOR,
  awaitsScheduledStart,
  decideRollout,
  fold,
  initialRolloutState,
  nextScheduleTime,
  stepRollout,
  type RolloutState,
} from '../events/rollout';
import { LANE_WATCH_INTERVAL_MS, kafkaActivityOptions, laneWatchActivityOptions } from './activity-options';
import { CARRIED_VERSION, readCarriedRollout, type CarriedLane } from './carried';
import { createInterpreter, now } from './interpreter';
import { laneWorkflow } from './lane-workflow';
import {
  LaneReportSignalSchema,
  fleetHaltSignal,
  laneReportSignal,
  laneWorkflowId,
  rolloutAbortSignal,
  rolloutStatusQuery,
  type RolloutInboxItem,
  type RolloutSummary,
  type RolloutWorkflowInput,
  type RecentAnswers,
} from './messages';
import { rejected } from './operator-update';

const { appendEvents } = proxyActivities<Activities>(kafkaActivityOptions);
const { laneExecutions, laneStateFromLog, rolloutStateFromLog } = proxyActivities<Activities>(laneWatchActivityOptions);

/** The patch markers of rules versions 2 and 3 (see `RULES_VERSION`): rollouts that started before keep theirs. */
const RULES_PATCH = 'rules-version-2';
const RULES_PATCH_3 = 'rules-version-3';

/**
 * The patch marker of the lane watch: runs from before it neither watch their lanes nor record `lane-lost`, so
 * their histories replay unchanged.
 */
const LANE_WATCH_PATCH = 'lane-watch';

/**
 * The patch marker of plan schedules (events/schedule.ts): a run with it waits for the schedule's start before it
 * starts the lanes and sets a timer for each time of the schedule. Asked only when the plan has a schedule, so a
 * history of a plan without one (every history recorded before schedules existed) replays unchanged.
 */
const SCHEDULE_PATCH = 'rollout-schedule';

/**
 * The patch marker of superseding rollouts (events/supersede.ts): a run with it records what it supersedes and starts
 * the superseding lanes with the old rollout's cohort salt. Asked only when the input supersedes a rollout.
 */
const SUPERSEDE_PATCH = 'rollout-supersedes';

/** The loss a described lane execution means, if its lane had not finished; undefined while it runs. */
function lossOfStatus(status: string, detail: string): { cause: LaneLoss; detail: string } | undefined {
  switch (status) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW':
      return undefined;
    case 'TERMINATED':
      return { cause: 'terminated', detail };
    case 'TIMED_OUT':
      return { cause: 'timed-out', detail };
    case 'CANCELLED':
      return { cause: 'canceled', detail };
    case 'COMPLETED':
      return { cause: 'closed-unreported', detail: 'the lane workflow completed but its last report never arrived' };
    default:
      return { cause: 'failed', detail: detail || `lane workflow ${status.toLowerCase()}` };
  }
}

/** How long an aborted rollout waits for its lanes to confirm they aborted before it closes anyway. */
const ABORT_GRACE_MS = 5 * 60 * 1000;

/** Runs a rollout from its plan to completion (or abort) and returns its summary. */
export async function rolloutWorkflow(input: RolloutWorkflowInput): Promise<RolloutSummary> {
  const { rolloutId, plan } = input;
  // What an earlier run carried, upcast and validated (workflows/carried.ts); a state that does not validate is
  // rebuilt from the event log.
  const read = input.carried === undefined ? undefined : readCarriedRollout(input.carried);
  let state: RolloutState;
  if (read === undefined) state = initialRolloutState();
  else if (read.ok) state = read.carried.state;
  else {
    log.error('carried state does not validate: rebuilding it from the event log', {
      rolloutId,
      problem: read.problem,
      droppedInboxItems: read.dropped,
    });
    state = await rolloutStateFromLog({ rolloutId });
  }
  const kept = read === undefined ? undefined : read.ok ? read.carried : read.salvaged;
  let lanesStarted = kept?.lanesStarted ?? false;
  const scheduling = plan.schedule !== undefined && patched(SCHEDULE_PATCH);
  const runs = (kept?.runs ?? 0) + 1;
  const recentAnswers: RecentAnswers = [...(kept?.recentAnswers ?? [])];

  const loop = createInterpreter<RolloutInboxItem, RolloutInput, RolloutState>({
    inbox: kept?.inbox ?? [],
    logContext: { rolloutId },
    state: () => state,
    deciderInputsOf: (item, at) => [deciderInputOf(item, at)],
    decide: (next, at) => {
      const step = stepRollout(state, next);
      if (isRefusal(step)) return step;
      const known = { ...state.lanes };
      state = step.state;
      // A restart starts the new lane workflow before the round appends `lane-restarted` (see restartLane).
      return {
        events: step.events,
        followUp: (event) => (event.type === 'lane-restarted' ? restartLane(event.data.lane, known, at) : null),
      };
    },
    dueInput: (at) => {
      const time = scheduling ? nextScheduleTime(state) : null;
      return time !== null && Date.parse(at) >= Date.parse(time) ? { type: 'schedule-tick', at } : null;
    },
    act,
    notifications: { releaseId: plan.releaseId, webhooks: plan.notifications?.webhooks ?? [] },
  });

  setHandler(laneReportSignal, (payload) => {
    const parsed = LaneReportSignalSchema.safeParse(payload);
    if (!parsed.success) {
      log.warn('dropped an invalid lane report', { rolloutId, issues: parsed.error.issues.slice(0, 5) });
      return;
    }
    loop.push({ kind: 'report', lane: parsed.data.lane, events: parsed.data.events });
  });

  setHandler(rolloutStatusQuery, () => state);

  loop.acceptOperatorUpdates(
    (request) => {
      if (request.lane !== undefined && request.lane !== null && request.type !== 'restart') {
        throw rejected(
          `a command for device class ${request.lane} goes to its lane workflow (${laneWorkflowId(rolloutId, request.lane)})`,
        );
      }
      const answer = decideRollout(state, stampCommand(request, now()));
      if (isRefusal(answer)) throw rejected(answer.reason);
    },
    (ticket, request) => ({ kind: 'operator', ticket, request }),
    recentAnswers,
  );

  /** Turns an inbox item into the decider's input, stamped with the workflow clock. */
  function deciderInputOf(item: RolloutInboxItem, at: string): RolloutInput {
    switch (item.kind) {
      case 'report':
        return { type: 'lane-report', lane: item.lane, events: item.events, at };
      case 'lane-closed':
        return { type: 'lane-lost', lane: item.lane, cause: item.cause, detail: item.detail, at };
      case 'operator':
        return stampCommand(item.request, at);
      default: {
        const _exhaustive: never = item;
        return _exhaustive;
      }
    }
  }

  /**
   * Restarts a lost lane from the fold of its events in the log: the rollout first folds the lane's events it had not
   * heard of (the lane may have appended some before it was lost), then starts a new lane workflow (same id; Temporal
   * allows it only because the last one closed failed, terminated, timed out or cancelled) carrying that state.
   * Returns the rollout-level events the unreported lane events led to (e.g. a fleet halt).
   */
  async function restartLane(lane: string, known: RolloutState['lanes'], at: string): Promise<readonly DomainEvent[]> {
    const startedAt = state.startedAt ?? at;
    const fromLog = await laneStateFromLog({ rolloutId, lane, startedAt, knownSeq: known[lane]?.nextSeq ?? 0 });
    let followUp: readonly DomainEvent[] = [];
    if (fromLog.unreported.length > 0) {
      const step = stepRollout(state, { type: 'lane-report', lane, events: fromLog.unreported, at });
      if (isRefusal(step)) log.warn('unreported lane events refused', { rolloutId, lane, reason: step.reason });
      else {
        state = step.state;
        followUp = step.events;
      }
    }
    try {
      await startLane(lane, WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY, {
        v: CARRIED_VERSION,
        state: fromLog.state,
        inbox: [],
        runs: 0,
        recentAnswers: [],
      });
    } catch (err) {
      // Temporal refused the start (a workflow of that id runs, or one completed): the watch looks again and
      // records the class lost once more if nothing runs it.
      log.error('could not start the restarted lane', { rolloutId, lane, err: String(err) });
      watchDue = true;
    }
    return followUp;
  }

  /**
   * Starts the lane workflow of one class (a restart hands it the state folded from the log). A lane that completes
   * has reported; one whose workflow fails, times out or is terminated makes the lane watch describe it (who, why).
   */
  async function startLane(lane: string, reuse: WorkflowIdReusePolicy, carried?: CarriedLane): Promise<void> {
    const child = await startChild(laneWorkflow, {
      workflowId: laneWorkflowId(rolloutId, lane),
      args: [
        {
          rolloutId,
          lane,
          config: supersedingConfig(laneConfigOf(plan, lane, state.rulesVersion ?? 1, input.actor), state.supersedes),
          reportTo: workflowInfo().workflowId,
          reportHealth: plan.fleetHalt?.failureSpike !== undefined,
          ...(plan.notifications !== undefined && { webhooks: plan.notifications.webhooks }),
          ...(carried !== undefined && { carried }),
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: reuse,
    });
    if (watching) {
      child.result().catch(() => {
        watchDue = true;
      });
    }
  }

  /** Signals lanes to abort (the rollout aborted, or its schedule stopped them); a lane that cannot be reached is logged. */
  async function abortLanes(lanes: readonly string[], actor: string, reason: string): Promise<void> {
    await Promise.all(
      lanes.map((lane) =>
        getExternalWorkflowHandle(laneWorkflowId(rolloutId, lane))
          .signal(rolloutAbortSignal, { actor, reason })
          .catch((err: unknown) => log.warn('could not signal a lane to abort', { lane, err: String(err) })),
      ),
    );
  }

  /** Starts every planned lane (once: at the start, or when the scheduled start comes). */
  async function startLanes(): Promise<void> {
    for (const lane of plan.deviceClasses) await startLane(lane, WorkflowIdReusePolicy.REJECT_DUPLICATE);
    lanesStarted = true;
  }

  /** Carries out what the rollout's new events ask of the lanes: start, pause or abort them. */
  async function act(events: readonly DomainEvent[]): Promise<void> {
    for (const event of events) {
      if (event.type === 'schedule-started' && !lanesStarted) {
        await startLanes();
      } else if (event.type === 'schedule-ended' && event.data.stopLanes.length > 0) {
        const reason = `the schedule ended at ${event.data.endAt} (endBehavior stop): no new cohort`;
        await abortLanes(event.data.stopLanes, SCHEDULE_ACTOR, reason);
      } else if (event.type === 'rollout-aborted' && !lanesStarted) {
        // Aborted while it waited for its scheduled start: no lane workflow exists to tell.
      } else if (event.type === 'fleet-halted') {
        await Promise.all(
          event.data.haltLanes.map((lane) =>
            getExternalWorkflowHandle(laneWorkflowId(rolloutId, lane))
              .signal(fleetHaltSignal, { reason: event.data.reason })
              .catch((err: unknown) => log.warn('could not signal a lane to halt', { lane, err: String(err) })),
          ),
        );
      } else if (event.type === 'rollout-aborted') {
        const open = Object.values(state.lanes).filter((lane) => !isLaneFinished(lane.status));
        await abortLanes(
          open.map((lane) => lane.lane),
          event.actor ?? input.actor,
          event.reason ?? 'rollout aborted',
        );
      }
    }
  }

  /** Lanes that may still act: not finished, not lost. */
  const openLanes = () =>
    Object.values(state.lanes).filter(
      (lane) => !isLaneFinished(lane.status) && state.lostLanes?.[lane.lane] === undefined,
    );

  // The lane watch (see LANE_WATCH_PATCH): describes the open lanes' workflows (an activity) when a lane this run
  // started closes with a failure (its child handle tells), and — for lanes an earlier run started, whose handles a
  // continue-as-new dropped — at the start of the run and every LANE_WATCH_INTERVAL_MS.
  const watching = patched(LANE_WATCH_PATCH);
  const periodic = watching && lanesStarted;
  let watchDue = periodic;
  let nextWatch = Number.POSITIVE_INFINITY;
  async function watchLanes(): Promise<void> {
    watchDue = false;
    nextWatch = periodic ? Date.now() + LANE_WATCH_INTERVAL_MS : Number.POSITIVE_INFINITY;
    const open = openLanes();
    if (open.length === 0) return;
    const executions = await laneExecutions(open.map((lane) => laneWorkflowId(rolloutId, lane.lane)));
    executions.forEach((execution, i) => {
      const loss = lossOfStatus(execution.status, execution.detail);
      if (loss !== undefined) loop.push({ kind: 'lane-closed', lane: open[i]!.lane, ...loss });
    });
  }
  /**
   * Waits for an inbox item (or a long history), until a lane watch is due (and runs it), or until the next time of
   * the plan's schedule (the round after it decides the `schedule-tick`, see `dueInput`).
   */
  async function waitForInput(ready: () => boolean): Promise<void> {
    const wake = () => ready() || watchDue;
    const scheduled = scheduling ? nextScheduleTime(state) : null;
    const until = scheduled === null ? nextWatch : Math.min(nextWatch, Date.parse(scheduled));
    if (until === Number.POSITIVE_INFINITY) await condition(wake);
    else if (!(await condition(wake, Math.max(1, until - Date.now())))) {
      watchDue = scheduled === null || Date.now() >= nextWatch;
    }
    if (watchDue) await watchLanes();
  }

  // Start: decide, append `rollout-started`, then start the lanes. The rules version is fixed here for the
  // rollout's life: a history recorded before version 2 (3) has no marker, replays as version 1 (2) and decides as
  // it did.
  if (state.status === 'pending') {
    const rulesVersion = patched(RULES_PATCH_3) ? RULES_VERSION : patched(RULES_PATCH) ? 2 : 1;
    const answer = decideRollout(state, {
      type: 'start-rollout',
      rolloutId,
      plan,
      rulesVersion,
      ...(input.supersedes !== undefined && patched(SUPERSEDE_PATCH) && { supersedes: input.supersedes }),
      actor: input.actor,
      reason: input.reason,
      at: now(),
    });
    if (isRefusal(answer)) throw ApplicationFailure.nonRetryable(answer.reason, 'RolloutRejected');
    await appendEvents([...answer]);
    state = fold(answer, state);
  }
  // A rollout whose schedule starts later starts its lanes when `schedule-started` is appended (see act).
  if (!lanesStarted && !(scheduling && awaitsScheduledStart(state))) await startLanes();

  // Main loop: lane reports and operator commands until the rollout completes or is aborted.
  await loop.run({
    running: () => state.status === 'running',
    wait: waitForInput,
    continueAsNew: () =>
      continueAsNew<typeof rolloutWorkflow>({
        ...input,
        carried: { v: CARRIED_VERSION, state, inbox: [...loop.inbox], lanesStarted, runs, recentAnswers },
      }),
  });

  // Aborted: keep folding the lanes' reports until every lane confirmed, or a grace period passed — after the end
  // of any rollback still running, since a lane that was rolling back finishes its rollback before it stops.
  if (state.status === 'aborted' && lanesStarted) {
    const abortedAt = Date.now();
    const deadline = () => {
      let until = abortedAt + ABORT_GRACE_MS;
      for (const lane of Object.values(state.lanes)) {
        if (lane.status === 'rolling-back' && lane.rollback !== null) {
          until = Math.max(until, Date.parse(lane.rollback.until) + ABORT_GRACE_MS);
        }
      }
      return until;
    };
    while (openLanes().length > 0 && Date.now() < deadline()) {
      if (await condition(() => loop.inbox.length > 0, deadline() - Date.now())) {
        await loop.round(loop.nextItems());
      }
    }
  }
  await loop.settleHandlers();

  const lanes: RolloutSummary['lanes'] = {};
  for (const [name, lane] of Object.entries(state.lanes)) lanes[name] = lane.status;
  return { rolloutId, status: state.status, lanes, halts: state.halts, breachedLanes: state.breachedLanes };
}
