/**
 * Policy benchmark: the operating characteristic of the engine's own lane decider. One device class of 20,000
 * devices (`simulator/lane-sim.ts`: phases 5 / 10 / 25 / 50 / 100 % with 1 h bakes, check-ins over 4 h,
 * installs of 5–20 min, silent crashes that time out, slow devices whose timeout is corrected, ignored codes, one
 * automatic retry) runs through `decideLane` for builds failing at 0 … 10 × maxFailureRate, under the sequential
 * rule and under the plain rule tuned to the same worst-case false-halt rate.
 *
 * For each true rate: the share of lanes halted (first `threshold-breached`), with a Wilson 95 % interval, and the
 * mean devices exposed before the halt (devices that had started installing; every device that started when the
 * lane never halted), with a 95 % interval. Nothing is dropped: a lane still waiting at the horizon counts with what
 * it exposed, and its count is printed (`horizon`).
 *
 * The plain rule: for each minimum sample of a grid (up to the first phase's 1,000 devices: a larger one can never be
 * reached there, and the lane would wait forever), the smallest threshold whose false-halt count at 1 × on two sets
 * of good runs (the reported one and a second; common random numbers) does not exceed the sequential rule's count on
 * the same runs (its worst good rate). "Tuned" is
 * the configuration with the least mean exposure over the bad rates (what one plan would set); "oracle", per bad
 * rate, the configuration best for that very rate. Each plain configuration's false-halt rate is then re-measured on
 * a third set of good runs, beside the sequential rule's on the same runs. Wald's SPRT (p0 = max, p1 = 2 · max, the sequential rule's α and
 * its measured β at 2 ×) gives the average sample number a test that knew the alternative would need.
 *
 * The regression judge (`events/regression.ts`), first: the same class and plan with a regression rule on app
 * crashes (maxRateRatio 1.5, α 1 %), a build that installs cleanly, and crashes reported every 30 min
 * (`PostInstallModel`: control devices crash at 0.02 per device-hour, the build's at 1, 1.25, 1.5, 2 and 3 × that,
 * and at 1 × under a fleet-wide spike that multiplies both groups' rates by 5 from hour 1 to hour 5). Per case the
 * share of lanes halted (Wilson 95 %) and the mean devices exposed before the halt; the guarantee holds when the
 * halt share at every ratio up to 1.5 and under the spike is at most α (out/bench-policy-regression.{json,md}).
 *
 * Usage: npm run bench:policy [-- --seed N --good-runs N --bad-runs N --devices N --workers N --out DIR
 * --rules-version 1|2|3 --regression-only]; versions 1 and 2 run the sequential rule of lanes started before version
 * 2, for comparison. JSON lines on stdout (the last is the summary), the tables on stderr;
 * out/bench-policy.{json,md,svg} and out/bench-policy-regression.{json,md}.
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RULES_VERSION, laneConfigOf, validatePlan, type LaneConfig, type RolloutPlanInput } from '../events/plan';
import { murmur3 } from '../events/cohort';
import {
  DEFAULT_CLASS_MODEL,
  classCohorts,
  simulateLane,
  type LaneRun,
  type PostInstallModel,
} from '../simulator/lane-sim';
import { benchArgs } from './args';

// ---------- parameters ----------

/** A plan's regression rule as a plan file writes it. */
type RegressionInput = NonNullable<RolloutPlanInput['regression']>;

const MAX_RATE = 0.02;
const ALPHA = 0.01;
const GOOD_MULTIPLES = [0, 0.25, 0.5, 0.75, 1];
const BAD_MULTIPLES = [1.25, 1.5, 2, 3, 5, 10];
const PLAIN_MIN_SAMPLES = [10, 20, 50, 100, 200, 500, 1000];
/** The phases of the class (percent), 1 h bakes: the first one offers 1,000 devices of the default 20,000. */
const PHASE_SHARES = [5, 10, 25, 50, 100];
const ROLLOUT_ID = 'bench-policy';
/** The regression cases: the tolerated ratio and α of the rule, the control's crash rate, the spike. */
const MAX_RATE_RATIO = 1.5;
const REGRESSION_ALPHA = 0.01;
const CONTROL_CRASH_RATE = 0.02;
const REGRESSION_RULE: RegressionInput = {
  signals: ['app-crash'],
  maxRateRatio: MAX_RATE_RATIO,
  falseHaltProbability: REGRESSION_ALPHA,
};
const REGRESSION_CASES: { name: string; ratio: number; spike?: PostInstallModel['spike'] }[] = [
  { name: '1x', ratio: 1 },
  { name: '1.25x', ratio: 1.25 },
  { name: '1.5x (tolerated)', ratio: 1.5 },
  { name: '1x, fleet-wide spike x5 h1-h5', ratio: 1, spike: { fromHour: 1, toHour: 5, factor: 5 } },
  { name: '2x', ratio: 2 },
  { name: '3x', ratio: 3 },
];

