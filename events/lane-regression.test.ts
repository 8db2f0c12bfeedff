/**
 * The regression judge in the lane decider, as specifications: given the lane's past events, when a post-install
 * delta (or a timer) arrives, then these events. Kept beside `lane.test.ts` in a file of its own. Rates are per
 * device-hour; the control's rate is 0.01 events per device-hour unless a test says otherwise.
 */
import { type LaneInput, isRefusal } from './commands';
import { type DomainEvent, DomainEventSchema } from './domain-events';
import {
  decideLane,
  describeWaitingFor,
  exposureOfferId,
  foldLane,
  initialLaneState,
  laneDeadlineOf,
  stepLane,
} from './lane';
import { type LaneConfig, type LaneRegression, laneConfigOf, parsePlan } from './plan';
import { testLaneConfig } from '../test/support/lane-config';
import type { ExposureCounts, PostInstallDelta } from './post-install';
import { REGRESSION_FACTORS, judgeDelta, mixtureLogE, nextLogLr, regressionBound } from './regression';
import { mulberry32 } from '../simulator/prng';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';
const ROLLOUT = 'r-2026-03';
const HOUR = 3600;

const RULE: LaneRegression = {
  signals: ['app-crash', 'kernel-panic'],
  maxRateRatio: 1.5,
  falseHaltProbability: 0.01,
  watchSec: 0,
  minEvents: 5,
};

/** Two phases, 10 % (bake 60 s) then 100 % (bake 60 s), plain install rule, with the regression rule. */
function laneConfig(regression: Partial<LaneRegression> | null = {}, overrides: Partial<LaneConfig> = {}): LaneConfig {
  return testLaneConfig({
    phases: [
      { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'none' },
      { share: 100, cohortBound: 10000, bakeSec: 60, approval: 'none' },
    ],
    ...(regression !== null && { regression: { ...RULE, ...regression } }),
    ...overrides,
  });
}

let nextOffset = 0;
type Group = { hours: number; crashes?: number };

/** A post-install delta: each group's device-hours and events; fresh offsets on partition 3 unless `range` is given. */
function postInstall(updated: Group, control: Group, t: number, range?: PostInstallDelta['ranges'][number]): LaneInput {
  const from = nextOffset;
  nextOffset += 10;
  return {
    type: 'post-install-delta',
    lane: LANE,
    delta: {
      updated: groupOf(updated),
      control: groupOf(control),
      ranges: [range ?? { partition: 3, fromOffset: String(from), toOffset: String(from + 9) }],
    },
    at: at(t),
  };
}

const start = (config = laneConfig()): LaneInput => ({
  type: 'start-lane',
  rolloutId: ROLLOUT,
  lane: LANE,
  config,
  at: at(0),
});
const healthy = (phase: number, t: number): LaneInput => ({
  type: 'health-delta',
  lane: LANE,
  offerId: exposureOfferId(LANE, phase, 1),
  delta: {
    counts: { succeeded: 50, failedByCode: {}, timedOut: 0, inProgress: 0 },
    ranges: [{ partition: 0, fromOffset: String(nextOffset), toOffset: String((nextOffset += 10) - 1) }],
  },
  at: at(t),
});
const timer = (kind: 'bake' | 'watch' | 'patching' | 'retry-backoff', t: number): LaneInput => ({
  type: 'timer-fired',
  lane: LANE,
  kind,
  at: at(t),
});

function history(...inputs: LaneInput[]): DomainEvent[] {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  for (const next of inputs) {
    const answer = stepLane(state, next);
    if (isRefusal(answer)) throw new Error(`history refused ${next.type}: ${answer.reason}`);
    state = answer.state;
    log.push(...answer.events);
  }
  return log;
}

/** The events of one input after `past`, each checked against the schema. */
function when(past: readonly DomainEvent[], next: LaneInput): DomainEvent[] {
  const answer = decideLane(foldLane(past), next);
  if (isRefusal(answer)) throw new Error(`refused: ${answer.reason}`);
  for (const e of answer) expect(DomainEventSchema.parse(e)).toEqual(e);
  return [...answer];
}

