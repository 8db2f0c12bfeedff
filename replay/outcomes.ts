/**
 * What devices really did during a rollout, rebuilt from `bsi.install-events`: the per-(device, offer)
 * state machine the ingest runs (attempts, duplicates, first final outcome wins, install-timeout markers),
 * turning each record into the count change the ingest would have sent the lane, plus per-device facts
 * (when it installed, whether it failed, when it was patched) for blast radius and exposure windows.
 *
 * Pure: records in, changes and facts out. Offers come from the domain log (`exposure-issued`,
 * `rollback-started`), exactly what the ingest's catalogue reads, so the same records are accepted.
 */
import { cohortOf } from '../events/cohort';
import { OutcomeCountsSchema, type DomainEvent, type OutcomeCounts } from '../events/domain-events';
import type { InstallEventType } from '../events/install-event';
import type { DeviceKeys } from '../events/device-keys';

/** An offer the rollout issued, as the log records it. */
export type OfferInfo = {
  offerId: string;
  lane: string;
  kind: 'exposure' | 'rollback';
  phase: number;
  attempt: number;
  cohortBound: number;
  /** `at` of the event that issued it. */
  issuedAt: string;
  /** The lane's cohort salt when it is not the rollout id (`LaneConfig.cohortSalt`, a superseding lane's). */
  cohortSalt?: string;
};

/** A device report as replay needs it (the fields of `InstallEvent` it reads). */
export type DeviceReport = {
  deviceId: string;
  deviceClass: string;
  rolloutId: string;
  offerId: string;
  attempt: number;
  type: InstallEventType;
  errorCode?: string;
  at: string;
};

/** An install-timeout marker the ingest appended (see ingest/timeout-marker.ts for the wire format). */
export type TimeoutMarkerRecord = { rolloutId: string; offerId: string; deviceKey: string; attempt: number };

/** The value of one record of `bsi.install-events`, decoded: a device report or a timeout marker. */
export type DecodedInstallValue =
  { kind: 'report'; report: DeviceReport } | { kind: 'timeout'; marker: TimeoutMarkerRecord };

/** One record of `bsi.install-events`, decoded. */
export type InstallRecord = {
  partition: number;
  offset: number;
  /** Kafka append time. */
  timestampMs: number;
} & DecodedInstallValue;

/** The count change one record causes for its offer: what the ingest adds to the lane's next delta. */
export type CountChange = {
  offerId: string;
  lane: string;
  partition: number;
  offset: number;
  timestampMs: number;
  succeeded: number;
  /** The error code of a failure (`unknown` when the device gave none), else null. */
  failedCode: string | null;
  timedOut: number;
  inProgress: number;
};

/** What one device did in one lane, over every exposure offer. */
export type DeviceFact = {
  /** Append time of its first install report (install-started or a final outcome) on an exposure offer. */
  installedMs: number;
  /** The offer it first installed under. */
  offerId: string;
  /** Append time of its first counted failure or timeout on an exposure offer, or null. */
  failedMs: number | null;
  /** Append time of its first counted success on an exposure offer, or null. */
  patchedMs: number | null;
};

const TYPE_BIT: Record<InstallEventType, number> = {
  'offered-ack': 1,
  'download-started': 2,
  'install-started': 4,
  succeeded: 8,
  failed: 16,
  'rolled-back': 32,
  'rollback-failed': 64,
};
const FINAL_NONE = 0;
const FINAL_SUCCEEDED = 1;
const FINAL_FAILED = 2;
const FINAL_TIMED_OUT = 3;
const FINAL_ROLLED_BACK = 4;
const FINAL_ROLLBACK_FAILED = 5;

/**
 * What one device key did on one offer: its attempt, the report types seen in it, started, final outcome; `next`
 * is its state on another offer (a device reports on few offers, so a list). `offerId` null: not used yet.
 */
type DeviceState = {
  offerId: string | null;
  attempt: number;
  seen: number;
  started: boolean;
  final: number;
  next: DeviceState | null;
};

