/**
 * The ingest's pure core: one `bsi.install-events` record in, a verdict out (counted, dropped as a
 * duplicate, dead-lettered with a reason, or "unknown, ask the catalogue again"). Validation against the
 * rollout catalogue, the per-device state machine and the count changes all live here, with no Kafka and
 * no Temporal, so the unit tests and the benchmark drive exactly what production runs.
 *
 * The state machine per (device, offer):
 * - reports of a lower attempt than the device's latest are stale and ignored; a higher attempt resets the
 *   seen-types bitmask (a duplicate is the same device, offer, attempt and type — what a repeated eventId is);
 * - `install-started` counts the device in progress once, unless a final outcome came first (out of order);
 * - the first final outcome counts (succeeded / failed by code; rolled-back / rollback-failed on rollback
 *   offers) and takes the device out of progress; later finals of the same offer are ignored;
 * - a timeout marker turns a started device without a final outcome into `timedOut`; a final report after
 *   it corrects the count (timedOut −1, final +1) when the delta schema allows negative `timedOut`.
 *
 * Health reports (wire format v2) are counts, not install state: each goes to the `updated` or `control` group of the
 * running lanes of its class (`handleHealth`); per device only the end of its last period is kept, to drop resends.
 */
import { cohortOf } from '../events/cohort';
import { OutcomeCountsSchema } from '../events/domain-events';
import type { HealthReport } from '../events/health-report';
import { INSTALL_EVENT_TYPES, type InstallEventType } from '../events/install-event';
import { cohortSaltOf } from '../events/plan';
import { Aggregator } from './aggregator';
import { exposedBoundAt, MAX_OFFERS, type OfferInfo, type RolloutCatalogue } from './catalogue';
import { decodeRecord, type RejectReason } from './decode';
import { deviceKeyHex, parseDeviceKeyHex, type DeviceKeys } from '../events/device-keys';
import { DeviceTable } from './device-table';
import { Report } from './device-report-scanner';
import type { TimeoutMarker } from './timeout-marker';

/** What happened to one record. */
export type RecordResult =
  | { kind: 'counted' }
  | { kind: 'ignored'; why: 'duplicate' | 'stale' | 'after-final' | 'finished-lane' | 'no-lane' | 'neither' }
  | { kind: 'unknown'; reason: 'unknown-rollout' | 'unknown-offer' | 'outside-cohort'; message: string }
  | { kind: 'reject'; reason: RejectReason; message: string };

/** Knobs of the core (a subset of the ingest settings). */
export interface CoreOptions {
  maxMessageBytes: number;
  maxDevices: number;
  maxClockSkewSec: number;
  /** The deployment's device keys (keyed hash of device ids; the same secret on every member and in replay). */
  deviceKeys: DeviceKeys;
  /** Apply timedOut −1 corrections (default: whether the delta schema accepts a negative timedOut). */
  correctTimeouts?: boolean;
}

// The state byte of a (device, offer) slot: its encoding lives beside the state machine that reads and writes it.
/** Final outcome codes (low 3 bits). */
const FINAL_NONE = 0;
const FINAL_SUCCEEDED = 1;
const FINAL_FAILED = 2;
const FINAL_ROLLED_BACK = 3;
const FINAL_ROLLBACK_FAILED = 4;
const FINAL_TIMED_OUT = 5;
/** Flag: the device's install-started is counted in `inProgress`. */
const STATE_STARTED = 8;
/** Seconds base of `startedAt`: stored as seconds since 2020-09-13 (fits Uint32 until 2156). */
const EPOCH_SEC = 1_600_000_000;

const TYPE_BIT: Record<InstallEventType, number> = Object.fromEntries(
  INSTALL_EVENT_TYPES.map((type, i) => [type, 1 << i]),
) as Record<InstallEventType, number>;
/**
 * The device-table slot of a device's health reports (one past the last offer slot): its `startedAt` column holds the
 * end of the last period counted (seconds since EPOCH_SEC), so a resent or overlapping report is not counted twice.
 */
