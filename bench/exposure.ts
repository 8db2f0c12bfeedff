/**
 * Exposure benchmark (issue #16, item 6): how fast each schedule patches a fleet that lives in time zones, and how many
 * devices get a bad build before it is halted. The fleet is `simulator/time-zone-fleet.ts`'s pinned default (24 zones,
 * online 07:00–23:00 local, check-ins every 4 h ± 30 min while online, 3 % away for the first 72 h, installs of
 * 5–20 min, 30 % of failures silent until the 30 min install timeout); every device of every class is simulated, none
 * sampled. Classes of 10,000, 100,000 and 1,000,000 devices (`--sizes`); a good build failing at 0.3 × maxFailureRate
 * (2 %) and bad builds at 3 × and 10 ×.
 *
 * Schedules:
 * - `critical`, `high`: the engine's severity defaults (`events/severity.ts`) for a class of known size, run through the
 *   real lane decider (`decideLane`, `simulator/lane-sim.ts`), breach policy pause.
 * - `phased7d`: Apple's phased release for automatic updates (1, 2, 5, 10, 20, 50, 100 % on days 1 to 7: 24 h bakes),
 *   through the same decider and the same health judge, which halts it; minSample 1, so its phases advance on the
 *   calendar as Apple's do.
 * - `awsExponential`: an AWS IoT Jobs style exponential rate with abortConfig, modelled in the bench
 *   (`simulator/aws-ramp.ts`; the engine's own rate limits land separately): 50 devices a minute, ×2 every 1,000
 *   notified, at most 1,000 a minute; cancel at 2 % failed after 100 executed.
 * - `floor`: every device offered at minute 0 (no schedule can beat it).
 *
 * Healthy build: hours until 95 % of the class installed it. Bad builds: devices that started installing it before the
 * halt. Every run of a schedule sees the same devices (common random numbers). `--summary-class` picks the class of
 * the summary (the last line); the table has every class.
 *
 * Usage: npm run bench:exposure [-- --seed N --good-runs N --bad-runs N --sizes 10000,100000 --summary-class N --out DIR]
 * JSON lines on stdout (the last is the summary), the table on stderr; out/bench-exposure.{json,md,svg}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { laneConfigOf, validatePlan, type LaneConfig, type RolloutPlanInput } from '../events/plan';
import { simulateAwsRamp, type AwsRampConfig } from '../simulator/aws-ramp';
import { DEFAULT_CLASS_MODEL, classCohorts, simulateLane, type DeviceInstall } from '../simulator/lane-sim';
import {
  DEFAULT_FLEET,
  fleetDevice,
  floorMinutes,
  installEnd,
  installStartMin,
  type FleetModel,
} from '../simulator/time-zone-fleet';
import { BenchArgsError, benchArgs } from './args';

// ---------- parameters ----------

const MAX_RATE = 0.02;
const GOOD_MULTIPLE = 0.3;
const BAD_MULTIPLES = [3, 10] as const;
const PATCHED_SHARE = 0.95;
const HORIZON_HOURS = 240;
const HORIZON_MIN = HORIZON_HOURS * 60;
const ROLLOUT_ID = 'bench-exposure';
const SCHEDULES = ['critical', 'high', 'phased7d', 'awsExponential'] as const;
type Schedule = (typeof SCHEDULES)[number];

/** Apple's phased release for automatic updates: the share of the class on days 1 to 7. */
const PHASED_7D_SHARES = [1, 2, 5, 10, 20, 50, 100];

/** The AWS-style ramp (see the file's comment). */
const AWS_RAMP: AwsRampConfig = {
  baseRatePerMinute: 50,
  incrementFactor: 2,
  numberOfNotifiedThings: 1000,
  maximumPerMinute: 1000,
  abortThresholdShare: MAX_RATE,
  minNumberOfExecutedThings: 100,
  inProgressTimeoutMin: 30,
};

const args = benchArgs('npm run bench:exposure --', {
  seed: { type: 'number', integer: true, default: 20261207, help: 'seed of the first run (run r uses seed + r)' },
  'good-runs': { type: 'number', integer: true, min: 1, default: 5, help: 'runs of the healthy build per schedule' },
  'bad-runs': { type: 'number', integer: true, min: 1, default: 100, help: 'runs of each bad build per schedule' },
  sizes: { type: 'string', default: '10000,100000,1000000', help: 'class sizes, comma-separated (100..2000000)' },
  'summary-class': { type: 'number', integer: true, min: 100, default: 100000, help: 'the class of the last line' },
  out: { type: 'string', default: 'out', help: 'directory of bench-exposure.{json,md,svg}' },
});

