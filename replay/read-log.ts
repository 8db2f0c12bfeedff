/**
 * Reads one rollout's domain events back from the event log topic (`bsi.rollout-events`, key =
 * rolloutId): every record is upcast to the current schema, duplicates from retried appends are
 * dropped by their deterministic event id when their content is the same (a second content for one id is
 * a conflict, reported in `conflicts` and never dropped silently), and each stream (rollout `_` and one per lane) is returned
 * in `seq` order. `status` (its conflict check), `events`, `replay` and the tests all read the log through here.
 */
import type { Kafka } from 'kafkajs';
import { safeUpcast } from '../events/upcast';
import type { DomainEvent } from '../events/domain-events';
import { DuplicateChecker, type EventConflict } from './event-conflicts';

/** A record of the log that could not be read as a domain event, with where it is and why. */
export type UnreadableRecord = { partition: number; offset: string; reason: string };

export type ReadLogResult = {
  /** The rollout's events: deduplicated, in log order (per-stream `seq` order is guaranteed). */
  events: DomainEvent[];
  /** Records with the rollout's key that no schema version explains. */
  unreadable: UnreadableRecord[];
  /** Duplicate records dropped (same eventId and same content, appended twice by a retried activity). */
  duplicates: number;
  /** Records whose eventId was read before with another content (the first content is the one kept). */
  conflicts: EventConflict[];
};

export type ReadLogOptions = {
  /** Called for each new event as it is read (in `--follow` mode, also for events appended later). */
  onEvent?: (event: DomainEvent) => void;
  /** Keep reading after the current end of the log until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Give up after this long waiting for the log's end (default 60 s). */
  timeoutMs?: number;
  /**
   * Read only the records appended at or after this time (ms since the epoch), by the broker's time index of record
   * timestamps, i.e. the appending producer's clock. Every event of a rollout is appended after it started, so
   * its start (less a margin for clock skew) bounds the read to the records of the rollout's lifetime.
   */
  fromMs?: number;
};

/**
 * Reads every event of `rolloutId` from the log topic (from `fromMs` on, when given) up to the log's end at the
 * time of the call (or on and on with `follow`). Uses a throw-away consumer group and never commits, so reading
 * the log leaves no trace on the cluster.
 */
export async function readRolloutLog(
  kafka: Kafka,
  topic: string,
  rolloutId: string,
  options: ReadLogOptions = {},
): Promise<ReadLogResult> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  /** Where reading starts per partition when `fromMs` is given (else at the beginning). */
  let starts: Map<number, bigint> | undefined;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    if (options.fromMs !== undefined) {
      const from = await admin.fetchTopicOffsetsByTimestamp(topic, options.fromMs);
      starts = new Map(from.map((o) => [o.partition, BigInt(o.offset)]));
    }
  } finally {
    await admin.disconnect();
  }
  const startOf = (partition: number): bigint => starts?.get(partition) ?? 0n;
  const pending = new Set([...ends].filter(([p, high]) => high > startOf(p)).map(([p]) => p));
  const checker = new DuplicateChecker();
  const result: ReadLogResult = { events: [], unreadable: [], duplicates: 0, conflicts: checker.conflicts };
  if (pending.size === 0 && !options.follow) return result;

  const consumer = kafka.consumer({
    groupId: `bsi-log-reader-${rolloutId}-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        // Before the seek below took effect, the fetch may hand over records older than the slice.
        if (starts !== undefined && BigInt(message.offset) < startOf(partition)) return Promise.resolve();
        if (message.key?.toString('utf8') === rolloutId) {
          accept(partition, message.offset, message.value);
        }
        if (BigInt(message.offset) + 1n >= (ends.get(partition) ?? 0n)) pending.delete(partition);
        if (pending.size === 0 && !options.follow) finish();
        return Promise.resolve();
      },
    });
    // Every partition, so that none is fetched from its beginning (one whose slice is empty: at its end).
    if (starts !== undefined) {
      for (const partition of ends.keys()) consumer.seek({ topic, partition, offset: String(startOf(partition)) });
    }
    if (pending.size === 0 && !options.follow) finish();
    options.signal?.addEventListener('abort', finish, { once: true });
    const timeoutMs = options.follow ? undefined : (options.timeoutMs ?? 60_000);
    const timer = timeoutMs === undefined ? undefined : setTimeout(finish, timeoutMs);
    await done;
    if (timer) clearTimeout(timer);
    if (pending.size > 0 && !options.follow && !options.signal?.aborted) {
      throw new Error(`timed out reading ${topic}: partitions ${[...pending].join(', ')} not read to their end`);
    }
  } finally {
    await consumer.disconnect();
  }
  return result;

  function accept(partition: number, offset: string, value: Buffer | null): void {
    let raw: unknown;
    try {
      raw = JSON.parse(value?.toString('utf8') ?? 'null');
    } catch (err) {
      result.unreadable.push({ partition, offset, reason: `not JSON: ${(err as Error).message}` });
      return;
    }
    const upcast = safeUpcast(raw);
    if (!upcast.ok) {
      const detail = upcast.error.issues.map((i) => `${i.path}: ${i.rule}`).join('; ');
      result.unreadable.push({ partition, offset, reason: `${upcast.error.message}${detail ? ` (${detail})` : ''}` });
      return;
    }
    const fresh = checker.admit(upcast.event.eventId, upcast.event, { partition, offset });
    result.duplicates = checker.duplicates;
    if (!fresh) return;
    result.events.push(upcast.event);
    options.onEvent?.(upcast.event);
  }
}
