/**
 * Reads a slice of a Kafka topic, every partition, once: `[fromMs, toMs)` by append time, the offsets at either
 * end from the broker's time index (`fetchTopicOffsetsByTimestamp`), so a postmortem of one rollout reads only the
 * records appended while it ran, however long the topic is. Every partition of the slice is fetched at once (one
 * fetch request carries them all) and each record is handed to a synchronous callback as it arrives, in offset
 * order per partition, so the caller folds while the next fetch is on its way instead of buffering the topic.
 *
 * A throw-away consumer group that never commits: reading leaves no trace. kafkajs has no `assign`, so the group
 * is joined and every partition is sought to the slice's start before the first fetch.
 */
import type { Kafka } from 'kafkajs';

/**
 * Fetch settings of slice reads, shared with the benchmarks' lean baseline consumer (`bench/lean-consumer.ts`), so
 * that a comparison of the two measures the work done with the records, not the tuning.
 */
export const READ_FETCH = {
  maxWaitTimeInMs: 50,
  minBytes: 1,
  maxBytes: 16 * 1024 * 1024,
  maxBytesPerPartition: 4 * 1024 * 1024,
};

/**
 * Called once per record of the slice with where it is, its Kafka append time (ms), key and value. Positional
 * arguments, not a record object: this is the hot loop of replay (a million records a second).
 */
export type SliceRecordHandler = (
  partition: number,
  offset: number,
  timestampMs: number,
  key: Buffer | null,
  value: Buffer | null,
) => void;

/** What to read: `[fromMs, toMs)` by append time (either end open when absent: the topic's start or current end). */
export type SliceOptions = {
  fromMs?: number;
  toMs?: number;
  /** Give up when the slice is not read within this long (default 120 s). */
  timeoutMs?: number;
  /** Part of the throw-away consumer group's id, for the broker's logs. */
  label?: string;
};

/** What was read: how many records, and per partition the offsets the slice covered. */
export type SliceResult = {
  records: number;
  /** Per partition: first offset of the slice and its end (exclusive). */
  bounds: { partition: number; from: string; to: string }[];
};

async function boundsOf(kafka: Kafka, topic: string, fromMs?: number, toMs?: number) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const [start, end] = await Promise.all([
      fromMs === undefined
        ? high.map((o) => ({ partition: o.partition, offset: o.low }))
        : admin.fetchTopicOffsetsByTimestamp(topic, fromMs),
      toMs === undefined
        ? high.map((o) => ({ partition: o.partition, offset: o.high }))
        : admin.fetchTopicOffsetsByTimestamp(topic, toMs),
    ]);
    const endOf = new Map(end.map((o) => [o.partition, o.offset]));
    return start.map((o) => ({ partition: o.partition, from: o.offset, to: endOf.get(o.partition) ?? '0' }));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Calls `onRecord` for every record of `topic` appended in `[fromMs, toMs)` (by the broker's time index: a record
 * is included when its partition's offset lies between the offsets of those two times), in offset order per
 * partition, as kafkajs fetches them. `onRecord` must be synchronous. Offsets are compared as numbers: exact up to
 * 2⁵³, nine thousand trillion records per partition.
 */
export async function readTopicSlice(
  kafka: Kafka,
  topic: string,
  onRecord: SliceRecordHandler,
  options: SliceOptions = {},
): Promise<SliceResult> {
  const bounds = await boundsOf(kafka, topic, options.fromMs, options.toMs);
  const result: SliceResult = { records: 0, bounds };
  /** Per partition still to read: the next offset expected and the slice's end. */
  const todo = new Map(
    bounds
      .map((b) => ({ partition: b.partition, next: Number(b.from), to: Number(b.to) }))
      .filter((s) => s.to > s.next)
      .map((s) => [s.partition, s]),
  );
  if (todo.size === 0) return result;
  const consumer = kafka.consumer({
    groupId: `bsi-read-${options.label ?? 'slice'}-${process.pid}-${Date.now().toString(36)}`,
    ...READ_FETCH,
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
      eachBatch: ({ batch }) => {
        const slice = todo.get(batch.partition);
        if (slice === undefined) return Promise.resolve();
        const { partition, messages } = batch;
        const to = slice.to;
        let next = slice.next;
        for (let i = 0; i < messages.length; i++) {
          const message = messages[i]!;
          const offset = Number(message.offset);
          // A fetch made before the seek below took effect can hand over records before the slice.
          if (offset < next) continue;
          if (offset >= to) break;
          next = offset + 1;
          result.records++;
          onRecord(partition, offset, Number(message.timestamp), message.key, message.value);
        }
        slice.next = next;
        if (messages.length > 0 && Number(batch.lastOffset()) + 1 >= to) {
          todo.delete(partition);
          consumer.pause([{ topic, partitions: [partition] }]);
          if (todo.size === 0) finish();
        }
        return Promise.resolve();
      },
    });
    for (const slice of todo.values()) consumer.seek({ topic, partition: slice.partition, offset: String(slice.next) });
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
