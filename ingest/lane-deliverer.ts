/**
 * The lane deliverer: flushes each lane's pending health deltas to its workflow, and commits offsets behind them.
 *
 * A lane's pending deltas go out at most every `flushIntervalMs`, at once when its verdict may change (urgent).
 * Each lane has at most one signal in flight, so a lane's offset ranges arrive in order, and a slow lane holds up no
 * other. A partition's offset is committed only up to the first change not yet accepted by Temporal (pending, or in
 * a signal in flight), and commits never overlap. While the group rebalances (frozen) or the member stops, nothing
 * new is flushed.
 */
import type { Topics } from '../config/env';
import type { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import type { TakenLane } from './aggregator';
import type { LaneInfo } from './catalogue';
import type { IngestCore } from './core';
import type { IngestMetrics } from './metrics';
import type { PartitionRecovery } from './partition-recovery';
import type { IngestSettings } from './settings';
import type { LaneSignaler } from './signaler';
import { sleep, withTimeout } from './wait';

/** What the deliverer needs: the aggregator's lanes, the signaler, and the partitions' positions to commit. */
export interface LaneDelivererDeps {
  topics: Topics;
  settings: IngestSettings;
  signaler: LaneSignaler;
  metrics: IngestMetrics;
  log: Logger;
  core: IngestCore;
  recovery: PartitionRecovery;
  /** The member's group consumer, which commits; it exists before the first delta is taken. */
  group: () => ResilientConsumer | undefined;
  stopping: () => boolean;
}

/** Flushes, delivers and commits for one ingest member. */
export class LaneDeliverer {
  private readonly inflight = new Set<TakenLane>();
  private readonly lastFlush = new Map<string, number>();
  /** The signal each lane has in flight (one at a time per lane, so a lane's ranges arrive in order). */
  private readonly delivering = new Map<LaneInfo, Promise<void>>();
  private frozen = false;
  private committing: Promise<void> | undefined;
  /** A delivery finished while a commit ran: commit again right after it. */
  private commitAgain = false;

  /** A deliverer; it flushes nothing until called. */
  constructor(private readonly deps: LaneDelivererDeps) {}

  /** The group is rebalancing (or the consumer is being replaced): no new flushes until `thaw()`. */
  freeze(): void {
    this.frozen = true;
  }

  /** The member joined with its assignment: flushes may go again. */
  thaw(): void {
    this.frozen = false;
  }

  /**
   * Signals every lane that is due: urgent (a verdict may change), or dirty for `flushIntervalMs`. Lanes are
   * independent: each has at most one signal in flight, and a slow one (a loaded Temporal, a lane workflow
   * far away) holds up neither the others nor an urgent lane's next signal. Nothing while frozen or stopping.
   */
  flushDueLanes(): void {
    if (this.frozen || this.deps.stopping()) return;
    const agg = this.deps.core.aggregator;
    const now = Date.now();
    for (const lane of [...agg.dirtyLanes()]) {
      if (agg.urgent.has(lane) || now - (this.lastFlush.get(lane.key) ?? 0) >= this.deps.settings.flushIntervalMs) {
        this.flushLane(lane);
      }
    }
  }

  /**
   * Signals the urgent lanes now (called per record while a batch is read: touches only those lanes); true if one
   * went.
   */
  flushUrgent(): boolean {
    if (this.frozen || this.deps.stopping()) return false;
    let sent = false;
    for (const lane of [...this.deps.core.aggregator.urgent]) sent = this.flushLane(lane) || sent;
    return sent;
  }

  /** Resolves once the signals in flight now have landed (accepted, gone, or given up). */
  async landed(): Promise<void> {
    await Promise.all(this.delivering.values());
  }

  /**
   * For a graceful stop: lets the signals in flight land, then signals what is still pending (unless a rebalance
   * took the partitions) and waits for that and the last commit.
   */
  async drain(): Promise<void> {
    await this.settle();
    if (!this.frozen) {
      for (const lane of [...this.deps.core.aggregator.dirtyLanes()]) this.flushLane(lane);
      await this.settle();
    }
  }

  /**
   * Takes the lane's pending deltas and signals them, unless a signal of that lane is still in flight; true if
   * sent.
   */
  private flushLane(lane: LaneInfo): boolean {
    if (this.delivering.has(lane)) return false;
    const taken = this.deps.core.aggregator.takeLane(lane);
    this.lastFlush.set(lane.key, Date.now());
    if (taken === undefined) return false;
    const delivery = this.deliver(taken).finally(() => {
      this.delivering.delete(lane);
      this.requestCommit();
      // What arrived meanwhile goes out now if it is urgent; otherwise on the interval as usual.
      if (this.deps.core.aggregator.urgent.has(lane) && !this.frozen && !this.deps.stopping()) this.flushLane(lane);
    });
    this.delivering.set(lane, delivery);
    return true;
  }

  /** Commits now, or right after the commit in progress (commits never overlap). */
  private requestCommit(): void {
    if (this.committing !== undefined) {
      this.commitAgain = true;
      return;
    }
    this.committing = this.commit().finally(() => {
      this.committing = undefined;
      if (this.commitAgain) {
        this.commitAgain = false;
        this.requestCommit();
      }
    });
  }

  /** Waits until no signal is in flight and the last commit is done. */
  private async settle(): Promise<void> {
    while (this.delivering.size > 0 || this.committing !== undefined) {
      await Promise.all([...this.delivering.values(), this.committing]);
    }
  }

  /**
   * Sends one lane's taken deltas, retrying until Temporal accepts them or the lane is gone; while stopping it gives
   * up after a few attempts, and the offsets behind the deltas stay uncommitted (the next owner recounts them).
   */
  private async deliver(taken: TakenLane): Promise<void> {
    const { signaler, metrics, log } = this.deps;
    this.inflight.add(taken);
    try {
      for (let attempt = 0; ; attempt++) {
        const timer = metrics.flushLatency.startTimer();
        try {
          const outcome = await signaler.send(taken);
          timer();
          metrics.signals.inc({ outcome });
          if (outcome === 'gone') log.info({ lane: taken.lane.key }, 'lane workflow gone: deltas dropped');
          this.inflight.delete(taken);
          return;
        } catch (err) {
          metrics.signals.inc({ outcome: 'retried' });
          if (this.deps.stopping() && attempt >= 3) throw err;
          log.warn({ err, lane: taken.lane.key, attempt }, 'health-delta signal failed; retrying');
          await sleep(Math.min(5000, 100 * 2 ** attempt));
        }
      }
    } catch (err) {
      log.error({ err, lane: taken.lane.key }, 'giving up a signal while stopping; offsets stay uncommitted');
    }
  }

  /** Commits, per owned partition, up to the first change that is pending or not yet accepted. */
  private async commit(): Promise<void> {
    const { recovery, topics } = this.deps;
    const floors = this.deps.core.aggregator.pendingFloors();
    for (const taken of this.inflight) {
      for (const [p, from] of taken.floors) floors.set(p, Math.min(floors.get(p) ?? Infinity, from));
    }
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const [p, ps] of recovery.partitions) {
      if (!recovery.isAssigned(p)) continue;
      const upTo = Math.min(ps.handled, floors.get(p) ?? Infinity);
      if (upTo > ps.committed) {
        offsets.push({ topic: topics.installEvents, partition: p, offset: String(upTo) });
        ps.committed = upTo;
      }
    }
    if (offsets.length === 0) return;
    try {
      const group = this.deps.group();
      if (group === undefined) throw new Error('the ingest consumer has not started');
      // Bounded: during a broker outage kafkajs may never settle a commit, and the flusher must go on.
      await withTimeout(group.current.commitOffsets(offsets), 10_000, 'offset commit');
    } catch (err) {
      for (const o of offsets) {
        const ps = recovery.partitions.get(o.partition);
        if (ps !== undefined) ps.committed = Math.min(ps.committed, ps.low);
      }
      this.deps.log.warn({ err }, 'offset commit failed (rebalance?); will commit later');
    }
  }
}
