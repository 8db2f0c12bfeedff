/**
 * A small typed client of the rollout workflows, for the CLI, the demo and tests: start a rollout, send an
 * operator command (routed to the lane workflow when it names a device class, else to the rollout
 * workflow), read the status, list rollouts. Errors a person can act on are typed: a refused command
 * (`CommandRefusedError`, with the decider's reason), an unknown rollout (`UnknownRolloutError`), an
 * invalid plan (`InvalidPlanError`, with path / value / rule per problem).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { z } from 'zod';
import { OperatorRequestSchema, isRefusal, type OperatorRequest } from '../events/commands';
import type { OutcomeCounts, WaitingFor } from '../events/domain-events';
import { assessHealth } from '../events/health';
import {
  PATCHED_MILESTONES,
  currentCounts,
  isLaneFinished,
  patchedEtaOf,
  patchedShareOf,
  regressionNow,
  summedWindows,
  toHealthCounts,
  type LaneState,
  type OfferWindow,
} from '../events/lane';
import { describeWindows } from '../events/maintenance-window';
import { validatePlan, type PlanError, type RolloutPlan } from '../events/plan';
import type { RegressionVerdict, SignalEvidence } from '../events/regression';
import type { RolloutState } from '../events/rollout';
import { supersedesOf } from '../events/supersede';
import {
  laneStateQuery,
  laneWorkflowId,
  operatorUpdate,
  rolloutStatusQuery,
  rolloutWorkflowId,
  type OperatorCommandResult,
  type RolloutSummary,
} from '../workflows/messages';
import type { rolloutWorkflow } from '../workflows/rollout-workflow';

/** The plan failed validation; `errors` says where, what and which rule. */
export class InvalidPlanError extends Error {
  constructor(readonly errors: PlanError[]) {
    super(
      `invalid plan:\n  ${errors.map((e) => `${e.path}: ${e.rule} (value: ${JSON.stringify(e.value)})`).join('\n  ')}`,
    );
    this.name = 'InvalidPlanError';
  }
}

/** The engine refused an operator command; `reason` is the decider's sentence. Nothing was recorded. */
export class CommandRefusedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'CommandRefusedError';
  }
}

/** No rollout (or lane) workflow with this id exists. */
export class UnknownRolloutError extends Error {
  constructor(
    readonly rolloutId: string,
    readonly lane?: string,
  ) {
    super(lane === undefined ? `unknown rollout ${rolloutId}` : `unknown device class ${lane} in rollout ${rolloutId}`);
    this.name = 'UnknownRolloutError';
  }
}

/** The rollout already exists (a plan's fixed rolloutId, or a reused id). */
export class RolloutExistsError extends Error {
  constructor(readonly rolloutId: string) {
    super(`rollout ${rolloutId} already exists`);
    this.name = 'RolloutExistsError';
  }
}

/** What `startRollout` needs. `plan` may be unvalidated input (e.g. parsed YAML); it is validated here. */
export interface StartRolloutOptions {
  plan: unknown;
  /** Default: the plan's `rolloutId`, else `<releaseId>-<random>`. */
  rolloutId?: string;
  actor: string;
  reason: string;
  /** The worker's task queue (config `temporal.taskQueue`). */
  taskQueue: string;
  /**
   * The id of a rollout this one supersedes (`--supersedes`): it must exist and be finished or halted, and share a
   * halted class with the plan (events/supersede.ts); else `UnknownRolloutError` or `CommandRefusedError`.
   */
  supersedes?: string;
}

/** A started rollout. */
export interface StartedRollout {
  rolloutId: string;
  workflowId: string;
  runId: string;
  plan: RolloutPlan;
}

/** The state of the rollout a new one supersedes, from its workflow (closed ones answer too); unknown: an error. */
async function supersedesFor(client: Client, rolloutId: string): Promise<RolloutState> {
  try {
    return await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).query(rolloutStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UnknownRolloutError(rolloutId);
    throw err;
  }
}

/**
 * Validates the plan and starts its rollout workflow (`rollout/<rolloutId>`). Throws `InvalidPlanError`
 * for a bad plan and `RolloutExistsError` when the id is taken; never starts anything on error.
 */