/** The plan a user would write for this class; the plain configurations change only the rule and its numbers. */
function planOf(thresholds: Record<string, unknown>, regression?: RegressionInput): RolloutPlanInput {
  return {
    releaseId: 'bench-policy',
    artifact: { build: '26.3.1' },
    deviceClasses: ['class-a'],
    phases: PHASE_SHARES.map((share, i, all) => ({ share, bake: i === all.length - 1 ? 0 : '1h' })),
    thresholds: {
      maxFailureRate: MAX_RATE,
      minSample: 50,
      installTimeoutSec: 1800,
      errorCodes: { ignore: [DEFAULT_CLASS_MODEL.ignoredCode] },
      falseHaltProbability: ALPHA,
      ...thresholds,
    },
    // The regression cases halt on their first breach (exposure before it is what they measure).
    breachPolicy:
      regression === undefined ? { action: 'retry', attempts: 1, backoff: '10m', then: 'pause' } : { action: 'pause' },
    ...(regression !== undefined && { regression }),
  };
}

function configOf(thresholds: Record<string, unknown>, regression?: RegressionInput): LaneConfig {
  const parsed = validatePlan(planOf(thresholds, regression));
  if (!parsed.ok) throw new Error(`bench plan invalid: ${JSON.stringify(parsed.errors)}`);
  return laneConfigOf(parsed.plan, 'class-a', RULES);
}

// ---------- work: a batch of seeded runs, in this process or a worker ----------

/** A batch: one configuration at one true rate, runs [from, to); stops early once `stopAfterHalts` lanes halted. */
interface Batch {
  thresholds: Record<string, unknown>;
  rate: number;
  rateKey: string;
  from: number;
  to: number;
  stopAfterHalts?: number;
  /** Record, per minimum sample of the plain grid, each run's largest failure rate after that many outcomes. */
  track?: boolean;
  /** A regression case: the plan's regression rule and the crashes devices report. */
  postInstall?: PostInstallModel;
}

/** Compact results of a batch: per run, exposed devices, outcomes at halt (-1: none) and how it ended. */
interface BatchResult {
  exposed: number[];
  outcomesAtHalt: number[];
  ends: LaneRun['end'][];
  breachesAfterRetry: number;
  decisions: number;
  stopped: boolean;
  /** With `track`: per run, the largest failure rate after each grid minimum sample (see `LaneRun.maxRateAfter`). */
  maxRates: number[][];
}

let cohorts: ReturnType<typeof classCohorts> | undefined;

function runBatch(batch: Batch): BatchResult {
  const config = configOf(batch.thresholds, batch.postInstall === undefined ? undefined : REGRESSION_RULE);
  const out = emptyResult();
  let halts = 0;
  for (let run = batch.from; run < batch.to; run++) {
    // Common random numbers: run r at a rate sees the same fleet under every rule.
    const seed = murmur3(`${SEED}:${batch.rateKey}:${run}`);
    const track = batch.track === true ? PLAIN_MIN_SAMPLES : [];
    cohorts ??= classCohorts(MODEL.devices, ROLLOUT_ID);
    const options = batch.postInstall === undefined ? {} : { postInstall: batch.postInstall };
    const r = simulateLane(config, batch.rate, seed, MODEL, cohorts, track, options);
    if (batch.track === true) out.maxRates.push(r.maxRateAfter);
    out.exposed.push(r.exposed);
    out.outcomesAtHalt.push(r.outcomesAtHalt);
    out.ends.push(r.end);
    out.decisions += r.decisions;
    if (r.breaches > 1) out.breachesAfterRetry++;
    if (r.haltMin >= 0 && ++halts > (batch.stopAfterHalts ?? Infinity)) {
      out.stopped = true;
      break;
    }
  }
  return out;
}

// ---------- arguments ----------