/**
 * One device id: its cohort bucket in this rollout, its key (`deviceKeyHex`), and its fact in the lane it last
 * installed in. Devices are counted by key, as the ingest's table does: the states of a key's devices are those
 * of `owner`, the first device seen with that key (itself but for a 2⁻⁶⁴ collision), whose own state fields hold
 * the first offer's (one object per device: replay keeps a million of them).
 */
type KnownDevice = DeviceState & {
  bucket: number;
  key: string;
  owner: KnownDevice;
  factLane: string | null;
  fact: DeviceFact | undefined;
};

/** The offers of a rollout, from its domain log (`exposure-issued`, widened by `exposure-widened`, and `rollback-started`). */
export function offersOf(events: readonly DomainEvent[]): Map<string, OfferInfo> {
  const offers = new Map<string, OfferInfo>();
  const phase = new Map<string, number>();
  /** Each lane's cohort salt when its config names one (a superseding lane's). */
  const salts = new Map<string, string>();
  const salted = (lane: string) => {
    const cohortSalt = salts.get(lane);
    return cohortSalt === undefined ? {} : { cohortSalt };
  };
  for (const e of events) {
    if (e.type === 'lane-started' && e.data.config.cohortSalt !== undefined) {
      salts.set(e.lane, e.data.config.cohortSalt);
    } else if (e.type === 'exposure-issued') {
      const { offerId, attempt, cohortBound } = e.data;
      phase.set(e.lane, e.data.phase);
      offers.set(offerId, {
        offerId,
        lane: e.lane,
        kind: 'exposure',
        phase: e.data.phase,
        attempt,
        cohortBound,
        issuedAt: e.at,
        ...salted(e.lane),
      });
    } else if (e.type === 'exposure-widened') {
      // A rate step: the offer's devices now reach the higher bound.
      const offer = offers.get(e.data.offerId);
      if (offer !== undefined) offer.cohortBound = Math.max(offer.cohortBound, e.data.cohortBound);
    } else if (e.type === 'rollback-started') {
      const { offerId, rollbackAttempt, cohortBound } = e.data;
      offers.set(offerId, {
        offerId,
        lane: e.lane,
        kind: 'rollback',
        phase: Math.max(0, phase.get(e.lane) ?? 0),
        attempt: rollbackAttempt,
        cohortBound,
        issuedAt: e.at,
        ...salted(e.lane),
      });
    }
  }
  return offers;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Decodes one record value into a device report or a timeout marker, or null when it is neither (the
 * ingest dead-lettered such records, so replay skips them too). A cheap structural check, not the full
 * schema: replay reads what the ingest already accepted, and must read a million records a second.
 */
export function decodeInstallValue(value: Buffer | string | null): DecodedInstallValue | null {
  if (value === null || value.length === 0) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (r.kind === 'install-timeout') {
    if (!isString(r.rolloutId) || !isString(r.offerId) || !isString(r.deviceKey) || typeof r.attempt !== 'number') {
      return null;
    }
    return {
      kind: 'timeout',
      marker: { rolloutId: r.rolloutId, offerId: r.offerId, deviceKey: r.deviceKey, attempt: r.attempt },
    };
  }
  if (
    !isString(r.deviceId) ||
    !isString(r.deviceClass) ||
    !isString(r.rolloutId) ||
    !isString(r.offerId) ||
    typeof r.attempt !== 'number' ||
    !isString(r.at) ||
    typeof r.type !== 'string' ||
    !(r.type in TYPE_BIT) ||
    (r.schemaVersion !== 1 && r.schemaVersion !== 2) // v2 carries install events unchanged (and health reports)
  ) {
    return null;
  }
  return { kind: 'report', report: raw as DeviceReport };
}

/** Whether the delta schema accepts a negative `timedOut` (then the ingest corrects timeouts on late reports). */
function correctsTimeouts(): boolean {
  return OutcomeCountsSchema.safeParse({ succeeded: 0, failedByCode: {}, timedOut: -1, inProgress: 0 }).success;
}

/**
 * Rebuilds count changes and device facts from install records, one record at a time in append order
 * (offset order per partition; partitions are independent because they are keyed by device). Mirrors the
 * ingest's acceptance rules: unknown offer, wrong class, attempt not issued, wrong offer kind, clock skew
 * and outside-cohort reports are not counted.
 */
export class OutcomeTracker {
  /** Per device id: what is known of it (its bucket and key: hashing is the hot path). */
  private readonly devices = new Map<string, KnownDevice>();
  /** Per device key (`deviceKeyHex`): its owner (see `KnownDevice`), for timeout markers, which name devices by key. */
  private readonly byKey = new Map<string, KnownDevice>();
  private readonly corrects = correctsTimeouts();
  /** Per lane: device key → what it did on the lane's exposure offers. */
  readonly facts = new Map<string, Map<string, DeviceFact>>();
  /** Every counted change, in the order records were added. */
  readonly changes: CountChange[] = [];
  /** Records of this rollout that were not counted (rejected or ignored as the ingest would). */
  skipped = 0;
  /** Records read that belong to this rollout. */
  seen = 0;

  /**
   * `deviceKeys` must use the deployment's secret (`BSI_DEVICE_KEY_SECRET`, or the local `.data/` one): the
   * install-timeout markers name devices by that keyed hash, and with another secret no marker would match.
   */
  constructor(
    private readonly rolloutId: string,
    private readonly offers: ReadonlyMap<string, OfferInfo>,
    private readonly deviceKeys: DeviceKeys,
    private readonly maxClockSkewSec = 86_400,
  ) {}

  /** Adds one record; returns the count change it caused, or null. */
  add(record: InstallRecord): CountChange | null {
    return record.kind === 'timeout'
      ? this.addMarker(record.partition, record.offset, record.timestampMs, record.marker)
      : this.addReport(record.partition, record.offset, record.timestampMs, record.report);
  }

  /**
   * Adds one decoded record as it was read (`decodeInstallValue`'s output, where it is and its append time)
   * without building an `InstallRecord` first: the hot loop of `readInstallFacts`. Same as `add`.
   */
  addDecoded(partition: number, offset: number, timestampMs: number, decoded: DecodedInstallValue): CountChange | null {
    return decoded.kind === 'timeout'
      ? this.addMarker(partition, offset, timestampMs, decoded.marker)
      : this.addReport(partition, offset, timestampMs, decoded.report);
  }

  private addReport(partition: number, offset: number, timestampMs: number, e: DeviceReport): CountChange | null {
    if (e.rolloutId !== this.rolloutId) return null;
    this.seen++;
    const offer = this.offers.get(e.offerId);
    const rollbackReport = e.type === 'rolled-back' || e.type === 'rollback-failed';
    const exposureFinal = e.type === 'succeeded' || e.type === 'failed';
    if (
      offer === undefined ||
      e.deviceClass !== offer.lane ||
      e.attempt > offer.attempt ||
      (offer.kind === 'exposure' && rollbackReport) ||
      (offer.kind === 'rollback' && exposureFinal) ||
      Date.parse(e.at) > timestampMs + this.maxClockSkewSec * 1000
    ) {
      this.skipped++;
      return null;
    }
    let device = this.devices.get(e.deviceId);
    if (device === undefined) {
      const key = this.deviceKeys.hexOf(e.deviceId);
      const owner = this.byKey.get(key);
      const created: KnownDevice = {
        offerId: null,
        attempt: 0,
        seen: 0,
        started: false,
        final: FINAL_NONE,
        next: null,
        // A device reports in one class, so one lane's salt: its own rollout id unless the lane supersedes another.
        bucket: cohortOf(e.deviceId, offer.cohortSalt ?? e.rolloutId),
        key,
        owner: undefined as unknown as KnownDevice,
        factLane: null,
        fact: undefined,
      };
      created.owner = owner ?? created;
      if (owner === undefined) this.byKey.set(key, created);
      device = created;
      this.devices.set(e.deviceId, device);
    }
    if (device.bucket >= offer.cohortBound) {
      this.skipped++;
      return null;
    }
    const s = stateOf(device.owner, offer.offerId) ?? newState(device.owner, offer.offerId);
    if (s.attempt === 0 || e.attempt > s.attempt) {
      s.attempt = e.attempt;
      s.seen = 0;
    } else if (e.attempt < s.attempt) {
      this.skipped++;
      return null;
    }
    const bit = TYPE_BIT[e.type];
    if ((s.seen & bit) !== 0) {
      this.skipped++;
      return null;
    }
    s.seen |= bit;
    switch (e.type) {
      case 'offered-ack':
      case 'download-started':
        return null;
      case 'install-started':
        if (s.final !== FINAL_NONE) return null;
        this.noteInstall(offer, device, timestampMs);
        if (s.started) return null;
        s.started = true;
        return this.change(offer, partition, offset, timestampMs, 0, null, 0, 1);
      case 'succeeded':
        return this.finish(s, offer, device, partition, offset, timestampMs, FINAL_SUCCEEDED, null);
      case 'failed':
        return this.finish(s, offer, device, partition, offset, timestampMs, FINAL_FAILED, e.errorCode ?? 'unknown');
      case 'rolled-back':
        return this.finish(s, offer, device, partition, offset, timestampMs, FINAL_ROLLED_BACK, null);
      case 'rollback-failed':
        return this.finish(
          s,
          offer,
          device,
          partition,
          offset,
          timestampMs,
          FINAL_ROLLBACK_FAILED,
          e.errorCode ?? 'unknown',
        );
      default: {
        const _exhaustive: never = e.type;
        throw new Error(`unexpected install event type ${String(_exhaustive)}`);
      }
    }
  }

  private finish(
    s: DeviceState,
    offer: OfferInfo,
    device: KnownDevice,
    partition: number,
    offset: number,
    timestampMs: number,
    kind: number,
    code: string | null,
  ): CountChange | null {
    const succeeded = code === null ? 1 : 0;
    if (s.final === FINAL_NONE) {
      const wasStarted = s.started;
      s.final = kind;
      this.noteFinal(offer, device, timestampMs, kind);
      return this.change(offer, partition, offset, timestampMs, succeeded, code, 0, wasStarted ? -1 : 0);
    }
    if (s.final === FINAL_TIMED_OUT && this.corrects) {
      s.final = kind;
      return this.change(offer, partition, offset, timestampMs, succeeded, code, -1, 0);
    }
    return null;
  }

  private addMarker(
    partition: number,
    offset: number,
    timestampMs: number,
    m: TimeoutMarkerRecord,
  ): CountChange | null {
    if (m.rolloutId !== this.rolloutId) return null;
    this.seen++;
    const offer = this.offers.get(m.offerId);
    const owner = offer === undefined ? undefined : this.byKey.get(m.deviceKey);
    const s = offer === undefined || owner === undefined ? undefined : stateOf(owner, offer.offerId);
    if (offer === undefined || s === undefined || s.attempt !== m.attempt || !s.started || s.final !== FINAL_NONE) {
      this.skipped++;
      return null;
    }
    s.final = FINAL_TIMED_OUT;
    this.noteMarkerFinal(offer, m.deviceKey, timestampMs);
    return this.change(offer, partition, offset, timestampMs, 0, null, 1, -1);
  }

  private change(
    offer: OfferInfo,
    partition: number,
    offset: number,
    timestampMs: number,
    succeeded: number,
    failedCode: string | null,
    timedOut: number,
    inProgress: number,
  ): CountChange {
    const change: CountChange = {
      offerId: offer.offerId,
      lane: offer.lane,
      partition,
      offset,
      timestampMs,
      succeeded,
      failedCode,
      timedOut,
      inProgress,
    };
    this.changes.push(change);
    return change;
  }

  private factsOf(lane: string): Map<string, DeviceFact> {
    let facts = this.facts.get(lane);
    if (facts === undefined) {
      facts = new Map();
      this.facts.set(lane, facts);
    }
    return facts;
  }

  private noteInstall(offer: OfferInfo, device: KnownDevice, ms: number): DeviceFact | undefined {
    if (offer.kind !== 'exposure') return undefined;
    // A device keeps to its lane: the fact of its last lane is at hand, another lane's is looked up.
    if (device.factLane === offer.lane && device.fact !== undefined) return device.fact;
    const facts = this.factsOf(offer.lane);
    let fact = facts.get(device.key);
    if (fact === undefined) {
      fact = { installedMs: ms, offerId: offer.offerId, failedMs: null, patchedMs: null };
      facts.set(device.key, fact);
    }
    device.factLane = offer.lane;
    device.fact = fact;
    return fact;
  }

  private noteFinal(offer: OfferInfo, device: KnownDevice, ms: number, kind: number): void {
    const fact = this.noteInstall(offer, device, ms);
    if (fact === undefined) return;
    markFinal(fact, ms, kind);
  }

  /** A timeout marker's final outcome: the device is known by its key only. */
  private noteMarkerFinal(offer: OfferInfo, deviceKey: string, ms: number): void {
    if (offer.kind !== 'exposure') return;
    const facts = this.factsOf(offer.lane);
    let fact = facts.get(deviceKey);
    if (fact === undefined) {
      fact = { installedMs: ms, offerId: offer.offerId, failedMs: null, patchedMs: null };
      facts.set(deviceKey, fact);
    }
    markFinal(fact, ms, FINAL_TIMED_OUT);
  }
}

/** Notes a final outcome in a device's fact: the first failure (or timeout) and the first success count. */
function markFinal(fact: DeviceFact, ms: number, kind: number): void {
  if ((kind === FINAL_FAILED || kind === FINAL_TIMED_OUT) && fact.failedMs === null) fact.failedMs = ms;
  if (kind === FINAL_SUCCEEDED && fact.patchedMs === null) fact.patchedMs = ms;
}

/** The state of a key's `owner` on offer `offerId`, if it reported on it. */
function stateOf(owner: KnownDevice, offerId: string): DeviceState | undefined {
  for (let s: DeviceState | null = owner; s !== null; s = s.next) if (s.offerId === offerId) return s;
  return undefined;
}

/** A fresh state of a key's `owner` on offer `offerId`: its own fields when unused, else one more in its list. */
function newState(owner: KnownDevice, offerId: string): DeviceState {
  if (owner.offerId === null) {
    owner.offerId = offerId;
    return owner;
  }
  const s: DeviceState = { offerId, attempt: 0, seen: 0, started: false, final: FINAL_NONE, next: owner.next };
  owner.next = s;
  return s;
}

/** Zero counts. */
export function zeroCounts(): OutcomeCounts {
  return { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
}

/** Adds one count change to counts in place (the hot path of delta rebuilding). */
export function addChange(counts: OutcomeCounts, change: CountChange): void {
  counts.succeeded += change.succeeded;
  counts.timedOut += change.timedOut;
  counts.inProgress += change.inProgress;
  if (change.failedCode !== null) {
    counts.failedByCode[change.failedCode] = (counts.failedByCode[change.failedCode] ?? 0) + 1;
  }
}

/**
 * Count changes of each offer, per partition in offset order: lets replay sum exactly the changes a
 * recorded health delta covered (its Kafka partition/offset ranges).
 */
export class ChangeIndex {
  private readonly byOffer = new Map<string, Map<number, CountChange[]>>();

  constructor(changes: readonly CountChange[]) {
    for (const c of changes) {
      let parts = this.byOffer.get(c.offerId);
      if (parts === undefined) {
        parts = new Map();
        this.byOffer.set(c.offerId, parts);
      }
      let list = parts.get(c.partition);
      if (list === undefined) {
        list = [];
        parts.set(c.partition, list);
      }
      list.push(c);
    }
    for (const parts of this.byOffer.values())
      for (const list of parts.values()) list.sort((a, b) => a.offset - b.offset);
  }

  /** The changes of `offerId` on `partition` with offsets in `[from, to]`, in offset order. */
  range(offerId: string, partition: number, from: number, to: number): CountChange[] {
    const list = this.byOffer.get(offerId)?.get(partition);
    if (list === undefined) return [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.offset < from) lo = mid + 1;
      else hi = mid;
    }
    const out: CountChange[] = [];
    for (let i = lo; i < list.length && list[i]!.offset <= to; i++) out.push(list[i]!);
    return out;
  }
}
