/**
 * The operations an operator performs, shared by the `rollout` CLI and the HTTP API (`api/`), so both apply the same
 * rules before anything reaches Temporal: the active-rollouts limit before a start, a reason for every command that
 * changes what devices get, a well-formed request id. Each function takes the acting identity from its caller — the
 * CLI's `--actor` (or the OS user), the API's authenticated identity — and never decides it itself.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { EXIT, UserError } from '../config/user-error';
import type { OperatorCommandType } from '../events/domain-events';
import type { OperatorCommandResult } from '../workflows/messages';
import {
  listRollouts,
  RequestIdSchema,
  sendOperatorCommand,
  startRollout,
  type RolloutListing,
  type RolloutStatusView,
  type StartedRollout,
} from './index';

/** Operator commands that change what devices get: a reason is mandatory for the audit trail. */
export const NEEDS_REASON: ReadonlySet<OperatorCommandType> = new Set([
  'pause',
  'retry',
  'rollback',
  'abort',
  'restart',
]);

/**
 * How many rollout workflows run on `taskQueue` (the deployment's workers) in the client's namespace, by Temporal
 * visibility; counts up to `atMost`.
 */
export async function countActiveRollouts(client: Client, taskQueue: string, atMost: number): Promise<number> {
  let n = 0;
  const queue = taskQueue.replace(/["\\]/g, '');
  for await (const _ of client.workflow.list({
    query: `WorkflowType = 'rolloutWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = "${queue}"`,
  })) {
    if (++n >= atMost) break;
  }
  return n;
}

/**
 * Why a new rollout may not start now (the namespace already runs `maxActive` rollouts), or undefined. Checked
 * before every start; a rollout that is refused starts nothing.
 */
export async function activeRolloutsProblem(
  client: Client,
  taskQueue: string,
  maxActive: number,
): Promise<string | undefined> {
  const active = await countActiveRollouts(client, taskQueue, maxActive);
  return active >= maxActive
    ? `${active} rollouts are already running on task queue ${taskQueue}, the limit is ${maxActive} (BSI_MAX_ACTIVE_ROLLOUTS); ` +
        'wait for one to finish or raise the limit'
    : undefined;
}

/** What a start needs: the plan (unvalidated input), who and why, where, and the deployment's limit. */
export interface StartOperation {
  plan: unknown;
  rolloutId?: string;
  /** The rollout this one supersedes (`--supersedes`). */
  supersedes?: string;
  actor: string;
  reason: string;
  taskQueue: string;
  maxActiveRollouts: number;
}

/**
 * Starts a rollout within the deployment's limit: refuses (`UserError`, exit 4) while `maxActiveRollouts` run, then
 * validates the plan and starts it (`startRollout`: `InvalidPlanError`, `RolloutExistsError`).
 */
export async function startOperation(client: Client, op: StartOperation): Promise<StartedRollout> {
  const busy = await activeRolloutsProblem(client, op.taskQueue, op.maxActiveRollouts);
  if (busy !== undefined) throw new UserError(busy, EXIT.refused);
  return startRollout(client, {
    plan: op.plan,
    ...(op.rolloutId !== undefined && { rolloutId: op.rolloutId }),
    ...(op.supersedes !== undefined && { supersedes: op.supersedes }),
    actor: op.actor,
    reason: op.reason,
    taskQueue: op.taskQueue,
  });
}

/** One operator command as the CLI or the API received it, before the shared checks. */
export interface OperatorOperation {
  type: OperatorCommandType;
  rolloutId: string;
  /** The device class, or undefined for the whole rollout. */
  lane?: string;
  reason?: string;
  actor: string;
  /** The idempotency key (default: a new UUID). */
  requestId?: string;
  /** Says where the command came from, for the default reason of commands that need none (`resume via …`). */
  via: string;
  /** How the caller names the reason in a refusal: `--reason "…"` (CLI), `a "reason"` (API). */
  reasonName: string;
}

/** The checked command: the reason and request id that will be sent. */
export interface CheckedOperatorOperation {
  type: OperatorCommandType;
  rolloutId: string;
  lane?: string;
  reason: string;
  actor: string;
  requestId: string;
}

/**
 * Checks an operator command before it is sent: a non-blank reason for the commands in `NEEDS_REASON`, a request id
 * of the allowed form. Throws `UserError` (exit 2) naming the rule; sends nothing.
 */
export function checkOperatorOperation(op: OperatorOperation): CheckedOperatorOperation {
  const reason = op.reason?.trim();
  if (!reason && NEEDS_REASON.has(op.type)) {
    throw new UserError(`${op.type} needs ${op.reasonName}: it lands in the audit trail with the actor`);
  }
  const requestId = RequestIdSchema.safeParse(op.requestId ?? randomUUID());
  if (!requestId.success) {
    throw new UserError(`request id ${JSON.stringify(op.requestId)}: ${requestId.error.issues[0]?.message}`);
  }
  return {
    type: op.type,
    rolloutId: op.rolloutId,
    ...(op.lane !== undefined && { lane: op.lane }),
    reason: reason || `${op.type} via ${op.via}`,
    actor: op.actor,
    requestId: requestId.data,
  };
}

/** Sends a checked operator command (`sendOperatorCommand`: `CommandRefusedError`, `UnknownRolloutError`). */
export async function runOperatorOperation(
  client: Client,
  op: CheckedOperatorOperation,
): Promise<OperatorCommandResult> {
  return sendOperatorCommand(
    client,
    op.rolloutId,
    { type: op.type, actor: op.actor, reason: op.reason, ...(op.lane !== undefined && { lane: op.lane }) },
    { requestId: op.requestId },
  );
}

/** Most rollouts one listing returns. */
export const MAX_LIST_LIMIT = 10_000;

/**
 * Parses a list limit given as text (`--limit`, `?limit=`; default 50): a whole number from 1 to `MAX_LIST_LIMIT`,
 * else `UserError` naming the option (`name`).
 */
export function parseListLimit(text: string | undefined, name: string): number {
  const limit = Number(text ?? '50');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new UserError(`${name} must be a positive integer of at most ${MAX_LIST_LIMIT}, got ${text}`);
  }
  return limit;
}

/** Lists rollouts newest first, up to `limit` (see `listRollouts`). */
export async function listOperation(client: Client, limit: number): Promise<RolloutListing[]> {
  return listRollouts(client, { limit });
}

/** Whether a rollout has ended (completed or aborted): nothing about it changes any more. */
export function isRolloutFinished(view: Pick<RolloutStatusView, 'status'>): boolean {
  return view.status === 'completed' || view.status === 'aborted';
}