export async function startRollout(client: Client, options: StartRolloutOptions): Promise<StartedRollout> {
  const checked = validatePlan(options.plan);
  if (!checked.ok) throw new InvalidPlanError(checked.errors);
  const plan = checked.plan;
  const endAt = plan.schedule?.endAt;
  if (endAt !== undefined && Date.parse(endAt) <= Date.now()) {
    throw new InvalidPlanError([{ path: 'schedule.endAt', value: endAt, rule: 'has passed: nothing to start' }]);
  }
  const rolloutId = options.rolloutId ?? plan.rolloutId ?? `${plan.releaseId}-${randomBytes(4).toString('hex')}`;
  const workflowId = rolloutWorkflowId(rolloutId);
  const supersedes = options.supersedes === undefined ? undefined : await supersedesFor(client, options.supersedes);
  const link = supersedes === undefined ? undefined : supersedesOf(supersedes, plan, rolloutId);
  if (link !== undefined && isRefusal(link)) throw new CommandRefusedError(link.reason);
  try {
    const handle = await client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      taskQueue: options.taskQueue,
      workflowId,
      args: [{ rolloutId, plan, actor: options.actor, reason: options.reason, ...(link && { supersedes: link }) }],
    });
    return { rolloutId, workflowId, runId: handle.firstExecutionRunId, plan };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new RolloutExistsError(rolloutId);
    throw err;
  }
}

function refusalOf(err: unknown): string | undefined {
  if (!(err instanceof WorkflowUpdateFailedError)) return undefined;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type === 'RolloutRejected') return cause.message;
  return undefined;
}

/**
 * An operator request id (the Temporal Update id of the command): 1 to 128 of letters, digits, `.`, `_`, `:`,
 * `-`, starting with a letter or digit — a UUID, or an automation's own id.
 */
export const RequestIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected 1-128 of [A-Za-z0-9._:-], starting with a letter or digit');

/**
 * Sends an operator command (pause, resume, approve, retry, rollback, abort, with actor and reason) as a
 * Temporal Update: to the lane workflow when `request.lane` names a device class, else to the rollout
 * workflow. Resolves with the ids of the events it appended; throws `CommandRefusedError` with the reason
 * when the engine refuses (nothing enters history), `UnknownRolloutError` when there is no such workflow.
 *
 * `requestId` (default: a fresh UUID) is the Update id: sending the same request id again applies the command
 * once and answers with the first answer, also across a worker restart and the workflow's continue-as-new
 * (see `workflows/operator-update.ts`). Reuse it to retry a command whose answer was lost (a timeout).
 */
export async function sendOperatorCommand(
  client: Client,
  rolloutId: string,
  request: OperatorRequest,
  options: { requestId?: string } = {},
): Promise<OperatorCommandResult> {
  const parsed = OperatorRequestSchema.safeParse(request);
  if (!parsed.success) throw new CommandRefusedError(`invalid command: ${parsed.error.message}`);
  const requestId = RequestIdSchema.safeParse(options.requestId ?? randomUUID());
  if (!requestId.success) throw new CommandRefusedError(`invalid request id: ${requestId.error.issues[0]?.message}`);
  const lane = parsed.data.lane ?? undefined;
  // A restart is for a class whose lane workflow is gone: the rollout starts the new one.
  const toRollout = lane === undefined || parsed.data.type === 'restart';
  const workflowId = toRollout ? rolloutWorkflowId(rolloutId) : laneWorkflowId(rolloutId, lane);
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(operatorUpdate, {
      args: [parsed.data],
      updateId: requestId.data,
    });
  } catch (err) {
    const reason = refusalOf(err);
    if (reason !== undefined) throw new CommandRefusedError(reason);
    const closed = err instanceof WorkflowNotFoundError || err instanceof WorkflowUpdateFailedError;
    if (closed && lane !== undefined) {
      // The lane's workflow is gone or closed: answer with the class's final state, not "unknown class".
      const finished = await finishedLaneAnswer(client, rolloutId, lane, parsed.data.type);
      if (finished !== undefined) throw new CommandRefusedError(finished);
    }
    if (err instanceof WorkflowNotFoundError) throw new UnknownRolloutError(rolloutId, lane);
    if (err instanceof WorkflowUpdateFailedError && lane !== undefined) {
      throw new CommandRefusedError(`lane ${lane} no longer takes commands (its workflow has closed)`);
    }
    throw err;
  }
}

/** What an operator can do instead of commanding a class whose lane has finished, by its final status. */
const AFTER_FINISH: Partial<Record<LaneState['status'], string>> = {
  'rolled-back': 'to ship a fixed build to it, start a new rollout for that build',
  completed: 'to change it, start a new rollout (roll it back with a new rollout of the previous build)',
  aborted: 'to expose it again, start a new rollout',
};

