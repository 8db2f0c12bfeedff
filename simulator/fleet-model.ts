/**
 * The simulated fleet, without I/O: given an order from the engine (expose, retry, rollback) at a
 * time, it says which devices react, what each reports and when. Every random draw comes from a
 * stream seeded by (scenario seed, device, offer), so the same scenario and orders give the same
 * reports whatever order the orders are processed in, and a redelivered order changes nothing.
 *
 * It also keeps the ground truth — what each device really did under each offer — which tests and
 * benchmarks compare with what the engine counted, and which rollout build each device runs since when (for the
 * post-install health reports of `health-model.ts`).
 */
import { cohortOf, murmur3 } from '../events/cohort';
import type { HealthReport } from '../events/health-report';
import type { InstallEvent, InstallEventType } from '../events/install-event';
import { behaviourOf, type Behaviour, type Delay, type Scenario } from './scenario';
import { mulberry32 } from './prng';

/** What the simulator needs of an order on `bsi.commands`. */
export type FleetOrder = {
  kind: 'expose' | 'retry' | 'rollback';
  rolloutId: string;
  lane: string;
  releaseId: string;
  build: string;
  offerId: string;
  attempt: number;
  cohortBound: number;
  /** The salt of the lane's cohort buckets when it is not `rolloutId` (a superseding lane's, see FleetCommand). */
  cohortSalt?: string;
};

/** One install event a device will send, `dueMs` after the epoch the caller uses (wall clock in the simulator). */
export type ScheduledReport = { dueMs: number; event: Omit<InstallEvent, 'at'> };
/** One health report a device will send (`health-model.ts`). */
export type ScheduledHealth = { dueMs: number; event: Omit<HealthReport, 'at'> };
/** Anything a device will send; `at` is stamped when it is sent. */
export type ScheduledSend = ScheduledReport | ScheduledHealth;

/** The rollout build a device runs: the order that installed it, from when, until when (a rollback's end). */
export type RunningBuild = { order: FleetOrder; fromMs: number; toMs: number };

/** What really happened under one offer: the numbers the engine's counts must equal. */
export type OfferTruth = {
  rolloutId: string;
  offerId: string;
  lane: string;
  kind: FleetOrder['kind'];
  attempt: number;
  /** Devices that reacted to the offer. */
  reacted: number;
  succeeded: number;
  failedByCode: Record<string, number>;
  /** Devices that started and went silent: the engine should count them as timed out. */
  silent: number;
};

const enum Status {
  None = 0,
  Succeeded = 1,
  Failed = 2,
  Silent = 3,
  RolledBack = 4,
  RollbackFailed = 5,
}

/** A log-normal draw with the given median and a spread that puts ~99% of draws below `max`, clipped at `max`. */
export function drawDelaySec(delay: Delay, random: () => number): number {
  if (delay.median === 0) return random() * delay.max;
  const sigma = Math.max(0.05, Math.log(Math.max(delay.max, delay.median * 1.01) / delay.median) / 2.33);
  const u1 = Math.max(random(), 1e-12);
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
  return Math.min(delay.max, delay.median * Math.exp(sigma * normal));
}

function drawCode(codes: Record<string, number>, random: () => number): string {
  const entries = Object.entries(codes);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [code, weight] of entries) {
    r -= weight;
    if (r < 0) return code;
  }
  return entries[entries.length - 1]?.[0] ?? 'unknown';
}

type ClassFleet = {
  ids: string[];
  buckets: Map<string, Uint16Array>;
  status: Map<string, Uint8Array>;
  /** Per device: the rollout build it runs (the latest install that succeeded), if any. */
  running: (RunningBuild | undefined)[];
};

/**
 * The fleet of a scenario. `apply(order, nowMs)` returns the reports the order causes; `truth()` the
 * ground truth so far. Device ids are `${class}-${index}` (zero-padded), stable across runs.
 */
export class FleetModel {
  private readonly classes = new Map<string, ClassFleet>();
  /** The bound each offer was carried out to (`${rolloutId}/${offerId}`): a rate step widens it. */
  private readonly offerBounds = new Map<string, number>();
  private readonly truths = new Map<string, OfferTruth>();
  /** Per rollout and class: the time each device's install finishes, so a rollback waits for it. */
  private readonly installDone = new Map<string, Float64Array>();

