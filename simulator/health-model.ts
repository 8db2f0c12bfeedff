/**
 * The simulated fleet's post-install health, without I/O: every device of every class reports each period its uptime
 * and its events per signal, drawn from the scenario's base rates — times a regression's factor on a class's build
 * from some hours after the device installed it, times a spike's factor for every device (updated or not) while the
 * spike lasts. A device on a rollout build for the whole period names the offer that installed it; any other period
 * (on the class's base build, installing, rolled back) names none. Reports go out a drawn delay after their period
 * (longer while a device is offline) and always in period order per device, as a device's queue would send them.
 *
 * Every draw comes from a stream seeded by (scenario seed, device, period), so a run's reports are a function of the
 * scenario, the orders and the clock. It keeps the ground truth: per class, what the devices reported on each
 * offer's build and on the base build, and how many devices each regression reached.
 */
import { murmur3 } from '../events/cohort';
import { MAX_SIGNAL_COUNT } from '../events/health-report';
import { drawDelaySec, type FleetModel, type ScheduledHealth } from './fleet-model';
import { mulberry32 } from './prng';
import type { HealthScenario, Regression, Scenario, Spike } from './scenario';

/** What a group of reports added up to. */
export type HealthSums = { reports: number; uptimeSec: number; events: Record<string, number> };

/** The post-install ground truth of a run. */
export type PostInstallTruth = {
  /** Simulated seconds per real second, as the scenario set it. */
  timeScale: number;
  /** Per class: reports of devices on each rollout build (key `${rolloutId}/${offerId}`) and on the base build. */
  classes: Record<string, { onOffer: Record<string, HealthSums>; onBase: HealthSums }>;
  /** Each regression of the scenario, with the devices that reported at least one regressed period. */
  regressions: (Regression & { devices: number })[];
  /** Each spike of the scenario, with the reports it raised. */
  spikes: (Spike & { reports: number })[];
};

type Device = { deviceClass: string; index: number; id: string; offsetMs: number };

function emptySums(): HealthSums {
  return { reports: 0, uptimeSec: 0, events: {} };
}

/** A Poisson draw with mean `mean` (inversion for small means, a rounded normal for large ones). */
export function drawPoisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 50) {
    const normal = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal));
  }
  let k = 0;
  let p = Math.exp(-mean);
  let cumulative = p;
  const u = random();
  while (u > cumulative && k < 1000) {
    k++;
    p *= mean / k;
    cumulative += p;
  }
  return k;
}

/**
 * The health side of a simulated fleet. `due(nowMs)` returns the reports of every device period that ended by
 * `nowMs` (the first call starts the clock); `truth()` the ground truth so far.
 */
export class HealthModel {
  private readonly health: HealthScenario;
  private readonly devices: Device[] = [];
  private readonly periodMs: number;
  private startMs: number | undefined;
  /** The next period to report (`period`) of the next device (`cursor`, in offset order). */
  private period = 0;
  private cursor = 0;
  /** Per device (index in `devices`): when its last report is due, so a device's reports keep their order. */
  private readonly lastDue: Float64Array;
  /** Per device: at least one regressed period reported, per regression. */
  private readonly regressed: Set<number>[];
  private readonly sums = new Map<string, { onOffer: Map<string, HealthSums>; onBase: HealthSums }>();
  private readonly spikeReports: number[];

  /** The health model of `scenario` (which must have a `health` section) over `fleet`'s devices. */
  constructor(
    private readonly scenario: Scenario,
    private readonly fleet: FleetModel,
  ) {
    if (scenario.health === undefined) throw new Error('the scenario has no health section');
    this.health = scenario.health;
    this.periodMs = Math.round(this.health.periodSec * 1000);
    for (const deviceClass of Object.keys(scenario.classes)) {
      fleet.deviceIds(deviceClass).forEach((id, index) => {
        const offsetMs = Math.floor((murmur3(`offset:${id}`, scenario.seed) / 2 ** 32) * this.periodMs);
        this.devices.push({ deviceClass, index, id, offsetMs });
      });
      this.sums.set(deviceClass, { onOffer: new Map(), onBase: emptySums() });
    }
    this.devices.sort((a, b) => a.offsetMs - b.offsetMs);
    this.lastDue = new Float64Array(this.devices.length);
    this.regressed = this.health.regressions.map(() => new Set());
    this.spikeReports = this.health.spikes.map(() => 0);
  }

  /** Real milliseconds that `hours` simulated hours take. */
  private realMs(hours: number): number {
    return (hours * 3_600_000) / this.health.timeScale;
  }

