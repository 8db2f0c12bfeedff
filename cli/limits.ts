/**
 * Resource limits the CLI enforces before it hands anything to the engine:
 * - a plan file larger than `BSI_MAX_PLAN_BYTES` (default 256 KiB) is refused unread — a plan is a few
 *   kilobytes, so a huge file is a mistake or an attack on the YAML parser and on the workflow's start payload;
 * - `rollout start` refuses when `BSI_MAX_ACTIVE_ROLLOUTS` (default 20) rollouts already run on the deployment's task queue,
 *   which bounds the lane workflows, timers and ingest catalogue entries one deployment carries at once
 *   (`client/operations.ts` checks it, for the CLI and the API alike; `config/limits.ts` reads both limits).
 */
import { statSync } from 'node:fs';

export { DEFAULT_MAX_ACTIVE_ROLLOUTS, DEFAULT_MAX_PLAN_BYTES, loadLimits, type CliLimits } from '../config/limits';

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