/** The class sizes of `--sizes`: whole numbers in 100..2,000,000, the summary class among them. */
function classSizesOf(text: string, summaryClass: number): number[] {
  const sizes = text.split(',').map((part) => Number(part.trim()));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 100 || n > 2_000_000)) {
    throw new BenchArgsError(`--sizes must be whole numbers from 100 to 2000000, not '${text}'`);
  }
  if (!sizes.includes(summaryClass)) {
    throw new BenchArgsError(`--summary-class ${summaryClass} must be one of --sizes (${sizes.join(', ')})`);
  }
  return sizes;
}

// ---------- the schedules as lanes ----------

function laneOf(plan: RolloutPlanInput): LaneConfig {
  const parsed = validatePlan(plan);
  if (!parsed.ok) throw new Error(`bench plan invalid: ${JSON.stringify(parsed.errors)}`);
  return laneConfigOf(parsed.plan, 'class-a');
}

/** The lane a schedule runs for a class of `size` devices (the engine's schedules; AWS is not a lane). */
function scheduleLane(schedule: Exclude<Schedule, 'awsExponential'>, size: number): LaneConfig {
  const common = {
    releaseId: 'bench-exposure',
    artifact: { build: '26.4.1' },
    deviceClasses: ['class-a'],
    breachPolicy: { action: 'pause' as const },
    classes: { 'class-a': { completion: { expectedDevices: size } } },
  };
  if (schedule === 'phased7d') {
    return laneOf({
      ...common,
      phases: PHASED_7D_SHARES.map((share, day) => ({ share, bake: day === PHASED_7D_SHARES.length - 1 ? 0 : '24h' })),
      thresholds: { maxFailureRate: MAX_RATE, minSample: 1, installTimeoutSec: 1800 },
    });
  }
  return laneOf({ ...common, severity: schedule, thresholds: { maxFailureRate: MAX_RATE, installTimeoutSec: 1800 } });
}

// ---------- one run ----------

/** The fleet's answer for device `index` under a build failing at `rate`, offered at `offeredMin`. */
function installOf(fleet: FleetModel, seed: number, rate: number) {
  return (index: number, offeredMin: number): DeviceInstall | null => {
    const device = fleetDevice(fleet, seed, index);
    const startMin = installStartMin(fleet, device, offeredMin, HORIZON_MIN);
    if (startMin < 0) return null;
    return { startMin, doneMin: startMin + device.installMin, outcome: installEnd(fleet, device, rate) };
  };
}

/** Hours until `share` of `size` devices were patched, from successes per minute (null: not within the horizon). */
function hoursTo(patchedPerMin: Int32Array, size: number, share: number): number | null {
  const need = Math.ceil(share * size);
  let patched = 0;
  for (let minute = 0; minute < patchedPerMin.length; minute++) {
    patched += patchedPerMin[minute]!;
    if (patched >= need) return minute / 60;
  }
  return null;
}

/** Patched share at the end of each hour. */
function hourlyShare(patchedPerMin: Int32Array, size: number): number[] {
  const out: number[] = [];
  let patched = 0;
  for (let minute = 0; minute < patchedPerMin.length; minute++) {
    patched += patchedPerMin[minute]!;
    if (minute % 60 === 59) out.push(patched / size);
  }
  return out;
}

interface RunResult {
  halted: boolean;
  exposed: number;
  patchedPerMin: Int32Array;
}

function runSchedule(schedule: Schedule, size: number, rate: number, seed: number, cohorts: Cohorts): RunResult {
  const devices = installOf(DEFAULT_FLEET, seed, rate);
  if (schedule === 'awsExponential') {
    const r = simulateAwsRamp(AWS_RAMP, size, HORIZON_MIN, devices);
    return { halted: r.abortMin >= 0, exposed: r.exposed, patchedPerMin: r.patchedPerMin };
  }
  const model = { ...DEFAULT_CLASS_MODEL, devices: size, horizonHours: HORIZON_HOURS };
  const r = simulateLane(scheduleLane(schedule, size), rate, seed, model, cohorts, [], {
    devices,
    trackPatched: true,
    // A healthy build: on to the horizon (or every device patched), so the picture's curves go on past 95 %.
    runUntilPatched: rate <= GOOD_MULTIPLE * MAX_RATE ? size : 0,
  });
  return { halted: r.haltMin >= 0, exposed: r.exposed, patchedPerMin: r.patchedPerMin ?? new Int32Array(0) };
}

type Cohorts = ReturnType<typeof classCohorts>;

// ---------- the whole bench ----------