const args = benchArgs('npm run bench:policy --', {
  seed: { type: 'number', integer: true, default: 20261201, help: 'seed of every run (common random numbers)' },
  'good-runs': { type: 'number', integer: true, min: 1, default: 2000, help: 'runs per good rate' },
  'bad-runs': { type: 'number', integer: true, min: 1, default: 500, help: 'runs per bad rate' },
  devices: { type: 'number', integer: true, min: 100, default: 20000, help: 'devices of the simulated class' },
  workers: { type: 'number', integer: true, default: 2, help: 'worker processes (0: all in this one)' },
  'rules-version': {
    type: 'number',
    integer: true,
    min: 1,
    max: RULES_VERSION,
    default: RULES_VERSION,
    help: "the judge's rules version",
  },
  out: { type: 'string', default: 'out', help: 'directory of bench-policy.{json,md,svg}' },
  'regression-only': { type: 'boolean', help: 'run only the regression cases' },
  worker: { type: 'boolean', help: 'run as a worker process of the pool (internal)' },
});

const SEED = args.seed;
const GOOD_RUNS = args['good-runs'];
const BAD_RUNS = args['bad-runs'];
const WORKERS = args.workers;
const RULES = args['rules-version'];
const MODEL = { ...DEFAULT_CLASS_MODEL, devices: args.devices };

// ---------- a pool of worker processes (each runs whole batches) ----------

type Job = { id: number; batch: Batch };
class Pool {
  private readonly children: ReturnType<typeof fork>[] = [];
  private readonly waiting = new Map<number, (r: BatchResult) => void>();
  private next = 0;
  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const argv = [
        '--worker',
        '--seed',
        String(SEED),
        '--devices',
        String(MODEL.devices),
        '--rules-version',
        String(RULES),
      ];
      const child = fork(__filename, argv, { execArgv: process.execArgv });
      child.on('message', (m: { id: number; result: BatchResult }) => {
        this.waiting.get(m.id)?.(m.result);
        this.waiting.delete(m.id);
      });
      this.children.push(child);
    }
  }
  /** Runs the runs of `batch` split over the workers (or here, without workers) and merges them in run order. */
  async run(batch: Batch): Promise<BatchResult> {
    if (this.children.length === 0) return runBatch(batch);
    const n = this.children.length;
    const size = Math.ceil((batch.to - batch.from) / n);
    const parts = await Promise.all(
      this.children.map((child, i) => {
        const part = { ...batch, from: batch.from + i * size, to: Math.min(batch.to, batch.from + (i + 1) * size) };
        if (part.from >= part.to) return Promise.resolve(emptyResult());
        const id = this.next++;
        return new Promise<BatchResult>((resolve) => {
          this.waiting.set(id, resolve);
          child.send({ id, batch: part } satisfies Job);
        });
      }),
    );
    return parts.reduce((a, b) => ({
      exposed: [...a.exposed, ...b.exposed],
      outcomesAtHalt: [...a.outcomesAtHalt, ...b.outcomesAtHalt],
      ends: [...a.ends, ...b.ends],
      breachesAfterRetry: a.breachesAfterRetry + b.breachesAfterRetry,
      decisions: a.decisions + b.decisions,
      stopped: a.stopped || b.stopped,
      maxRates: [...a.maxRates, ...b.maxRates],
    }));
  }
  close(): void {
    for (const child of this.children) child.kill();
  }
}

function emptyResult(): BatchResult {
  return {
    exposed: [],
    outcomesAtHalt: [],
    ends: [],
    breachesAfterRetry: 0,
    decisions: 0,
    stopped: false,
    maxRates: [],
  };
}

// ---------- statistics ----------

/** Wilson score interval (95 %) of a binomial share. */
function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.96;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const h = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [round((c - h) / d, 5), round((c + h) / d, 5)];
}

interface Row {
  rule: string;
  multiple: number;
  rate: number;
  runs: number;
  halted: number;
  haltShare: number;
  haltCi95: [number, number];
  meanExposed: number;
  exposedCi95: [number, number];
  meanOutcomesAtHalt: number | null;
  horizon: number;
  breachedAgainAfterRetry: number;
}