/** 10 % of a class of 10,000 exposed: 1,000 updated devices against 9,000 in the control, for `hours` hours. */
const split = (hours: number, ratio: number, controlRate = 0.01) => {
  const u = 1000 * hours;
  const c = 9000 * hours;
  return {
    updated: { hours: u, crashes: Math.round(u * controlRate * ratio) },
    control: { hours: c, crashes: Math.round(c * controlRate) },
  };
};

describe('the regression judge (events/regression.ts)', () => {
  test('a delta whose counts match the tolerated ratio exactly lowers every alternative (evidence for H0)', () => {
    // p0 = 1.5·1000 / (1.5·1000 + 9000) = 1/7: one event in seven on the build is what ρ0 predicts.
    const lr = nextLogLr([0, 0, 0, 0, 0], { events: 10, uptimeSec: 1000 }, { events: 60, uptimeSec: 9000 }, 1.5);
    for (const l of lr) expect(l).toBeLessThan(0);
  });

  test('no exposure in either group, or no event, is no evidence: the ratios stay as they are', () => {
    const before = [0.5, 0.4, 0.3, 0.2, 0.1];
    expect(nextLogLr(before, { events: 9, uptimeSec: 1000 }, { events: 0, uptimeSec: 0 }, 1.5)).toEqual(before);
    expect(nextLogLr(before, { events: 0, uptimeSec: 0 }, { events: 9, uptimeSec: 1000 }, 1.5)).toEqual(before);
    expect(nextLogLr(before, { events: 0, uptimeSec: 50 }, { events: 0, uptimeSec: 500 }, 1.5)).toEqual(before);
  });

  test('the e-value is the weighted mean of the alternatives, and the bound is ln(signals / α)', () => {
    expect(mixtureLogE(REGRESSION_FACTORS.map(() => 0))).toBeCloseTo(0, 12);
    expect(mixtureLogE([Math.log(5), -Infinity, -Infinity, -Infinity, -Infinity])).toBeCloseTo(0, 12);
    expect(regressionBound(RULE)).toBeCloseTo(Math.log(200), 12);
  });

  test('a fleet-wide spike multiplies both groups alike: the same evidence as without it, scaled by its events', () => {
    // Rates × 5 in both groups: ρ and the exposure split are unchanged, so each event carries the same weight.
    const calm = judgeDelta({}, deltaOf(split(1, 1)), RULE).evidence[0]!;
    const spike = judgeDelta({}, deltaOf(split(1, 1, 0.05)), RULE).evidence[0]!;
    expect(spike.ratio).toBeCloseTo(calm.ratio!, 6);
    expect(spike.verdict).toBe('watching');
    for (const l of spike.logLr) expect(l).toBeLessThan(0);
  });

  /** Share of `lanes` simulated lanes (hourly deltas, 1,000 updated vs 9,000 control devices) the judge ever halts. */
  const haltShare = (ratio: number, rule: LaneRegression, lanes: number, deltas: number, seed: number): number => {
    const rand = mulberry32(seed);
    const poisson = (mean: number) => {
      // Knuth's method; exact for the means used here (15 and 90 events per delta).
      let k = 0;
      const limit = Math.exp(-mean);
      for (let p = rand(); p > limit; p *= rand()) k++;
      return k;
    };
    let halts = 0;
    for (let lane = 0; lane < lanes; lane++) {
      let states = {};
      for (let i = 0; i < deltas; i++) {
        const delta = deltaOf({
          updated: { hours: 1000, crashes: poisson(1000 * 0.01 * ratio) },
          control: { hours: 9000, crashes: poisson(9000 * 0.01) },
        });
        const judged = judgeDelta(states, delta, rule);
        states = judged.states;
        if (judged.evidence[0]!.verdict === 'breach') {
          halts++;
          break;
        }
      }
    }
    return halts / lanes;
  };

  test('property: at the tolerated ratio itself the false-halt share is not above α (seeded Poisson, 100 deltas)', () => {
    // α = 5 % on one signal so 600 lanes measure it: the share must not be significantly above α (one-sided 99 %).
    const rule = { ...RULE, signals: ['app-crash'], falseHaltProbability: 0.05, minEvents: 0 };
    const share = haltShare(1.5, rule, 600, 100, 17);
    expect(share).toBeLessThanOrEqual(0.05 + 2.33 * Math.sqrt((0.05 * 0.95) / 600));
  });

  test('property: at ratio 1 (no regression) it halts far less often than α', () => {
    const rule = { ...RULE, signals: ['app-crash'], falseHaltProbability: 0.05, minEvents: 0 };
    expect(haltShare(1, rule, 600, 100, 18)).toBeLessThan(0.01);
  });
});