interface Cell {
  schedule: Schedule;
  classSize: number;
  /** Healthy build: mean hours to 95 % over the runs that got there, runs that did not, false halts. */
  hoursTo95: number | null;
  notPatched: number;
  falseHalts: number;
  /** Bad builds: mean devices exposed before the halt, and runs never halted, per multiple. */
  badExposed: Record<string, number>;
  badNotHalted: Record<string, number>;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const sizes = classSizesOf(args.sizes, args['summary-class']);
  const seeds = (n: number) => Array.from({ length: n }, (_, r) => args.seed + r);
  emit({
    kind: 'setup',
    fleet: DEFAULT_FLEET,
    sampled: 'nothing: every device of every class is simulated',
    maxFailureRate: MAX_RATE,
    goodRate: GOOD_MULTIPLE * MAX_RATE,
    badRates: BAD_MULTIPLES.map((m) => m * MAX_RATE),
    phased7d: 'Apple phased release, 1/2/5/10/20/50/100 % on days 1-7, through decideLane; the health judge halts it',
    awsExponential: { ...AWS_RAMP, note: 'AWS IoT Jobs semantics modelled in the bench, not the engine' },
    goodRuns: args['good-runs'],
    badRuns: args['bad-runs'],
  });
  const cells: Cell[] = [];
  const floors = new Map<number, number>();
  const curves: { schedule: string; hour: number; share: number }[] = [];
  for (const size of sizes) {
    const cohorts = classCohorts(size, ROLLOUT_ID);
    const floorHours = mean(
      seeds(args['good-runs']).map(
        (seed) => floorMinutes(DEFAULT_FLEET, seed, size, GOOD_MULTIPLE * MAX_RATE, PATCHED_SHARE, HORIZON_MIN) / 60,
      ),
    );
    floors.set(size, round(floorHours));
    emit({ kind: 'floor', classSize: size, hoursTo95: round(floorHours) });
    if (size === args['summary-class']) {
      const all = runFloorCurve(size, args.seed);
      all.forEach((share, hour) => curves.push({ schedule: 'floor', hour: hour + 1, share }));
    }
    for (const schedule of SCHEDULES) {
      const good = seeds(args['good-runs']).map((seed) => {
        const r = runSchedule(schedule, size, GOOD_MULTIPLE * MAX_RATE, seed, cohorts);
        const hours = r.halted ? null : hoursTo(r.patchedPerMin, size, PATCHED_SHARE);
        emit({ kind: 'run', schedule, classSize: size, build: 'good', seed, halted: r.halted, hoursTo95: hours });
        if (size === args['summary-class'] && seed === args.seed) {
          hourlyShare(r.patchedPerMin, size).forEach((share, hour) => curves.push({ schedule, hour: hour + 1, share }));
        }
        return { ...r, hours };
      });
      const patched = good.filter((g) => g.hours !== null).map((g) => g.hours!);
      const cell: Cell = {
        schedule,
        classSize: size,
        hoursTo95: patched.length > 0 ? round(mean(patched)) : null,
        notPatched: good.length - patched.length,
        falseHalts: good.filter((g) => g.halted).length,
        badExposed: {},
        badNotHalted: {},
      };
      for (const multiple of BAD_MULTIPLES) {
        const bad = seeds(args['bad-runs']).map((seed) => {
          const r = runSchedule(schedule, size, multiple * MAX_RATE, seed, cohorts);
          emit({
            kind: 'run',
            schedule,
            classSize: size,
            build: `${multiple}x`,
            seed,
            halted: r.halted,
            exposed: r.exposed,
          });
          return r;
        });
        cell.badExposed[`${multiple}x`] = round(mean(bad.map((r) => r.exposed)), 1);
        cell.badNotHalted[`${multiple}x`] = bad.filter((r) => !r.halted).length;
      }
      cells.push(cell);
      emit({ kind: 'cell', ...cell });
    }
  }
  const summary = summaryOf(cells, floors, args['summary-class']);
  const details = {
    seconds: Math.round((Date.now() - started) / 1000),
    seed: args.seed,
    summaryClass: args['summary-class'],
  };
  writeOutputs(cells, floors, curves, summary, details);
  await writePicture(cells, curves, args['summary-class']);
  emit({ kind: 'details', ...details });
  emit(summary);
}

/** The floor's curve: every device offered at minute 0, patched share per hour (the first run's devices). */
function runFloorCurve(size: number, seed: number): number[] {
  const perMin = new Int32Array(HORIZON_MIN);
  const devices = installOf(DEFAULT_FLEET, seed, GOOD_MULTIPLE * MAX_RATE);
  for (let i = 0; i < size; i++) {
    const install = devices(i, 0);
    if (install !== null && install.outcome === 'success' && install.doneMin < HORIZON_MIN) perMin[install.doneMin]!++;
  }
  return hourlyShare(perMin, size);
}