const HEALTH_SLOT = MAX_OFFERS;
/** The state byte of a health slot once a report was counted (never STATE_STARTED: the timeout scan skips it). */
const HEALTH_REPORTED = 1;

/** Seen-mask bit (not a report type) set while a timeout marker for the slot is on its way. */
export const MARKER_REQUESTED = 0x80;

const COUNTED: RecordResult = { kind: 'counted' };
const DUPLICATE: RecordResult = { kind: 'ignored', why: 'duplicate' };
const STALE: RecordResult = { kind: 'ignored', why: 'stale' };
const AFTER_FINAL: RecordResult = { kind: 'ignored', why: 'after-final' };
const NO_LANE: RecordResult = { kind: 'ignored', why: 'no-lane' };
const NEITHER: RecordResult = { kind: 'ignored', why: 'neither' };

/** Whether `HealthDeltaSchema` accepts a negative `timedOut` (then late reports correct timeouts). */
export function deltaSchemaAllowsCorrections(): boolean {
  return OutcomeCountsSchema.safeParse({ succeeded: 0, failedByCode: {}, timedOut: -1, inProgress: 0 }).success;
}

/**
 * The core: catalogue (read-only here), device table and aggregator. `handle` is called for every
 * record in partition order; the result is a pure function of the records read so far, the catalogue
 * and the lanes' marks — the property recovery relies on.
 */
export class IngestCore {
  readonly table: DeviceTable;
  readonly aggregator = new Aggregator();
  private readonly correctTimeouts: boolean;
  /** Whether the record last handled was a health report (valid or not: the metrics count them apart). */
  lastWasHealth = false;
  /** The report being handled (one object, refilled per record). */
  private readonly report = new Report();
  private readonly keys: DeviceKeys;

  /** Builds a core over a catalogue; offers the catalogue learns later are registered with the aggregator. */
  constructor(
    readonly catalogue: RolloutCatalogue,
    private readonly options: CoreOptions,
  ) {
    this.table = new DeviceTable(options.maxDevices);
    this.keys = options.deviceKeys;
    this.correctTimeouts = options.correctTimeouts ?? deltaSchemaAllowsCorrections();
    for (const offer of catalogue.offers) this.aggregator.registerOffer(offer);
    catalogue.onOffer((offer) => this.aggregator.registerOffer(offer));
  }

  /**
   * Handles one record: `value` is the raw bytes, `timestampMs` the Kafka append time. Never throws on
   * bad input: every problem comes back as a `reject` with a reason code.
   */
  handle(partition: number, offset: number, timestampMs: number, value: Buffer | null): RecordResult {
    const r = this.report;
    this.lastWasHealth = false;
    if (value !== null && value.length <= this.options.maxMessageBytes && r.readBytes(value)) {
      return this.handleReport(partition, offset, timestampMs, r);
    }
    const decoded = decodeRecord(value, this.options.maxMessageBytes);
    if (decoded.kind === 'reject') {
      this.lastWasHealth = decoded.health === true;
      return decoded;
    }
    if (decoded.kind === 'timeout') return this.handleMarker(partition, offset, decoded.marker);
    if (decoded.kind === 'health') {
      this.lastWasHealth = true;
      return this.handleHealth(partition, offset, timestampMs, decoded.report);
    }
    return this.handleReport(partition, offset, timestampMs, r.fromEvent(decoded.event));
  }

