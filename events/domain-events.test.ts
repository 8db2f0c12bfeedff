/** Domain event envelopes and ids, and the command helpers. */
import {
  OperatorCommandSchema,
  OperatorRequestSchema,
  isRefusal,
  refuse,
  stampCommand,
  LaneInputSchema,
} from './commands';
import {
  type DomainEvent,
  DomainEventSchema,
  OffsetRangeSchema,
  eventIdOf,
  isLaneEvent,
  makeEvent,
  type EventOf,
} from './domain-events';

const exposure = makeEvent<EventOf<'exposure-issued'>>({
  type: 'exposure-issued',
  rolloutId: 'r1',
  lane: 'phone-a',
  seq: 2,
  at: '2026-03-01T00:00:00.000Z',
  data: {
    phase: 0,
    attempt: 1,
    cohortBound: 250,
    offerId: 'phone-a/p0a1',
    artifact: { build: '26.3.1' },
    bakeUntil: '2026-03-01T00:01:00.000Z',
  },
});

describe('domain events', () => {
  test('ids are deterministic: rolloutId/lane/seq, `_` for the rollout stream', () => {
    expect(eventIdOf('r1', 'phone-a', 2)).toBe('r1/phone-a/2');
    expect(eventIdOf('r1', null, 0)).toBe('r1/_/0');
    expect(exposure.eventId).toBe('r1/phone-a/2');
    expect(exposure.schemaVersion).toBe(2);
    expect('actor' in exposure).toBe(false);
  });

  test('an event whose id does not match its rollout, lane and seq is refused', () => {
    expect(DomainEventSchema.safeParse({ ...exposure, eventId: 'r1/phone-a/3' }).error?.issues[0]).toMatchObject({
      path: ['eventId'],
      message: 'must be r1/phone-a/2 (rolloutId/lane/seq)',
    });
  });

  test('lane events need a lane; rollout events must not have one', () => {
    expect(DomainEventSchema.safeParse({ ...exposure, lane: null, eventId: 'r1/_/2' }).success).toBe(false);
    const aborted = makeEvent<EventOf<'rollout-aborted'>>({
      type: 'rollout-aborted',
      rolloutId: 'r1',
      lane: null,
      seq: 0,
      at: exposure.at,
      data: {},
      actor: 'ana',
      reason: 'bad build',
    });
    expect(DomainEventSchema.parse(aborted)).toEqual(aborted);
    expect(isLaneEvent(aborted)).toBe(false);
    expect(isLaneEvent(exposure)).toBe(true);
    expect(DomainEventSchema.safeParse({ ...aborted, lane: 'phone-a', eventId: 'r1/phone-a/0' }).success).toBe(false);
  });

  test('offset ranges are decimal strings with from ≤ to', () => {
    expect(
      OffsetRangeSchema.safeParse({ partition: 0, fromOffset: '10', toOffset: '9' }).error?.issues[0]?.message,
    ).toBe('fromOffset must be ≤ toOffset');
    expect(OffsetRangeSchema.safeParse({ partition: 0, fromOffset: 1, toOffset: '9' }).success).toBe(false);
    expect(
      OffsetRangeSchema.parse({ partition: 0, fromOffset: '9223372036854775806', toOffset: '9223372036854775807' }),
    ).toBeTruthy();
  });

  test('health-evaluated: overlap is optional, and strict where present', () => {
    const evaluated = makeEvent<EventOf<'health-evaluated'>>({
      type: 'health-evaluated',
      rolloutId: 'r1',
      lane: 'phone-a',
      seq: 3,
      at: exposure.at,
      data: {
        offerId: 'phone-a/p0a1',
        window: 'exposure',
        phase: 0,
        attempt: 1,
        delta: {
          counts: { succeeded: 1, failedByCode: {}, timedOut: 0, inProgress: 0 },
          ranges: [{ partition: 0, fromOffset: '5', toOffset: '9' }],
        },
        totals: { succeeded: 1, failedByCode: {}, timedOut: 0, inProgress: 0 },
        verdict: {
          verdict: 'insufficient-evidence',
          evidence: {
            rule: 'plain',
            sample: 1,
            failures: 0,
            failureRate: 0,
            threshold: 0.05,
            minSample: 10,
            explanation: '1 of 10 outcomes needed',
          },
        },
        actionable: true,
      },
    });
    // Every event stored before the field existed has none, and parses as it is.
    const parsed = DomainEventSchema.parse(evaluated);
    expect(parsed).toEqual(evaluated);
    expect(parsed.data).not.toHaveProperty('overlap');
    const overlap = [{ partition: 0, fromOffset: '5', mark: '7' }];
    const withOverlap = { ...evaluated, data: { ...evaluated.data, overlap } };
    expect(DomainEventSchema.parse(withOverlap)).toEqual(withOverlap);
    const bad = (entry: object) => ({ ...evaluated, data: { ...evaluated.data, overlap: [entry] } });
    expect(DomainEventSchema.safeParse(bad({ ...overlap[0], toOffset: '9' })).success).toBe(false);
    expect(DomainEventSchema.safeParse(bad({ partition: 0, fromOffset: '8', mark: '7' })).success).toBe(false);
    expect(DomainEventSchema.safeParse({ ...evaluated, data: { ...evaluated.data, overlap: [] } }).success).toBe(false);
  });
});

describe('commands', () => {
  test('an operator request is stamped with the decision time', () => {
    const request = OperatorRequestSchema.parse({
      type: 'approve',
      lane: 'phone-a',
      actor: 'ana',
      reason: 'looks good',
    });
    const command = stampCommand(request, '2026-03-01T00:00:00Z');
    expect(OperatorCommandSchema.parse(command)).toEqual({ ...request, at: '2026-03-01T00:00:00Z' });
    expect(LaneInputSchema.parse(command)).toEqual(command);
  });

  test('a command without a reason is refused at the boundary', () => {
    expect(OperatorRequestSchema.safeParse({ type: 'pause', actor: 'ana', reason: '   ' }).success).toBe(false);
  });

  test('refusals are recognisable', () => {
    expect(isRefusal(refuse('no'))).toBe(true);
    expect(isRefusal([] as DomainEvent[])).toBe(false);
    expect(isRefusal(null)).toBe(false);
  });
});