/**
 * The answer to a command for a lane whose workflow has closed: the class's final state from the rollout's view
 * (its status, phase, exposure, breaches) and what to do instead; undefined when the rollout does not know the
 * class (then it really is unknown) or cannot be asked.
 */
async function finishedLaneAnswer(
  client: Client,
  rolloutId: string,
  lane: string,
  command: string,
): Promise<string | undefined> {
  const status = await getStatus(client, rolloutId).catch(() => undefined);
  const view = status?.lanes.find((l) => l.lane === lane);
  if (view?.lost) {
    return (
      `cannot ${command} lane ${lane}: its workflow was lost (${view.lost.cause}: ${view.lost.detail}); ` +
      `restart it (rollout restart ${rolloutId} --class ${lane} --reason …) or abort the rollout`
    );
  }
  if (view === undefined || !isLaneFinished(view.status)) return undefined;
  const phase = view.phase < 0 ? 'before its first phase' : `phase ${view.phase + 1}/${view.phases}`;
  const what = `${view.exposurePercent.toFixed(2)}% exposed, ${view.breaches} breach${view.breaches === 1 ? '' : 'es'}`;
  const instead = AFTER_FINISH[view.status] ?? 'start a new rollout';
  return `cannot ${command} lane ${lane}: it has finished, ${view.status} at ${phase} (${what}); ${instead}`;
}

/** One lane as `status` shows it. */
export interface LaneStatusView {
  lane: string;
  status: LaneState['status'];
  /** Current phase index (-1 before the first) and the number of phases. */
  phase: number;
  phases: number;
  /** Exposure bound in cohort buckets (0..10000) and as a percentage of the class. */
  cohortBound: number;
  exposurePercent: number;
  attempt: number;
  offerId: string | null;
  /** Outcome counts of the window being judged now (the current phase attempt, or the rollback). */
  counts: OutcomeCounts;
  /** Outcomes over every exposure window of the class (all phases and attempts): what the fleet really got. */
  total: OutcomeCounts;
  /** Devices rolled back, and rollbacks that failed, over every rollback of the class. */
  rolledBack: number;
  rollbackFailed: number;
  /** The failure rate the window's latest verdict judged (rules version 2: its attempt's phases summed). */
  failureRate: number | null;
  /**
   * Failures / final outcomes over every exposure window of the class (ignored codes out, timeouts in, as the judge
   * counts them), or null before any final outcome.
   */
  totalFailureRate: number | null;
  /** Which window `counts` and `failureRate` describe: "phase 3, attempt 1", "rollback", "before the first phase". */
  windowLabel: string;
  maxFailureRate: number | null;
  verdict: 'healthy' | 'insufficient-evidence' | 'breach' | null;
  explanation: string | null;
  /**
   * The evidence of the class's most recent breach (null when it never breached): when, in which phase (index, as
   * `phase`), the rate that breached and its maximum (a per-code criterion's own, when that one fired), and why.
   */
  lastBreach: {
    at: string;
    phase: number;
    /** The install failure rate that breached and its maximum; null for a post-install regression (`regression`). */
    failureRate: number | null;
    maxFailureRate: number | null;
    explanation: string;
    /** A post-install regression's breach: the signal, both groups' rates per device-hour, the ratio, the tolerance. */
    regression?: RegressionStatus['signals'][number];
  } | null;
  /** Lanes with a regression rule (null for the others): per watched signal, the judgement of the current attempt. */
  regression: RegressionStatus | null;
  waitingFor: WaitingFor | null;
  pausedBy: 'operator' | 'breach' | 'fleet-halt' | null;
  /** An abort that waits for the running rollback to end (the lane then stops), or null. */
  abortPending: 'operator' | 'rollout-aborted' | null;
  /** The lane's workflow closed before the lane finished (`lane-lost`): how, and what the lane was doing. */
  lost: NonNullable<RolloutState['lostLanes']>[string] | null;
  breaches: number;
  updatedAt: string | null;
  /**
   * Patched, not just exposed (lanes whose plan has `completion`; null for the others): successes ÷ the class size
   * (the plan's `expectedDevices`, or estimated), the target share, when the target is reached at the recent rate of
   * successes (null when not patching or no rate), and the seconds from the lane's start to 50 / 90 / 95 / 99 %
   * patched (null until reached).
   */
  patched: {
    succeeded: number;
    classSize: number;
    sizeSource: 'plan' | 'estimate';
    patchedShare: number;
    target: number;
    eta: string | null;
    secondsTo: Record<string, number | null>;
  } | null;
  /** The lane's exposed devices went quiet (`lane-stalled`), not yet cleared: since when, and on which offer. */
  stalled: { at: string; quietSince: string; offerId: string; cohortBound: number } | null;
  /**
   * Lanes with a rate limit (null for the others): the bound the current offer reached against the phase's target
   * (buckets), the rate of its last step and the cap (the fleet rate it was split from, if any), and when the next
   * step is due (null once the phase is exposed, or while a window holds it).
   */
  pacing: {
    offered: number;
    targetBound: number;
    ratePerMinute: number;
    maxPerMinute: number;
    fleetMaxPerMinute: number | null;
    nextStepAt: string | null;
  } | null;
  /** Lanes with maintenance windows (null for the others): the windows in words, and the opening a held order waits for. */
  maintenanceWindows: { windows: string; heldUntil: string | null } | null;
}