  /**
   * Validates a health report and adds it to the running lanes of its class: to a lane's `updated` group when it
   * names an exposure offer of that lane, to its `control` group when it names no offer, its period started once the
   * lane was exposing (concurrent with updated devices) and the device was outside every cohort the lane had exposed
   * by the end of the period, to neither otherwise (offered but not on the build yet, rolled back, on another
   * rollout's build, or a period before the lane's first exposure). A report of a device whose earlier report covered part of its
   * period is ignored as a duplicate; a report of a class with no running lane that watches post-install signals (a `regression` rule) is ignored as
   * `no-lane`.
   */
  private handleHealth(partition: number, offset: number, timestampMs: number, h: HealthReport): RecordResult {
    if (Date.parse(h.at) > timestampMs + this.options.maxClockSkewSec * 1000) {
      return {
        kind: 'reject',
        reason: 'clock-skew',
        message: `at ${h.at} is ahead of the append time ${new Date(timestampMs).toISOString()}`,
      };
    }
    let offer: OfferInfo | undefined;
    if (h.rolloutId !== undefined && h.offerId !== undefined) {
      offer = this.catalogue.offer(h.rolloutId, h.offerId);
      if (offer === undefined) {
        return this.catalogue.rollouts.has(h.rolloutId)
          ? {
              kind: 'unknown',
              reason: 'unknown-offer',
              message: `offer ${h.offerId} of rollout ${h.rolloutId} not issued`,
            }
          : { kind: 'unknown', reason: 'unknown-rollout', message: `rollout ${h.rolloutId} not in the rollout log` };
      }
      if (h.deviceClass !== offer.lane.lane) {
        return {
          kind: 'reject',
          reason: 'wrong-lane',
          message: `device class ${h.deviceClass} ≠ lane ${offer.lane.lane} of ${h.offerId}`,
        };
      }
      if (cohortOf(h.deviceId, cohortSaltOf(offer.lane.config, offer.rolloutId)) >= offer.cohortBound) {
        return {
          // As for an install event: a rate step the catalogue has not read yet is caught up once first.
          kind: offer.kind === 'exposure' ? 'unknown' : 'reject',
          reason: 'outside-cohort',
          message: `device not in cohort < ${offer.cohortBound} of ${h.offerId}`,
        };
      }
    }
    const keys = this.keys;
    keys.of(h.deviceId);
    const t = this.table;
    const i = t.upsert(keys.hi, keys.lo, HEALTH_SLOT, partition);
    if (i < 0) return { kind: 'reject', reason: 'capacity', message: `device table full (${t.maxEntries} states)` };
    const startMs = Date.parse(h.periodStart);
    const endMs = Date.parse(h.periodEnd);
    const startSec = Math.floor(startMs / 1000) - EPOCH_SEC;
    if (t.state[i] === HEALTH_REPORTED && startSec < t.startedAt[i]!) return DUPLICATE;
    t.state[i] = HEALTH_REPORTED;
    t.startedAt[i] = Math.max(0, Math.floor(endMs / 1000) - EPOCH_SEC);

    // Only lanes whose plan watches post-install signals judge them; the others would refuse every delta.
    const lanes = this.catalogue.activeLanesOf(h.deviceClass).filter((lane) => lane.config?.regression !== undefined);
    if (lanes.length === 0) return NO_LANE;
    let counts: Map<string, number> | undefined;
    let routed = false;
    for (const lane of lanes) {
      let group: 'updated' | 'control' | undefined;
      if (offer !== undefined) {
        if (offer.lane === lane && offer.kind === 'exposure') group = 'updated';
      } else if (
        startMs >= (lane.exposures[0]?.atMs ?? Infinity) &&
        cohortOf(h.deviceId, cohortSaltOf(lane.config, lane.rolloutId)) >= exposedBoundAt(lane, endMs)
      ) {
        group = 'control';
      }
      if (group === undefined) continue;
      counts ??= new Map(Object.entries(h.counts));
      this.aggregator.addPostInstall(lane, group, partition, offset, h.uptimeSec, counts);
      routed = true;
    }
    return routed ? COUNTED : NEITHER;
  }

