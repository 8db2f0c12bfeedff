/**
 * Runtime configuration, read from the environment and validated with zod, so a typo in a variable
 * is a clear message at start-up rather than a confusing failure later. Pure: the caller passes the
 * environment (usually `process.env`); file paths (certificates) are read by the adapters, not here.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const csv = z
  .string()
  .min(1)
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));

const EnvSchema = z.object({
  KAFKA_BROKERS: csv.default(['127.0.0.1:9092']),
  KAFKA_CLIENT_ID: z.string().min(1).default('bsi-rollout'),
  KAFKA_SSL: bool.default(false),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional(),
  KAFKA_SSL_REJECT_UNAUTHORIZED: bool.default(true),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  BSI_TOPIC_ROLLOUT_EVENTS: z.string().min(1).default('bsi.rollout-events'),
  BSI_TOPIC_COMMANDS: z.string().min(1).default('bsi.commands'),
  BSI_TOPIC_INSTALL_EVENTS: z.string().min(1).default('bsi.install-events'),
  BSI_TOPIC_INSTALL_EVENTS_DLQ: z.string().min(1).default('bsi.install-events.dlq'),
  BSI_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  BSI_DEVICE_KEY_SECRET: z
    .string()
    .regex(/^[0-9a-fA-F]{32}$/, 'expected 32 hex digits (a 128-bit secret)')
    .transform((v) => v.toLowerCase())
    .optional(),

  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('bsi-rollout'),
  TEMPORAL_TLS_CERT_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_CA_FILE: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  /** Temporal Worker Deployment the worker belongs to (Worker Versioning, pinned rollouts); unset: unversioned. */
  BSI_WORKER_DEPLOYMENT: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'expected 1-128 of [A-Za-z0-9._-], starting with a letter or digit')
    .optional(),
  /** The worker's build id within the deployment; default: package version + hash of the workflow bundle. */
  BSI_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/, 'expected 1-128 of [A-Za-z0-9._+-], starting with a letter or digit')
    .optional(),
  /** When the worker makes its build the deployment's current version: first deploy only, always, or never. */
  BSI_WORKER_PROMOTE: z.enum(['if-none', 'always', 'never']).default('if-none'),
});

export type KafkaConfig = {
  brokers: string[];
  clientId: string;
  ssl?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
};

export type Topics = {
  rolloutEvents: string;
  commands: string;
  installEvents: string;
  installEventsDlq: string;
  /** Partitions for topics this project creates (the install events are keyed by device id). */
  partitions: number;
};

export type TemporalConfig = {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  apiKey?: string;
  uiUrl: string;
};

/**
 * The secret of the device table's keyed hash (see `ingest/device-key-secret.ts`): 32 lower-case hex digits,
 * or undefined when `BSI_DEVICE_KEY_SECRET` is unset (local runs then use one generated under `.data/`).
 */
export type DeviceKeyConfig = { secretHex?: string };

/**
 * Worker Versioning (see docs/workflows.md, "Deploying a new worker"): with a deployment name the worker polls as
 * one version of that Temporal Worker Deployment and every rollout it starts is pinned to it.
 */
export type WorkerVersioningConfig = {
  deploymentName?: string;
  buildId?: string;
  promote: 'if-none' | 'always' | 'never';
};

export type Config = {
  kafka: KafkaConfig;
  topics: Topics;
  temporal: TemporalConfig;
  deviceKeys: DeviceKeyConfig;
  versioning: WorkerVersioningConfig;
};

/** A configuration error a person can act on: names each variable, its value and the rule it broke. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the set (non-empty) variables of `env` with `schema`; throws `ConfigError` naming each bad variable, its
 * value and the rule. Shared by every settings reader (the engine's, the API's).
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.output<S> {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(defined);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        return `${name}=${JSON.stringify(defined[name] ?? null)}: ${i.message}`;
      }),
    );
  }
  return parsed.data;
}

/**
 * Reads and validates the engine's configuration from an environment record. Throws `ConfigError`
 * listing every problem at once (variable, value, rule) — SASL without credentials, a key without a
 * certificate, a malformed broker list — so an operator fixes the environment in one pass.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const e = parseEnv(EnvSchema, env);
  const problems: string[] = [];
  if (e.KAFKA_SASL_MECHANISM && !(e.KAFKA_SASL_USERNAME && e.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_MECHANISM is set: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required');
  }
  if (Boolean(e.KAFKA_SSL_CERT_FILE) !== Boolean(e.KAFKA_SSL_KEY_FILE)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (client certificate and its key)');
  }
  if (Boolean(e.TEMPORAL_TLS_CERT_FILE) !== Boolean(e.TEMPORAL_TLS_KEY_FILE)) {
    problems.push('TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together (mTLS certificate and its key)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const sslWanted = e.KAFKA_SSL || Boolean(e.KAFKA_SSL_CA_FILE) || Boolean(e.KAFKA_SSL_CERT_FILE);
  const temporalTls = e.TEMPORAL_TLS_CERT_FILE || e.TEMPORAL_TLS_CA_FILE || e.TEMPORAL_TLS_SERVER_NAME;
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      ...(sslWanted && {
        ssl: {
          caFile: e.KAFKA_SSL_CA_FILE,
          certFile: e.KAFKA_SSL_CERT_FILE,
          keyFile: e.KAFKA_SSL_KEY_FILE,
          rejectUnauthorized: e.KAFKA_SSL_REJECT_UNAUTHORIZED,
        },
      }),
      ...(e.KAFKA_SASL_MECHANISM && {
        sasl: {
          mechanism: e.KAFKA_SASL_MECHANISM,
          username: e.KAFKA_SASL_USERNAME ?? '',
          password: e.KAFKA_SASL_PASSWORD ?? '',
        },
      }),
    },
    topics: {
      rolloutEvents: e.BSI_TOPIC_ROLLOUT_EVENTS,
      commands: e.BSI_TOPIC_COMMANDS,
      installEvents: e.BSI_TOPIC_INSTALL_EVENTS,
      installEventsDlq: e.BSI_TOPIC_INSTALL_EVENTS_DLQ,
      partitions: e.BSI_TOPIC_PARTITIONS,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      ...(temporalTls && {
        tls: {
          certFile: e.TEMPORAL_TLS_CERT_FILE,
          keyFile: e.TEMPORAL_TLS_KEY_FILE,
          caFile: e.TEMPORAL_TLS_CA_FILE,
          serverName: e.TEMPORAL_TLS_SERVER_NAME,
        },
      }),
      ...(e.TEMPORAL_API_KEY && { apiKey: e.TEMPORAL_API_KEY }),
      uiUrl: e.TEMPORAL_UI_URL,
    },
    deviceKeys: { ...(e.BSI_DEVICE_KEY_SECRET !== undefined && { secretHex: e.BSI_DEVICE_KEY_SECRET }) },
    versioning: {
      ...(e.BSI_WORKER_DEPLOYMENT !== undefined && { deploymentName: e.BSI_WORKER_DEPLOYMENT }),
      ...(e.BSI_BUILD_ID !== undefined && { buildId: e.BSI_BUILD_ID }),
      promote: e.BSI_WORKER_PROMOTE,
    },
  };
}

/** The Temporal Web UI page of one workflow (what `rollout start` prints). */
export function workflowUiLink(t: Pick<TemporalConfig, 'uiUrl' | 'namespace'>, workflowId: string): string {
  return `${t.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(t.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