function rowOf(rule: string, multiple: number, r: BatchResult): Row {
  const n = r.exposed.length;
  const halts = r.outcomesAtHalt.filter((x) => x >= 0);
  const mean = r.exposed.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(r.exposed.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, n - 1));
  const half = (1.96 * sd) / Math.sqrt(n);
  return {
    rule,
    multiple,
    rate: round(multiple * MAX_RATE, 5),
    runs: n,
    halted: halts.length,
    haltShare: round(halts.length / n, 5),
    haltCi95: wilson(halts.length, n),
    meanExposed: round(mean, 1),
    exposedCi95: [round(mean - half, 1), round(mean + half, 1)],
    meanOutcomesAtHalt: halts.length > 0 ? round(halts.reduce((s, x) => s + x, 0) / halts.length, 1) : null,
    horizon: r.ends.filter((e) => e === 'horizon').length,
    breachedAgainAfterRetry: r.breachesAfterRetry,
  };
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

/** Wald's SPRT average sample number under p1 for p0 vs p1 at errors α, β (Wald's approximation). */
function waldAsn(p0: number, p1: number, alpha: number, beta: number): number {
  const kl = p1 * Math.log(p1 / p0) + (1 - p1) * Math.log((1 - p1) / (1 - p0));
  const a = (1 - beta) * Math.log((1 - beta) / alpha);
  const b = beta > 0 ? beta * Math.log(beta / (1 - alpha)) : 0;
  return (a + b) / kl;
}

// ---------- the run ----------