describe('lane: post-install deltas under a regression rule', () => {
  test('a lane without the rule refuses them, as before, and decides exactly what it did', () => {
    const log = history(start(laneConfig(null)));
    const answer = decideLane(foldLane(log), postInstall({ hours: 10 }, { hours: 90 }, 5));
    expect(isRefusal(answer) && answer.reason).toMatch(/watches no post-install signals/);
    expect(foldLane(log).regression).toBeUndefined();
  });

  test('a build at 3 × the control rate breaches with the evidence and the pause policy fires', () => {
    let log = history(start());
    let breach: DomainEvent[] = [];
    for (let h = 1; h <= 24 && breach.length === 0; h++) {
      const { updated, control } = split(1, 3);
      const events = when(log, postInstall(updated, control, 30 + h));
      log = [...log, ...events];
      breach = events.filter((e) => e.type === 'threshold-breached');
    }
    expect(breach).toHaveLength(1);
    const b = breach[0]!;
    if (b.type !== 'threshold-breached' || b.data.evidence.rule !== 'regression') throw new Error('no regression');
    expect(b.data).toMatchObject({ rule: 'regression', response: 'pause', phase: 0, attempt: 1 });
    expect(b.data.evidence).toMatchObject({ signal: 'app-crash', maxRateRatio: 1.5, verdict: 'breach' });
    expect(b.data.evidence.ratio).toBeCloseTo(3, 1);
    expect(b.data.evidence.updated.ratePerHour).toBeCloseTo(0.03, 3);
    expect(b.data.evidence.control.ratePerHour).toBeCloseTo(0.01, 3);
    expect(b.data.evidence.logE).toBeGreaterThanOrEqual(b.data.evidence.bound);
    // The other watched signal saw no event in either group: nothing to hold against the build.
    const judged = log.filter((e) => e.type === 'regression-evaluated').at(-1);
    if (judged?.type !== 'regression-evaluated') throw new Error('no judgement');
    expect(judged.data.signals.map((s) => [s.signal, s.verdict])).toEqual([
      ['app-crash', 'breach'],
      ['kernel-panic', 'watching'],
    ]);
    expect(b.data.evidence.explanation).toMatch(/app-crash: \d+ events in \d+\.\d device-hours on the build/);
    const state = foldLane(log);
    expect(state.status).toBe('paused');
    expect(state.pause?.cause).toBe('breach');
    expect(state.lastBreach?.evidence.rule).toBe('regression');
    expect(log.at(-1)).toMatchObject({ type: 'lane-paused', data: { cause: 'breach' } });
  });

  test('the rollback policy rolls the class back; later deltas are recorded but not actionable', () => {
    let log = history(start(laneConfig({}, { breachPolicy: { action: 'rollback' } })));
    for (let h = 1; h <= 24 && foldLane(log).status === 'running'; h++) {
      const { updated, control } = split(1, 3);
      log = [...log, ...when(log, postInstall(updated, control, 30 + h))];
    }
    expect(foldLane(log).status).toBe('rolling-back');
    expect(log.filter((e) => e.type === 'rollback-started')).toMatchObject([{ data: { trigger: 'policy' } }]);
    const { updated, control } = split(1, 3);
    expect(when(log, postInstall(updated, control, 100))).toMatchObject([
      { type: 'regression-evaluated', data: { actionable: false } },
    ]);
  });

  test('at ratio 1 over a long life nothing breaches (240 hourly deltas)', () => {
    let log = history(start());
    for (let h = 1; h <= 240; h++) {
      const { updated, control } = split(1, 1);
      log = [...log, ...when(log, postInstall(updated, control, 30 + h))];
    }
    expect(log.filter((e) => e.type === 'threshold-breached')).toHaveLength(0);
    const last = log.at(-1);
    expect(last).toMatchObject({ type: 'regression-evaluated', data: { verdict: 'watching', actionable: true } });
  });

  test('a fleet-wide spike (both groups × 5 for 6 hours) at ratio 1 does not breach', () => {
    let log = history(start());
    for (let h = 1; h <= 48; h++) {
      const { updated, control } = split(1, 1, h >= 10 && h < 16 ? 0.05 : 0.01);
      log = [...log, ...when(log, postInstall(updated, control, 30 + h))];
    }
    expect(log.filter((e) => e.type === 'threshold-breached')).toHaveLength(0);
    expect(foldLane(log).status).toBe('running');
  });

  test('without control exposure (the class at 100 %) a delta carries no evidence, however many crashes', () => {
    const log = history(start());
    const events = when(log, postInstall({ hours: 1000, crashes: 500 }, { hours: 0 }, 40));
    expect(events).toMatchObject([
      { type: 'regression-evaluated', data: { verdict: 'no-evidence', actionable: true } },
    ]);
    if (events[0]?.type !== 'regression-evaluated') throw new Error('no event');
    expect(events[0].data.signals[0]).toMatchObject({
      signal: 'app-crash',
      logE: 0,
      ratio: null,
      verdict: 'no-evidence',
    });
  });

  test('redelivery is idempotent: a delta at or below the marks is dropped; one straddling a mark is applied and says so', () => {
    const range = { partition: 5, fromOffset: '100', toOffset: '120' };
    const log = history(start(), postInstall({ hours: 100, crashes: 1 }, { hours: 900, crashes: 9 }, 40, range));
    expect(when(log, postInstall({ hours: 100, crashes: 1 }, { hours: 900, crashes: 9 }, 41, range))).toEqual([]);
    const straddling = { partition: 5, fromOffset: '110', toOffset: '130' };
    expect(when(log, postInstall({ hours: 1 }, { hours: 9 }, 42, straddling))).toMatchObject([
      { type: 'regression-evaluated', data: { overlap: [{ partition: 5, fromOffset: '110', mark: '120' }] } },
    ]);
    // Health deltas keep their own marks: the same offsets of another kind of delta are not a redelivery.
    expect(foldLane(log).highWater).toEqual({});
  });

  test('a retry starts the evidence afresh: totals and e-values of the new attempt begin at zero', () => {
    let log = history(
      start(laneConfig({}, { breachPolicy: { action: 'retry', attempts: 1, backoff: 60, then: 'pause' } })),
    );
    for (let h = 1; h <= 24 && foldLane(log).waitingFor?.kind !== 'retry-backoff'; h++) {
      const { updated, control } = split(1, 3);
      log = [...log, ...when(log, postInstall(updated, control, 30 + h))];
    }
    const state = foldLane(log);
    expect(state.waitingFor?.kind).toBe('retry-backoff');
    expect(state.regression?.attempt).toBe(2);
    expect(state.regression?.signals['app-crash']).toEqual({
      updated: { events: 0, uptimeSec: 0 },
      control: { events: 0, uptimeSec: 0 },
      logLr: REGRESSION_FACTORS.map(() => 0),
    });
    // During the backoff a delta is recorded but cannot move the lane.
    const { updated, control } = split(1, 3);
    expect(when(log, postInstall(updated, control, 100))).toMatchObject([
      { type: 'regression-evaluated', data: { attempt: 2, actionable: false } },
    ]);
  });

  test('minEvents: a signal with fewer events on the build than minEvents does not breach, whatever its e-value', () => {
    const log = history(start(laneConfig({ minEvents: 50 })));
    const events = when(log, postInstall({ hours: 100, crashes: 40 }, { hours: 9000, crashes: 90 }, 40));
    expect(events.map((e) => e.type)).toEqual(['regression-evaluated']);
    if (events[0]?.type !== 'regression-evaluated') throw new Error('no event');
    expect(events[0].data.signals[0]!.logE).toBeGreaterThan(events[0].data.signals[0]!.bound);
  });
});

