/**
 * The timeout scan: install timeouts are decided in the log, not in the counter. Every `INGEST_TIMEOUT_SCAN_MS`
 * the member asks the core for devices on its live partitions whose install started longer ago than the lane's
 * `installTimeoutSec` (by Kafka append time), and appends an `install-timeout` marker to each device's own
 * partition. The marker is counted when it is read back, so counts stay a pure function of the partition's records.
 * A failed append forgets the request, and the next scan asks again.
 */
import type { Topics } from '../config/env';
import type { Logger } from '../observability/log';
import type { IngestCore } from './core';
import type { Producer } from './kafka-types';
import type { IngestMetrics } from './metrics';
import type { PartitionRecovery } from './partition-recovery';

/** What the scan needs: the core's device state, the live partitions, and the member's producer once connected. */
export interface TimeoutScanDeps {
  topics: Topics;
  metrics: IngestMetrics;
  log: Logger;
  core: IngestCore;
  recovery: PartitionRecovery;
  producer: () => Producer | undefined;
  stopping: () => boolean;
}

/**
 * Appends the install-timeout markers that are due on the member's live partitions (rebuilding partitions decide
 * none: their device state is not complete yet). Failures are logged and retried by the next scan.
 */
export async function scanTimeouts(deps: TimeoutScanDeps): Promise<void> {
  const producer = deps.producer();
  if (deps.stopping() || producer === undefined) return;
  const live = deps.recovery.livePartitions();
  if (live.size === 0) return;
  const due = deps.core.dueTimeouts(Date.now(), live);
  if (due.length === 0) return;
  try {
    await producer.send({
      topic: deps.topics.installEvents,
      acks: -1,
      messages: due.map(({ partition, marker }) => ({
        partition,
        key: marker.deviceKey,
        value: JSON.stringify(marker),
      })),
    });
    deps.metrics.timeoutMarkers.inc(due.length);
  } catch (err) {
    deps.log.warn({ err, markers: due.length }, 'could not append timeout markers; retrying next scan');
    for (const { marker } of due) deps.core.unrequestTimeout(marker);
  }
}
