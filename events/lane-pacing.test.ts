/**
 * The lane decider under a rate limit and maintenance windows, as specifications: given the lane's inputs, when a
 * timer or a delta arrives, then these events. The class has 100,000 devices, so a cohort bucket is 10 devices and a
 * rate of 200 devices a minute is a step of 20 buckets a minute.
 */
import { type LaneInput, isRefusal } from './commands';
import { type DomainEvent, DomainEventSchema, type EventOf } from './domain-events';
import {
  type LaneState,
  decideLane,
  exposureOfferId,
  foldLane,
  initialLaneState,
  laneDeadlineOf,
  stepLane,
} from './lane';
import type { MaintenanceWindows } from './maintenance-window';
import type { LanePacing } from './pacing';
import type { LaneConfig } from './plan';
import { testLaneConfig } from '../test/support/lane-config';

// 2026-03-01 is a Sunday; 00:00 UTC is 01:00 in Berlin.
const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'phone-a';
const offer = (phase: number, attempt = 1) => exposureOfferId(LANE, phase, attempt);

const PLAIN: LanePacing = { classSize: 100_000, baseRatePerMinute: 200, maxPerMinute: 200 };

function laneConfig(overrides: Partial<LaneConfig> = {}): LaneConfig {
  return testLaneConfig({
    phases: [
      { share: 1, cohortBound: 100, bakeSec: 60, approval: 'none' },
      { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'none' },
      { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
    ],
    pacing: PLAIN,
    ...overrides,
  });
}

let nextOffset = 0;
const input = {
  start: (config = laneConfig(), t = 0): LaneInput => ({
    type: 'start-lane',
    rolloutId: 'r-1',
    lane: LANE,
    config,
    at: at(t),
  }),
  delta: (offerId: string, ok: number, fail: number, t: number): LaneInput => {
    const from = nextOffset;
    nextOffset += 10;
    return {
      type: 'health-delta',
      lane: LANE,
      offerId,
      delta: {
        counts: { succeeded: ok, failedByCode: fail > 0 ? { E_INSTALL: fail } : {}, timedOut: 0, inProgress: 0 },
        ranges: [{ partition: 0, fromOffset: String(from), toOffset: String(from + 9) }],
      },
      at: at(t),
    };
  },
  timer: (kind: 'bake' | 'retry-backoff' | 'step' | 'window', t: number): LaneInput => ({
    type: 'timer-fired',
    lane: LANE,
    kind,
    at: at(t),
  }),
  command: (type: 'pause' | 'resume' | 'retry' | 'rollback', t: number): LaneInput => ({
    type,
    lane: LANE,
    actor: 'sre-ana',
    reason: `${type} for the test`,
    at: at(t),
  }),
};

/** Runs inputs through the decider and returns the log and the state; fails on a refusal. */
function run(...inputs: LaneInput[]): { log: DomainEvent[]; state: LaneState } {
  let state = initialLaneState();
  const log: DomainEvent[] = [];
  for (const next of inputs) {
    const answer = stepLane(state, next);
    if (isRefusal(answer)) throw new Error(`refused ${next.type}: ${answer.reason}`);
    for (const event of answer.events) expect(DomainEventSchema.parse(event)).toEqual(event);
    state = answer.state;
    log.push(...answer.events);
  }
  return { log, state };
}

/** The events one more input decides on a log. */
function then(log: readonly DomainEvent[], next: LaneInput): readonly DomainEvent[] {
  const answer = decideLane(foldLane(log), next);
  if (isRefusal(answer)) throw new Error(`refused: ${answer.reason}`);
  return answer;
}

/** The cohort bound of every exposure order in a log: what the fleet was offered, step by step. */
const bounds = (log: readonly DomainEvent[]) =>
  log.flatMap((e) => (e.type === 'exposure-issued' || e.type === 'exposure-widened' ? [e.data.cohortBound] : []));

const steps = (from: number, to: number) =>
  Array.from({ length: (to - from) / 60 + 1 }, (_, i) => input.timer('step', from + i * 60));

describe('pacing: steps at a plain rate', () => {
  test('the first order offers one step (20 buckets at 200/min of 100,000); the bake waits for the exposure', () => {
    const { log, state } = run(input.start());
    const issued = log.find((e) => e.type === 'exposure-issued') as EventOf<'exposure-issued'>;
    expect(issued.data).toMatchObject({ cohortBound: 20, offerId: offer(0) });
    expect(issued.data.bakeUntil).toBeUndefined();
    expect(issued.data.pace).toEqual({
      ratePerMinute: 200,
      level: 0,
      levelFrom: 0,
      notifiedBuckets: 20,
      targetBound: 100,
      nextStepAt: at(60),
    });
    expect(state.waitingFor).toEqual({ kind: 'step', phase: 0, until: at(60), cohortBound: 20, targetBound: 100 });
    expect(laneDeadlineOf(state)).toEqual({ kind: 'step', until: at(60) });
  });

  test('each step widens the same offer by 20 buckets a minute; the step reaching 1 % carries the bake', () => {
    const { log, state } = run(input.start(), ...steps(60, 240));
    expect(bounds(log)).toEqual([20, 40, 60, 80, 100]);
    const last = log[log.length - 1] as EventOf<'exposure-widened'>;
    expect(last.type).toBe('exposure-widened');
    expect(last.data).toMatchObject({ offerId: offer(0), fromBound: 80, cohortBound: 100, bakeUntil: at(300) });
    expect(last.data.pace.nextStepAt).toBeUndefined();
    expect(state.waitingFor).toEqual({ kind: 'bake', phase: 0, until: at(300) });
    expect(state.cohortBound).toBe(100);
  });

  test('a step timer before its time, or a bake timer while stepping, changes nothing', () => {
    const { log } = run(input.start());
    expect(then(log, input.timer('step', 59))).toEqual([]);
    expect(then(log, input.timer('bake', 600))).toEqual([]);
  });

  test('a healthy verdict does not pass a phase whose exposure is not complete', () => {
    const { log } = run(input.start(), input.delta(offer(0), 50, 0, 30));
    expect(then(log, input.delta(offer(0), 50, 0, 40)).map((e) => e.type)).toEqual(['health-evaluated']);
  });

  test('a breach while stepping applies the policy at once: the steps stop', () => {
    const { log, state } = run(input.start(), input.timer('step', 60), input.delta(offer(0), 5, 15, 70));
    expect(log.map((e) => e.type).slice(-3)).toEqual(['health-evaluated', 'threshold-breached', 'lane-paused']);
    expect(laneDeadlineOf(state)).toBeNull();
  });

  test('the next phase goes on from the bound the attempt reached, one step above it', () => {
    const { log } = run(input.start(), ...steps(60, 240), input.delta(offer(0), 30, 0, 250), input.timer('bake', 300));
    const issued = log.filter((e) => e.type === 'exposure-issued').map((e) => e.data);
    expect(issued[1]).toMatchObject({ phase: 1, offerId: offer(1), cohortBound: 120 });
  });

  test('a rate high enough for the whole phase gives one order with its bake, as without a limit', () => {
    const { log } = run(
      input.start(laneConfig({ pacing: { ...PLAIN, baseRatePerMinute: 1_000_000, maxPerMinute: 1_000_000 } })),
    );
    const issued = log.find((e) => e.type === 'exposure-issued') as EventOf<'exposure-issued'>;
    expect(issued.data).toMatchObject({ cohortBound: 100, bakeUntil: at(60) });
    expect(issued.data.pace?.nextStepAt).toBeUndefined();
  });

  test('a bucket larger than a minute of the rate: one bucket at the interval that keeps to it (100 devices at 10/min: 10 min)', () => {
    const { log } = run(
      input.start(laneConfig({ pacing: { classSize: 1_000_000, baseRatePerMinute: 10, maxPerMinute: 10 } })),
    );
    const issued = log.find((e) => e.type === 'exposure-issued') as EventOf<'exposure-issued'>;
    expect(issued.data).toMatchObject({ cohortBound: 1, pace: { nextStepAt: at(600) } });
  });
});

describe('pacing: the exponential ramp (AWS IoT Jobs exponentialRate)', () => {
  test('numberOfNotifiedThings: the rate doubles every 200 devices notified, up to maximumPerMinute', () => {
    const pacing: LanePacing = {
      classSize: 100_000,
      baseRatePerMinute: 100,
      maxPerMinute: 400,
      ramp: { factor: 2, every: 200, counting: 'notified' },
    };
    const { log } = run(input.start(laneConfig({ pacing })), ...steps(60, 240));
    // 10 buckets (100 devices), 10 (200 notified: rise), 20 (400: rise), 40 (800: would rise, but 400 is the cap).
    expect(bounds(log)).toEqual([10, 20, 40, 80, 100]);
    const rates = log.flatMap((e) =>
      e.type === 'exposure-issued' || e.type === 'exposure-widened' ? [e.data.pace?.ratePerMinute] : [],
    );
    expect(rates).toEqual([100, 100, 200, 400, 400]);
  });

  test('numberOfSucceededThings: the rate rises by 1.5 once 50 devices reported success', () => {
    const pacing: LanePacing = {
      classSize: 100_000,
      baseRatePerMinute: 100,
      maxPerMinute: 1000,
      ramp: { factor: 1.5, every: 50, counting: 'succeeded' },
    };
    const slow = run(input.start(laneConfig({ pacing })), input.delta(offer(0), 40, 0, 30), input.timer('step', 60));
    expect(bounds(slow.log)).toEqual([10, 20]);
    const fast = run(input.start(laneConfig({ pacing })), input.delta(offer(0), 60, 0, 30), input.timer('step', 60));
    expect(bounds(fast.log)).toEqual([10, 25]);
    expect(fast.state.pace).toMatchObject({ ratePerMinute: 150, level: 1, levelFrom: 50 });
  });
});

describe('pacing: pause, resume and retry', () => {
  test('a pause stops the steps; on resume an overdue step goes out at once, one step (no burst of the paused minutes)', () => {
    const { log, state } = run(input.start(), input.command('pause', 30), input.timer('step', 60));
    expect(bounds(log)).toEqual([20]);
    expect(state.status).toBe('paused');
    const resumed = run(
      input.start(),
      input.command('pause', 30),
      input.command('resume', 400),
      input.timer('step', 400),
    );
    expect(bounds(resumed.log)).toEqual([20, 40]);
    expect(resumed.state.waitingFor).toMatchObject({ kind: 'step', until: at(460) });
  });

  test('a retry is a fresh offer paced from bucket 0; the rollback still covers the widest bound offered', () => {
    const config = laneConfig({ breachPolicy: { action: 'retry', attempts: 1, backoff: 30, then: 'rollback' } });
    const { log, state } = run(
      input.start(config),
      input.timer('step', 60),
      input.delta(offer(0), 5, 15, 70),
      input.timer('retry-backoff', 100),
    );
    const retry = log.filter((e) => e.type === 'exposure-issued')[1] as EventOf<'exposure-issued'>;
    expect(retry.data).toMatchObject({ offerId: offer(0, 2), attempt: 2, cohortBound: 20 });
    expect(retry.data.pace).toMatchObject({ notifiedBuckets: 60, nextStepAt: at(160) });
    expect(state.cohortBound).toBe(40);
    const rollback = then(log, input.command('rollback', 120)).find((e) => e.type === 'rollback-started');
    expect(rollback?.data).toMatchObject({ cohortBound: 40 });
  });
});

// Monday to Friday, 01:00–05:00 in Berlin (CET in March: 00:00–04:00 UTC).
const WEEKDAYS: MaintenanceWindows = {
  timeZone: 'Europe/Berlin',
  windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '01:00', end: '05:00' }],
};
const MONDAY_OPENS = 86400; // 2026-03-02T00:00:00Z, Monday 01:00 CET

