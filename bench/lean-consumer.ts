/**
 * The leanest kafkajs read of a topic, the baseline `bench:ingest` and `bench:replay` measure against: a fresh
 * consumer group per topic (all topics at once), `eachBatch` with the fetch settings replay reads with (`READ_FETCH`), and per record
 * only `JSON.parse` of the value (with the house style's per-record bookkeeping, or once per batch). One code
 * path for both benches, so "as fast as the client" means the same client in both.
 */
import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { READ_FETCH } from '../kafka/read-slice';

/** `resolveOffset` and `heartbeat` (and the `isRunning`/`isStale` check) per record, or once per batch. */
export type Bookkeeping = 'per-record' | 'per-batch';

/** One topic to read, and how many records it holds (the read ends when every one was seen). */
export type LeanTopic = { topic: string; events: number };

/** What a lean read took. */
export type LeanReadResult = {
  events: number;
  /** From the first batch handed over to the last record seen (the join and connect excluded). */
  seconds: number;
  /** From the call (connect, group join included) to the last record seen. */
  wallSeconds: number;
  /** CPU time (user + system, every thread of this process) between the first batch and the last record. */
  cpu: NodeJS.CpuUsage;
  /** Sum of a field of every parsed record, so the parse cannot be optimised away. */
  checksum: number;
};

/** Events per second of CPU time (user + system, all threads of this process): what CPU steal does not skew. */
export function perCpuSecond(events: number, cpu: NodeJS.CpuUsage): number {
  return Math.round(events / ((cpu.user + cpu.system) / 1e6));
}

/**
 * Reads every topic of `topics` from its beginning until it has seen `events` records of each, one consumer per
 * topic (fresh group, never committing) running at the same time, and only `JSON.parse`s each record's value.
 */
export async function leanRead(
  kafka: Kafka,
  topics: readonly LeanTopic[],
  bookkeeping: Bookkeeping = 'per-batch',
): Promise<LeanReadResult> {
  const called = Date.now();
  let first = 0;
  let cpuFirst = process.cpuUsage();
  let checksum = 0;
  const consumers = topics.map(() =>
    kafka.consumer({
      groupId: `bench-lean-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`,
      ...READ_FETCH,
    }),
  );
  const ends = await Promise.all(
    topics.map(async ({ topic, events }, i) => {
      const consumer = consumers[i]!;
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      let seen = 0;
      if (events === 0) return Date.now();
      return new Promise<number>((resolve) => {
        void consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async (payload) => {
            if (first === 0) {
              first = Date.now();
              cpuFirst = process.cpuUsage();
            }
            let resolved: string | undefined;
            for (const message of payload.batch.messages) {
              if (bookkeeping === 'per-record' && (!payload.isRunning() || payload.isStale())) break;
              const value = JSON.parse(message.value!.toString('utf8')) as { attempt?: number; seq?: number };
              checksum += value.attempt ?? value.seq ?? 0;
              resolved = message.offset;
              if (bookkeeping === 'per-record') {
                payload.resolveOffset(message.offset);
                await payload.heartbeat();
              }
            }
            if (bookkeeping === 'per-batch' && resolved !== undefined) {
              payload.resolveOffset(resolved);
              await payload.heartbeat();
            }
            seen += payload.batch.messages.length;
            if (seen >= events) resolve(Date.now());
          },
        });
      });
    }),
  );
  const last = Math.max(...ends);
  const cpu = process.cpuUsage(cpuFirst);
  await Promise.all(consumers.map((c) => c.disconnect()));
  const events = topics.reduce((sum, t) => sum + t.events, 0);
  return { events, seconds: (last - (first || last)) / 1000, wallSeconds: (last - called) / 1000, cpu, checksum };
}
