/**
 * The one kafkajs adapter. kafkajs has been unmaintained since 2023, so every use of it goes through
 * this folder: client construction from validated config (TLS, SASL), topic provisioning, and the
 * producer settings the event log relies on. Replacing the client library means rewriting this folder.
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkajsConfig, type SASLOptions, type LogEntry } from 'kafkajs';
import type { KafkaConfig } from '../config/env';

export type { Kafka } from 'kafkajs';

/** A kafkajs error's protocol type (e.g. `NOT_LEADER_FOR_PARTITION`), also when kafkajs wrapped it (`cause`). */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let current: unknown = err; current !== null && typeof current === 'object';) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string') return type;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

// Every producer here uses kafkajs 2's default (murmur2, Java-compatible) partitioner on purpose, so the
// one-time warning about the v1 → v2 partitioner switch is noise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/** kafkajs log level from the conventional LOG_LEVEL words; kafkajs is chatty, so the default is warn. */
function levelOf(name: string | undefined): logLevel {
  switch (name) {
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'error':
      return logLevel.ERROR;
    case 'silent':
      return logLevel.NOTHING;
    default:
      return logLevel.WARN;
  }
}

/** Writes kafkajs log entries as one JSON line each on stderr, the same shape as the rest of the engine. */
function jsonLogCreator() {
  return ({ namespace, level, log }: LogEntry) => {
    const { message, ...rest } = log;
    process.stderr.write(
      `${JSON.stringify({ level: logLevel[level]?.toLowerCase(), component: `kafkajs.${namespace}`, msg: message, ...rest })}\n`,
    );
  };
}

/**
 * Builds a kafkajs client from validated config: brokers, client id, TLS material read from files,
 * and SASL (PLAIN or SCRAM). Retries are kept modest so a missing broker is reported within seconds.
 */
export function createKafka(config: KafkaConfig, options: { clientId?: string; logLevel?: string } = {}): Kafka {
  const ssl = config.ssl
    ? {
        rejectUnauthorized: config.ssl.rejectUnauthorized,
        ...(config.ssl.caFile && { ca: [readFileSync(config.ssl.caFile, 'utf8')] }),
        ...(config.ssl.certFile && { cert: readFileSync(config.ssl.certFile, 'utf8') }),
        ...(config.ssl.keyFile && { key: readFileSync(config.ssl.keyFile, 'utf8') }),
      }
    : undefined;
  const sasl: SASLOptions | undefined = config.sasl
    ? config.sasl.mechanism === 'plain'
      ? { mechanism: 'plain', username: config.sasl.username, password: config.sasl.password }
      : config.sasl.mechanism === 'scram-sha-256'
        ? { mechanism: 'scram-sha-256', username: config.sasl.username, password: config.sasl.password }
        : { mechanism: 'scram-sha-512', username: config.sasl.username, password: config.sasl.password }
    : undefined;
  const kafkaConfig: KafkajsConfig = {
    clientId: options.clientId ?? config.clientId,
    brokers: config.brokers,
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 100, retries: 8 },
    logLevel: levelOf(options.logLevel ?? process.env.KAFKA_LOG_LEVEL),
    logCreator: jsonLogCreator,
    ...(ssl && { ssl }),
    ...(sasl && { sasl }),
  };
  return new Kafka(kafkaConfig);
}