async function main(): Promise<void> {
  const started = Date.now();
  const pool = new Pool(WORKERS);
  const emit = (line: Record<string, unknown>) =>
    process.stdout.write(`${JSON.stringify({ bench: 'policy', ...line })}\n`);
  const multiples = [...GOOD_MULTIPLES, ...BAD_MULTIPLES];
  const runsOf = (m: number) => (m <= 1 ? GOOD_RUNS : BAD_RUNS);
  const batchOf = (thresholds: Record<string, unknown>, m: number, stopAfterHalts?: number): Batch => ({
    thresholds,
    rate: m * MAX_RATE,
    rateKey: String(m),
    from: 0,
    to: runsOf(m),
    ...(stopAfterHalts !== undefined ? { stopAfterHalts } : {}),
  });
  try {
    // 0. The regression judge.
    await regressionCases(pool, emit);
    if (args['regression-only']) return;

    // 1. The sequential rule (the plan's default).
    const sequential: Row[] = [];
    for (const m of multiples) {
      const row = rowOf('sequential', m, await pool.run(batchOf({}, m)));
      sequential.push(row);
      emit({ kind: 'rate', ...row });
    }
    const worstGood = sequential.filter((r) => r.multiple <= 1).reduce((a, b) => (b.haltShare > a.haltShare ? b : a));
    const target = worstGood.halted;
    if (RULES < 2) {
      // The rules a lane started before version 2 keeps: its sequential rule's characteristic, for comparison.
      process.stderr.write(`${tableOf(sequential)}\n`);
      emit({ kind: 'rules-version-1', maxFalseHaltRate: worstGood.haltShare, falseHaltCi95: worstGood.haltCi95 });
      return;
    }

    // 2. The plain rule: per minimum sample, the smallest threshold with at most `target` false halts at 1 ×. One
    // pass of the good runs under a plain rule that never halts records each run's largest rate after m outcomes;
    // the (target + 1)-th largest is the candidate threshold (those runs would halt above it). Phases pass a little
    // later under a tight threshold, so the candidate is then checked on the same seeds in the real lane and raised
    // in small steps until it holds.
    // Tuned on two sets of good runs (the reported one and a second), against the sequential rule's false halts on
    // both: one set alone lets the threshold fit its noise (out of sample it then false-halts more often).
    const haltsOf = (r: BatchResult) => (r.stopped ? Infinity : r.outcomesAtHalt.filter((x) => x >= 0).length);
    const onSet = (thresholds: Record<string, unknown>, key: string, stopAfterHalts?: number) =>
      pool.run({ ...batchOf(thresholds, 1, stopAfterHalts), rateKey: key });
    const tuningTarget = target + haltsOf(await onSet({}, 'tune:1'));
    const probe = await pool.run({ ...batchOf({ rule: 'plain', minSample: 1, maxFailureRate: 0.6 }, 1), track: true });
    const grid: { minSample: number; threshold: number; falseHalts: number; checks: number; rows: Row[] }[] = [];
    for (const [i, minSample] of PLAIN_MIN_SAMPLES.entries()) {
      const rates = probe.maxRates.map((r) => r[i]!).sort((a, b) => b - a);
      // Gallop up from the candidate until the real lanes hold the target, then bisect back down three times.
      const check = async (t: number) => {
        checks++;
        const thresholds = { rule: 'plain', minSample, maxFailureRate: t };
        const first = haltsOf(await onSet(thresholds, '1', tuningTarget));
        if (first > tuningTarget) return Infinity;
        return first + haltsOf(await onSet(thresholds, 'tune:1', tuningTarget - first));
      };
      let checks = 0;
      let low = MAX_RATE;
      let threshold = round(Math.max(MAX_RATE, rates[target] ?? MAX_RATE), 5);
      let falseHalts = await check(threshold);
      for (let step = 0.02; falseHalts > tuningTarget; step *= 2) {
        low = threshold;
        threshold = round(Math.min(0.6, threshold * (1 + step)), 5);
        falseHalts = await check(threshold);
      }
      if (checks === 1) low = round(threshold * 0.95, 5); // held at once: the candidate may be a little loose
      for (let i = 0; i < 3 && low < threshold; i++) {
        const mid = round(Math.sqrt(low * threshold), 5);
        const halts = await check(mid);
        if (halts <= tuningTarget) [threshold, falseHalts] = [mid, halts];
        else low = mid;
      }
      const thresholds = { rule: 'plain', minSample, maxFailureRate: threshold };
      const rows: Row[] = [];
      for (const m of BAD_MULTIPLES) rows.push(rowOf('plain', m, await pool.run(batchOf(thresholds, m))));
      grid.push({ minSample, threshold, falseHalts, checks, rows });
      emit({
        kind: 'plain-grid',
        minSample,
        threshold,
        falseHaltsWhenTuned: falseHalts,
        tuningTarget,
        tuningRuns: 2 * GOOD_RUNS,
        checks,
        meanExposedByMultiple: Object.fromEntries(rows.map((r) => [r.multiple, r.meanExposed])),
      });
    }
    const meanOverBad = (rows: Row[]) => rows.reduce((s, r) => s + r.meanExposed, 0) / rows.length;
    const tunedEntry = grid.reduce((a, b) => (meanOverBad(b.rows) < meanOverBad(a.rows) ? b : a));
    const tunedThresholds = { rule: 'plain', minSample: tunedEntry.minSample, maxFailureRate: tunedEntry.threshold };
    const tuned: Row[] = [];
    for (const m of GOOD_MULTIPLES) tuned.push(rowOf('plain-tuned', m, await pool.run(batchOf(tunedThresholds, m))));
    tuned.push(...tunedEntry.rows.map((r) => ({ ...r, rule: 'plain-tuned' })));
    for (const row of tuned)
      emit({ kind: 'rate', ...row, minSample: tunedEntry.minSample, threshold: tunedEntry.threshold });
    const oracle = BAD_MULTIPLES.map((m, i) => {
      const best = grid.reduce((a, b) => (b.rows[i]!.meanExposed < a.rows[i]!.meanExposed ? b : a));
      return {
        ...best.rows[i]!,
        rule: 'plain-oracle',
        minSample: best.minSample,
        threshold: best.threshold,
        multiple: m,
      };
    });
    for (const row of oracle) emit({ kind: 'rate', ...row });

    // 3. Out of sample: the plain configurations were tuned on good runs, so their false-halt rate is re-measured,
    // with the sequential rule's, on a third set none of them saw (same fleets for every rule).
    const fresh = (thresholds: Record<string, unknown>) => onSet(thresholds, 'holdout:1');
    const freshSeq = haltsOf(await fresh({}));
    const outOfSample: { rule: string; minSample?: number; threshold?: number; falseHalts: number; runs: number }[] = [
      { rule: 'sequential', falseHalts: freshSeq, runs: GOOD_RUNS },
    ];
    const plainConfigs = [
      { rule: 'plain-tuned', minSample: tunedEntry.minSample, threshold: tunedEntry.threshold },
      ...oracle.map((o) => ({ rule: `plain-oracle-${o.multiple}x`, minSample: o.minSample, threshold: o.threshold })),
    ];
    const measured = new Map<string, number>();
    for (const c of plainConfigs) {
      const key = `${c.minSample}/${c.threshold}`;
      if (!measured.has(key)) {
        const r = await fresh({ rule: 'plain', minSample: c.minSample, maxFailureRate: c.threshold });
        measured.set(key, haltsOf(r));
      }
      outOfSample.push({ ...c, falseHalts: measured.get(key)!, runs: GOOD_RUNS });
    }
    for (const o of outOfSample)
      emit({ kind: 'out-of-sample', multiple: 1, ...o, falseHaltShare: round(o.falseHalts / o.runs, 5) });

    // 4. The summary.
    const at = (rows: Row[], m: number) => rows.find((r) => r.multiple === m)!;
    const seq2 = at(sequential, 2);
    const beta = 1 - seq2.haltShare;
    const asn = waldAsn(MAX_RATE, 2 * MAX_RATE, ALPHA, beta);
    const worstOracle = BAD_MULTIPLES.filter((m) => m >= 2).reduce(
      (worst, m) => Math.max(worst, at(sequential, m).meanExposed / at(oracle, m).meanExposed),
      0,
    );
    const summary = {
      maxFalseHaltRate: worstGood.haltShare,
      falseHaltCi95: worstGood.haltCi95,
      exposure2x: seq2.meanExposed,
      exposure5x: at(sequential, 5).meanExposed,
      ratio2x: round(seq2.meanExposed / at(tuned, 2).meanExposed, 3),
      ratio5x: round(at(sequential, 5).meanExposed / at(tuned, 5).meanExposed, 3),
      worstOracleRatio: round(worstOracle, 3),
      waldRatio2x: round(seq2.meanExposed / asn, 3),
    };
    const details = {
      outOfSample,
      waldAsn2x: round(asn, 1),
      waldBeta: round(beta, 5),
      tunedPlain: { minSample: tunedEntry.minSample, threshold: tunedEntry.threshold },
      classSize: MODEL.devices,
      goodRuns: GOOD_RUNS,
      badRuns: BAD_RUNS,
      seed: SEED,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    await writeOutputs([...sequential, ...tuned, ...oracle], grid, summary, details);
    emit({ kind: 'details', ...details });
    emit(summary);
  } finally {
    pool.close();
  }
}

// ---------- the regression judge ----------

/**
 * Runs the regression cases (`REGRESSION_CASES`): a clean install, crashes at each ratio; per case the halt share
 * and the mean exposure, then a summary line (`kind: 'regression-summary'`) and out/bench-policy-regression.*.
 */
async function regressionCases(pool: Pool, emit: (line: Record<string, unknown>) => void): Promise<void> {
  const rows: (Row & { case: string; ratio: number })[] = [];
  for (const c of REGRESSION_CASES) {
    const postInstall: PostInstallModel = {
      signal: 'app-crash',
      ratePerHour: CONTROL_CRASH_RATE,
      ratio: c.ratio,
      reportEveryMin: 30,
      ...(c.spike !== undefined && { spike: c.spike }),
    };
    const good = c.ratio <= MAX_RATE_RATIO;
    const batch: Batch = {
      thresholds: {},
      rate: 0,
      rateKey: `regression:${c.name}`,
      from: 0,
      to: good ? GOOD_RUNS : BAD_RUNS,
      postInstall,
    };
    const row = { ...rowOf('regression', 0, await pool.run(batch)), case: c.name, ratio: c.ratio };
    rows.push(row);
    emit({ kind: 'regression', ...row });
  }
  const of = (name: string) => rows.find((r) => r.case === name)!;
  const good = rows.filter((r) => r.ratio <= MAX_RATE_RATIO);
  const summary = {
    kind: 'regression-summary',
    maxRateRatio: MAX_RATE_RATIO,
    falseHaltProbability: REGRESSION_ALPHA,
    falseHaltAt1x: of('1x').haltShare,
    falseHaltAt1xCi95: of('1x').haltCi95,
    falseHaltUnderSpike: of('1x, fleet-wide spike x5 h1-h5').haltShare,
    falseHaltUnderSpikeCi95: of('1x, fleet-wide spike x5 h1-h5').haltCi95,
    worstFalseHalt: Math.max(...good.map((r) => r.haltShare)),
    guaranteeHolds: good.every((r) => r.haltShare <= REGRESSION_ALPHA),
    exposure2x: of('2x').meanExposed,
    exposure3x: of('3x').meanExposed,
    halted2x: of('2x').haltShare,
    halted3x: of('3x').haltShare,
  };
  const table = [
    `Regression judge: app crashes at ${CONTROL_CRASH_RATE}/device-hour in the control, maxRateRatio ${MAX_RATE_RATIO}, α ${REGRESSION_ALPHA * 100} %, ${MODEL.devices} devices`,
    '',
    '| case | runs | halted (95 % CI) | mean exposed before the halt |',
    '| --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.runs} | ${(r.haltShare * 100).toFixed(2)} % (${(r.haltCi95[0] * 100).toFixed(2)}–${(r.haltCi95[1] * 100).toFixed(2)}) | ${r.meanExposed.toFixed(0)} ± ${((r.exposedCi95[1] - r.exposedCi95[0]) / 2).toFixed(0)} |`,
    ),
  ].join('\n');
  mkdirSync(args.out, { recursive: true });
  writeFileSync(path.join(args.out, 'bench-policy-regression.json'), `${JSON.stringify({ summary, rows }, null, 2)}\n`);
  writeFileSync(path.join(args.out, 'bench-policy-regression.md'), `${table}\n`);
  process.stderr.write(`${table}\n\n`);
  emit(summary);
}

