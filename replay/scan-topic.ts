/**
 * Reads a time slice of a Kafka topic, every partition, once: the offsets at the slice's start and end
 * come from the broker's time index (`fetchTopicOffsetsByTimestamp`), so a postmortem of one rollout
 * reads only the records appended while it ran, however long the topic is. `bsi.install-events` is keyed
 * by device id, so one rollout's reports are spread over every partition — hence all of them.
 *
 * A throw-away consumer group that never commits, like the log reader: reading leaves no trace.
 */
import type { Kafka } from 'kafkajs';

/** One record of the slice: where it is, its Kafka append time, key and value. */
export type ScannedRecord = {
  partition: number;
  offset: string;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
};

/** What to read: `[fromMs, toMs)` by append time (either end open when absent). */
export type ScanOptions = {
  fromMs?: number;
  toMs?: number;
  /** Give up when the slice is not read within this long (default 120 s). */
  timeoutMs?: number;
  /** Client id suffix of the throw-away consumer group, for the broker's logs. */
  label?: string;
};

/** What was read: records per partition in offset order, and the offsets the slice covered. */
export type ScanResult = {
  /** Records in the order they were read (offset order within a partition). */
  records: number;
  /** Per partition: first offset read and the end (exclusive) of the slice. */
  bounds: { partition: number; from: string; to: string }[];
};

async function offsetsAt(kafka: Kafka, topic: string, fromMs?: number, toMs?: number) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const start =
      fromMs === undefined
        ? high.map((o) => ({ partition: o.partition, offset: o.low }))
        : await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
    const end =
      toMs === undefined
        ? high.map((o) => ({ partition: o.partition, offset: o.high }))
        : await admin.fetchTopicOffsetsByTimestamp(topic, toMs);
    const endOf = new Map(end.map((o) => [o.partition, BigInt(o.offset)]));
    return start.map((o) => ({ partition: o.partition, from: BigInt(o.offset), to: endOf.get(o.partition) ?? 0n }));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Calls `onRecord` for every record of `topic` appended in `[fromMs, toMs)` (by the broker's time index:
 * a record is included when its partition's offset lies between the offsets of those two times), in offset
 * order per partition. Records are handed over in batches as kafkajs fetches them; `onRecord` must be
 * synchronous (it is the hot loop of replay and of its benchmark).
 */
export async function scanTopic(
  kafka: Kafka,
  topic: string,
  onRecord: (record: ScannedRecord) => void,
  options: ScanOptions = {},
): Promise<ScanResult> {
  const slices = await offsetsAt(kafka, topic, options.fromMs, options.toMs);
  const todo = new Map(slices.filter((s) => s.to > s.from).map((s) => [s.partition, s]));
  const result: ScanResult = {
    records: 0,
    bounds: slices.map((s) => ({ partition: s.partition, from: String(s.from), to: String(s.to) })),
  };
  if (todo.size === 0) return result;
  const consumer = kafka.consumer({
    groupId: `bsi-replay-scan-${options.label ?? 'topic'}-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
  });
  await consumer.connect();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const timer = setTimeout(finish, options.timeoutMs ?? 120_000);
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // Batches resolve automatically: the slice is read once, nothing is committed.
      partitionsConsumedConcurrently: 1,
      eachBatch: ({ batch }) => {
        const slice = todo.get(batch.partition);
        if (slice === undefined) return Promise.resolve();
        const to = slice.to;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < slice.from) continue;
          if (offset >= to) break;
          result.records++;
          onRecord({
            partition: batch.partition,
            offset: message.offset,
            timestampMs: Number(message.timestamp),
            key: message.key,
            value: message.value,
          });
        }
        if (batch.messages.length > 0 && BigInt(batch.lastOffset()) + 1n >= to) {
          todo.delete(batch.partition);
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          if (todo.size === 0) finish();
        }
        return Promise.resolve();
      },
    });
    for (const slice of todo.values()) consumer.seek({ topic, partition: slice.partition, offset: String(slice.from) });
    await done;
    if (todo.size > 0) {
      throw new Error(`timed out reading ${topic}: partitions ${[...todo.keys()].join(', ')} not read to their end`);
    }
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return result;
}
