/**
 * Partition recovery: where each partition this member owns stands, and how it gets there after an assignment.
 *
 * When a partition is assigned (start-up or rebalance), the member asks every active lane for its high-water marks
 * and replays the partition from its first offset: changes at or below a mark only rebuild device state, changes
 * above it are signalled. Restarting after a crash at any point therefore re-derives exactly what the lanes have not
 * counted yet, as long as every delta sent for a partition before it was assigned here has been decided by its lane
 * when the marks are read; one decided later makes the next delta straddle its mark (counted partly twice, recorded
 * as `overlap`). A lane restarted from its log is recounted the same way. See docs/ingest.md.
 *
 * `generation` is bumped whenever the member's positions are thrown away (a replaced consumer, a recount): work
 * started under an older generation (a batch, a prepare) is void and must stop at its next check.
 */
import type { Topics } from '../config/env';
import type { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import type { LaneInfo, RolloutCatalogue } from './catalogue';
import type { CatalogueReader } from './catalogue-reader';
import type { IngestCore } from './core';
import type { Admin, Consumer } from './kafka-types';
import type { IngestMetrics } from './metrics';
import type { IngestSettings } from './settings';
import type { LaneSignaler } from './signaler';
import { sleep } from './wait';

/** Where one owned partition stands. */
export interface PartitionState {
  /** First offset of the partition when it was assigned (replay starts here). */
  low: number;
  /** Log end when assigned: reaching it ends the rebuild (timeouts are only decided live). */
  liveFrom: number;
  /** Committed offset when assigned: records below it were dead-lettered already. */
  committed: number;
  /** Next offset whose record is not fully handled (counted into state/pending or dead-lettered). */
  handled: number;
  live: boolean;
  /**
   * Seeks back to `handled` (`seekedTo`, how many times): a batch that starts past `handled` (the fetch resumed
   * from the group's committed offset, which is ahead of a replay that just began) seeks back, a few times
   * at most (a consumer restart may undo a seek); a gap that stays is real (records deleted by retention).
   */
  seekedTo: number | undefined;
  seeks: number;
}

const MAX_SEEKS = 3;

/** What recovery needs: the lanes' marks, the catalogue, the group's offsets, and the member's own signals. */
export interface PartitionRecoveryDeps {
  topics: Topics;
  settings: IngestSettings;
  signaler: LaneSignaler;
  metrics: IngestMetrics;
  log: Logger;
  core: IngestCore;
  catalogue: RolloutCatalogue;
  reader: CatalogueReader;
  /** The member's group consumer, once it exists. */
  group: () => ResilientConsumer | undefined;
  /** The member's admin client, once it is connected. */
  admin: () => Admin | undefined;
  stopping: () => boolean;
  /** Resolves once this member's signals in flight have landed. */
  landed: () => Promise<void>;
}

/** The owned partitions' positions, their preparation from the lanes' marks, and their replay. */
export class PartitionRecovery {
  /** Bumped when the positions are thrown away: work of an older generation that is still running is void. */
  generation = 0;
  private assigned = new Set<number>();
  private readonly states = new Map<number, PartitionState>();

  /** Recovery for one member; nothing happens until partitions are assigned. */
  constructor(private readonly deps: PartitionRecoveryDeps) {}

  /** The prepared partitions' positions (assigned or still being given up). */
  get partitions(): ReadonlyMap<number, PartitionState> {
    return this.states;
  }

  /** Whether the group currently assigns `partition` to this member. */
  isAssigned(partition: number): boolean {
    return this.assigned.has(partition);
  }

  /** The group assigned `assignment`: partitions no longer in it are forgotten. */
  assign(assignment: number[]): void {
    const next = new Set(assignment);
    const revoked = new Set([...this.states.keys()].filter((p) => !next.has(p)));
    this.drop(revoked);
    this.assigned = next;
    this.deps.log.info({ assigned: [...next], revoked: [...revoked] }, 'partitions assigned');
  }

  /** The consumer is being replaced: it joins as a new member, so everything is prepared again from the marks. */
  reset(): void {
    this.generation++;
    this.drop(new Set(this.states.keys()));
    this.assigned = new Set();
  }

  /**
   * A lost lane was restarted from its log: its new workflow has the marks of what its old one had decided, and
   * deltas the old one never decided (or that came back "gone" while it was down) must reach it. Recounting is what
   * a newly assigned partition gets: every assigned partition is replayed from its first offset against the lanes'
   * marks (the new workflow runs before its `lane-restarted` is in the log, so its marks answer). A no-op until the
   * member runs; a restart read back at start-up is covered by start-up's own replay.
   */
  recount(lane: LaneInfo): void {
    const group = this.deps.group();
    if (group === undefined || this.deps.stopping() || this.states.size === 0) return;
    const replay = [...this.states].map(([partition, ps]) => ({ partition, low: ps.low }));
    this.deps.log.info(
      { lane: lane.key, partitions: replay.map((r) => r.partition) },
      'lane restarted: replaying the assigned partitions against the lanes marks',
    );
    this.generation++;
    this.drop(new Set(replay.map((r) => r.partition)));
    for (const { partition, low } of replay) {
      group.current.seek({ topic: this.deps.topics.installEvents, partition, offset: String(low) });
    }
  }

  /**
   * The position of `partition`, preparing it (with every other assigned partition not prepared yet) if it is new;
   * undefined if the generation changed meanwhile (the caller's batch is void).
   */
  async positionOf(partition: number): Promise<PartitionState | undefined> {
    const gen = this.generation;
    if (!this.states.has(partition)) {
      const fresh = [...this.assigned].filter((p) => !this.states.has(p));
      await this.prepare(fresh.includes(partition) ? fresh : [...fresh, partition]);
    }
    if (gen !== this.generation) return undefined;
    return this.states.get(partition);
  }

  /**
   * Nothing may be skipped: replay starts at the first offset, and a restart resumes where handling ended. If a
   * batch of `partition` starts past its handled offset, seeks back there (a few times at most) and returns true:
   * the batch is not handled. A gap that stays is logged and read over (false).
   */
  seekBackOverGap(partition: number, ps: PartitionState, firstOffset: string | undefined): boolean {
    if (firstOffset === undefined || Number(firstOffset) <= ps.handled) return false;
    if (ps.seekedTo !== ps.handled) {
      ps.seekedTo = ps.handled;
      ps.seeks = 0;
    }
    if (ps.seeks < MAX_SEEKS) {
      ps.seeks++;
      this.consumer().seek({ topic: this.deps.topics.installEvents, partition, offset: String(ps.handled) });
      return true;
    }
    this.deps.log.warn({ partition, from: ps.handled, to: firstOffset }, 'offsets missing from the log; skipped');
    return false;
  }

  /**
   * Records that `partition`'s records up to `lastOffset` are handled; reaching the log end it had when assigned
   * makes it live.
   */
  handledThrough(partition: number, ps: PartitionState, lastOffset: string): void {
    ps.handled = Math.max(ps.handled, Number(lastOffset) + 1);
    if (!ps.live && ps.handled >= ps.liveFrom) {
      ps.live = true;
      this.deps.metrics.rebuilding.set(this.rebuildingCount());
      this.deps.log.info({ partition, offset: ps.handled }, 'partition rebuilt; live');
    }
  }

  /** Whether every assigned partition has been prepared and replayed up to its log end at assignment. */
  isLive(): boolean {
    return this.assigned.size > 0 && [...this.assigned].every((p) => this.states.get(p)?.live === true);
  }

  /** The assigned partitions that are live (timeouts are only decided there). */
  livePartitions(): Set<number> {
    return new Set([...this.states].filter(([p, s]) => s.live && this.assigned.has(p)).map(([p]) => p));
  }

  /** Sets the lag gauge of each assigned partition: log end minus the next offset to handle. Failures only log. */
  async reportLag(): Promise<void> {
    const admin = this.deps.admin();
    if (admin === undefined || this.deps.stopping()) return;
    try {
      const ends = await admin.fetchTopicOffsets(this.deps.topics.installEvents);
      for (const end of ends) {
        const ps = this.states.get(end.partition);
        if (ps === undefined || !this.assigned.has(end.partition)) continue;
        this.deps.metrics.lag.set({ partition: String(end.partition) }, Math.max(0, Number(end.high) - ps.handled));
      }
    } catch (err) {
      this.deps.log.debug({ err }, 'lag update failed');
    }
  }

  /** Forgets the partitions' device state, pending changes and replay positions (their next owner recounts). */
  private drop(revoked: ReadonlySet<number>): void {
    if (revoked.size === 0) return;
    this.deps.core.revoke(revoked, new Set([...this.states.keys()].filter((p) => !revoked.has(p))));
    for (const p of revoked) {
      this.states.delete(p);
      this.deps.metrics.lag.remove({ partition: String(p) });
    }
  }

  /** Asks the lanes for their marks and fixes where replay of each newly assigned partition starts. */
  private async prepare(partitions: number[]): Promise<void> {
    const { settings, topics, signaler, log, catalogue, core } = this.deps;
    const gen = this.generation;
    if (settings.handoverSettleMs > 0) await sleep(settings.handoverSettleMs);
    // This member's own signals still in flight (from before a consumer replacement or a revocation of these
    // partitions) must land first: marks read before them would make the replay count their ranges again.
    await this.deps.landed();
    if (gen !== this.generation) return;
    await this.deps.reader.sync(30_000);
    const set = new Set(partitions);
    for (const lane of catalogue.activeLanes()) {
      for (let attempt = 0; ; attempt++) {
        try {
          const marks = await signaler.marks(lane.rolloutId, lane.lane);
          if (gen !== this.generation) return;
          const rollout = catalogue.rollouts.get(lane.rolloutId);
          core.aggregator.setMarks((id) => rollout?.offers.get(id), lane, marks, set);
          break;
        } catch (err) {
          if (this.deps.stopping()) throw err;
          log.warn({ err, lane: lane.key, attempt }, 'high-water-mark query failed; retrying');
          await sleep(Math.min(5000, 200 * 2 ** attempt));
        }
      }
    }
    const admin = this.deps.admin();
    if (admin === undefined) throw new Error('the ingest admin client is not connected');
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topics.installEvents),
      admin.fetchOffsets({ groupId: settings.groupId, topics: [topics.installEvents] }),
    ]);
    if (gen !== this.generation) return;
    const committedOf = new Map(
      (committed[0]?.partitions ?? []).map((c) => [c.partition, Number(c.offset) < 0 ? 0 : Number(c.offset)]),
    );
    for (const p of partitions) {
      const end = ends.find((e) => e.partition === p);
      const low = Number(end?.low ?? 0);
      const committedAt = Math.max(low, committedOf.get(p) ?? 0);
      core.aggregator.setCommitted(p, committedAt);
      this.states.set(p, {
        low,
        liveFrom: Number(end?.high ?? 0),
        committed: committedAt,
        handled: low,
        live: false,
        seekedTo: undefined,
        seeks: 0,
      });
    }
    this.deps.metrics.rebuilding.set(this.rebuildingCount());
    log.info({ partitions }, 'partitions prepared: replaying from the first offset up to the lanes marks');
  }

  private rebuildingCount(): number {
    return [...this.states.values()].filter((s) => !s.live).length;
  }

  private consumer(): Consumer {
    const group = this.deps.group();
    if (group === undefined) throw new Error('the ingest consumer has not started');
    return group.current;
  }
}