// ---------- outputs: JSON, a markdown table, a picture ----------

async function writeOutputs(
  rows: Row[],
  grid: { minSample: number; threshold: number; falseHalts: number; checks: number }[],
  summary: Record<string, unknown>,
  details: Record<string, unknown>,
): Promise<void> {
  const dir = args.out;
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'bench-policy.json'), `${JSON.stringify({ summary, details, grid, rows }, null, 2)}\n`);
  const table = tableOf(rows);
  writeFileSync(path.join(dir, 'bench-policy.md'), `${table}\n`);
  process.stderr.write(`${table}\n`);
  writeFileSync(path.join(dir, 'bench-policy.svg'), await pictureOf(rows));
}

/** The operating-characteristic table: per true rate, halt share and mean exposure for each rule. */
function tableOf(rows: readonly Row[]): string {
  const rules = ['sequential', 'plain-tuned', 'plain-oracle'];
  const head = '| true rate | × max | ' + rules.map((r) => `${r}: halted (95 % CI) | mean exposed`).join(' | ') + ' |';
  const line = '|' + ' --- |'.repeat(2 + 2 * rules.length);
  const multiples = [...new Set(rows.map((r) => r.multiple))].sort((a, b) => a - b);
  const body = multiples.map((m) => {
    const cells = rules.map((rule) => {
      const r = rows.find((x) => x.rule === rule && x.multiple === m);
      if (r === undefined) return '— | —';
      const share = `${(r.haltShare * 100).toFixed(2)} % (${(r.haltCi95[0] * 100).toFixed(2)}–${(r.haltCi95[1] * 100).toFixed(2)})`;
      return `${share} | ${r.meanExposed.toFixed(0)} ± ${((r.exposedCi95[1] - r.exposedCi95[0]) / 2).toFixed(0)}`;
    });
    return `| ${(m * MAX_RATE * 100).toFixed(2)} % | ${m} | ${cells.join(' | ')} |`;
  });
  return [head, line, ...body].join('\n');
}

