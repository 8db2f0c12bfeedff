/**
 * Settings of the ingest service that are not shared with the rest of the engine (Kafka, Temporal and
 * topic names come from `config/env.ts`). Read from the environment and validated with zod so a typo is
 * a clear start-up error naming the variable, like the engine's own config.
 */
import { z } from 'zod';

const EnvSchema = z.object({
  INGEST_GROUP_ID: z.string().min(1).default('bsi-ingest'),
  INGEST_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  INGEST_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .max(1024 * 1024)
    .default(64 * 1024),
  INGEST_MAX_DEVICES: z.coerce.number().int().min(1).max(100_000_000).default(5_000_000),
  INGEST_FLUSH_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(3000),
  INGEST_MAX_CLOCK_SKEW_SEC: z.coerce.number().int().min(0).default(86_400),
  INGEST_TIMEOUT_SCAN_MS: z.coerce.number().int().min(50).max(600_000).default(1000),
  INGEST_UNKNOWN_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(2000),
  INGEST_HANDOVER_SETTLE_MS: z.coerce.number().int().min(0).max(60_000).default(300),
  INGEST_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).max(300_000).default(30_000),
  INGEST_MAX_WAIT_MS: z.coerce.number().int().min(1).max(10_000).default(50),
});

/** The ingest's own knobs; see docs/ingest.md for what each one trades. */
export interface IngestSettings {
  /** Consumer group of the ingest members (one group per deployment). */
  groupId: string;
  /** Port of the Prometheus endpoint (`/metrics`, `/healthz`); 0 picks a free port. */
  metricsPort: number;
  /** Install events larger than this are dead-lettered as `oversized` without being parsed. */
  maxMessageBytes: number;
  /** Most (device, offer) states one process tracks; beyond it events are dead-lettered as `capacity`. */
  maxDevices: number;
  /** Least time between two flushes of one lane (a verdict change flushes at once). */
  flushIntervalMs: number;
  /** How far a device's `at` may lie ahead of the Kafka append time before the event is `clock-skew`. */
  maxClockSkewSec: number;
  /** How often started installs are checked against their lane's install timeout. */
  timeoutScanMs: number;
  /** How long an event naming an unknown rollout or offer may wait for the rollout catalogue. */
  unknownWaitMs: number;
  /** Pause before asking lanes for their marks after a partition moved here (lets the old owner's last signal land). */
  handoverSettleMs: number;
  /** Consumer-group session timeout: how soon a crashed member's partitions move to the others. */
  sessionTimeoutMs: number;
  /** kafkajs `maxWaitTimeInMs`: how long a fetch waits for data (latency versus batch size). */
  maxWaitMs: number;
}

/**
 * Reads the ingest settings from an environment record (usually `process.env`); throws an Error that
 * names every offending variable, its value and the rule, so an operator fixes them in one pass.
 */
export function loadIngestSettings(env: Readonly<Record<string, string | undefined>>): IngestSettings {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(defined);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `${name}=${JSON.stringify(defined[name] ?? null)}: ${i.message}`;
    });
    throw new Error(`invalid ingest configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return {
    groupId: e.INGEST_GROUP_ID,
    metricsPort: e.INGEST_METRICS_PORT,
    maxMessageBytes: e.INGEST_MAX_MESSAGE_BYTES,
    maxDevices: e.INGEST_MAX_DEVICES,
    flushIntervalMs: e.INGEST_FLUSH_INTERVAL_MS,
    maxClockSkewSec: e.INGEST_MAX_CLOCK_SKEW_SEC,
    timeoutScanMs: e.INGEST_TIMEOUT_SCAN_MS,
    unknownWaitMs: e.INGEST_UNKNOWN_WAIT_MS,
    handoverSettleMs: e.INGEST_HANDOVER_SETTLE_MS,
    sessionTimeoutMs: e.INGEST_SESSION_TIMEOUT_MS,
    maxWaitMs: e.INGEST_MAX_WAIT_MS,
  };
}
