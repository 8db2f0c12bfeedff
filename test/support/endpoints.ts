// Where the integration tests find Kafka and Temporal: the environment (KAFKA_BROKERS, TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE — set by you, by CI, or by the testcontainers global setup), else the local servers that
// `make servers-up` starts on 127.0.0.1:9092 and 127.0.0.1:7233.
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Kafka } from 'kafkajs';
import type { KafkaConfig, TemporalConfig } from '../../config/env';
import { loadConfig } from '../../config/env';
import { createKafka } from '../../kafka/client';
import { connectClient, connectWorker } from '../../temporal/connection';

/** The servers a test talks to. */
export interface Endpoints {
  kafka: KafkaConfig;
  temporal: TemporalConfig;
}

/**
 * The Kafka and Temporal endpoints for this test run, read through the engine's own config loader so tests connect
 * exactly as the product does (TLS and SASL included when the environment asks for them).
 */
export function endpoints(): Endpoints {
  const config = loadConfig(process.env);
  return { kafka: config.kafka, temporal: config.temporal };
}

/** A kafkajs client for the test's Kafka, through the project's one kafkajs adapter. */
export function testKafka(clientId: string): Kafka {
  return createKafka(endpoints().kafka, { clientId, logLevel: process.env.KAFKA_LOG_LEVEL ?? 'error' });
}

/** A Temporal client for the test's namespace; close it with `client.connection.close()`. */
export function testTemporalClient(): Promise<Client> {
  return connectClient(endpoints().temporal);
}

/** The native connection a test Worker polls through; close it with `connection.close()`. */
export function testWorkerConnection(): Promise<NativeConnection> {
  return connectWorker(endpoints().temporal);
}