/** One class's post-install signals as status shows them: rates, ratio against the control, and verdict. */
export interface RegressionStatus {
  /** The attempt the evidence is of (a retry starts it afresh). */
  attempt: number;
  signals: {
    signal: string;
    updatedRatePerHour: number | null;
    controlRatePerHour: number | null;
    updatedHours: number;
    controlHours: number;
    ratio: number | null;
    maxRateRatio: number;
    logE: number;
    bound: number;
    verdict: RegressionVerdict;
  }[];
}

/** A signal's evidence as status shows it. */
function signalStatusOf(e: SignalEvidence): RegressionStatus['signals'][number] {
  return {
    signal: e.signal,
    updatedRatePerHour: e.updated.ratePerHour,
    controlRatePerHour: e.control.ratePerHour,
    updatedHours: e.updated.exposureHours,
    controlHours: e.control.exposureHours,
    ratio: e.ratio,
    maxRateRatio: e.maxRateRatio,
    logE: e.logE,
    bound: e.bound,
    verdict: e.verdict,
  };
}

/** The regression judgement of a lane with the rule, from its folded state (null without the rule). */
function regressionOf(state: LaneState): RegressionStatus | null {
  const now = regressionNow(state);
  return now === null ? null : { attempt: now.attempt, signals: now.signals.map(signalStatusOf) };
}

/** A rollout as `status` shows it. */
export interface RolloutStatusView {
  rolloutId: string;
  /** The worker build the rollout is pinned to (`<deployment>.<build id>`), or null when it runs unversioned. */
  codeVersion: string | null;
  releaseId: string | null;
  status: RolloutState['status'];
  startedAt: string | null;
  updatedAt: string | null;
  halts: number;
  breachedLanes: string[];
  lanes: LaneStatusView[];
  /** The plan's schedule as the rollout folded it (when it starts, ends and how; the end once it came), or null. */
  schedule?: NonNullable<RolloutState['schedule']> | null;
  /** The rollout this one supersedes and its superseded classes (`--supersedes`), or null. */
  supersedes?: NonNullable<RolloutState['supersedes']> | null;
}

/** Which window a lane's `counts` and `failureRate` describe, in words ("phase 3, attempt 1", "rollback"). */
function windowLabelOf(state: LaneState, window: OfferWindow | undefined): string {
  if (window?.kind === 'rollback') return window.attempt > 1 ? `rollback ${window.attempt}` : 'rollback';
  const phase = window?.phase ?? state.phase;
  if (phase < 0) return 'before the first phase';
  return `phase ${phase + 1}, attempt ${window?.attempt ?? state.attempt}`;
}

/**
 * The lane's most recent breach as the status view shows it: for a per-code criterion (e.g. boot loops) its own rate
 * and maximum, since those fired, else the lane's failure rate and `maxFailureRate`.
 */
function lastBreachOf(state: LaneState): LaneStatusView['lastBreach'] {
  const breach = state.lastBreach;
  if (breach === undefined) return null;
  const { evidence } = breach;
  if (evidence.rule === 'regression') {
    const { at, phase } = breach;
    const regression = signalStatusOf(evidence);
    return { at, phase, failureRate: null, maxFailureRate: null, explanation: evidence.explanation, regression };
  }
  const criterion = evidence.criteria?.find((c) => c.name === evidence.breachedBy);
  return {
    at: breach.at,
    phase: breach.phase,
    failureRate: criterion?.failureRate ?? evidence.failureRate,
    maxFailureRate: criterion?.threshold ?? evidence.threshold,
    explanation: evidence.explanation,
  };
}

