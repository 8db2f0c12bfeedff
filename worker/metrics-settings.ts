/**
 * The worker's metrics endpoint setting from the environment, validated like every process's (a bad value names the
 * variable, its value and the rule): `BSI_WORKER_METRICS_PORT`, default 9465 (the ingest's is 9464), 0 disables.
 */
import { z } from 'zod';
import { parseEnv } from '../config/env';

/** The port the worker serves `/metrics` on when `BSI_WORKER_METRICS_PORT` is not set. */
export const DEFAULT_WORKER_METRICS_PORT = 9465;

const WorkerMetricsEnvSchema = z.object({
  BSI_WORKER_METRICS_PORT: z.coerce
    .number()
    .int('expected a whole port number')
    .min(0, 'expected 0 (off) or a port 1-65535')
    .max(65535, 'expected 0 (off) or a port 1-65535')
    .default(DEFAULT_WORKER_METRICS_PORT),
});

/**
 * The port to serve the worker's `/metrics` and `/healthz` on, or null when disabled (`BSI_WORKER_METRICS_PORT=0`).
 * Throws `ConfigError` on a bad value.
 */
export function workerMetricsPort(env: Readonly<Record<string, string | undefined>>): number | null {
  const port = parseEnv(WorkerMetricsEnvSchema, env).BSI_WORKER_METRICS_PORT;
  return port === 0 ? null : port;
}
