/**
 * A time-aware fleet: devices spread over the world's time zones, online only during their local day, checking for
 * updates on a timer while online, some of them away for the first days. It answers one question per device: offered
 * the build at minute `t` (of a simulated clock whose minute 0 is Monday 00:00 UTC), when does it start installing,
 * and how does the install end? `bench:exposure` drives it through the lane decider (`lane-sim.ts`) and through an
 * AWS-style ramp (`aws-ramp.ts`).
 *
 * Every device's behaviour is a pure function of the seed and its index (zone, install time, fate, and per local day
 * its check-in times), so the same device behaves the same under every schedule and every build (common random
 * numbers): schedules differ only by when they offer. Fates are drawn once (`u`): a device fails under a build of
 * failure rate p when `u < p`, so a worse build fails a superset of the devices a better one fails.
 *
 * The pinned default (`DEFAULT_FLEET`): 24 zones (UTC−11 … UTC+12) with devices spread evenly; online 07:00–23:00
 * local; the first check of each local day at 07:00 plus a uniform 0–4 h, then every 4 h ± 30 min (uniform) while
 * online; an install takes 5–20 min (uniform) and starts only if it ends by 23:00 local (else the device waits for its
 * next check, the next morning); 3 % of devices are away (no check-in at all) for the first 72 h.
 *
 * Pure and seeded. No I/O.
 */
import { mulberry32 } from './prng';

/** How a fleet lives, apart from the build. */
export interface FleetModel {
  /** Time zones, spread evenly; zone z is at UTC offset `firstZoneOffsetHours + z` hours. */
  zones: number;
  firstZoneOffsetHours: number;
  /** Local online hours: [onlineFromHour, onlineToHour). */
  onlineFromHour: number;
  onlineToHour: number;
  /** Check-in period while online and its jitter (minutes, uniform ±). */
  checkInPeriodMin: number;
  checkInJitterMin: number;
  /** Install duration, uniform between these (minutes, inclusive). */
  installMin: readonly [number, number];
  /** Share of devices away (no check-in) until `awayHours`. */
  awayShare: number;
  awayHours: number;
  /** Share of failures that are silent crashes (the device says nothing; the install times out). */
  silentShare: number;
}

/** The pinned default fleet of `bench:exposure` (see the file's comment). */
export const DEFAULT_FLEET: FleetModel = Object.freeze({
  zones: 24,
  firstZoneOffsetHours: -11,
  onlineFromHour: 7,
  onlineToHour: 23,
  checkInPeriodMin: 240,
  checkInJitterMin: 30,
  installMin: [5, 20] as const,
  awayShare: 0.03,
  awayHours: 72,
  silentShare: 0.3,
});

/** One device: its zone, install duration, whether it is away at first, its fate draws and its own seed. */
export interface FleetDevice {
  zone: number;
  /** Minutes from UTC to local time (offset hours × 60). */
  offsetMin: number;
  installMin: number;
  away: boolean;
  /** Fails under a build of failure rate p when `fate < p`. */
  fate: number;
  /** A failure is silent when `silent < silentShare`. */
  silent: number;
  seed: number;
}

/** How a device's install ends under one build. */
export type InstallEnd = 'success' | 'failed' | 'silent';

/** Mixes 32 bits (MurmurHash3's finalizer): a device's seed from the run's seed and its index. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Device `index` of the fleet under `seed`: the same device for every schedule and build. */
export function fleetDevice(fleet: FleetModel, seed: number, index: number): FleetDevice {
  const deviceSeed = mix32(mix32(seed) ^ Math.imul(index + 1, 0x9e3779b1));
  const rand = mulberry32(deviceSeed);
  const zone = Math.floor(rand() * fleet.zones);
  const [lo, hi] = fleet.installMin;
  return {
    zone,
    offsetMin: (fleet.firstZoneOffsetHours + zone) * 60,
    installMin: lo + Math.floor(rand() * (hi - lo + 1)),
    away: rand() < fleet.awayShare,
    fate: rand(),
    silent: rand(),
    seed: deviceSeed,
  };
}

/** How a device's install ends under a build failing at `failureRate`. */
export function installEnd(fleet: FleetModel, device: FleetDevice, failureRate: number): InstallEnd {
  if (device.fate >= failureRate) return 'success';
  return device.silent < fleet.silentShare ? 'silent' : 'failed';
}

/**
 * The minute the device starts installing when it is offered the build at minute `offeredMin`: its first check-in at
 * or after the offer at which it is reachable (not away) and the install ends within its online hours. -1 when there
 * is none before `horizonMin`.
 */
export function installStartMin(
  fleet: FleetModel,
  device: FleetDevice,
  offeredMin: number,
  horizonMin: number,
): number {
  const from = fleet.onlineFromHour * 60;
  const to = fleet.onlineToHour * 60;
  const notBefore = device.away ? Math.max(offeredMin, fleet.awayHours * 60) : offeredMin;
  const jitter = fleet.checkInJitterMin;
  for (let day = Math.floor((notBefore + device.offsetMin) / 1440); ; day++) {
    const dayStart = day * 1440 - device.offsetMin;
    if (dayStart + from >= horizonMin) return -1;
    if (dayStart + to <= notBefore) continue;
    // The day's check-in times: one stream per (device, local day), whatever the offer.
    const rand = mulberry32(mix32(device.seed ^ Math.imul(day + 0x10000, 0x27d4eb2f)));
    let local = from + Math.floor(rand() * fleet.checkInPeriodMin);
    while (local + device.installMin <= to) {
      const at = dayStart + local;
      if (at >= horizonMin) return -1;
      if (at >= notBefore) return at;
      local += fleet.checkInPeriodMin - jitter + Math.floor(rand() * (2 * jitter + 1));
    }
  }
}

/** The device's local hour (0–23) at a minute of the simulated clock. */
export function localHourOf(device: FleetDevice, minute: number): number {
  return Math.floor(((((minute + device.offsetMin) % 1440) + 1440) % 1440) / 60);
}

/**
 * The fleet's floor: every one of `devices` devices offered the build at minute 0; the minute by which `share` of
 * them installed it successfully (-1: not within `horizonMin`). No schedule can beat it: a device cannot install
 * before its first reachable check-in.
 */
export function floorMinutes(
  fleet: FleetModel,
  seed: number,
  devices: number,
  failureRate: number,
  share: number,
  horizonMin: number,
): number {
  const done: number[] = [];
  for (let i = 0; i < devices; i++) {
    const device = fleetDevice(fleet, seed, i);
    if (installEnd(fleet, device, failureRate) !== 'success') continue;
    const start = installStartMin(fleet, device, 0, horizonMin);
    if (start >= 0) done.push(start + device.installMin);
  }
  const need = Math.ceil(share * devices);
  if (done.length < need) return -1;
  done.sort((a, b) => a - b);
  return done[need - 1]!;
}
