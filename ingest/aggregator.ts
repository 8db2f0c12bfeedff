/**
 * Health-delta aggregation: count changes per (offer, partition) with the Kafka offset range they came
 * from, taken per lane at flush time as one signal's worth of `{ offerId, delta }`. It also keeps the
 * lanes' high-water marks (offer → partition → last counted offset): a change at or below its mark was
 * already counted by the lane and only updates device state, so the ingest never sends a delta whose
 * range straddles a mark it was given (the lane's mark may have moved on since: docs/ingest.md, "When a delta
 * can straddle a mark"). Running totals per offer — and, for lanes under rules version 2, per exposure attempt,
 * the sum the lane judges — let a change that would move the lane's verdict flush its lane at once (that is what
 * makes halts fast). Health reports' sums go beside them (`post-install-pending.ts`), in the same signal.
 */
import type { HealthDelta, OutcomeCounts } from '../events/domain-events';
import { assessHealth, type HealthCounts, type HealthVerdict, type Thresholds } from '../events/health';
import { assessHealthV1 } from '../events/health-v1';
import { rulesVersionOf } from '../events/plan';
import { POST_INSTALL_MARK_KEY, type PostInstallDelta } from '../events/post-install';
import { offerThresholds, type LaneInfo, type OfferInfo } from './catalogue';
import { PostInstallPending, type PostInstallGroup } from './post-install-pending';

/** Pending changes of one offer from one partition. */
interface Pending {
  succeeded: number;
  timedOut: number;
  inProgress: number;
  failed: Map<string, number> | null;
  from: number;
  to: number;
}

/** Running totals of one offer as far as this process has read (approximate after a revocation). */
interface Totals {
  succeeded: number;
  timedOut: number;
  inProgress: number;
  failedByCode: Record<string, number>;
  verdict: HealthVerdict['verdict'] | null;
}

/** A lane's deltas taken for one signal, and the partitions/offsets they cover (for commits). */
export interface TakenLane {
  lane: LaneInfo;
  deltas: { offerId: string; delta: HealthDelta }[];
  /** Post-install deltas of the lane's class (`post-install-pending.ts`), in the order the lane must apply them. */
  postInstall: PostInstallDelta[];
  /** Lowest offset per partition the deltas cover: offsets from here on are not committed until acknowledged. */
  floors: Map<number, number>;
}

/**
 * The aggregator. Offsets are JavaScript numbers internally (exact below 2⁵³, i.e. for any realistic
 * topic) and decimal strings on the wire.
 */
export class Aggregator {
  private readonly pending: (Map<number, Pending> | undefined)[] = [];
  private readonly totals: (Totals | undefined)[] = [];
  /** Per offer slot: the totals the lane judges it by (its attempt's, under rules version 2; else its own). */
  private readonly judged: (Totals | undefined)[] = [];
  /** Attempt totals of rules version 2 lanes: `${lane.key}\0${attempt}`. */
  private readonly attempts = new Map<string, Totals>();
  private readonly marks: (Map<number, number> | undefined)[] = [];
  /** Marks reported by lanes for offers the catalogue does not know yet: `${rolloutId}\0${offerId}`. */
  private readonly earlyMarks = new Map<string, Map<number, number>>();
  private readonly dirty = new Map<LaneInfo, Set<OfferInfo>>();
  /** Lanes whose verdict would change: flushed at once, not on the interval. */
  readonly urgent = new Set<LaneInfo>();
  /** Health reports' sums per lane, sent beside the outcome deltas. */
  private readonly postInstall = new PostInstallPending();

  /** Attaches marks that arrived before the offer was known. Call for every new offer. */
  registerOffer(offer: OfferInfo): void {
    const early = this.earlyMarks.get(`${offer.rolloutId}\u0000${offer.offerId}`);
    if (early !== undefined) this.marks[offer.slot] = early;
  }

  /**
   * Records the lane's high-water marks for the given partitions (as `highWaterMarksQuery` returns
   * them): from now on changes at or below them only update state. Marks of other partitions are kept.
   * The entry `POST_INSTALL_MARK_KEY` holds the lane's post-install marks.
   */
  setMarks(
    lookup: (offerId: string) => OfferInfo | undefined,
    lane: LaneInfo,
    marks: Record<string, Record<string, string>>,
    partitions: ReadonlySet<number>,
  ): void {
    const rolloutId = lane.rolloutId;
    for (const offerId of Object.keys(marks)) {
      const byPartition = marks[offerId] ?? {};
      if (offerId === POST_INSTALL_MARK_KEY) {
        this.postInstall.setMarks(lane, byPartition, partitions);
        continue;
      }
      const offer = lookup(offerId);
      const key = `${rolloutId}\u0000${offerId}`;
      let target = offer !== undefined ? this.marks[offer.slot] : this.earlyMarks.get(key);
      if (target === undefined) {
        target = new Map();
        if (offer !== undefined) this.marks[offer.slot] = target;
        else this.earlyMarks.set(key, target);
      }
      for (const p of Object.keys(byPartition)) {
        const partition = Number(p);
        const mark = byPartition[p];
        if (!partitions.has(partition) || mark === undefined || !/^\d{1,19}$/.test(mark)) continue;
        target.set(partition, Number(mark));
      }
    }
  }