/** The patched share of a lane with a completion rule as status shows it (see `LaneStatusView.patched`). */
function patchedOf(state: LaneState): LaneStatusView['patched'] {
  const share = patchedShareOf(state);
  const completion = state.config?.completion;
  if (share === null || completion === undefined) return null;
  const startMs = state.startedAt === undefined ? null : Date.parse(state.startedAt);
  const secondsTo: Record<string, number | null> = {};
  for (const m of PATCHED_MILESTONES) {
    const at = state.patchedAt?.[m];
    secondsTo[m] = at === undefined || startMs === null ? null : (Date.parse(at) - startMs) / 1000;
  }
  return { ...share, target: completion.patchedShare, eta: patchedEtaOf(state), secondsTo };
}

/**
 * The status view of one lane's folded state (pure; exported for the CLI's `--watch`, the API and the replay
 * tests): the window being judged now with its verdict, the class's totals over every window, and the evidence of
 * its last breach.
 */
export function laneStatusView(state: LaneState, lost: LaneStatusView['lost'] = null): LaneStatusView {
  const rollback =
    state.status === 'rolling-back' || state.status === 'rollback-failed' || state.status === 'rolled-back';
  const windowId = rollback ? (state.rollback?.offerId ?? null) : state.offerId;
  const window = windowId === null ? undefined : state.windows[windowId];
  const counts = window?.totals ?? currentCounts(state);
  const evidence = window?.verdict?.evidence ?? state.lastVerdict?.evidence;
  const total = summedWindows(state, 'exposure');
  const rollbacks = summedWindows(state, 'rollback');
  // The judge's own arithmetic (ignored codes out, timeouts in) over everything the class got.
  const judged = state.config === null ? undefined : assessHealth(toHealthCounts(total), state.config.thresholds);
  return {
    lane: state.lane,
    status: state.status,
    phase: state.phase,
    phases: state.config?.phases.length ?? 0,
    cohortBound: state.cohortBound,
    exposurePercent: state.cohortBound / 100,
    attempt: state.attempt,
    offerId: windowId,
    counts,
    total,
    rolledBack: rollbacks.succeeded,
    rollbackFailed: Object.values(rollbacks.failedByCode).reduce((a, b) => a + b, 0),
    failureRate: evidence !== undefined ? evidence.failureRate : null,
    totalFailureRate: judged !== undefined && judged.sample > 0 ? judged.failureRate : null,
    windowLabel: windowLabelOf(state, window),
    maxFailureRate: state.config?.thresholds.maxFailureRate ?? null,
    verdict: window?.verdict?.verdict ?? null,
    explanation: evidence?.explanation ?? null,
    lastBreach: lastBreachOf(state),
    regression: regressionOf(state),
    waitingFor: state.waitingFor,
    pausedBy: state.pause?.cause ?? null,
    abortPending: state.abortPending ?? null,
    lost,
    breaches: state.breaches,
    updatedAt: state.updatedAt,
    patched: patchedOf(state),
    stalled:
      state.stalled && !isLaneFinished(state.status) ? { ...state.stalled, cohortBound: state.cohortBound } : null,
    pacing: pacingOf(state),
    maintenanceWindows: windowsOf(state),
  };
}

/** A rate-limited lane's pace as status shows it (see `LaneStatusView.pacing`). */
function pacingOf(state: LaneState): LaneStatusView['pacing'] {
  const pacing = state.config?.pacing;
  if (pacing === undefined) return null;
  const pace = state.pace;
  const w = state.waitingFor;
  return {
    offered: pace?.offered ?? 0,
    targetBound: pace?.targetBound ?? state.config?.phases[Math.max(0, state.phase)]?.cohortBound ?? 0,
    ratePerMinute: pace?.ratePerMinute ?? pacing.baseRatePerMinute,
    maxPerMinute: pacing.maxPerMinute,
    fleetMaxPerMinute: pacing.fleetMaxPerMinute ?? null,
    nextStepAt: w?.kind === 'step' ? w.until : null,
  };
}

/** A lane's maintenance windows as status shows them (see `LaneStatusView.maintenanceWindows`). */
function windowsOf(state: LaneState): LaneStatusView['maintenanceWindows'] {
  const windows = state.config?.maintenanceWindows;
  if (windows === undefined) return null;
  const w = state.waitingFor;
  return { windows: describeWindows(windows), heldUntil: w?.kind === 'window' ? w.until : null };
}