  constructor(private readonly scenario: Scenario) {
    for (const [name, cls] of Object.entries(scenario.classes)) {
      const width = String(cls.devices - 1).length;
      const ids = Array.from({ length: cls.devices }, (_, i) => `${name}-${String(i).padStart(width, '0')}`);
      this.classes.set(name, {
        ids,
        buckets: new Map(),
        status: new Map(),
        running: new Array<RunningBuild | undefined>(ids.length),
      });
    }
  }

  /** The device classes the scenario simulates and their sizes. */
  classSizes(): Record<string, number> {
    return Object.fromEntries([...this.classes].map(([name, cls]) => [name, cls.ids.length]));
  }

  /** The device ids of `deviceClass` (index = device index), or none for a class the scenario does not have. */
  deviceIds(deviceClass: string): readonly string[] {
    return this.classes.get(deviceClass)?.ids ?? [];
  }

  /** The rollout build device `index` of `deviceClass` runs or ran last, if an install of one succeeded. */
  runningBuild(deviceClass: string, index: number): RunningBuild | undefined {
    return this.classes.get(deviceClass)?.running[index];
  }

  /** Ground truth of every order applied so far, keyed `${rolloutId}/${offerId}` (offer ids are per rollout). */
  truth(): Record<string, OfferTruth> {
    return Object.fromEntries([...this.truths].map(([key, t]) => [key, { ...t, failedByCode: { ...t.failedByCode } }]));
  }

  /** Ground truth of one rollout, keyed by offer id. */
  truthOf(rolloutId: string): Record<string, OfferTruth> {
    return Object.fromEntries(
      Object.values(this.truth())
        .filter((t) => t.rolloutId === rolloutId)
        .map((t) => [t.offerId, t]),
    );
  }

  /**
   * Applies one order at `nowMs` and returns the reports it causes, unsorted. An order for a class the
   * scenario does not have causes nothing. An order of an offer already applied reaches only the devices between
   * the bound it was applied to and its own (a rate step widens an offer; a redelivered order reaches none).
   */
  apply(order: FleetOrder, nowMs: number): ScheduledReport[] {
    const cls = this.classes.get(order.lane);
    const key = `${order.rolloutId}/${order.offerId}`;
    const applied = this.offerBounds.get(key);
    if (!cls || (applied !== undefined && applied >= order.cohortBound)) return [];
    this.offerBounds.set(key, order.cohortBound);
    const from = applied ?? 0;
    const buckets = this.bucketsOf(cls, order.cohortSalt ?? order.rolloutId);
    const status = this.statusOf(cls, order.rolloutId);
    const done = this.doneOf(order.rolloutId, order.lane, cls.ids.length);
    const behaviour = behaviourOf(this.scenario, order.lane, order.build);
    const osVersion = this.scenario.classes[order.lane]?.osVersion ?? 'unknown';
    const truth: OfferTruth = this.truths.get(key) ?? {
      rolloutId: order.rolloutId,
      offerId: order.offerId,
      lane: order.lane,
      kind: order.kind,
      attempt: order.attempt,
      reacted: 0,
      succeeded: 0,
      failedByCode: {},
      silent: 0,
    };
    this.truths.set(key, truth);
    const reports: ScheduledReport[] = [];
    for (let i = 0; i < cls.ids.length; i++) {
      const bucket = buckets[i] ?? 0;
      if (bucket < from || bucket >= order.cohortBound) continue;
      const s = status[i] as Status;
      const reacts =
        order.kind === 'expose'
          ? s === Status.None
          : order.kind === 'retry'
            ? s === Status.Failed
            : s === Status.Succeeded;
      if (!reacts) continue;
      const deviceId = cls.ids[i] ?? '';
      const random = mulberry32(murmur3(`${key}:${deviceId}`, this.scenario.seed));
      const base = { deviceId, osVersion, order };
      truth.reacted++;
      if (order.kind === 'rollback') {
        const start = Math.max(nowMs, done[i] ?? 0) + drawDelaySec(behaviour.checkInDelaySec, random) * 1000;
        const end = start + drawDelaySec(behaviour.rollbackDurationSec, random) * 1000;
        const ok = random() < behaviour.rollbackSuccessRate;
        status[i] = ok ? Status.RolledBack : Status.RollbackFailed;
        const running = cls.running[i];
        if (ok && running !== undefined && running.order.rolloutId === order.rolloutId) running.toMs = end;
        if (ok) truth.succeeded++;
        else truth.failedByCode.E_ROLLBACK = (truth.failedByCode.E_ROLLBACK ?? 0) + 1;
        const own = [report(base, end, ok ? 'rolled-back' : 'rollback-failed', ok ? undefined : 'E_ROLLBACK')];
        maybeDuplicate(own, behaviour, random);
        reports.push(...own);
        continue;
      }
      reports.push(...this.install(base, nowMs, behaviour, random, status, done, i, truth));
      if (status[i] === Status.Succeeded) cls.running[i] = { order, fromMs: done[i] ?? nowMs, toMs: Infinity };
    }
    return reports;
  }

