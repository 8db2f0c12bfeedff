/**
 * Post-install aggregation: health reports' uptime and signal counts per lane, group (`updated`, `control`) and
 * partition, with the Kafka offset range they came from, taken at a lane's flush as `PostInstallDelta`s. Like the
 * outcome deltas, every range starts above the lane's post-install mark for its partition (reports at or below it
 * were counted by the lane already and are skipped) and at or above the partition's committed offset at assignment
 * (reports below it were in signals Temporal accepted), so a member that replays a partition sends each report once.
 * Reports carry no device state beyond the period dedupe, which the replay rebuilds either way.
 *
 * Bounded: one group's signals per pending chunk are at most `MAX_SIGNALS`, and its counts per signal within the
 * contract's limit; a report that would pass either opens a new chunk of the partition, and a lane with more than one
 * chunk flushes at once. A delta merges the chunks of distinct partitions while its signals stay within the limit.
 */
import { MAX_SIGNALS, type ExposureCounts, type PostInstallDelta } from '../events/post-install';
import type { LaneInfo } from './catalogue';

/** Which group of its lane a report counts in. */
export type PostInstallGroup = 'updated' | 'control';

/** One group's running sums. */
interface GroupSums {
  uptimeSec: number;
  events: Map<string, number>;
}

/** Pending sums of one lane from one partition: a contiguous offset range. */
interface Chunk {
  partition: number;
  from: number;
  to: number;
  updated: GroupSums;
  control: GroupSums;
}

/** A lane's post-install deltas taken for one signal, and the lowest offset per partition they cover. */
export interface TakenPostInstall {
  deltas: PostInstallDelta[];
  floors: Map<number, number>;
}

function emptySums(): GroupSums {
  return { uptimeSec: 0, events: new Map() };
}

/** Most events of one signal one delta may carry (`ExposureCountsSchema`). */
const MAX_DELTA_COUNT = 1_000_000_000;

/** Whether `add` can be summed into `into` within the delta's bounds: signals and counts per signal. */
function fits(into: GroupSums, add: ReadonlyMap<string, number>): boolean {
  let n = into.events.size;
  for (const [signal, count] of add) {
    const had = into.events.get(signal);
    if (had === undefined) n++;
    if ((had ?? 0) + count > MAX_DELTA_COUNT) return false;
  }
  return n <= MAX_SIGNALS;
}

function countsOf(sums: GroupSums): ExposureCounts {
  return { uptimeSec: sums.uptimeSec, events: Object.fromEntries(sums.events) };
}

/** The pending post-install sums of every lane, and the lanes' post-install marks. */
export class PostInstallPending {
  /** Per lane: its chunks, per partition in offset order. */
  private readonly pending = new Map<LaneInfo, Map<number, Chunk[]>>();
  /** Per lane key: partition → the last offset the lane counted (its post-install mark). */
  private readonly marks = new Map<string, Map<number, number>>();
  /**
   * Per partition: the group's committed offset when the partition was assigned here. Every post-install report
   * below it was in a signal Temporal accepted (commits never pass a pending or in-flight range), so it is not sent
   * again, whatever the lane's marks say — a lane that refuses post-install deltas keeps none.
   */
  private readonly committed = new Map<number, number>();

  /** Records the lane's post-install marks (partition → offset, as the marks query reports them) of `partitions`. */
  setMarks(lane: LaneInfo, marks: Record<string, string>, partitions: ReadonlySet<number>): void {
    let target = this.marks.get(lane.key);
    if (target === undefined) {
      target = new Map();
      this.marks.set(lane.key, target);
    }
    for (const p of Object.keys(marks)) {
      const partition = Number(p);
      const mark = marks[p];
      if (!partitions.has(partition) || mark === undefined || !/^\d{1,19}$/.test(mark)) continue;
      target.set(partition, Number(mark));
    }
  }

  /** Records the group's committed offset of a partition just assigned (see `committed`). */
  setCommitted(partition: number, offset: number): void {
    this.committed.set(partition, offset);
  }

  /**
   * The last offset of `partition` not to send to the lane again: its post-install mark, or the offset below the
   * committed one at assignment if that is higher; -1 when neither covers anything.
   */
  markOf(lane: LaneInfo, partition: number): number {
    const mark = this.marks.get(lane.key)?.get(partition) ?? -1;
    return Math.max(mark, (this.committed.get(partition) ?? 0) - 1);
  }