  /** Validates a device report against the catalogue and applies it to the device's state. */
  private handleReport(partition: number, offset: number, timestampMs: number, e: Report): RecordResult {
    const offer = this.catalogue.offer(e.rolloutId, e.offerId);
    if (offer === undefined) {
      return this.catalogue.rollouts.has(e.rolloutId)
        ? {
            kind: 'unknown',
            reason: 'unknown-offer',
            message: `offer ${e.offerId} of rollout ${e.rolloutId} not issued`,
          }
        : { kind: 'unknown', reason: 'unknown-rollout', message: `rollout ${e.rolloutId} not in the rollout log` };
    }
    if (e.deviceClass !== offer.lane.lane) {
      return {
        kind: 'reject',
        reason: 'wrong-lane',
        message: `device class ${e.deviceClass} ≠ lane ${offer.lane.lane} of ${e.offerId}`,
      };
    }
    if (e.attempt > offer.attempt) {
      return {
        kind: 'reject',
        reason: 'attempt-not-issued',
        message: `attempt ${e.attempt} > issued ${offer.attempt}`,
      };
    }
    const rollbackReport = e.type === 'rolled-back' || e.type === 'rollback-failed';
    const exposureFinal = e.type === 'succeeded' || e.type === 'failed';
    if ((offer.kind === 'exposure' && rollbackReport) || (offer.kind === 'rollback' && exposureFinal)) {
      return { kind: 'reject', reason: 'wrong-offer-kind', message: `${e.type} on ${offer.kind} offer ${e.offerId}` };
    }
    if (e.atMs > timestampMs + this.options.maxClockSkewSec * 1000) {
      return {
        kind: 'reject',
        reason: 'clock-skew',
        message: `at ${e.at()} is ahead of the append time ${new Date(timestampMs).toISOString()}`,
      };
    }
    if (e.cohort(cohortSaltOf(offer.lane.config, offer.rolloutId)) >= offer.cohortBound) {
      return {
        // A rate step widens an exposure offer (`exposure-widened`): the catalogue may not have read it yet, so the
        // batch loop catches the catalogue up once before it dead-letters the report, as for an unknown offer.
        kind: offer.kind === 'exposure' ? 'unknown' : 'reject',
        reason: 'outside-cohort',
        message: `device not in cohort < ${offer.cohortBound} of ${e.offerId}`,
      };
    }
    const t = this.table;
    const keys = this.keys;
    e.deviceKey(keys);
    const i = t.upsert(keys.hi, keys.lo, offer.slot, partition);
    if (i < 0) return { kind: 'reject', reason: 'capacity', message: `device table full (${t.maxEntries} states)` };

    const attempt = t.attempt[i]!;
    if (attempt === 0 || e.attempt > attempt) {
      t.attempt[i] = e.attempt;
      t.seen[i] = 0;
    } else if (e.attempt < attempt) {
      return STALE;
    }
    const bit = TYPE_BIT[e.type];
    const seen = t.seen[i]!;
    if ((seen & bit) !== 0) return DUPLICATE;
    t.seen[i] = seen | bit;
    const state = t.state[i]!;
    const final = state & 7;
    const agg = this.aggregator;
    switch (e.type) {
      case 'offered-ack':
      case 'download-started':
        return COUNTED;
      case 'install-started':
        if (final !== FINAL_NONE) return AFTER_FINAL;
        t.startedAt[i] = Math.max(0, Math.floor(timestampMs / 1000) - EPOCH_SEC);
        if ((state & STATE_STARTED) === 0) {
          t.state[i] = STATE_STARTED;
          agg.add(offer, partition, offset, 0, null, 0, 1);
        }
        return COUNTED;
      case 'succeeded':
        return this.finish(i, offer, partition, offset, FINAL_SUCCEEDED, null);
      case 'rolled-back':
        return this.finish(i, offer, partition, offset, FINAL_ROLLED_BACK, null);
      case 'failed':
        return this.finish(i, offer, partition, offset, FINAL_FAILED, e.errorCode ?? 'unknown');
      case 'rollback-failed':
        return this.finish(i, offer, partition, offset, FINAL_ROLLBACK_FAILED, e.errorCode ?? 'unknown');
      default: {
        const _exhaustive: never = e.type;
        return _exhaustive;
      }
    }
  }

  private finish(
    i: number,
    offer: OfferInfo,
    partition: number,
    offset: number,
    kind: number,
    code: string | null,
  ): RecordResult {
    const t = this.table;
    const state = t.state[i]!;
    const final = state & 7;
    const succeeded = code === null ? 1 : 0;
    if (final === FINAL_NONE) {
      t.state[i] = kind;
      this.aggregator.add(offer, partition, offset, succeeded, code, 0, (state & STATE_STARTED) !== 0 ? -1 : 0);
      return COUNTED;
    }
    if (final === FINAL_TIMED_OUT && this.correctTimeouts) {
      t.state[i] = kind;
      this.aggregator.add(offer, partition, offset, succeeded, code, -1, 0);
      return COUNTED;
    }
    return AFTER_FINAL;
  }