  private install(
    base: ReportBase,
    nowMs: number,
    behaviour: Behaviour,
    random: () => number,
    status: Uint8Array,
    done: Float64Array,
    i: number,
    truth: OfferTruth,
  ): ScheduledReport[] {
    const ack = nowMs + drawDelaySec(behaviour.checkInDelaySec, random) * 1000;
    const downloadStart = ack + 50 + random() * 200;
    const installStart = downloadStart + 200 + random() * 800;
    const final = installStart + drawDelaySec(behaviour.installDurationSec, random) * 1000;
    const out = [
      report(base, ack, 'offered-ack'),
      report(base, downloadStart, 'download-started'),
      report(base, installStart, 'install-started'),
    ];
    done[i] = final;
    if (random() < behaviour.silentRate) {
      status[i] = Status.Silent;
      truth.silent++;
      return out;
    }
    const failed = random() < behaviour.failureRate;
    const code = failed ? drawCode(behaviour.errorCodes, random) : undefined;
    status[i] = failed ? Status.Failed : Status.Succeeded;
    if (code) truth.failedByCode[code] = (truth.failedByCode[code] ?? 0) + 1;
    else truth.succeeded++;
    const last = report(base, final, failed ? 'failed' : 'succeeded', code);
    if (random() < behaviour.reorderRate) {
      // The final report overtakes install-started on the way.
      const started = out[2];
      if (started) [started.dueMs, last.dueMs] = [last.dueMs, started.dueMs - 1];
    }
    out.push(last);
    maybeDuplicate(out, behaviour, random);
    return out;
  }

  /** The class's cohort buckets under a salt (a rollout id: the lane's own, or the one a superseding lane took). */
  private bucketsOf(cls: ClassFleet, salt: string): Uint16Array {
    let buckets = cls.buckets.get(salt);
    if (!buckets) {
      buckets = Uint16Array.from(cls.ids, (id) => cohortOf(id, salt));
      cls.buckets.set(salt, buckets);
    }
    return buckets;
  }

  private statusOf(cls: ClassFleet, rolloutId: string): Uint8Array {
    let status = cls.status.get(rolloutId);
    if (!status) {
      status = new Uint8Array(cls.ids.length);
      cls.status.set(rolloutId, status);
    }
    return status;
  }

  private doneOf(rolloutId: string, lane: string, size: number): Float64Array {
    const key = `${rolloutId}\u0000${lane}`;
    let done = this.installDone.get(key);
    if (!done) {
      done = new Float64Array(size);
      this.installDone.set(key, done);
    }
    return done;
  }
}

type ReportBase = { deviceId: string; osVersion: string; order: FleetOrder };

function report(base: ReportBase, dueMs: number, type: InstallEventType, errorCode?: string): ScheduledReport {
  const { order } = base;
  return {
    dueMs,
    event: {
      eventId: `${order.rolloutId}:${order.offerId}:${base.deviceId}:${type}`,
      deviceId: base.deviceId,
      deviceClass: order.lane,
      rolloutId: order.rolloutId,
      releaseId: order.releaseId,
      offerId: order.offerId,
      attempt: order.attempt,
      type,
      ...(errorCode !== undefined && { errorCode }),
      osVersion: base.osVersion,
      schemaVersion: 1,
    },
  };
}

/** With the scenario's probability, sends one of the device's reports twice (same eventId), a little later. */
function maybeDuplicate(reports: ScheduledReport[], behaviour: Behaviour, random: () => number): void {
  if (reports.length === 0 || random() >= behaviour.duplicateRate) return;
  const original = reports[Math.floor(random() * reports.length)] ?? reports[0];
  if (original) reports.push({ dueMs: original.dueMs + 100 + random() * 2000, event: original.event });
}
