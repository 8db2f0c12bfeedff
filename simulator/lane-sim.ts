/**
 * One device class on a simulated clock, driven through the real lane decider (`decideLane` and its fold): the
 * model behind `bench:policy`. Each phase's offer reaches the devices of its cohort (`cohortOf`, so phases nest);
 * devices check in at random times, install for a while and report — or fail, crash silently (timed out after
 * `installTimeoutSec`), or go silent and report success after the timeout (a correction) — and report ignored
 * codes now and then. Counts reach the lane as health deltas the way the ingest sends them: at once when the
 * pending counts would change the verdict (the ingest's urgent flush, judged with the lane's own thresholds on the
 * attempt's counts), otherwise every `flushMin`; with Kafka-like offset ranges. Bake, backoff and rollback deadlines
 * fire as timers. The run ends when the lane completes, pauses, rolls back, or the horizon passes.
 *
 * With a `PostInstallModel` (a lane with a regression rule), every `reportEveryMin` the class's devices report their
 * uptime and crashes of the period, summed the way the ingest groups them into a post-install delta: `updated` is
 * every device that installed the build, `control` every device not offered it yet (devices offered and not yet
 * installed are in neither). Each device is on for the whole period and crashes as a Poisson process (control rate
 * `ratePerHour`, the build's `ratio` × it, both × `spike.factor` during the spike), so a group's crashes in a period
 * are Poisson with the summed mean: the same counts per-device reports would add up to. Its random numbers are a
 * stream of their own, so the installs of a run are the same with and without it.
 *
 * Pure and seeded: same model, plan and seed, same run. No I/O.
 */
import { isRefusal, type LaneInput } from '../events/commands';
import { cohortOf } from '../events/cohort';
import type { DomainEvent } from '../events/domain-events';
import { assessHealth, type HealthCounts } from '../events/health';
import { attemptCounts, decideLane, finalOutcomes, foldLane, initialLaneState, type LaneState } from '../events/lane';
import type { LaneConfig } from '../events/plan';
import { mulberry32 } from './prng';

/** How a class behaves, apart from the build's failure rate. */
export interface ClassModel {
  devices: number;
  /** Devices poll for updates this often (minutes): each checks in at a uniform random time within one period. */
  checkInPeriodMin: number;
  /** Install duration, uniform between these (minutes); below the install timeout. */
  installMin: readonly [number, number];
  /** Share of devices that report an ignored error code (e.g. low battery), whatever the build. */
  ignoredRate: number;
  /** The ignored code they report (the plan must list it in `errorCodes.ignore`). */
  ignoredCode: string;
  /** Share of failures that show as a crash: the device goes silent, times out and is never heard of again. */
  silentShare: number;
  /**
   * Share of devices, good build or bad, that stay silent past the install timeout and then report success (the
   * ingest corrects the timeout): slow, not failed. While silent they count as timed out, as the plan says.
   */
  slowRate: number;
  /** How long after the timeout a slow device reports (minutes, uniform). */
  slowLateMin: readonly [number, number];
  /** Delta cadence (minutes) when nothing is urgent: the ingest's periodic flush, coarsened. */
  flushMin: number;
  horizonHours: number;
}

/**
 * The default class of `bench:policy`: 20,000 devices that poll for updates every 4 h (the first check-in after an
 * offer is uniform over that period), installs of 5–20 min, failures of which 30 % are silent crashes, and 0.2 % of
 * devices that are merely slow (silent past the timeout, then a late success).
 */
export const DEFAULT_CLASS_MODEL: ClassModel = Object.freeze({
  devices: 20_000,
  checkInPeriodMin: 240,
  installMin: [5, 20] as const,
  ignoredRate: 0.003,
  ignoredCode: 'E_LOW_BATTERY',
  silentShare: 0.3,
  slowRate: 0.002,
  slowLateMin: [5, 60] as const,
  flushMin: 30,
  horizonHours: 72,
});

