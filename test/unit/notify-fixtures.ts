// Domain events for the notification tests, built the way deciders build them and validated by the schema.
import { DomainEventSchema, makeEvent, type DomainEvent } from '../../events/domain-events';

const evidence = {
  sample: 400,
  failures: 24,
  failureRate: 0.06,
  threshold: 0.02,
  minSample: 200,
  rule: 'sequential' as const,
  explanation: '24 of 400 installs failed (6 %), above the 2 % limit.',
};
const totals = { succeeded: 380, failedByCode: { E_BOOT: 3 }, timedOut: 0, inProgress: 0 };
const base = { rolloutId: 'r-hooks', at: '2026-12-07T10:00:00.000Z' };

/** One event of each type the tests need, valid against `DomainEventSchema`. */
export function sampleEvents(): Record<string, DomainEvent> {
  const lane = 'phone-a';
  const drafts: DomainEvent[] = [
    makeEvent({
      ...base,
      lane,
      seq: 7,
      type: 'threshold-breached',
      data: { offerId: 'o1', phase: 1, attempt: 1, evidence, rule: 'sequential', response: 'pause' },
    }),
    makeEvent({ ...base, lane, seq: 8, type: 'lane-paused', data: { cause: 'breach', resumeTo: null } }),
    makeEvent({ ...base, lane, seq: 9, type: 'lane-paused', data: { cause: 'operator', resumeTo: null } }),
    makeEvent({ ...base, lane, seq: 10, type: 'lane-paused', data: { cause: 'fleet-halt', resumeTo: null } }),
    makeEvent({
      ...base,
      lane,
      seq: 11,
      type: 'rollback-started',
      data: {
        offerId: 'rb1',
        rollbackAttempt: 1,
        cohortBound: 100,
        until: '2026-12-07T10:30:00.000Z',
        trigger: 'policy',
      },
    }),
    makeEvent({ ...base, lane, seq: 12, type: 'rollback-completed', data: { offerId: 'rb1', totals } }),
    makeEvent({ ...base, lane, seq: 13, type: 'rollback-failed', data: { offerId: 'rb1', totals, evidence } }),
    makeEvent({ ...base, lane, seq: 14, type: 'gate-waiting', data: { phase: 2 } }),
    makeEvent({ ...base, lane, seq: 15, type: 'gate-approved', data: { phase: 2 }, actor: 'ana', reason: 'ok' }),
    makeEvent({ ...base, lane, seq: 16, type: 'lane-completed', data: { phases: 3, attempt: 1 } }),
    makeEvent({
      ...base,
      lane,
      seq: 17,
      type: 'lane-stalled',
      data: {
        quietSince: '2026-12-07T08:00:00.000Z',
        stallAfterSec: 7200,
        offerId: 'phone-a/p2a1',
        phase: 2,
        cohortBound: 10000,
        waiting: 'patching',
      },
    }),
    makeEvent({
      ...base,
      lane,
      seq: 18,
      type: 'lane-stall-cleared',
      data: {
        stalledAt: '2026-12-07T10:00:00.000Z',
        quietSince: '2026-12-07T08:00:00.000Z',
        offerId: 'phone-a/p2a1',
      },
    }),
    makeEvent({
      ...base,
      lane: null,
      seq: 3,
      type: 'fleet-halted',
      data: { cause: 'breached-classes', reason: '2 classes breached', breachedLanes: ['a', 'b'], haltLanes: ['c'] },
    }),
    makeEvent({
      ...base,
      lane: null,
      seq: 4,
      type: 'lane-lost',
      data: { lane: 'tablet-c', cause: 'terminated', detail: 'terminated by ops', lastStatus: 'running' },
    }),
    makeEvent({
      ...base,
      lane: null,
      seq: 5,
      type: 'rollout-completed',
      data: { lanes: { 'phone-a': 'completed', 'tablet-c': 'rolled-back' } },
    }),
    makeEvent({ ...base, lane: null, seq: 6, type: 'rollout-aborted', data: {}, actor: 'ana', reason: 'bad build' }),
  ];
  const out: Record<string, DomainEvent> = {};
  for (const draft of drafts) {
    const event = DomainEventSchema.parse(draft);
    const key = event.type === 'lane-paused' ? `lane-paused:${event.data.cause}` : event.type;
    out[key] = event;
  }
  return out;
}
