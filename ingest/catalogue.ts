/**
 * The rollout catalogue: what the ingest knows about active rollouts, folded from `bsi.rollout-events`.
 * It maps every offer a lane issued (exposure attempts, retries, rollbacks) to a small integer slot (the
 * device table stores slots, not strings) with what validation needs: lane, kind, attempt, cohort bound
 * and the lane's thresholds. Pure: the reader in `catalogue-reader.ts` feeds it events.
 *
 * Bounded: only rollouts that appear in the rollout log exist here, so install events naming made-up
 * rollouts cannot grow it; finished lanes keep their offers (late reports are still attributed) until
 * their rollout completes, when the rollout's offers are kept as tombstones (no counting, no DLQ noise).
 */
import { DomainEventSchema, type DomainEvent } from '../events/domain-events';
import type { Thresholds } from '../events/health';
import { windowThresholds } from '../events/lane';
import type { LaneConfig } from '../events/plan';

/** One lane (device class) of one rollout, as the ingest signals it. */
export interface LaneInfo {
  /** `${rolloutId}\u0000${lane}`: unique across rollouts. */
  key: string;
  rolloutId: string;
  lane: string;
  config: LaneConfig | null;
  /** The lane completed, rolled back or aborted: deltas are no longer signalled. */
  finished: boolean;
  /** The lane's exposures and rate steps in log order: when each was issued (its event's `at`) and its cohort bound. */
  exposures: { atMs: number; cohortBound: number }[];
}

/** One offer: an exposure attempt or a rollback of one lane. */
export interface OfferInfo {
  /** Dense index into the device table and the aggregator (0..65534). */
  slot: number;
  rolloutId: string;
  offerId: string;
  lane: LaneInfo;
  kind: 'exposure' | 'rollback';
  phase: number;
  /** Exposure attempt, or rollback attempt. */
  attempt: number;
  /** Devices with `cohortOf(deviceId, rolloutId) < cohortBound` may report on this offer. */
  cohortBound: number;
  /** Cache of {@link offerThresholds} (set once the lane's config is known). */
  thresholds?: Thresholds;
}

/** A rollout's lanes and offers. */
export interface RolloutInfo {
  rolloutId: string;
  lanes: Map<string, LaneInfo>;
  offers: Map<string, OfferInfo>;
  completed: boolean;
}

/** Most offers one ingest process tracks (offer slots are stored as Uint16, slot+1 ≠ 0). */
export const MAX_OFFERS = 65_534;

/**
 * The catalogue. `apply` folds one domain event; lookups are two `Map.get`s. Offer slots are assigned in
 * log order, so every member assigns its own but consistently within a process lifetime.
 */
export class RolloutCatalogue {
  readonly rollouts = new Map<string, RolloutInfo>();
  readonly offers: OfferInfo[] = [];
  /** Lanes by device class, across rollouts (health reports are routed by class). */
  private readonly lanesByClass = new Map<string, LaneInfo[]>();
  /** Listeners told about every new offer (the aggregator sizes its arrays, marks are attached). */
  private readonly offerListeners: ((offer: OfferInfo) => void)[] = [];

  /** Registers a callback run for every new offer. */
  onOffer(listener: (offer: OfferInfo) => void): void {
    this.offerListeners.push(listener);
  }

  /** Listeners told when a lost lane was restarted (`lane-restarted`): its new workflow needs its counts again. */
  private readonly restartListeners: ((lane: LaneInfo) => void)[] = [];

  /** Registers a callback run for every `lane-restarted` folded (also those read back at start-up). */
  onLaneRestarted(listener: (lane: LaneInfo) => void): void {
    this.restartListeners.push(listener);
  }

  /** The offer `offerId` of `rolloutId`, if known. */
  offer(rolloutId: string, offerId: string): OfferInfo | undefined {
    return this.rollouts.get(rolloutId)?.offers.get(offerId);
  }

  /** The lanes of `deviceClass` in every rollout that have not finished (normally one). */
  activeLanesOf(deviceClass: string): LaneInfo[] {
    const lanes = this.lanesByClass.get(deviceClass);
    return lanes === undefined ? [] : lanes.filter((lane) => !lane.finished);
  }

  /** Every lane of every rollout that has not finished. */
  activeLanes(): LaneInfo[] {
    const lanes: LaneInfo[] = [];
    for (const rollout of this.rollouts.values()) {
      for (const lane of rollout.lanes.values()) if (!lane.finished) lanes.push(lane);
    }
    return lanes;
  }