/** What one simulated lane did. */
export interface LaneRun {
  /** Minute of the first `threshold-breached`, or -1. */
  haltMin: number;
  /** The rule of the first `threshold-breached` (`sequential`, `plain`, `regression`), or null. */
  haltRule: string | null;
  /**
   * Devices that had started installing when the first breach was decided; when the lane never breached, every
   * device it offered the build (all of them install in the end: the class's share that got the build).
   */
  exposed: number;
  /** Final outcomes of the attempt when the first breach was decided (-1 if none). */
  outcomesAtHalt: number;
  /** Devices that started installing during the whole run. */
  exposedTotal: number;
  /** How the run ended. */
  end: 'completed' | 'paused' | 'rolling-back' | 'horizon';
  /** Breaches over the run (a retry may breach again). */
  breaches: number;
  /** Final outcomes of the attempt when each phase passed (phases reached). */
  outcomesAtPass: number[];
  /** Minute each phase passed. */
  passMin: number[];
  /** Decider calls (health deltas and timers). */
  decisions: number;
  /**
   * With `trackMinSamples`: per minimum sample m, the largest failure rate of the first attempt's evidence at any
   * evaluation with at least m outcomes (-1: never that many). Tunes the plain rule: it would have halted this run
   * at any threshold below that rate (on the same trajectory).
   */
  maxRateAfter: number[];
  /** With `LaneSimOptions.trackPatched`: successful installs per minute of the run (index: minute). */
  patchedPerMin?: Int32Array;
}

/** Where and how one device's install goes, from a device model other than the default one (`LaneSimOptions`). */
export interface DeviceInstall {
  /** Minute the device starts installing. */
  startMin: number;
  /** Minute it would report its outcome (success or failure; a silent one times out instead). */
  doneMin: number;
  outcome: 'success' | 'failed' | 'silent';
}

/** Options of `simulateLane` beyond the default class model. */
export interface LaneSimOptions {
  /**
   * A device model of its own: device `index` (position in the cohort order, the same device for every config)
   * offered the build at `offeredMin`; null when it never starts within the horizon. Replaces the default model's
   * check-ins and fates (`ClassModel.checkInPeriodMin`, `installMin`, `ignoredRate`, `silentShare`, `slowRate`; the
   * failure rate is the device model's business); its deltas and timers are driven as always.
   */
  devices?: (index: number, offeredMin: number) => DeviceInstall | null;
  /** Count successful installs per minute (`LaneRun.patchedPerMin`). */
  trackPatched?: boolean;
  /**
   * Keep the clock running after the lane ends (no decisions any more, devices still install) until this many devices
   * installed the build successfully, or the horizon: how long a schedule takes to patch, past its last phase.
   */
  runUntilPatched?: number;
  /** Post-install crashes reported to a lane with a regression rule (`PostInstallModel`); absent: none. */
  postInstall?: PostInstallModel;
}

const T0 = Date.parse('2026-01-05T00:00:00Z');
const START = 0;
const SUCCESS = 1;
const FAILED = 2;
const IGNORED = 3;
const TIMEOUT = 4;
const CORRECTION = 5;

/** Post-install crashes of a class (see the file's comment): what a lane with a regression rule is fed. */
export interface PostInstallModel {
  /** The signal the crashes are reported as (the lane's rule must watch it). */
  signal: string;
  /** The control's crash rate per device-hour. */
  ratePerHour: number;
  /** The build's crash rate ÷ the control's. */
  ratio: number;
  /** A fleet-wide spike: both groups' rates × `factor` from `fromHour` to `toHour` after the start. */
  spike?: { fromHour: number; toHour: number; factor: number };
  /** How often devices report (minutes); each report period becomes one post-install delta. */
  reportEveryMin: number;
}

/** A Poisson draw (Knuth's method, in chunks of mean ≤ 30 so `exp(−mean)` never underflows). */
function poisson(rand: () => number, mean: number): number {
  let k = 0;
  for (let rest = mean; rest > 0; rest -= 30) {
    const limit = Math.exp(-Math.min(30, rest));
    for (let p = rand(); p > limit; p *= rand()) k++;
  }
  return k;
}

/** Devices of a class ordered by cohort bucket, so a phase's new devices are one index range. */
export interface ClassCohorts {
  /** Sorted buckets (0..9999) of the class's devices. */
  buckets: Int32Array;
}

/** Computes the cohort buckets of `devices` devices named `${prefix}-${i}` in rollout `rolloutId`. */
export function classCohorts(devices: number, rolloutId: string, prefix = 'device'): ClassCohorts {
  const buckets = new Int32Array(devices);
  for (let i = 0; i < devices; i++) buckets[i] = cohortOf(`${prefix}-${i}`, rolloutId);
  buckets.sort();
  return { buckets };
}

/** The index range of devices with bucket in [lo, hi). */
function rangeOf(cohorts: ClassCohorts, lo: number, hi: number): [number, number] {
  const b = cohorts.buckets;
  const first = (x: number) => {
    let l = 0;
    let h = b.length;
    while (l < h) {
      const m = (l + h) >>> 1;
      if (b[m]! < x) l = m + 1;
      else h = m;
    }
    return l;
  };
  return [first(lo), first(hi)];
}