/** The last line: the issue's figures on the summary class. */
function summaryOf(
  cells: readonly Cell[],
  floors: ReadonlyMap<number, number>,
  summaryClass: number,
): Record<string, unknown> {
  const at = (schedule: Schedule) => cells.find((c) => c.schedule === schedule && c.classSize === summaryClass)!;
  const floor = floors.get(summaryClass) ?? null;
  const critical = at('critical');
  const phased = at('phased7d');
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : round(a / b, 3));
  const worstBad = Math.max(
    ...BAD_MULTIPLES.map((m) => (critical.badExposed[`${m}x`] ?? 0) / (phased.badExposed[`${m}x`] ?? 1)),
  );
  return {
    bench: 'exposure',
    floorHoursTo95: floor,
    hoursTo95: Object.fromEntries(SCHEDULES.map((s) => [s, at(s).hoursTo95])),
    criticalOverFloor: ratio(critical.hoursTo95, floor),
    speedupVsPhased7d: ratio(phased.hoursTo95, critical.hoursTo95),
    badExposedVsPhased7d: round(worstBad, 3),
  };
}

// ---------- outputs ----------

function tableOf(cells: readonly Cell[], floors: ReadonlyMap<number, number>): string {
  const head =
    '| class | schedule | hours to 95 % patched | × floor | 3× build: devices exposed | 10× build: devices exposed |';
  const line = '| ---: | --- | ---: | ---: | ---: | ---: |';
  const rows: string[] = [];
  for (const [size, floor] of floors) {
    rows.push(`| ${size} | floor (all offered at once) | ${floor} | 1 | — | — |`);
    for (const c of cells.filter((x) => x.classSize === size)) {
      const hours = c.hoursTo95 === null ? 'never' : String(c.hoursTo95);
      const over = c.hoursTo95 === null ? '—' : round(c.hoursTo95 / floor).toString();
      const runs = `${c.notPatched} run${c.notPatched === 1 ? '' : 's'}`;
      const extra = c.notPatched > 0 ? ` (${runs} never at 95 %: ${c.falseHalts} halted)` : '';
      const bad = BAD_MULTIPLES.map((m) => {
        const missed = c.badNotHalted[`${m}x`] ?? 0;
        return `${c.badExposed[`${m}x`]}${missed > 0 ? ` (${missed} run${missed === 1 ? '' : 's'} never halted)` : ''}`;
      });
      rows.push(`| ${size} | ${c.schedule} | ${hours}${extra} | ${over} | ${bad.join(' | ')} |`);
    }
  }
  return [head, line, ...rows].join('\n');
}

function writeOutputs(
  cells: readonly Cell[],
  floors: ReadonlyMap<number, number>,
  curves: readonly { schedule: string; hour: number; share: number }[],
  summary: Record<string, unknown>,
  details: Record<string, unknown>,
): void {
  mkdirSync(args.out, { recursive: true });
  const json = { summary, details, floors: Object.fromEntries(floors), cells, curves };
  writeFileSync(path.join(args.out, 'bench-exposure.json'), `${JSON.stringify(json, null, 2)}\n`);
  const table = tableOf(cells, floors);
  writeFileSync(path.join(args.out, 'bench-exposure.md'), `${table}\n`);
  process.stderr.write(`${table}\n`);
}

/** Patched share over time per schedule (healthy build, summary class) and the bad builds' exposure, as SVG. */
async function writePicture(
  cells: readonly Cell[],
  curves: readonly { schedule: string; hour: number; share: number }[],
  summaryClass: number,
): Promise<void> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const bars = cells
    .filter((c) => c.classSize === summaryClass)
    .flatMap((c) =>
      BAD_MULTIPLES.map((m) => ({ schedule: c.schedule, build: `${m}×`, exposed: c.badExposed[`${m}x`] })),
    );
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Exposure, ${summaryClass} devices over 24 time zones, maxFailureRate ${MAX_RATE * 100} %`,
    resolve: { scale: { color: 'independent' } },
    hconcat: [
      {
        width: 420,
        height: 260,
        data: { values: curves.filter((c) => c.hour <= 180) },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'hour', type: 'quantitative', title: 'hours since the start' },
          y: { field: 'share', type: 'quantitative', title: 'share of the class patched (healthy build)' },
          color: { field: 'schedule', type: 'nominal' },
        },
      },
      {
        width: 260,
        height: 260,
        data: { values: bars },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'schedule', type: 'nominal' },
          xOffset: { field: 'build', type: 'nominal' },
          y: { field: 'exposed', type: 'quantitative', title: 'devices that got the bad build before the halt' },
          color: { field: 'build', type: 'nominal', title: 'bad build' },
        },
      },
    ],
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  writeFileSync(path.join(args.out, 'bench-exposure.svg'), await view.toSVG());
}

if (require.main === module) {
  main().catch((err: unknown) => {
    if (err instanceof BenchArgsError) {
      process.stderr.write(`npm run bench:exposure: ${err.message}\n`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  });
}