describe('watch window: a class completes only after its last phase was watched for `watch`', () => {
  const lastPhasePassed = (config: LaneConfig) =>
    history(start(config), healthy(0, 10), timer('bake', 60), healthy(1, 100), timer('bake', 120));

  test('without a watch the lane completes at its last phase as before', () => {
    expect(lastPhasePassed(laneConfig()).at(-1)).toMatchObject({ type: 'lane-completed', data: { phases: 2 } });
  });

  test('with a watch it waits for the watch timer, then completes (endedBy watch)', () => {
    const log = lastPhasePassed(laneConfig({ watchSec: 24 * HOUR }));
    expect(log.at(-1)).toMatchObject({
      type: 'watch-started',
      data: { phase: 1, attempt: 1, watchSec: 24 * HOUR, until: at(120 + 24 * HOUR) },
    });
    const state = foldLane(log);
    expect(state.waitingFor).toEqual({ kind: 'watch', phase: 1, until: at(120 + 24 * HOUR) });
    expect(laneDeadlineOf(state)).toEqual({ kind: 'watch', until: at(120 + 24 * HOUR) });
    expect(describeWaitingFor(state.waitingFor)).toMatch(/watched for post-install regressions until/);
    expect(when(log, timer('watch', 120 + HOUR))).toEqual([]);
    expect(when(log, timer('watch', 120 + 24 * HOUR))).toMatchObject([
      { type: 'lane-completed', data: { phases: 2, endedBy: 'watch' } },
    ]);
  });

  test('a regression found during the watch still halts the class', () => {
    let log = lastPhasePassed(laneConfig({ watchSec: 24 * HOUR }));
    for (let h = 1; h <= 24 && foldLane(log).status === 'running'; h++) {
      // At 100 % a control remains only while devices have not installed yet: here 2,000 of them.
      log = [
        ...log,
        ...when(log, postInstall({ hours: 8000, crashes: 240 }, { hours: 2000, crashes: 20 }, 120 + h * HOUR)),
      ];
    }
    expect(foldLane(log).status).toBe('paused');
    expect(log.some((e) => e.type === 'threshold-breached' && e.data.rule === 'regression')).toBe(true);
  });

  test('with a completion rule as well, patching starts at the watch end and both must hold', () => {
    const completion = { patchedShare: 0.05, deadlineSec: 48 * HOUR, stallAfterSec: 72 * HOUR, expectedDevices: 1000 };
    const log = lastPhasePassed(laneConfig({ watchSec: 24 * HOUR }, { completion }));
    // 100 successes of 1,000 passed the 5 % target already; the watch still holds the lane.
    expect(log.at(-1)).toMatchObject({ type: 'watch-started' });
    expect(laneDeadlineOf(foldLane(log))).toEqual({ kind: 'watch', until: at(120 + 24 * HOUR) });
    expect(when(log, timer('watch', 120 + 24 * HOUR))).toMatchObject([
      { type: 'patching-started', data: { deadline: at(120 + 48 * HOUR) } },
      { type: 'lane-completed', data: { endedBy: 'patched-share' } },
    ]);
    // Short of its share at the watch's end, it counts on until the deadline from the pass.
    const short = lastPhasePassed(
      laneConfig({ watchSec: 24 * HOUR }, { completion: { ...completion, patchedShare: 0.95 } }),
    );
    const after = [...short, ...when(short, timer('watch', 120 + 24 * HOUR))];
    expect(after.at(-1)).toMatchObject({ type: 'patching-started' });
    expect(when(after, timer('patching', 120 + 48 * HOUR))).toMatchObject([
      { type: 'lane-completed', data: { endedBy: 'deadline' } },
    ]);
  });
});