/**
 * Simulates one lane of `config` for a build whose installs fail at `failureRate` (reported or silent), seeded by
 * `seed`. Slow devices (`model.slowRate`) come on top, good build or bad. A rate-limited lane's steps
 * (`exposure-widened`) offer their buckets as they come, and its step and window timers fire on the minute.
 */
export function simulateLane(
  config: LaneConfig,
  failureRate: number,
  seed: number,
  model: ClassModel = DEFAULT_CLASS_MODEL,
  cohorts: ClassCohorts = classCohorts(model.devices, 'bench'),
  trackMinSamples: readonly number[] = [],
  options: LaneSimOptions = {},
): LaneRun {
  const { postInstall } = options;
  const crashRand = mulberry32(seed ^ 0x5bd1e995);
  let installed = 0;
  let haltRule: string | null = null;
  const maxRateAfter = trackMinSamples.map(() => -1);
  const rand = mulberry32(seed);
  const horizon = model.horizonHours * 60;
  const timeoutMin = Math.ceil(config.thresholds.installTimeoutSec / 60);
  const wheel = new Wheel(horizon, model.devices * 3 + 1024);
  const offers: string[] = [];
  const pending: Pending[] = [];
  let state: LaneState = initialLaneState('bench', config.deviceClass);
  let offset = 0;
  let exposedTotal = 0;
  let offered = 0;
  let haltMin = -1;
  let exposedAtHalt = -1;
  let outcomesAtHalt = -1;
  let breaches = 0;
  let decisions = 0;
  let end: LaneRun['end'] | null = null;
  const outcomesAtPass: number[] = [];
  const passMin: number[] = [];

  const schedule = (minute: number, code: number) => {
    if (minute >= horizon) return;
    wheel.add(minute, code);
  };
  const attemptOf: number[] = [];
  const offerIndex = new Map<string, number>();
  /** Offers the build to the devices of buckets [lower, upper) under `offerId` (a rate step widens an offer). */
  const offerDevices = (offerId: string, attempt: number, lower: number, upper: number, minute: number) => {
    let index = offerIndex.get(offerId);
    if (index === undefined) {
      index = offers.length;
      offerIndex.set(offerId, index);
      offers.push(offerId);
      attemptOf.push(attempt);
      pending.push(emptyPending());
    }
    const [from, to] = rangeOf(cohorts, lower, upper);
    if (attempt === 1) offered += to - from;
    const tag = (kind: number) => index * 8 + kind;
    if (options.devices !== undefined) {
      for (let d = from; d < to; d++) {
        const install = options.devices(d, minute + 1);
        if (install === null) continue;
        schedule(install.startMin, tag(START));
        if (install.outcome === 'silent') schedule(install.startMin + timeoutMin, tag(TIMEOUT));
        else schedule(install.doneMin, tag(install.outcome === 'success' ? SUCCESS : FAILED));
      }
      return;
    }
    for (let d = from; d < to; d++) {
      const start = minute + 1 + Math.floor(rand() * model.checkInPeriodMin);
      schedule(start, tag(START));
      const done = start + model.installMin[0] + Math.floor(rand() * (model.installMin[1] - model.installMin[0] + 1));
      const r = rand();
      if (r < model.ignoredRate) {
        schedule(done, tag(IGNORED));
      } else if (r < model.ignoredRate + model.slowRate) {
        schedule(start + timeoutMin, tag(TIMEOUT));
        const late = model.slowLateMin[0] + Math.floor(rand() * (model.slowLateMin[1] - model.slowLateMin[0] + 1));
        schedule(start + timeoutMin + late, tag(CORRECTION));
      } else if (rand() >= failureRate) {
        schedule(done, tag(SUCCESS));
      } else if (rand() < model.silentShare) {
        schedule(start + timeoutMin, tag(TIMEOUT));
      } else {
        schedule(done, tag(FAILED));
      }
    }
  };
  const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
  const countsOf = (p: Pending): HealthCounts => {
    const failedByCode: Record<string, number> = {};
    if (p.failed !== 0) failedByCode.E_INSTALL = p.failed;
    if (p.ignored !== 0) failedByCode[model.ignoredCode] = p.ignored;
    return { succeeded: p.succeeded, failedByCode, timedOut: p.timedOut, inProgress: p.inProgress };
  };
  /** Counts of the current attempt as the lane holds them plus everything pending: the ingest's running totals. */
  const mirror = emptyPending();
  /** The verdict on those counts (what the ingest judges to decide urgency). */
  const verdictWith = (): string => {
    if (state.config === null) return 'none';
    const counts = countsOf(mirror);
    counts.inProgress = Math.max(0, counts.inProgress);
    counts.timedOut = Math.max(0, counts.timedOut);
    return assessHealth(counts, state.config.thresholds).verdict;
  };
  let flushedVerdict = 'none';
  let mirrorAttempt = 1;
  let failing = false;
  const step = (input: LaneInput, minute: number) => {
    decisions++;
    const answer = decideLane(state, input);
    if (isRefusal(answer)) throw new Error(`the lane refused ${input.type}: ${answer.reason}`);
    state = foldLane(answer, state);
    react(answer, minute);
  };
  /** Final outcomes of the lane's current attempt so far (ignored codes included). */
  const attemptOutcomes = (): number => finalOutcomes(attemptCounts(state, state.attempt));
  const react = (events: readonly DomainEvent[], minute: number) => {
    for (const event of events) {
      switch (event.type) {
        case 'exposure-issued':
          if (event.data.attempt !== mirrorAttempt) {
            Object.assign(mirror, emptyPending());
            mirrorAttempt = event.data.attempt;
          }
          offerDevices(
            event.data.offerId,
            event.data.attempt,
            event.data.phase === 0 ? 0 : config.phases[event.data.phase - 1]!.cohortBound,
            event.data.cohortBound,
            minute,
          );
          break;
        case 'exposure-widened':
          offerDevices(event.data.offerId, event.data.attempt, event.data.fromBound, event.data.cohortBound, minute);
          break;
        case 'health-evaluated':
          if (event.data.window === 'exposure' && event.data.attempt === 1) {
            const { sample, failures } = event.data.verdict.evidence;
            trackMinSamples.forEach((m, i) => {
              if (sample >= m) maxRateAfter[i] = Math.max(maxRateAfter[i]!, failures / sample);
            });
          }
          break;
        case 'threshold-breached':
          breaches++;
          if (haltMin < 0) {
            [haltMin, exposedAtHalt, outcomesAtHalt] = [minute, exposedTotal, attemptOutcomes()];
            haltRule = event.data.rule;
          }
          break;
        case 'phase-started':
        case 'lane-completed':
          if (event.type === 'lane-completed' || event.data.phase > 0) {
            passMin.push(minute);
            outcomesAtPass.push(attemptOutcomes());
          }
          if (event.type === 'lane-completed') end = 'completed';
          break;
        case 'lane-paused':
          if (event.data.cause === 'breach') end = 'paused';
          break;
        case 'rollback-started':
          end = 'rolling-back';
          break;
        default:
          break;
      }
    }
  };

  const patchedPerMin = options.trackPatched === true ? new Int32Array(horizon) : undefined;
  const patchTarget = options.runUntilPatched ?? 0;
  let patched = 0;
  step({ type: 'start-lane', rolloutId: 'bench', lane: config.deviceClass, config, at: at(START) }, 0);
  for (let minute = 0; minute < horizon && (end === null || patched < patchTarget); minute++) {
    let due = false;
    for (let e = wheel.head[minute]!; e >= 0; e = wheel.next[e]!) {
      due = true;
      const code = wheel.code[e]!;
      const kind = code & 7;
      if (kind === SUCCESS || kind === CORRECTION) {
        patched++;
        if (patchedPerMin !== undefined) patchedPerMin[minute]!++;
      }
      if (attemptOf[code >>> 3] === state.attempt) apply(mirror, kind);
      if (kind === START) exposedTotal++;
      else if (kind === FAILED || kind === TIMEOUT) failing = true;
      else if (kind === SUCCESS || kind === CORRECTION) installed++;
      apply(pending[code >>> 3]!, kind);
    }
    if (end === null && (due || minute % model.flushMin === 0)) {
      // The ingest's urgency: flush at once when the pending counts change the lane's verdict. (Only the changes
      // that can move the lane are simulated as urgent — a breach, or a pass while it waits for evidence — which
      // keeps the decider calls of a run few; the lane's decisions are the same.)
      // Successes alone cannot breach, so the verdict is only re-judged when something failed or a pass is awaited.
      const judge = due && (failing || state.waitingFor?.kind === 'evidence');
      failing = false;
      const now = judge ? verdictWith() : flushedVerdict;
      const urgent =
        now !== flushedVerdict && (now === 'breach' || (now === 'healthy' && state.waitingFor?.kind === 'evidence'));
      if (urgent || minute % model.flushMin === 0) {
        for (let i = 0; i < pending.length && end === null; i++) {
          const p = pending[i]!;
          if (!p.dirty) continue;
          pending[i] = emptyPending();
          offset += 2;
          const delta = {
            counts: countsOf(p),
            ranges: [{ partition: 0, fromOffset: String(offset - 2), toOffset: String(offset - 1) }],
          };
          step({ type: 'health-delta', lane: config.deviceClass, offerId: offers[i]!, delta, at: at(minute) }, minute);
        }
        flushedVerdict = verdictWith();
      }
    }
    if (postInstall !== undefined && end === null && minute > 0 && minute % postInstall.reportEveryMin === 0) {
      const hours = postInstall.reportEveryMin / 60;
      const { spike } = postInstall;
      const factor =
        spike !== undefined && minute >= spike.fromHour * 60 && minute < spike.toHour * 60 ? spike.factor : 1;
      const updated = Math.min(installed, model.devices);
      const control = model.devices - offered;
      const mean = (devices: number, ratio: number) => devices * hours * postInstall.ratePerHour * ratio * factor;
      const group = (devices: number, ratio: number) => ({
        uptimeSec: devices * hours * 3600,
        events: { [postInstall.signal]: poisson(crashRand, mean(devices, ratio)) },
      });
      offset += 1;
      const range = { partition: 1, fromOffset: String(offset), toOffset: String(offset) };
      const delta = { updated: group(updated, postInstall.ratio), control: group(control, 1), ranges: [range] };
      step({ type: 'post-install-delta', lane: config.deviceClass, delta, at: at(minute) }, minute);
    }
    const waiting = state.waitingFor;
    if (end === null && waiting !== null && 'until' in waiting && Date.parse(waiting.until) <= T0 + minute * 60_000) {
      if (
        waiting.kind === 'bake' ||
        waiting.kind === 'retry-backoff' ||
        waiting.kind === 'rollback' ||
        waiting.kind === 'step' ||
        waiting.kind === 'window'
      ) {
        step({ type: 'timer-fired', lane: config.deviceClass, kind: waiting.kind, at: at(minute) }, minute);
      }
    }
  }
  return {
    haltMin,
    haltRule,
    exposed: haltMin >= 0 ? exposedAtHalt : offered,
    outcomesAtHalt,
    exposedTotal,
    end: end ?? 'horizon',
    breaches,
    outcomesAtPass,
    passMin,
    decisions,
    maxRateAfter,
    ...(patchedPerMin !== undefined && { patchedPerMin }),
  };
}