/**
 * Reads a rollout's status: the rollout view from its workflow, and each lane's live folded state from
 * its own workflow (falling back to what the rollout last heard when a lane cannot answer). Throws
 * `UnknownRolloutError` when the rollout does not exist.
 */
export async function getStatus(client: Client, rolloutId: string): Promise<RolloutStatusView> {
  let rollout: RolloutState;
  try {
    rollout = await client.workflow.getHandle(rolloutWorkflowId(rolloutId)).query(rolloutStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UnknownRolloutError(rolloutId);
    throw err;
  }
  // The build it is pinned to, asked beside the lanes (one round trip for all).
  const description = client.workflow
    .getHandle(rolloutWorkflowId(rolloutId))
    .describe()
    .catch(() => undefined);
  const names = rollout.plan?.deviceClasses ?? Object.keys(rollout.lanes);
  const [described, lanes] = await Promise.all([
    description,
    Promise.all(
      names.map(async (name) => {
        const live = await client.workflow
          .getHandle(laneWorkflowId(rolloutId, name))
          .query(laneStateQuery)
          .catch(() => undefined);
        return laneStatusView(live ?? rollout.lanes[name]!, rollout.lostLanes?.[name] ?? null);
      }),
    ),
  ]);
  const codeVersion = codeVersionOf(described?.raw.workflowExecutionInfo);
  return {
    rolloutId,
    codeVersion,
    releaseId: rollout.plan?.releaseId ?? null,
    status: rollout.status,
    startedAt: rollout.startedAt,
    updatedAt: rollout.updatedAt,
    halts: rollout.halts,
    breachedLanes: rollout.breachedLanes,
    lanes,
    schedule: rollout.schedule ?? null,
    supersedes: rollout.supersedes ?? null,
  };
}

/** The part of Temporal's `WorkflowExecutionInfo` that says which worker version a workflow runs on. */
type ExecutionVersioning = {
  versioningInfo?: { deploymentVersion?: { deploymentName?: string | null; buildId?: string | null } | null } | null;
};

/**
 * The Worker Deployment version a workflow is pinned to, as `<deployment>.<build id>` (see `worker/versioning.ts`),
 * or null for an unversioned workflow.
 */
export function codeVersionOf(info: ExecutionVersioning | null | undefined): string | null {
  const version = info?.versioningInfo?.deploymentVersion;
  if (!version?.deploymentName || !version.buildId) return null;
  return `${version.deploymentName}.${version.buildId}`;
}

/** The system search attribute visibility keeps a pinned workflow's version in, as `<deployment>:<build id>`. */
const DEPLOYMENT_VERSION = defineSearchAttributeKey('TemporalWorkerDeploymentVersion', SearchAttributeType.KEYWORD);

/** `rollout list` reads visibility, which has the version as a search attribute rather than `versioningInfo`. */
function listedVersionOf(value: string | undefined): string | null {
  if (value === undefined) return null;
  const cut = value.indexOf(':');
  return cut > 0 ? `${value.slice(0, cut)}.${value.slice(cut + 1)}` : null;
}

/** One line of `rollout list`. */
export interface RolloutListing {
  rolloutId: string;
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, … */
  executionStatus: string;
  /** The worker build it is pinned to (`<deployment>.<build id>`), or null when unversioned. */
  codeVersion: string | null;
  startTime: string;
  closeTime: string | null;
}

/** Lists rollouts (newest first) from Temporal's visibility store, up to `limit` (default 50). */
export async function listRollouts(client: Client, options: { limit?: number } = {}): Promise<RolloutListing[]> {
  const limit = options.limit ?? 50;
  const out: RolloutListing[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowType = 'rolloutWorkflow'` })) {
    out.push({
      rolloutId: execution.workflowId.replace(/^rollout\//, ''),
      workflowId: execution.workflowId,
      executionStatus: execution.status.name,
      codeVersion:
        codeVersionOf(execution.raw) ?? listedVersionOf(execution.typedSearchAttributes.get(DEPLOYMENT_VERSION)),
      startTime: execution.startTime.toISOString(),
      closeTime: execution.closeTime?.toISOString() ?? null,
    });
    if (out.length >= limit) break;
  }
  return out;
}

/** Waits for a rollout workflow to end and returns its summary (follows continue-as-new). */
export async function waitForRollout(client: Client, rolloutId: string): Promise<RolloutSummary> {
  return client.workflow.getHandle<typeof rolloutWorkflow>(rolloutWorkflowId(rolloutId)).result();
}
