/**
 * The batch loop: what the ingest does with one `eachBatch` of `bsi.install-events`.
 *
 * The house style's loop, with its bookkeeping batched: `eachBatchAutoResolve: false`; stop if
 * `!isRunning() || isStale()` (checked after every await: it cannot change in between); hand each record to the pure
 * core; `resolveOffset` and `heartbeat` with every turn given back to the event loop (about every `YIELD_EVERY_MS`
 * of a batch) and at its end, because per record they would cost as much as the pipeline itself. Dead letters of a
 * batch are appended (acks=all) before its records count as handled; a delta that may change a verdict is flushed
 * while the batch is still being read.
 */
import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import type { Logger } from '../observability/log';
import type { CatalogueReader } from './catalogue-reader';
import type { IngestCore, RecordResult } from './core';
import type { DeadLetter, DeadLetterWriter } from './dead-letter-writer';
import type { EachBatchPayload } from './kafka-types';
import type { LaneDeliverer } from './lane-deliverer';
import type { HealthReportResult, IngestMetrics } from './metrics';
import type { PartitionRecovery } from './partition-recovery';
import type { IngestSettings } from './settings';

/**
 * A record that names an unknown offer and was appended less than this long before the catalogue's last sync (or
 * after it) may have raced its exposure: it waits for a catalogue sync before it is dead-lettered.
 */
const SLACK_MS = 5000;
/** A batch's records are handled in slices of about this long between turns of the event loop. */
const YIELD_EVERY_MS = 10;
/** The clock is read every 16th record (a mask), which is plenty to keep turns near YIELD_EVERY_MS. */
const CLOCK_MASK = 15;

/** What the loop needs: the core, the catalogue's reader, the partitions' positions, and where its output goes. */
export interface BatchLoopDeps {
  settings: IngestSettings;
  metrics: IngestMetrics;
  log: Logger;
  core: IngestCore;
  reader: CatalogueReader;
  recovery: PartitionRecovery;
  deadLetters: DeadLetterWriter;
  deliverer: LaneDeliverer;
}

/** Handles the batches of one ingest member. */
export class BatchLoop {
  /** A loop over `deps`; it handles what `handle` is given. */
  constructor(private readonly deps: BatchLoopDeps) {}

  /**
   * Handles one batch: prepares its partition if it is new, seeks back over a gap, counts or dead-letters each record
   * not handled before, appends the dead letters, and moves the partition's handled offset past the batch. Stops
   * early (leaving the rest unresolved) when the batch goes stale or the member's generation changes.
   */
  async handle(payload: EachBatchPayload): Promise<void> {
    const batch = payload.batch;
    const { settings, metrics, core, reader, recovery, deliverer } = this.deps;
    const partition = batch.partition;
    const gen = recovery.generation;
    const ps = await recovery.positionOf(partition);
    if (ps === undefined || gen !== recovery.generation) return;
    if (recovery.seekBackOverGap(partition, ps, batch.messages[0]?.offset)) return;
    const batchStart = Date.now();
    let sliceStart = batchStart;
    const results = new Map<string, number>();
    const healthResults = new Map<HealthReportResult, number>();
    let counted = 0;
    let sinceClock = 0;
    const dead: DeadLetter[] = [];
    let lastResolved: string | undefined;
    // Whether the batch may go on can only change while this loop awaits (JS runs it alone in between), so it is
    // checked after every await, not per record (kafkajs's isStale parses offsets on every call).
    let recheck = true;
    for (const message of batch.messages) {
      if (recheck) {
        if (!payload.isRunning() || payload.isStale() || gen !== recovery.generation) break;
        recheck = false;
      }
      const offset = Number(message.offset);
      if (offset < ps.handled) {
        // Handled before (the fetch resumed from the committed offset): resolved, so that a batch of only
        // such records still moves the fetch position on.
        lastResolved = message.offset;
        continue;
      }
      let result = core.handle(partition, offset, Number(message.timestamp), message.value);
      if (
        result.kind === 'unknown' &&
        reader.syncedAsOf < batchStart &&
        Number(message.timestamp) + SLACK_MS >= reader.syncedAsOf
      ) {
        // Its exposure may still be in flight: catch the catalogue up once per batch, then decide. While the
        // reader recovers from a crash of its consumer (down, or re-reading) the catalogue cannot catch up in the
        // usual time, and dead-lettering the record as unknown would lose a valid report: wait for the reader,
        // heartbeating, as long as it recovers.
        let caughtUp = await reader.sync(settings.unknownWaitMs);
        while (!caughtUp && reader.recovering && payload.isRunning() && !payload.isStale()) {
          if (gen !== recovery.generation) break;
          await payload.heartbeat();
          caughtUp = await reader.sync(Math.max(250, settings.unknownWaitMs));
        }
        if (!payload.isRunning() || payload.isStale() || gen !== recovery.generation) break;
        result = core.handle(partition, offset, Number(message.timestamp), message.value);
      }
      if (core.lastWasHealth) {
        const health = healthResultOf(result);
        healthResults.set(health, (healthResults.get(health) ?? 0) + 1);
      }
      if (result.kind === 'counted') counted++;
      else {
        const kind = result.kind === 'ignored' ? result.why : result.kind;
        results.set(kind, (results.get(kind) ?? 0) + 1);
      }
      if ((result.kind === 'reject' || result.kind === 'unknown') && offset >= ps.committed) {
        metrics.deadLetters.inc({ reason: result.reason });
        dead.push(this.deps.deadLetters.letterFor(partition, message, result));
      }
      lastResolved = message.offset;
      // A delta that may change a verdict goes out now, not at the end of a large batch: the signal is started
      // and the event loop gets a turn to put it on the wire (a batch is otherwise one long synchronous run).
      // Also now and then, so that accepted signals are seen (and a lane's next urgent delta may go); the
      // heartbeat goes with the turn (kafkajs sends one at most every heartbeatInterval anyway), not per record.
      const sent = core.aggregator.urgent.size > 0 && deliverer.flushUrgent();
      if (sent || ((++sinceClock & CLOCK_MASK) === 0 && Date.now() - sliceStart >= YIELD_EVERY_MS)) {
        payload.resolveOffset(lastResolved);
        await eventLoopTurn(); // the event loop handles pending I/O (sockets, timers) first
        await payload.heartbeat();
        sliceStart = Date.now();
        recheck = true;
      }
    }
    // Per batch, not per record: kafkajs parses the offset and prom-client hashes the labels on every call.
    if (lastResolved !== undefined) payload.resolveOffset(lastResolved);
    if (counted > 0) metrics.events.inc({ result: 'counted' }, counted);
    for (const [result, n] of results) metrics.events.inc({ result }, n);
    for (const [result, n] of healthResults) metrics.healthReports.inc({ result }, n);
    if (dead.length > 0) await this.deps.deadLetters.append(dead);
    if (gen !== recovery.generation) return;
    if (lastResolved !== undefined) recovery.handledThrough(partition, ps, lastResolved);
    metrics.trackedDevices.set(core.table.size);
    metrics.deviceTableBytes.set(core.table.byteLength);
    if (core.aggregator.urgent.size > 0) deliverer.flushUrgent();
  }
}

/** What a health report's record result means for `bsi_ingest_health_reports_total`. */
function healthResultOf(result: RecordResult): HealthReportResult {
  switch (result.kind) {
    case 'counted':
      return 'routed';
    case 'reject':
    case 'unknown':
      return 'dead-lettered';
    case 'ignored':
      return result.why === 'no-lane' || result.why === 'neither' ? result.why : 'duplicate';
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}