/**
 * Device events by minute, as singly linked lists in typed arrays (no allocation per event): `head[minute]` is the
 * first event of that minute, `next[event]` the one after it, -1 the end.
 */
class Wheel {
  readonly head: Int32Array;
  next: Int32Array;
  code: Int32Array;
  private tail: Int32Array;
  private size = 0;

  constructor(minutes: number, capacity: number) {
    this.head = new Int32Array(minutes).fill(-1);
    this.tail = new Int32Array(minutes).fill(-1);
    this.next = new Int32Array(capacity);
    this.code = new Int32Array(capacity);
  }

  /** Appends an event to a minute (events of one minute keep their order). */
  add(minute: number, code: number): void {
    if (this.size === this.next.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.next = grow(this.next);
      this.code = grow(this.code);
    }
    const e = this.size++;
    this.code[e] = code;
    this.next[e] = -1;
    const last = this.tail[minute]!;
    if (last < 0) this.head[minute] = e;
    else this.next[last] = e;
    this.tail[minute] = e;
  }
}

interface Pending {
  succeeded: number;
  failed: number;
  ignored: number;
  timedOut: number;
  inProgress: number;
  dirty: boolean;
}

/** Applies one device event to a count record. */
function apply(p: Pending, kind: number): void {
  switch (kind) {
    case START:
      p.inProgress++;
      break;
    case SUCCESS:
      p.inProgress--;
      p.succeeded++;
      break;
    case FAILED:
      p.inProgress--;
      p.failed++;
      break;
    case IGNORED:
      p.inProgress--;
      p.ignored++;
      break;
    case TIMEOUT:
      p.inProgress--;
      p.timedOut++;
      break;
    case CORRECTION:
      p.timedOut--;
      p.succeeded++;
      break;
  }
  p.dirty = true;
}

function emptyPending(): Pending {
  return { succeeded: 0, failed: 0, ignored: 0, timedOut: 0, inProgress: 0, dirty: false };
}
