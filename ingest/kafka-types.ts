/**
 * kafkajs types the ingest needs, derived from the adapter's `Kafka` client type so that no file outside
 * `kafka/` imports kafkajs itself (house style: kafkajs stays behind one adapter).
 */
import type { Kafka } from '../kafka/client';

/** A kafkajs consumer. */
export type Consumer = ReturnType<Kafka['consumer']>;
/** A kafkajs producer. */
export type Producer = ReturnType<Kafka['producer']>;
/** A kafkajs admin client. */
export type Admin = ReturnType<Kafka['admin']>;
/** What `eachBatch` receives. */
export type EachBatchPayload = Parameters<NonNullable<NonNullable<Parameters<Consumer['run']>[0]>['eachBatch']>>[0];
/** One record of a batch. */
export type KafkaMessage = EachBatchPayload['batch']['messages'][number];