  /** The reports of every device period that ended at or before `nowMs`, in the order they end. */
  due(nowMs: number): ScheduledHealth[] {
    this.startMs ??= Math.floor(nowMs);
    const out: ScheduledHealth[] = [];
    for (;;) {
      const device = this.devices[this.cursor];
      if (device === undefined) break;
      const startMs = this.startMs + device.offsetMs + this.period * this.periodMs;
      if (startMs + this.periodMs > nowMs) break;
      out.push(this.report(this.cursor, device, startMs));
      if (++this.cursor === this.devices.length) {
        this.cursor = 0;
        this.period++;
      }
    }
    return out;
  }

  private report(slot: number, device: Device, startMs: number): ScheduledHealth {
    const health = this.health;
    const endMs = startMs + this.periodMs;
    const random = mulberry32(murmur3(`health:${this.period}:${device.id}`, this.scenario.seed));
    const running = this.fleet.runningBuild(device.deviceClass, device.index);
    const onBuild = running !== undefined && running.fromMs <= startMs && running.toMs >= endMs ? running : undefined;
    const share = Math.max(0, 2 * health.uptimeShare - 1 + (2 - 2 * health.uptimeShare) * random());
    const uptimeSec = Math.round(share * this.periodMs) / 1000;
    const simulatedHour = (startMs + this.periodMs / 2 - (this.startMs ?? startMs)) / this.realMs(1);
    const counts: Record<string, number> = {};
    for (const [signal, rate] of Object.entries(health.rates)) {
      let factor = 1;
      health.regressions.forEach((r, i) => {
        if (
          onBuild !== undefined &&
          r.signal === signal &&
          r.class === device.deviceClass &&
          r.build === onBuild.order.build &&
          startMs - onBuild.fromMs >= this.realMs(r.afterHours)
        ) {
          factor *= r.factor;
          this.regressed[i]!.add(slot);
        }
      });
      health.spikes.forEach((s, i) => {
        if (s.signal === signal && simulatedHour >= s.fromHours && simulatedHour < s.toHours) {
          factor *= s.factor;
          this.spikeReports[i]!++;
        }
      });
      const mean = (rate * factor * uptimeSec * health.timeScale) / 3600;
      const n = Math.min(MAX_SIGNAL_COUNT, drawPoisson(mean, random));
      if (n > 0) counts[signal] = n;
    }
    let dueMs = endMs + drawDelaySec(health.reportDelaySec, random) * 1000;
    if (random() < health.offlineRate) dueMs += (1 + Math.floor(random() * 4)) * this.periodMs;
    dueMs = Math.max(dueMs, this.lastDue[slot]! + 1);
    this.lastDue[slot] = dueMs;
    this.addTruth(device.deviceClass, onBuild?.order, uptimeSec, counts);
    return {
      dueMs,
      event: {
        type: 'health-report',
        eventId: `${device.id}:health:${this.period}`,
        deviceId: device.id,
        deviceClass: device.deviceClass,
        build: onBuild?.order.build ?? this.scenario.classes[device.deviceClass]?.osVersion ?? 'unknown',
        ...(onBuild !== undefined && { rolloutId: onBuild.order.rolloutId, offerId: onBuild.order.offerId }),
        periodStart: new Date(startMs).toISOString(),
        periodEnd: new Date(endMs).toISOString(),
        uptimeSec,
        counts,
        schemaVersion: 2,
      },
    };
  }

  private addTruth(
    deviceClass: string,
    order: { rolloutId: string; offerId: string } | undefined,
    uptimeSec: number,
    counts: Record<string, number>,
  ): void {
    const ofClass = this.sums.get(deviceClass);
    if (ofClass === undefined) return;
    let sums = ofClass.onBase;
    if (order !== undefined) {
      const key = `${order.rolloutId}/${order.offerId}`;
      sums = ofClass.onOffer.get(key) ?? emptySums();
      ofClass.onOffer.set(key, sums);
    }
    sums.reports++;
    sums.uptimeSec += uptimeSec;
    for (const [signal, n] of Object.entries(counts)) sums.events[signal] = (sums.events[signal] ?? 0) + n;
  }

  /** The ground truth so far (a copy). */
  truth(): PostInstallTruth {
    const copy = (s: HealthSums): HealthSums => ({ ...s, events: { ...s.events } });
    return {
      timeScale: this.health.timeScale,
      classes: Object.fromEntries(
        [...this.sums].map(([deviceClass, s]) => [
          deviceClass,
          {
            onOffer: Object.fromEntries([...s.onOffer].map(([key, sums]) => [key, copy(sums)])),
            onBase: copy(s.onBase),
          },
        ]),
      ),
      regressions: this.health.regressions.map((r, i) => ({ ...r, devices: this.regressed[i]!.size })),
      spikes: this.health.spikes.map((s, i) => ({ ...s, reports: this.spikeReports[i]! })),
    };
  }
}