describe('maintenance windows: orders held outside them', () => {
  test('a first exposure outside the windows is held until the next opening, then goes out', () => {
    const config = laneConfig({ pacing: undefined, maintenanceWindows: WEEKDAYS });
    const { log, state } = run(input.start(config));
    expect(log.map((e) => e.type)).toEqual(['lane-started', 'phase-started', 'exposure-held']);
    expect(log[2]?.data).toEqual({
      phase: 0,
      attempt: 1,
      offerId: offer(0),
      holds: 'exposure',
      opensAt: at(MONDAY_OPENS),
      closesAt: at(MONDAY_OPENS + 4 * 3600),
      timeZone: 'Europe/Berlin',
    });
    expect(laneDeadlineOf(state)).toEqual({ kind: 'window', until: at(MONDAY_OPENS) });
    expect(then(log, input.timer('window', MONDAY_OPENS - 1))).toEqual([]);
    const opened = then(log, input.timer('window', MONDAY_OPENS));
    expect(opened.map((e) => e.type)).toEqual(['exposure-issued']);
    expect(opened[0]?.data).toMatchObject({ cohortBound: 100, bakeUntil: at(MONDAY_OPENS + 60) });
  });

  test('a rate step due after the window closed is held, and goes out at the next opening', () => {
    const config = laneConfig({ maintenanceWindows: WEEKDAYS });
    const open = MONDAY_OPENS + 4 * 3600 - 60; // 03:59 UTC, one minute before the window closes
    const { log, state } = run(input.start(config), input.timer('window', open), input.timer('step', open + 60));
    expect(log.slice(-1)[0]).toMatchObject({
      type: 'exposure-held',
      data: { holds: 'step', offerId: offer(0), opensAt: at(2 * 86400) },
    });
    expect(state.waitingFor).toEqual({ kind: 'window', phase: 0, attempt: 1, holds: 'step', until: at(2 * 86400) });
    const widened = then(log, input.timer('window', 2 * 86400));
    expect(widened.map((e) => e.type)).toEqual(['exposure-widened']);
    expect(widened[0]?.data).toMatchObject({ fromBound: 20, cohortBound: 40 });
  });

  test("a retry's re-offer waits for the window; late outcomes of the breached attempt decide nothing meanwhile", () => {
    const config = laneConfig({
      pacing: undefined,
      maintenanceWindows: WEEKDAYS,
      breachPolicy: { action: 'retry', attempts: 2, backoff: 3 * 3600, then: 'rollback' },
    });
    const { log, state } = run(
      input.start(config),
      input.timer('window', MONDAY_OPENS),
      input.delta(offer(0), 5, 15, MONDAY_OPENS + 30),
      input.timer('retry-backoff', MONDAY_OPENS + 30 + 3 * 3600), // 03:00:30 UTC: still open
    );
    expect(log.slice(-1)[0]).toMatchObject({ type: 'exposure-issued', data: { attempt: 2 } });
    const late = run(
      input.start(config),
      input.timer('window', MONDAY_OPENS),
      input.delta(offer(0), 5, 15, MONDAY_OPENS + 3600 * 3.5),
      input.timer('retry-backoff', MONDAY_OPENS + 3600 * 6.5), // 06:30 UTC: closed
    );
    expect(late.log.slice(-1)[0]).toMatchObject({ type: 'exposure-held', data: { holds: 'exposure', attempt: 2 } });
    const lateDelta = then(late.log, input.delta(offer(0), 0, 20, MONDAY_OPENS + 3600 * 7));
    expect(lateDelta.map((e) => e.type)).toEqual(['health-evaluated']);
    expect(lateDelta[0]).toMatchObject({ data: { actionable: false } });
    expect(state.attempt).toBe(2);
  });

  test('a rollback never waits for a window', () => {
    const config = laneConfig({ pacing: undefined, maintenanceWindows: WEEKDAYS });
    const { log } = run(input.start(config), input.timer('window', MONDAY_OPENS));
    const rollback = then(log, input.command('rollback', MONDAY_OPENS + 6 * 3600));
    expect(rollback.map((e) => e.type)).toEqual(['operator-command-accepted', 'rollback-started']);
  });
});

describe('pacing: lanes without the keys', () => {
  test('decide exactly what they always did: one order per phase with its bake, no pace in state', () => {
    const { log, state } = run(input.start(laneConfig({ pacing: undefined })));
    expect(log.map((e) => e.type)).toEqual(['lane-started', 'phase-started', 'exposure-issued']);
    expect(log[2]?.data).toEqual({
      phase: 0,
      attempt: 1,
      cohortBound: 100,
      offerId: offer(0),
      artifact: { build: '26.3.1' },
      bakeUntil: at(60),
    });
    expect(state.pace).toBeUndefined();
  });
});