  /**
   * Records the group's committed offset of a partition when it was assigned: post-install reports below it were
   * delivered (in signals Temporal accepted) and are not sent again (`post-install-pending.ts`).
   */
  setCommitted(partition: number, offset: number): void {
    this.postInstall.setCommitted(partition, offset);
  }

  /** Forgets the marks of the given partitions (they were revoked; the next owner asks the lanes). */
  clearMarks(partitions: ReadonlySet<number>): void {
    for (const m of this.marks) if (m !== undefined) for (const p of partitions) m.delete(p);
    for (const m of this.earlyMarks.values()) for (const p of partitions) m.delete(p);
    this.postInstall.clearMarks(partitions);
  }

  /** The lane's mark for (offer, partition), or -1 when it counted nothing there. */
  markOf(slot: number, partition: number): number {
    return this.marks[slot]?.get(partition) ?? -1;
  }

  /**
   * Adds one device's count change, read at `offset` of `partition`. Below or at the mark it only moves
   * the running totals; above it becomes pending for the lane's next signal.
   */
  add(
    offer: OfferInfo,
    partition: number,
    offset: number,
    succeeded: number,
    failedCode: string | null,
    timedOut: number,
    inProgress: number,
  ): void {
    const slot = offer.slot;
    let totals = this.totals[slot];
    if (totals === undefined) {
      totals = emptyTotals();
      this.totals[slot] = totals;
    }
    const judged = this.judged[slot] ?? this.judgedTotals(offer, totals);
    if (judged !== totals) {
      judged.succeeded += succeeded;
      judged.timedOut += timedOut;
      judged.inProgress += inProgress;
      if (failedCode !== null) judged.failedByCode[failedCode] = (judged.failedByCode[failedCode] ?? 0) + 1;
    }
    totals.succeeded += succeeded;
    totals.timedOut += timedOut;
    totals.inProgress += inProgress;
    if (failedCode !== null) totals.failedByCode[failedCode] = (totals.failedByCode[failedCode] ?? 0) + 1;
    if (offset <= this.markOf(slot, partition)) return;

    let byPartition = this.pending[slot];
    if (byPartition === undefined) {
      byPartition = new Map();
      this.pending[slot] = byPartition;
    }
    let p = byPartition.get(partition);
    if (p === undefined) {
      p = { succeeded: 0, timedOut: 0, inProgress: 0, failed: null, from: offset, to: offset };
      byPartition.set(partition, p);
      let offers = this.dirty.get(offer.lane);
      if (offers === undefined) {
        offers = new Set();
        this.dirty.set(offer.lane, offers);
      }
      offers.add(offer);
    }
    p.succeeded += succeeded;
    p.timedOut += timedOut;
    p.inProgress += inProgress;
    if (failedCode !== null) {
      p.failed ??= new Map();
      p.failed.set(failedCode, (p.failed.get(failedCode) ?? 0) + 1);
    }
    p.to = offset;

    if (succeeded !== 0 || timedOut !== 0 || failedCode !== null) {
      const thresholds = offerThresholds(offer);
      if (thresholds !== undefined && !this.urgent.has(offer.lane)) {
        const verdict = offerVerdict(offer, healthCounts(judged), thresholds);
        if (verdict !== judged.verdict) this.urgent.add(offer.lane);
      }
    }
  }

  /**
   * Adds one health report's uptime and signal counts, read at `offset` of `partition`, to `group` of `lane`
   * (nothing when the lane's post-install mark covers the offset); a lane whose pending sums had to be split flushes
   * at once.
   */
  addPostInstall(
    lane: LaneInfo,
    group: PostInstallGroup,
    partition: number,
    offset: number,
    uptimeSec: number,
    counts: ReadonlyMap<string, number>,
  ): void {
    if (this.postInstall.add(lane, group, partition, offset, uptimeSec, counts) === 'split') this.urgent.add(lane);
  }

  /**
   * The totals an offer is judged by: under rules version 2 an exposure offer's attempt totals (every phase of the
   * attempt, shared by its offers), otherwise the offer's own. Resolved once per slot, when the lane's config is known.
   */
  private judgedTotals(offer: OfferInfo, own: Totals): Totals {
    const config = offer.lane.config;
    if (config === null) return own;
    let judged = own;
    if (offer.kind === 'exposure' && rulesVersionOf(config) >= 2) {
      const key = `${offer.lane.key}\u0000${offer.attempt}`;
      judged = this.attempts.get(key) ?? emptyTotals();
      this.attempts.set(key, judged);
    }
    this.judged[offer.slot] = judged;
    return judged;
  }