describe('plan: the regression keys', () => {
  const plan = (extra: string) => `
releaseId: bsi-26.3
artifact: { build: 26.3.1 }
deviceClasses: [phone-a, phone-b]
phases: [{ share: 10, bake: 1h }, { share: 100, bake: 0 }]
thresholds: { maxFailureRate: 0.02, minSample: 100, installTimeoutSec: 1800 }
breachPolicy: { action: pause }
${extra}`;

  test("the rule is recorded in the lane config, durations in seconds, per-class keys replacing the plan's", () => {
    const parsed = parsePlan(
      plan(`regression: { signals: [app-crash, 'compat-error:e_webview'], maxRateRatio: 1.5, watch: 24h }
classes: { phone-b: { regression: { maxRateRatio: 2 } } }`),
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(laneConfigOf(parsed.plan, 'phone-b').regression).toEqual({
      signals: ['app-crash', 'compat-error:e_webview'],
      maxRateRatio: 2,
      falseHaltProbability: 0.01,
      watchSec: 86400,
      minEvents: 5,
    });
    expect(parsed.plan.regression).toEqual({
      signals: ['app-crash', 'compat-error:e_webview'],
      maxRateRatio: 1.5,
      falseHaltProbability: 0.01,
      watch: 86400,
      minEvents: 5,
    });
  });

  test.each([
    ['regression: { signals: [] }', 'regression.signals', /at least one signal/],
    ['regression: { signals: [App-Crash] }', 'regression.signals[0]', /lower-case/],
    ['regression: { signals: [a, a] }', 'regression.signals[1]', /duplicate signal/],
    ['regression: { signals: [a], maxRateRatio: 0.5 }', 'regression.maxRateRatio', /at least 1/],
    ['regression: { signals: [a], falseHaltProbability: 0.7 }', 'regression.falseHaltProbability', /below 0.5/],
    ['regression: { signals: [a], watch: soon }', 'regression.watch', /duration/],
    ['regression: { signals: [a], bogus: 1 }', 'regression.bogus', /unknown field/],
    ['classes: { phone-a: { regression: { maxRateRatio: 2 } } }', 'classes.phone-a.regression.signals', /required/],
    [
      'regression: { signals: [a], watch: 96h }\ncompletion: { deadline: 72h }',
      'regression.watch',
      /completion deadline/,
    ],
    [
      'severity: critical\nregression: { signals: [a], watch: 72h }',
      'regression.watch',
      /completion deadline .*\(2d\)/,
    ],
  ])('%s is refused at %s', (extra, path, rule) => {
    const parsed = parsePlan(plan(extra));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, rule: expect.stringMatching(rule) })]),
    );
  });
});

/** One group of a post-install delta: its device-hours and app crashes. */
function groupOf(g: Group): ExposureCounts {
  return { uptimeSec: g.hours * HOUR, events: g.crashes === undefined ? {} : { 'app-crash': g.crashes } };
}

function deltaOf(g: { updated: Group; control: Group }): PostInstallDelta {
  return {
    updated: groupOf(g.updated),
    control: groupOf(g.control),
    ranges: [{ partition: 0, fromOffset: '0', toOffset: '0' }],
  };
}
