/**
 * Reads one rollout's install outcomes back from `bsi.install-events`: the slice of the topic appended
 * while the rollout ran (every partition — the topic is keyed by device), decoded and run through
 * `OutcomeTracker` on a counting thread of its own, so replay knows every count change the ingest made and what
 * each device did.
 */
import { Worker } from 'node:worker_threads';
import type { Kafka } from 'kafkajs';
import { readTopicSlice } from '../kafka/read-slice';
import { threadEntry } from '../layout/package-layout';
import type { DomainEvent } from '../events/domain-events';
import type { DeviceKeys } from '../events/device-keys';
import { ChunkWriter, fromColumns, transferablesOf } from './install-columns';
import type { CountingThreadData, FromCountingThread, ToCountingThread } from './install-facts-thread';
import { offersOf } from './outcomes';
import type { InstallFacts } from './postmortem';

/** Grace before the rollout's first event and after its last, for clock skew and late reports (ms). */
export const SLICE_GRACE_MS = { before: 5_000, after: 120_000 };

/**
 * The `[fromMs, toMs)` append-time slice that holds a rollout's install events: from its start (minus a
 * little) to its last event plus `SLICE_GRACE_MS.after` when it has ended, else to the topic's end.
 */
export function sliceOf(events: readonly DomainEvent[]): { fromMs?: number; toMs?: number } {
  const first = events[0];
  if (first === undefined) return {};
  const last = events.reduce((max, e) => Math.max(max, Date.parse(e.at)), 0);
  const ended = events.some((e) => e.type === 'rollout-completed' || e.type === 'rollout-aborted');
  return {
    fromMs: Date.parse(first.at) - SLICE_GRACE_MS.before,
    ...(ended ? { toMs: last + SLICE_GRACE_MS.after } : {}),
  };
}

/**
 * Reads the install events of `rolloutId` in the rollout's time slice of `topic` and rebuilds count
 * changes and device facts. `events` is the rollout's domain log (for its offers and time range);
 * `deviceKeys` must hold the deployment's secret, the one the ingest keyed its timeout markers with.
 *
 * Two threads: this one fetches every partition and copies the rollout's records into chunks; a counting thread
 * (`install-facts-thread.ts`) decodes and counts them as they come, in the same order (partition order is all
 * that matters: the topic is keyed by device). Records of other rollouts are skipped here by a byte search.
 */
export async function readInstallFacts(
  kafka: Kafka,
  topic: string,
  rolloutId: string,
  events: readonly DomainEvent[],
  deviceKeys: DeviceKeys,
  options: { timeoutMs?: number } = {},
): Promise<InstallFacts> {
  const offers = offersOf(events);
  const entry = threadEntry(__dirname, 'install-facts-thread');
  const data: CountingThreadData = { rolloutId, offers: [...offers.values()], secret: deviceKeys.secret };
  const thread = new Worker(entry.filename, { execArgv: entry.execArgv, workerData: data });
  const answered = new Promise<FromCountingThread>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`replay's counting thread exited (${code}) before it answered`)));
  });
  // Not awaited until the read is done: a failure meanwhile surfaces there, and must not go unhandled before.
  answered.catch(() => undefined);
  const send = (message: ToCountingThread, transfer: ArrayBuffer[] = []) => thread.postMessage(message, transfer);
  const chunks = new ChunkWriter((chunk) => send({ type: 'chunk', chunk }, transferablesOf(chunk)));
  const needle = Buffer.from(JSON.stringify(rolloutId));
  try {
    const result = await readTopicSlice(
      kafka,
      topic,
      (partition, offset, timestampMs, _key, value) => {
        // Most records of a busy topic are other rollouts': a byte search skips them before any copy or parse.
        if (value === null || value.indexOf(needle) < 0) return;
        chunks.add(partition, offset, timestampMs, value);
      },
      {
        ...sliceOf(events),
        label: 'install-events',
        ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      },
    );
    chunks.flush();
    send({ type: 'end' });
    const answer = await answered;
    const { changes, facts } = fromColumns(answer.columns, offers);
    return { changes, facts, records: result.records, skipped: answer.skipped };
  } finally {
    await thread.terminate();
  }
}
