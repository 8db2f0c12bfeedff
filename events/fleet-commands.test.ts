import { makeEvent, type DomainEvent, type EventOf } from './domain-events';
import { FleetCommandSchema, fleetCommandKey, fleetCommandsOf } from './fleet-commands';
import type { LaneConfig } from './plan';
import { testLaneConfig } from '../test/support/lane-config';

const AT = '2026-03-01T12:00:00.000Z';
const config: LaneConfig = testLaneConfig({
  phases: [
    { share: 1, cohortBound: 100, bakeSec: 600, approval: 'none' },
    { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
  ],
  thresholds: { ...testLaneConfig().thresholds, maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 60 },
  breachPolicy: { action: 'rollback' },
  rollbackTimeoutSec: 60,
  rulesVersion: undefined,
});

function laneEvent<T extends DomainEvent['type']>(type: T, seq: number, data: EventOf<T>['data']): DomainEvent {
  return makeEvent<EventOf<T>>({ type, data, rolloutId: 'r1', lane: 'phone-a', seq, at: AT } as never);
}

describe('fleetCommandsOf', () => {
  it('given a first exposure, orders expose with the offer, bound, build and the event id as order id', () => {
    const events = [
      laneEvent('phase-started', 1, { phase: 0, share: 1, cohortBound: 100 }),
      laneEvent('exposure-issued', 2, {
        phase: 0,
        attempt: 1,
        cohortBound: 100,
        offerId: 'phone-a/p0a1',
        artifact: { build: '26.3.1' },
        bakeUntil: '2026-03-01T12:10:00.000Z',
      }),
    ];
    const orders = fleetCommandsOf(events, config);
    expect(orders).toEqual([
      {
        schemaVersion: 1,
        orderId: 'r1/phone-a/2',
        kind: 'expose',
        rolloutId: 'r1',
        lane: 'phone-a',
        releaseId: 'bsi-26.3',
        artifact: { build: '26.3.1' },
        offerId: 'phone-a/p0a1',
        attempt: 1,
        phase: 0,
        cohortBound: 100,
        issuedAt: AT,
      },
    ]);
    expect(FleetCommandSchema.parse(orders[0])).toEqual(orders[0]);
    expect(fleetCommandKey(orders[0]!)).toBe('r1/phone-a');
  });

  it('given rate steps, orders the same offer again with each higher bound (own order ids); a hold orders nothing', () => {
    const pace = { ratePerMinute: 200, level: 0, levelFrom: 0, notifiedBuckets: 40, targetBound: 100 };
    const events = [
      laneEvent('exposure-widened', 3, {
        phase: 0,
        attempt: 2,
        offerId: 'phone-a/p0a2',
        fromBound: 20,
        cohortBound: 40,
        pace: { ...pace, nextStepAt: AT },
      }),
      laneEvent('exposure-held', 4, {
        phase: 0,
        attempt: 2,
        offerId: 'phone-a/p0a2',
        holds: 'step',
        opensAt: AT,
        closesAt: AT,
        timeZone: 'UTC',
      }),
      laneEvent('exposure-widened', 5, {
        phase: 0,
        attempt: 2,
        offerId: 'phone-a/p0a2',
        fromBound: 40,
        cohortBound: 100,
        pace: { ...pace, notifiedBuckets: 100 },
        bakeUntil: AT,
      }),
    ];
    const orders = fleetCommandsOf(events, config);
    expect(orders.map((o) => [o.orderId, o.kind, o.offerId, o.attempt, o.cohortBound])).toEqual([
      ['r1/phone-a/3', 'retry', 'phone-a/p0a2', 2, 40],
      ['r1/phone-a/5', 'retry', 'phone-a/p0a2', 2, 100],
    ]);
    for (const order of orders) expect(FleetCommandSchema.parse(order)).toEqual(order);
  });

  it('given a retry offer going out, orders retry; the retry-issued schedule alone orders nothing', () => {
    const scheduled = laneEvent('retry-issued', 5, {
      phase: 0,
      attempt: 2,
      offerId: 'phone-a/p0a2',
      backoffSec: 10,
      notBefore: AT,
      trigger: 'policy',
    });
    expect(fleetCommandsOf([scheduled], config)).toEqual([]);
    const exposed = laneEvent('exposure-issued', 6, {
      phase: 0,
      attempt: 2,
      cohortBound: 100,
      offerId: 'phone-a/p0a2',
      artifact: { build: '26.3.1' },
      bakeUntil: AT,
    });
    expect(fleetCommandsOf([exposed], config)).toEqual([
      expect.objectContaining({ kind: 'retry', attempt: 2, offerId: 'phone-a/p0a2', orderId: 'r1/phone-a/6' }),
    ]);
  });

  it('given a rollback, orders rollback of every exposed device, naming the phase the lane reached', () => {
    const started = laneEvent('rollback-started', 9, {
      offerId: 'phone-a/rb1',
      rollbackAttempt: 1,
      cohortBound: 100,
      until: AT,
      trigger: 'policy',
    });
    const [order] = fleetCommandsOf([started], config, 1);
    expect(order).toMatchObject({ kind: 'rollback', attempt: 1, phase: 1, cohortBound: 100, offerId: 'phone-a/rb1' });
    expect(FleetCommandSchema.safeParse(order).success).toBe(true);
  });

  it('refuses inconsistent orders: expose with a later attempt, retry with attempt 1, unknown fields', () => {
    const [order] = fleetCommandsOf(
      [
        laneEvent('exposure-issued', 2, {
          phase: 0,
          attempt: 1,
          cohortBound: 100,
          offerId: 'phone-a/p0a1',
          artifact: { build: '26.3.1' },
          bakeUntil: AT,
        }),
      ],
      config,
    );
    expect(FleetCommandSchema.safeParse({ ...order, attempt: 2 }).success).toBe(false);
    expect(FleetCommandSchema.safeParse({ ...order, kind: 'retry' }).success).toBe(false);
    expect(FleetCommandSchema.safeParse({ ...order, extra: 1 }).success).toBe(false);
  });

  it('ignores rollout-level events and events that order nothing', () => {
    const events: DomainEvent[] = [
      makeEvent<EventOf<'rollout-aborted'>>({
        type: 'rollout-aborted',
        data: {},
        rolloutId: 'r1',
        lane: null,
        seq: 3,
        at: AT,
      }),
      laneEvent('lane-completed', 7, { phases: 2, attempt: 1 }),
    ];
    expect(fleetCommandsOf(events, config)).toEqual([]);
  });
});
