/**
 * Resource limits the CLI enforces before it hands anything to the engine:
 * - a plan file larger than `BSI_MAX_PLAN_BYTES` (default 256 KiB) is refused unread — a plan is a few
 *   kilobytes, so a huge file is a mistake or an attack on the YAML parser and on the workflow's start payload;
 * - `rollout start` refuses when `BSI_MAX_ACTIVE_ROLLOUTS` (default 20) rollouts already run on the deployment's task queue,
 *   which bounds the lane workflows, timers and ingest catalogue entries one deployment carries at once.
 */
import { statSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { z } from 'zod';

/** Default largest plan file, in bytes. */
export const DEFAULT_MAX_PLAN_BYTES = 256 * 1024;
/** Default most rollouts running at once. */
export const DEFAULT_MAX_ACTIVE_ROLLOUTS = 20;

const LimitsSchema = z.object({
  BSI_MAX_PLAN_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(DEFAULT_MAX_PLAN_BYTES),
  BSI_MAX_ACTIVE_ROLLOUTS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_MAX_ACTIVE_ROLLOUTS),
});

/** The CLI's limits. */
export interface CliLimits {
  maxPlanBytes: number;
  maxActiveRollouts: number;
}

/**
 * Reads the limits from an environment record; throws an Error naming the variable, its value and the rule
 * when one is invalid (so a typo never silently lifts a limit).
 */
export function loadLimits(env: Readonly<Record<string, string | undefined>> = process.env): CliLimits {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = LimitsSchema.safeParse(defined);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `${name}=${JSON.stringify(defined[name] ?? null)}: ${i.message}`;
    });
    throw new Error(`invalid limit: ${problems.join('; ')}`);
  }
  return { maxPlanBytes: parsed.data.BSI_MAX_PLAN_BYTES, maxActiveRollouts: parsed.data.BSI_MAX_ACTIVE_ROLLOUTS };
}

/**
 * Why a plan file at `path` may not be read (larger than `maxBytes`, or not a regular file), or undefined when
 * it may. Looks at the file's size only, so a multi-gigabyte file is refused without being read.
 */
export function planFileProblem(path: string, maxBytes: number): string | undefined {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return `${path} is not a regular file`;
    size = st.size;
  } catch {
    return undefined; // unreadable: the caller's read reports it with the OS error
  }
  return size > maxBytes
    ? `plan file ${path} is ${size} bytes, more than the limit of ${maxBytes} (BSI_MAX_PLAN_BYTES)`
    : undefined;
}

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
 * Why a new rollout may not start now (the namespace already runs `maxActive` rollouts), or undefined. Called
 * by `rollout start` before it starts the workflow; a rollout that is refused starts nothing.
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