  /** Lanes with pending changes (outcomes or post-install sums). */
  dirtyLanes(): LaneInfo[] {
    const lanes = [...this.dirty.keys()];
    for (const lane of this.postInstall.lanes()) if (!this.dirty.has(lane)) lanes.push(lane);
    return lanes;
  }

  /** Whether the lane has pending changes. */
  isDirty(lane: LaneInfo): boolean {
    return this.dirty.has(lane) || this.postInstall.has(lane);
  }

  /**
   * Takes a lane's pending changes as deltas (one per offer, with one range per partition) and clears
   * them; the offers' current verdicts become the "last flushed" ones the urgency check compares with.
   */
  takeLane(lane: LaneInfo): TakenLane | undefined {
    const offers = this.dirty.get(lane);
    this.dirty.delete(lane);
    this.urgent.delete(lane);
    const post = this.postInstall.take(lane);
    const deltas: TakenLane['deltas'] = [];
    const floors = post?.floors ?? new Map<number, number>();
    for (const offer of offers ?? []) {
      const byPartition = this.pending[offer.slot];
      this.pending[offer.slot] = undefined;
      if (byPartition === undefined || byPartition.size === 0) continue;
      const counts: OutcomeCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
      const ranges: HealthDelta['ranges'] = [];
      for (const [partition, p] of [...byPartition].sort((a, b) => a[0] - b[0])) {
        counts.succeeded += p.succeeded;
        counts.timedOut += p.timedOut;
        counts.inProgress += p.inProgress;
        if (p.failed !== null) {
          for (const [code, n] of p.failed) counts.failedByCode[code] = (counts.failedByCode[code] ?? 0) + n;
        }
        ranges.push({ partition, fromOffset: String(p.from), toOffset: String(p.to) });
        floors.set(partition, Math.min(floors.get(partition) ?? Infinity, p.from));
      }
      deltas.push({ offerId: offer.offerId, delta: { counts, ranges } });
      const totals = this.judged[offer.slot] ?? this.totals[offer.slot];
      const thresholds = offerThresholds(offer);
      if (totals !== undefined && thresholds !== undefined) {
        totals.verdict = offerVerdict(offer, healthCounts(totals), thresholds);
      }
    }
    const postInstall = post?.deltas ?? [];
    return deltas.length > 0 || postInstall.length > 0 ? { lane, deltas, postInstall, floors } : undefined;
  }

  /** Drops pending changes read from the given partitions (revoked: the next owner recounts them). */
  dropPartitions(partitions: ReadonlySet<number>): void {
    this.postInstall.dropPartitions(partitions);
    for (const [lane, offers] of this.dirty) {
      for (const offer of offers) {
        const byPartition = this.pending[offer.slot];
        if (byPartition === undefined) continue;
        for (const p of partitions) byPartition.delete(p);
        if (byPartition.size === 0) offers.delete(offer);
      }
      if (offers.size === 0) {
        this.dirty.delete(lane);
        if (!this.postInstall.has(lane)) this.urgent.delete(lane);
      }
    }
  }

  /** Lowest pending offset per partition (offsets from there on must not be committed yet). */
  pendingFloors(): Map<number, number> {
    const floors = new Map<number, number>();
    for (const offers of this.dirty.values()) {
      for (const offer of offers) {
        const byPartition = this.pending[offer.slot];
        if (byPartition === undefined) continue;
        for (const [partition, p] of byPartition)
          floors.set(partition, Math.min(floors.get(partition) ?? Infinity, p.from));
      }
    }
    this.postInstall.addFloors(floors);
    return floors;
  }

  /** Running totals of an offer as this process counted them (tests and the bench read them). */
  totalsOf(slot: number): OutcomeCounts | undefined {
    const t = this.totals[slot];
    if (t === undefined) return undefined;
    return {
      succeeded: t.succeeded,
      failedByCode: { ...t.failedByCode },
      timedOut: t.timedOut,
      inProgress: t.inProgress,
    };
  }
}

/** The verdict of the judge the offer's lane runs under (rules version 1 lanes keep theirs). */
function offerVerdict(offer: OfferInfo, counts: HealthCounts, thresholds: Thresholds): HealthVerdict['verdict'] {
  const config = offer.lane.config;
  if (config !== null && rulesVersionOf(config) < 2) return assessHealthV1(counts, thresholds).verdict;
  return assessHealth(counts, thresholds).verdict;
}

function emptyTotals(): Totals {
  return { succeeded: 0, timedOut: 0, inProgress: 0, failedByCode: {}, verdict: null };
}

function healthCounts(t: Totals): HealthCounts {
  return {
    succeeded: t.succeeded,
    failedByCode: t.failedByCode,
    timedOut: t.timedOut,
    inProgress: Math.max(0, t.inProgress),
  };
}
