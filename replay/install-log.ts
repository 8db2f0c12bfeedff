/**
 * Reads one rollout's install outcomes back from `bsi.install-events`: the slice of the topic appended
 * while the rollout ran (every partition — the topic is keyed by device), decoded and run through
 * `OutcomeTracker`, so replay knows every count change the ingest made and what each device did.
 */
import type { Kafka } from 'kafkajs';
import { readTopicSlice } from '../kafka/read-slice';
import type { DomainEvent } from '../events/domain-events';
import type { DeviceKeys } from '../events/device-keys';
import { OutcomeTracker, decodeInstallValue, offersOf } from './outcomes';
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
 */
export async function readInstallFacts(
  kafka: Kafka,
  topic: string,
  rolloutId: string,
  events: readonly DomainEvent[],
  deviceKeys: DeviceKeys,
  options: { timeoutMs?: number } = {},
): Promise<InstallFacts> {
  const tracker = new OutcomeTracker(rolloutId, offersOf(events), deviceKeys);
  const needle = Buffer.from(JSON.stringify(rolloutId));
  const result = await readTopicSlice(
    kafka,
    topic,
    (partition, offset, timestampMs, _key, value) => {
      // Most records of a busy topic are other rollouts': a byte search skips them before any parse.
      if (value === null || value.indexOf(needle) < 0) return;
      const decoded = decodeInstallValue(value);
      if (decoded !== null) tracker.addDecoded(partition, offset, timestampMs, decoded);
    },
    {
      ...sliceOf(events),
      label: 'install-events',
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    },
  );
  return { changes: tracker.changes, facts: tracker.facts, records: result.records, skipped: tracker.skipped };
}