  /** Applies a timeout marker: a started device without a final outcome (same attempt) times out. */
  handleMarker(partition: number, offset: number, m: TimeoutMarker): RecordResult {
    const offer = this.catalogue.offer(m.rolloutId, m.offerId);
    if (offer === undefined) {
      return {
        kind: 'reject',
        reason: 'orphan-timeout-marker',
        message: `offer ${m.offerId} of ${m.rolloutId} unknown`,
      };
    }
    const [hi, lo] = parseDeviceKeyHex(m.deviceKey);
    const t = this.table;
    const i = t.find(hi, lo, offer.slot);
    if (i < 0)
      return { kind: 'reject', reason: 'orphan-timeout-marker', message: `device ${m.deviceKey} never started` };
    t.seen[i] = t.seen[i]! & ~MARKER_REQUESTED;
    const state = t.state[i]!;
    if (t.attempt[i] !== m.attempt || state !== STATE_STARTED) return state === STATE_STARTED ? STALE : AFTER_FINAL;
    t.state[i] = FINAL_TIMED_OUT;
    this.aggregator.add(offer, partition, offset, 0, null, 1, -1);
    return COUNTED;
  }

  /**
   * Finds started devices on `partitions` whose install timeout elapsed at `nowMs` and have no marker on
   * the way yet; marks them as requested and returns the markers to append (same partition as the device).
   */
  dueTimeouts(
    nowMs: number,
    partitions: ReadonlySet<number>,
    limit = 10_000,
  ): { partition: number; marker: TimeoutMarker }[] {
    const out: { partition: number; marker: TimeoutMarker }[] = [];
    const t = this.table;
    const nowSec = Math.floor(nowMs / 1000) - EPOCH_SEC;
    const offers = this.catalogue.offers;
    const cap = t.capacity;
    for (let i = 0; i < cap && out.length < limit; i++) {
      if (t.state[i] !== STATE_STARTED || t.offer[i] === 0 || (t.seen[i]! & MARKER_REQUESTED) !== 0) continue;
      const offer = offers[t.offer[i]! - 1];
      const timeout = offer?.lane.config?.thresholds.installTimeoutSec;
      if (offer === undefined || timeout === undefined || nowSec - t.startedAt[i]! < timeout) continue;
      if (!partitions.has(t.partition[i]!)) continue;
      t.seen[i] = t.seen[i]! | MARKER_REQUESTED;
      out.push({
        partition: t.partition[i]!,
        marker: {
          kind: 'install-timeout',
          v: 1,
          rolloutId: offer.rolloutId,
          offerId: offer.offerId,
          deviceKey: deviceKeyHex(t.keyHi[i]!, t.keyLo[i]!),
          attempt: t.attempt[i]!,
          startedAtMs: (t.startedAt[i]! + EPOCH_SEC) * 1000,
          decidedAtMs: nowMs,
        },
      });
    }
    return out;
  }

  /** Clears the "marker on its way" flag of a device (its marker could not be appended; retry next scan). */
  unrequestTimeout(marker: TimeoutMarker): void {
    const offer = this.catalogue.offer(marker.rolloutId, marker.offerId);
    if (offer === undefined) return;
    const [hi, lo] = parseDeviceKeyHex(marker.deviceKey);
    const i = this.table.find(hi, lo, offer.slot);
    if (i >= 0) this.table.seen[i] = this.table.seen[i]! & ~MARKER_REQUESTED;
  }

  /** Drops device state and pending changes of revoked partitions. */
  revoke(partitions: ReadonlySet<number>, kept: ReadonlySet<number>): void {
    this.table.retainPartitions(kept);
    this.aggregator.dropPartitions(partitions);
    this.aggregator.clearMarks(partitions);
  }
}
