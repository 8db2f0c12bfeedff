/**
 * Policy benchmark: how many devices a bad build reaches before the health judge halts it, under the
 * statistical (sequential) rule and under the plain rule tuned to the same false-halt rate.
 *
 * A pure, seeded simulation of one device class (10,000 devices, phases 1% / 5% / 25% / 100% by cohort
 * bucket). Devices check in one by one in random order; a phase bounds how far arrivals may go. Each
 * arriving device starts installing and (most often) reports its outcome at once; a device that crashes
 * reports nothing and counts as timed out `timeoutArrivals` arrivals later, or when the phase's bake ends.
 * The judge (`assessHealth` from events/health.ts, the kernel of `evaluateHealth`) sees the lane's running
 * counts after every arrival and once more at the end of each phase's bake. Blast radius = devices that
 * had started installing when the halt was decided (all 10,000 if it never halts).
 *
 * Fairness to the plain rule: for each minimum sample on a grid, its threshold is the smallest one whose
 * false-halt count on the tuning good-build runs does not exceed the sequential rule's on the same runs
 * (common random numbers); of those, the configuration that makes the plain rule look best against the
 * sequential rule (the largest blastRadiusRatio) is reported. Its false-halt rate is then re-measured
 * out of sample on fresh good-build runs, and every reported number comes from the real judge.
 *
 * Usage: npm run bench:policy [-- --seed N --good-runs N --bad-runs N]. Prints JSON lines; the last is
 * the summary `{"bench":"policy","falseHaltRate":…,"blastRadiusRatio":…,…}`.
 */
import { performance } from 'node:perf_hooks';
import { assessHealth, evaluateHealth, ThresholdsSchema, type HealthCounts, type Thresholds } from '../events/health';
import { cohortOf, murmur3, phaseBound } from '../events/cohort';
import { mulberry32 } from '../simulator/prng';

// ---------- parameters ----------