  /**
   * Folds one raw rollout-log record (JSON text). Records that are not valid domain events are ignored
   * (the log's writers validate; the ingest must not crash on a foreign record) and reported as false.
   */
  applyRaw(text: string): boolean {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return false;
    }
    const parsed = DomainEventSchema.safeParse(value);
    if (!parsed.success) return false;
    this.apply(parsed.data);
    return true;
  }

  /** Folds one domain event into the catalogue. */
  apply(event: DomainEvent): void {
    const rollout = this.rolloutOf(event.rolloutId);
    switch (event.type) {
      case 'lane-started':
        this.laneOf(rollout, event.lane).config = event.data.config;
        return;
      case 'exposure-issued': {
        const { offerId, phase, attempt, cohortBound } = event.data;
        this.laneOf(rollout, event.lane).exposures.push({ atMs: Date.parse(event.at), cohortBound });
        this.addOffer(rollout, event.lane, { offerId, kind: 'exposure', phase, attempt, cohortBound });
        return;
      }
      case 'exposure-widened': {
        // A rate step of the same offer: its devices up to the new bound may report on it, and are no control.
        const { offerId, phase, attempt, cohortBound } = event.data;
        this.laneOf(rollout, event.lane).exposures.push({ atMs: Date.parse(event.at), cohortBound });
        this.addOffer(rollout, event.lane, { offerId, kind: 'exposure', phase, attempt, cohortBound });
        return;
      }
      case 'rollback-started': {
        const { offerId, rollbackAttempt, cohortBound } = event.data;
        const phase = -1;
        this.addOffer(rollout, event.lane, { offerId, kind: 'rollback', phase, attempt: rollbackAttempt, cohortBound });
        return;
      }
      case 'retry-issued':
        // The exposure-issued of the retry attempt carries its cohort bound; nothing to do until then.
        return;
      case 'lane-completed':
      case 'lane-aborted':
        this.laneOf(rollout, event.lane).finished = true;
        return;
      case 'lane-restarted': {
        const lane = this.laneOf(rollout, event.data.lane);
        for (const listener of this.restartListeners) listener(lane);
        return;
      }
      case 'rollout-completed':
      case 'rollout-aborted':
        rollout.completed = true;
        for (const lane of rollout.lanes.values()) lane.finished = true;
        return;
      default:
        return;
    }
  }

  private rolloutOf(rolloutId: string): RolloutInfo {
    let rollout = this.rollouts.get(rolloutId);
    if (rollout === undefined) {
      rollout = { rolloutId, lanes: new Map(), offers: new Map(), completed: false };
      this.rollouts.set(rolloutId, rollout);
    }
    return rollout;
  }

  private laneOf(rollout: RolloutInfo, lane: string): LaneInfo {
    let info = rollout.lanes.get(lane);
    if (info === undefined) {
      info = {
        key: `${rollout.rolloutId}\u0000${lane}`,
        rolloutId: rollout.rolloutId,
        lane,
        config: null,
        finished: false,
        exposures: [],
      };
      rollout.lanes.set(lane, info);
      const ofClass = this.lanesByClass.get(lane) ?? [];
      ofClass.push(info);
      this.lanesByClass.set(lane, ofClass);
    }
    return info;
  }

  private addOffer(
    rollout: RolloutInfo,
    lane: string,
    o: Pick<OfferInfo, 'offerId' | 'kind' | 'phase' | 'attempt' | 'cohortBound'>,
  ): void {
    const existing = rollout.offers.get(o.offerId);
    if (existing !== undefined) {
      // Re-issued (a retried append) or widened by a rate step (`exposure-widened`): widen the bound, never move the offer.
      existing.cohortBound = Math.max(existing.cohortBound, o.cohortBound);
      return;
    }
    if (this.offers.length >= MAX_OFFERS) return;
    const offer: OfferInfo = {
      ...o,
      slot: this.offers.length,
      rolloutId: rollout.rolloutId,
      lane: this.laneOf(rollout, lane),
    };
    this.offers.push(offer);
    rollout.offers.set(o.offerId, offer);
    for (const listener of this.offerListeners) listener(offer);
  }
}

/**
 * The thresholds the lane judges this offer's window with (`windowThresholds`: the plan's under rules version 2;
 * a share of the false-halt budget for a version 1 exposure window), or undefined before the lane's
 * `lane-started`. The ingest must judge with exactly these: it flushes a lane at once when an offer's verdict
 * changes, and a looser judge would flag the change early, then send the evidence that really tips the lane only
 * at the next periodic flush.
 */
export function offerThresholds(offer: OfferInfo): Thresholds | undefined {
  if (offer.thresholds === undefined && offer.lane.config !== null) {
    offer.thresholds = windowThresholds(offer.lane.config, offer.kind);
  }
  return offer.thresholds;
}

/**
 * The highest cohort bound the lane had exposed at `atMs` (0 before its first exposure): a device whose cohort is at
 * or above it had not been offered the lane's build by then.
 */
export function exposedBoundAt(lane: LaneInfo, atMs: number): number {
  let bound = 0;
  for (const exposure of lane.exposures)
    if (exposure.atMs <= atMs && exposure.cohortBound > bound) bound = exposure.cohortBound;
  return bound;
}