  /**
   * Adds one report, read at `offset` of `partition`, to `group` of `lane`: `below-mark` when the lane counted that
   * offset already (nothing added), `split` when it opened a further chunk of the partition (the lane should be
   * flushed at once), else `added`.
   */
  add(
    lane: LaneInfo,
    group: PostInstallGroup,
    partition: number,
    offset: number,
    uptimeSec: number,
    counts: ReadonlyMap<string, number>,
  ): 'below-mark' | 'added' | 'split' {
    if (offset <= this.markOf(lane, partition)) return 'below-mark';
    let byPartition = this.pending.get(lane);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.pending.set(lane, byPartition);
    }
    let chunks = byPartition.get(partition);
    if (chunks === undefined) {
      chunks = [];
      byPartition.set(partition, chunks);
    }
    let chunk = chunks[chunks.length - 1];
    if (chunk === undefined || !fits(chunk[group], counts)) {
      chunk = { partition, from: offset, to: offset, updated: emptySums(), control: emptySums() };
      chunks.push(chunk);
    }
    const sums = chunk[group];
    sums.uptimeSec += uptimeSec;
    for (const [signal, n] of counts) sums.events.set(signal, (sums.events.get(signal) ?? 0) + n);
    chunk.to = offset;
    return chunks.length > 1 ? 'split' : 'added';
  }

  /** Lanes with pending sums. */
  lanes(): IterableIterator<LaneInfo> {
    return this.pending.keys();
  }

  /** Whether the lane has pending sums. */
  has(lane: LaneInfo): boolean {
    return this.pending.has(lane);
  }

  /**
   * Takes a lane's pending sums as deltas and clears them. Chunks are merged in partition order into one delta while
   * each group stays within `MAX_SIGNALS` and the delta has one range per partition; a partition's later chunks go
   * into later deltas, so the lane meets each partition's ranges in offset order.
   */
  take(lane: LaneInfo): TakenPostInstall | undefined {
    const byPartition = this.pending.get(lane);
    this.pending.delete(lane);
    if (byPartition === undefined) return undefined;
    const queues = [...byPartition].sort((a, b) => a[0] - b[0]).map(([, chunks]) => chunks);
    const floors = new Map<number, number>();
    const deltas: PostInstallDelta[] = [];
    while (queues.some((q) => q.length > 0)) {
      const updated = emptySums();
      const control = emptySums();
      const ranges: PostInstallDelta['ranges'] = [];
      for (const queue of queues) {
        const chunk = queue[0];
        if (chunk === undefined) continue;
        const room =
          ranges.length === 0 || (fits(updated, chunk.updated.events) && fits(control, chunk.control.events));
        if (!room) continue;
        queue.shift();
        for (const group of ['updated', 'control'] as const) {
          const into = group === 'updated' ? updated : control;
          into.uptimeSec += chunk[group].uptimeSec;
          for (const [signal, n] of chunk[group].events) into.events.set(signal, (into.events.get(signal) ?? 0) + n);
        }
        ranges.push({ partition: chunk.partition, fromOffset: String(chunk.from), toOffset: String(chunk.to) });
        floors.set(chunk.partition, Math.min(floors.get(chunk.partition) ?? Infinity, chunk.from));
      }
      deltas.push({ updated: countsOf(updated), control: countsOf(control), ranges });
    }
    return deltas.length > 0 ? { deltas, floors } : undefined;
  }

  /** Adds the lowest pending offset per partition into `floors`. */
  addFloors(floors: Map<number, number>): void {
    for (const byPartition of this.pending.values()) {
      for (const [partition, chunks] of byPartition) {
        const first = chunks[0];
        if (first !== undefined) floors.set(partition, Math.min(floors.get(partition) ?? Infinity, first.from));
      }
    }
  }

  /** Drops pending sums read from the given partitions (revoked: the next owner recounts them). */
  dropPartitions(partitions: ReadonlySet<number>): void {
    for (const [lane, byPartition] of this.pending) {
      for (const p of partitions) byPartition.delete(p);
      if (byPartition.size === 0) this.pending.delete(lane);
    }
  }

  /** Forgets the marks and committed offsets of the given partitions (revoked: the next owner asks again). */
  clearMarks(partitions: ReadonlySet<number>): void {
    for (const m of this.marks.values()) for (const p of partitions) m.delete(p);
    for (const p of partitions) this.committed.delete(p);
  }
}