function argOf(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got ${raw}`);
  return value;
}

const SEED = argOf('seed', 20251127);
const GOOD_RUNS = argOf('good-runs', 4000); // per good-build set (tuning, then out-of-sample validation)
const BAD_RUNS = argOf('bad-runs', 1000); // per bad-build failure rate
const CLASS_SIZE = 10_000;
const PHASE_SHARES = [0.01, 0.05, 0.25, 1];
const GOOD_RATE = 0.005;
const BAD_RATES = [0.02, 0.05, 0.2];
/** Share of failing devices that crash and go silent (counted as timed out later). */
const SILENT_SHARE = 0.25;
/** The install timeout expressed in arrivals: a silent device counts as failed this many arrivals later. */
const TIMEOUT_ARRIVALS = 25;
/** Devices that report an ignored error code (low battery), whatever the build. */
const IGNORED_RATE = 0.003;

const SEQUENTIAL: Thresholds = ThresholdsSchema.parse({
  maxFailureRate: 0.02,
  minSample: 50,
  installTimeoutSec: 1800,
  errorCodes: { ignore: ['LOW_BATTERY'] },
  rule: 'sequential',
  falseHaltProbability: 0.01,
});
/** Runs per set judged both after every tick and at candidate ticks only, to check they agree. */
const VERIFY_RUNS = 25;
const PLAIN_MIN_SAMPLES = [10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000];

// ---------- randomness ----------

function runSeed(set: string, run: number): number {
  return murmur3(`${SEED}:${set}:${run}`);
}

// ---------- the class and its phases (cohorts from events/cohort.ts) ----------

const ROLLOUT_ID = `bench-policy-${SEED}`;
const bounds = PHASE_SHARES.map(phaseBound);
const phaseEnds: number[] = (() => {
  const perPhase = new Array<number>(bounds.length).fill(0);
  for (let d = 0; d < CLASS_SIZE; d++) {
    const bucket = cohortOf(`device-${String(d).padStart(5, '0')}`, ROLLOUT_ID);
    const phase = bounds.findIndex((b) => bucket < b);
    perPhase[phase] = (perPhase[phase] ?? 0) + 1;
  }
  let sum = 0;
  return perPhase.map((n) => (sum += n));
})();

// ---------- one run: the lane's running counts after every tick ----------

/** Per-tick snapshots of the lane's counts (a tick is an arrival, or the end of a phase's bake). */
class Trajectory {
  readonly capacity = CLASS_SIZE + PHASE_SHARES.length;
  ticks = 0;
  readonly arrivals = new Int32Array(this.capacity);
  readonly succeeded = new Int32Array(this.capacity);
  readonly installFailed = new Int32Array(this.capacity);
  readonly verifyFailed = new Int32Array(this.capacity);
  readonly lowBattery = new Int32Array(this.capacity);
  readonly timedOut = new Int32Array(this.capacity);
  readonly inProgress = new Int32Array(this.capacity);
  /** Phase (0-based) a tick belongs to, and whether it is the end-of-bake tick. */
  readonly phase = new Int8Array(this.capacity);
  readonly bakeEnd = new Uint8Array(this.capacity);
  /** The judge's view: final outcomes that count, and failures (timeouts included). */
  readonly sample = new Int32Array(this.capacity);
  readonly failures = new Int32Array(this.capacity);

  /** Simulates one rollout of a build failing with probability `rate`, all the way to full exposure. */
  simulate(rate: number, seed: number): this {
    const rand = mulberry32(seed);
    const due = new Int32Array(CLASS_SIZE); // silent devices' timeout arrival, a FIFO (due times increase)
    let head = 0;
    let tail = 0;
    let succeeded = 0;
    let installFailed = 0;
    let verifyFailed = 0;
    let lowBattery = 0;
    let timedOut = 0;
    let phase = 0;
    this.ticks = 0;
    const record = (arrivals: number, bakeEnd: boolean) => {
      const t = this.ticks++;
      this.arrivals[t] = arrivals;
      this.succeeded[t] = succeeded;
      this.installFailed[t] = installFailed;
      this.verifyFailed[t] = verifyFailed;
      this.lowBattery[t] = lowBattery;
      this.timedOut[t] = timedOut;
      this.inProgress[t] = tail - head;
      this.phase[t] = phase;
      this.bakeEnd[t] = bakeEnd ? 1 : 0;
      this.sample[t] = succeeded + installFailed + verifyFailed + timedOut;
      this.failures[t] = installFailed + verifyFailed + timedOut;
    };
    for (let a = 1; a <= CLASS_SIZE; a++) {
      if (rand() < IGNORED_RATE) lowBattery++;
      else if (rand() >= rate) succeeded++;
      else if (rand() < SILENT_SHARE) due[tail++] = a + TIMEOUT_ARRIVALS;
      else if (rand() < 0.5) installFailed++;
      else verifyFailed++;
      while (head < tail && (due[head] ?? 0) <= a) {
        head++;
        timedOut++;
      }
      record(a, false);
      if (a === phaseEnds[phase]) {
        // The bake: every device still silent times out before the phase may pass.
        timedOut += tail - head;
        head = tail;
        record(a, true);
        phase++;
      }
    }
    return this;
  }

  /** The counts of tick `t`, written into a reused object (the judge reads, never keeps, it). */
  countsAt(t: number, into: HealthCounts, since = -1): HealthCounts {
    const minus = (arr: Int32Array) => (since >= 0 ? (arr[since] ?? 0) : 0);
    into.succeeded = (this.succeeded[t] ?? 0) - minus(this.succeeded);
    into.failedByCode.E_INSTALL = (this.installFailed[t] ?? 0) - minus(this.installFailed);
    into.failedByCode.E_VERIFY = (this.verifyFailed[t] ?? 0) - minus(this.verifyFailed);
    into.failedByCode.LOW_BATTERY = (this.lowBattery[t] ?? 0) - minus(this.lowBattery);
    into.timedOut = (this.timedOut[t] ?? 0) - minus(this.timedOut);
    into.inProgress = this.inProgress[t] ?? 0;
    return into;
  }
}

function freshCounts(): HealthCounts {
  return { succeeded: 0, failedByCode: { E_INSTALL: 0, E_VERIFY: 0, LOW_BATTERY: 0 }, timedOut: 0, inProgress: 0 };
}

interface JudgedRun {
  /** Tick of the halt, -1 if none. */
  haltTick: number;
  /** Devices that had started installing when the halt was decided (CLASS_SIZE if never). */
  exposed: number;
  /** Verdict at the end of each phase's bake (for phases reached). */
  phaseEndVerdicts: string[];
}

/**
 * Runs the real judge on the lane's running counts after every tick of a trajectory. Between two ticks
 * that add no failure neither rule can newly breach (the failure rate and the log-likelihood ratio only
 * fall as successes arrive), so unless `everyTick` is set the judge is consulted only at ticks that add a
 * failure, at the first tick with `minSample` outcomes, and at each phase's end of bake; `verifySkipping`
 * checks that this gives exactly the same result as judging every tick.
 */
function judge(tr: Trajectory, thresholds: Thresholds, counts: HealthCounts, everyTick = false): JudgedRun {
  const phaseEndVerdicts: string[] = [];
  const minSampleTick = firstTickWithSample(tr, thresholds.minSample);
  for (let t = 0; t < tr.ticks; t++) {
    const candidate =
      everyTick || tr.bakeEnd[t] === 1 || t === minSampleTick || tr.failures[t] !== (t > 0 ? tr.failures[t - 1] : 0);
    if (!candidate) continue;
    const { verdict } = assessHealth(tr.countsAt(t, counts), thresholds);
    if (tr.bakeEnd[t] === 1) phaseEndVerdicts.push(verdict);
    if (verdict === 'breach') return { haltTick: t, exposed: tr.arrivals[t] ?? 0, phaseEndVerdicts };
  }
  return { haltTick: -1, exposed: CLASS_SIZE, phaseEndVerdicts };
}

let verifiedRuns = 0;

/** Judges a run both ways (skipping and every tick) and fails loudly if they differ. */
function verifySkipping(tr: Trajectory, thresholds: Thresholds, counts: HealthCounts): void {
  const fast = judge(tr, thresholds, counts);
  const full = judge(tr, thresholds, counts, true);
  if (JSON.stringify(fast) !== JSON.stringify(full)) {
    throw new Error(`judging only candidate ticks changed a result: ${JSON.stringify({ fast, full })}`);
  }
  verifiedRuns++;
}

/**
 * The lane decider's windowing (events/lane.ts counts outcomes per phase window, and every window of the
 * attempt can breach): the sequential judge on each phase's own counts, at ticks that add a failure (the
 * only ones where it can newly breach). Returns whether any window breached.
 */
function judgePerPhase(tr: Trajectory, thresholds: Thresholds, counts: HealthCounts): boolean {
  let start = -1;
  for (let t = 0; t < tr.ticks; t++) {
    const candidate = tr.failures[t] !== (t > 0 ? tr.failures[t - 1] : 0);
    if (candidate && assessHealth(tr.countsAt(t, counts, start), thresholds).verdict === 'breach') return true;
    if (tr.bakeEnd[t] === 1) start = t;
  }
  return false;
}

// ---------- the plain rule's fast path, for tuning only ----------

/** For each minimum sample of the grid: the largest failure rate the run shows once that sample is reached. */
function supRates(tr: Trajectory, out: Float64Array): void {
  const suffixMax = new Float64Array(tr.ticks + 1);
  suffixMax[tr.ticks] = -1;
  for (let t = tr.ticks - 1; t >= 0; t--) {
    const s = tr.sample[t] ?? 0;
    const rate = s > 0 ? (tr.failures[t] ?? 0) / s : 0;
    suffixMax[t] = Math.max(rate, suffixMax[t + 1] ?? -1);
  }
  PLAIN_MIN_SAMPLES.forEach((m, i) => {
    const first = firstTickWithSample(tr, m);
    out[i] = first < 0 ? -1 : (suffixMax[first] ?? -1);
  });
}

function firstTickWithSample(tr: Trajectory, m: number): number {
  let lo = 0;
  let hi = tr.ticks; // sample is non-decreasing over ticks
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((tr.sample[mid] ?? 0) >= m) hi = mid;
    else lo = mid + 1;
  }
  return lo < tr.ticks ? lo : -1;
}

/** Devices exposed when the plain rule (m, threshold) halts, by a direct scan of the trajectory. */
function plainExposed(tr: Trajectory, m: number, threshold: number): number {
  const first = firstTickWithSample(tr, m);
  if (first < 0) return CLASS_SIZE;
  for (let t = first; t < tr.ticks; t++) {
    if ((tr.failures[t] ?? 0) > threshold * (tr.sample[t] ?? 0)) return tr.arrivals[t] ?? 0;
  }
  return CLASS_SIZE;
}

// ---------- statistics ----------

function summarize(exposed: number[], halted: number) {
  const sorted = [...exposed].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
  const mean = exposed.reduce((s, x) => s + x, 0) / exposed.length;
  return {
    haltProbability: round(halted / exposed.length, 4),
    meanExposed: round(mean, 1),
    medianExposed: q(0.5),
    p95Exposed: q(0.95),
  };
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// ---------- main ----------

function main(): void {
  const started = performance.now();
  const tr = new Trajectory();
  const counts = freshCounts();
  const plainOf = (minSample: number, threshold: number): Thresholds => ({
    ...SEQUENTIAL,
    rule: 'plain',
    minSample,
    maxFailureRate: threshold,
  });

  emit({ bench: 'policy', kind: 'seed', seed: SEED });
  emit({
    bench: 'policy',
    kind: 'parameters',
    judge:
      'events/health.ts (assessHealth, the kernel of evaluateHealth) on the lane running counts; not the lane decider',
    evaluation:
      'after every arrival, and once more at the end of each phase bake (ticks that add no failure are skipped: ' +
      'no rule can newly breach there; verified equal to judging every tick on verifiedRuns runs)',
    blastRadius: 'devices that had started installing when the halt was decided; 10000 if never halted',
    classSize: CLASS_SIZE,
    phaseShares: PHASE_SHARES,
    phaseEnds,
    goodFailureRate: GOOD_RATE,
    badFailureRates: BAD_RATES,
    silentShareOfFailures: SILENT_SHARE,
    timeoutArrivals: TIMEOUT_ARRIVALS,
    ignoredCodeRate: IGNORED_RATE,
    goodRunsTuning: GOOD_RUNS,
    goodRunsValidation: GOOD_RUNS,
    badRunsPerRate: BAD_RUNS,
    sequential: {
      maxFailureRate: SEQUENTIAL.maxFailureRate,
      baselineFailureRate: SEQUENTIAL.maxFailureRate / 4,
      falseHaltProbability: SEQUENTIAL.falseHaltProbability,
      minSample: SEQUENTIAL.minSample,
    },
    plainMinSampleGrid: PLAIN_MIN_SAMPLES,
  });

  // 1. Good builds, tuning set: the sequential rule's false halts, and each plain minimum sample's sup rate.
  let seqHaltsTuning = 0;
  let perPhaseHalts = 0;
  let perPhaseHaltsSplit = 0;
  const split: Thresholds = { ...SEQUENTIAL, falseHaltProbability: SEQUENTIAL.falseHaltProbability / bounds.length };
  const phaseHealthy = new Array<number>(bounds.length).fill(0);
  const sups = PLAIN_MIN_SAMPLES.map(() => new Float64Array(GOOD_RUNS));
  const sup = new Float64Array(PLAIN_MIN_SAMPLES.length);
  for (let r = 0; r < GOOD_RUNS; r++) {
    tr.simulate(GOOD_RATE, runSeed('good-tuning', r));
    if (r < VERIFY_RUNS) verifySkipping(tr, SEQUENTIAL, counts);
    const run = judge(tr, SEQUENTIAL, counts);
    if (run.haltTick >= 0) seqHaltsTuning++;
    run.phaseEndVerdicts.forEach((v, p) => {
      if (v === 'healthy') phaseHealthy[p] = (phaseHealthy[p] ?? 0) + 1;
    });
    if (judgePerPhase(tr, SEQUENTIAL, counts)) perPhaseHalts++;
    if (judgePerPhase(tr, split, counts)) perPhaseHaltsSplit++;
    supRates(tr, sup);
    sups.forEach((s, i) => (s[r] = sup[i] ?? -1));
  }

  // 2. The plain rule's tightest threshold per minimum sample at no more false halts than the sequential rule.
  const grid = PLAIN_MIN_SAMPLES.map((m, i) => {
    const sorted = Float64Array.from(sups[i] ?? [])
      .sort()
      .reverse();
    const threshold = Math.max(0, sorted[seqHaltsTuning] ?? 0); // count(sup > threshold) ≤ seqHaltsTuning
    const falseHalts = Array.from(sups[i] ?? []).filter((s) => s > threshold).length;
    return { minSample: m, threshold, falseHalts, exposedByRate: [] as number[][] };
  });

  // 3. Bad builds: the sequential rule through the judge, every plain candidate by the fast scan.
  const seqExposed = BAD_RATES.map(() => [] as number[]);
  const seqHalted = BAD_RATES.map(() => 0);
  const examples: object[] = [];
  for (const [c, rate] of BAD_RATES.entries()) {
    for (const g of grid) g.exposedByRate[c] = [];
    for (let r = 0; r < BAD_RUNS; r++) {
      tr.simulate(rate, runSeed(`bad-${rate}`, r));
      if (r < VERIFY_RUNS) verifySkipping(tr, SEQUENTIAL, counts);
      const run = judge(tr, SEQUENTIAL, counts);
      seqExposed[c]?.push(run.exposed);
      if (run.haltTick >= 0) {
        seqHalted[c] = (seqHalted[c] ?? 0) + 1;
        if (examples.length === c) {
          const evidence = evaluateHealth(tr.countsAt(run.haltTick, freshCounts()), SEQUENTIAL).evidence;
          examples.push({ failureRate: rate, run: r, exposed: run.exposed, explanation: evidence.explanation });
        }
      }
      for (const g of grid) g.exposedByRate[c]?.push(plainExposed(tr, g.minSample, g.threshold));
    }
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const seqMeans = seqExposed.map(mean);
  const ratioAgainst = (plainMeans: number[]) => mean(plainMeans.map((p, c) => (seqMeans[c] ?? 0) / p));
  for (const g of grid) {
    const plainMeans = g.exposedByRate.map(mean);
    emit({
      bench: 'policy',
      kind: 'plain-tuning',
      minSample: g.minSample,
      threshold: round(g.threshold, 6),
      falseHalts: g.falseHalts,
      goodRuns: GOOD_RUNS,
      meanExposedByRate: Object.fromEntries(BAD_RATES.map((rate, c) => [rate, round(plainMeans[c] ?? 0, 1)])),
      blastRadiusRatio: round(ratioAgainst(plainMeans), 4),
    });
  }
  const best = grid.reduce((a, b) =>
    ratioAgainst(b.exposedByRate.map(mean)) > ratioAgainst(a.exposedByRate.map(mean)) ? b : a,
  );
  const plain = plainOf(best.minSample, best.threshold);

  // 4. The chosen plain configuration through the real judge, on the same bad runs (and it must agree).
  const plainExposedByRate = BAD_RATES.map(() => [] as number[]);
  const plainHalted = BAD_RATES.map(() => 0);
  let disagreements = 0;
  for (const [c, rate] of BAD_RATES.entries()) {
    for (let r = 0; r < BAD_RUNS; r++) {
      tr.simulate(rate, runSeed(`bad-${rate}`, r));
      if (r < VERIFY_RUNS) verifySkipping(tr, plain, counts);
      const run = judge(tr, plain, counts);
      plainExposedByRate[c]?.push(run.exposed);
      if (run.haltTick >= 0) plainHalted[c] = (plainHalted[c] ?? 0) + 1;
      if (run.exposed !== best.exposedByRate[c]?.[r]) disagreements++;
    }
  }
  if (disagreements > 0) throw new Error(`plain fast scan and judge disagree on ${disagreements} runs`);

  // 5. Good builds, validation set: both rules out of sample.
  let seqHaltsValidation = 0;
  let plainHaltsValidation = 0;
  let plainHaltsTuning = 0;
  for (let r = 0; r < GOOD_RUNS; r++) {
    tr.simulate(GOOD_RATE, runSeed('good-validation', r));
    if (r < VERIFY_RUNS) {
      verifySkipping(tr, SEQUENTIAL, counts);
      verifySkipping(tr, plain, counts);
    }
    if (judge(tr, SEQUENTIAL, counts).haltTick >= 0) seqHaltsValidation++;
    if (judge(tr, plain, counts).haltTick >= 0) plainHaltsValidation++;
  }
  for (let r = 0; r < GOOD_RUNS; r++) {
    tr.simulate(GOOD_RATE, runSeed('good-tuning', r));
    if (judge(tr, plain, counts).haltTick >= 0) plainHaltsTuning++;
  }

  // 6. The case table.
  const ratios: number[] = [];
  for (const [c, rate] of BAD_RATES.entries()) {
    const s = summarize(seqExposed[c] ?? [], seqHalted[c] ?? 0);
    const p = summarize(plainExposedByRate[c] ?? [], plainHalted[c] ?? 0);
    ratios.push(s.meanExposed / p.meanExposed);
    emit({ bench: 'policy', kind: 'case', failureRate: rate, rule: 'sequential', runs: BAD_RUNS, ...s });
    emit({ bench: 'policy', kind: 'case', failureRate: rate, rule: 'plain', runs: BAD_RUNS, ...p });
  }
  const goodRuns = 2 * GOOD_RUNS;
  const falseHaltRate = (seqHaltsTuning + seqHaltsValidation) / goodRuns;
  const plainFalseHaltRate = (plainHaltsTuning + plainHaltsValidation) / goodRuns;
  emit({
    bench: 'policy',
    kind: 'good-build',
    failureRate: GOOD_RATE,
    sequential: { tuningHalts: seqHaltsTuning, validationHalts: seqHaltsValidation, runsPerSet: GOOD_RUNS },
    plain: { tuningHalts: plainHaltsTuning, validationHalts: plainHaltsValidation, runsPerSet: GOOD_RUNS },
    sequentialHealthyAtPhaseEnd: phaseHealthy.map((n) => round(n / GOOD_RUNS, 4)),
  });
  emit({
    bench: 'policy',
    kind: 'per-phase-windows',
    note: 'events/lane.ts judges each phase window separately and any window may breach: alpha is spent per window',
    falseHaltRateAtAlpha: round(perPhaseHalts / GOOD_RUNS, 4),
    falseHaltRateAtAlphaOverPhases: round(perPhaseHaltsSplit / GOOD_RUNS, 4),
    runs: GOOD_RUNS,
  });
  for (const example of examples) emit({ bench: 'policy', kind: 'example-halt', ...example });
  emit({
    bench: 'policy',
    falseHaltRate: round(falseHaltRate, 5),
    blastRadiusRatio: round(mean(ratios), 4),
    ratioByRate: Object.fromEntries(BAD_RATES.map((rate, c) => [rate, round(ratios[c] ?? 0, 4)])),
    plainFalseHaltRate: round(plainFalseHaltRate, 5),
    plainFalseHaltRateOutOfSample: round(plainHaltsValidation / GOOD_RUNS, 5),
    plain: { minSample: best.minSample, threshold: round(best.threshold, 6) },
    verifiedRuns,
    sequential: 'always-valid mixture SPRT: odds 1x/3x/10x of 2% vs 0.5%, alpha 0.01',
    goodRuns,
    badRunsPerRate: BAD_RUNS,
    seed: SEED,
    seconds: round((performance.now() - started) / 1000, 1),
  });
}

main();