/** The curves as an SVG (Vega-Lite): halt share and mean exposure against the true rate, per rule. */
async function pictureOf(rows: readonly Row[]): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const values = rows.map((r) => ({
    rule: r.rule,
    multiple: Math.max(r.multiple, 0.1),
    haltShare: r.haltShare,
    meanExposed: r.meanExposed,
  }));
  const x = {
    field: 'multiple',
    type: 'quantitative',
    scale: { type: 'log' },
    title: 'true failure rate ÷ maxFailureRate (0 drawn at 0.1)',
  } as const;
  const color = { field: 'rule', type: 'nominal', title: 'rule' } as const;
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Operating characteristic, ${MODEL.devices} devices, maxFailureRate ${MAX_RATE * 100} %, α ${ALPHA * 100} %`,
    data: { values },
    hconcat: [
      {
        width: 360,
        height: 260,
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'haltShare', type: 'quantitative', title: 'share of lanes halted' }, color },
      },
      {
        width: 360,
        height: 260,
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: {
            field: 'meanExposed',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'mean devices exposed before the halt',
          },
          color,
        },
      },
    ],
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  return view.toSVG();
}

// ---------- entry ----------

if (args.worker) {
  process.on('message', (job: Job) => {
    process.send?.({ id: job.id, result: runBatch(job.batch) });
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
