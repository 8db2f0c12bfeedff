// A superseding lane's cohort salt (`LaneConfig.cohortSalt`, events/supersede.ts) where the engine computes buckets
// outside the deciders: the ingest's report scanner (both of its paths: bytes straight from Kafka, and a decoded
// event) and replay's offers, which carry the lane's salt to the device buckets they count by.
import { cohortOf } from '../../events/cohort';
import { makeEvent, type DomainEvent, type EventOf } from '../../events/domain-events';
import { RolloutPlanSchema, laneConfigOf } from '../../events/plan';
import { decodeRecord } from '../../ingest/decode';
import { Report } from '../../ingest/device-report-scanner';
import { offersOf } from '../../replay/outcomes';

const report = {
  eventId: 'e-1',
  deviceId: 'laptop-000123',
  deviceClass: 'laptop-x1',
  rolloutId: 'bsi-fix',
  releaseId: 'bsi-26.3',
  offerId: 'laptop-x1/p0a1',
  attempt: 1,
  type: 'succeeded',
  osVersion: '26.3.2',
  at: '2026-12-07T12:00:00.000Z',
  schemaVersion: 1,
};

test('the ingest scanner buckets a report under the salt it is given, by default its rollout id', () => {
  const bytes = Buffer.from(JSON.stringify(report), 'utf8');
  const fast = new Report();
  expect(fast.readBytes(bytes)).toBe(true);
  const decoded = decodeRecord(bytes, 1 << 20);
  if (decoded.kind !== 'install') throw new Error('not an install event');
  const general = new Report();
  general.fromEvent(decoded.event);
  for (const r of [fast, general]) {
    expect(r.cohort()).toBe(cohortOf(report.deviceId, 'bsi-fix'));
    expect(r.cohort('bsi-old')).toBe(cohortOf(report.deviceId, 'bsi-old'));
  }
  expect(cohortOf(report.deviceId, 'bsi-old')).not.toBe(cohortOf(report.deviceId, 'bsi-fix'));
});

test("replay's offers carry a salted lane's salt, and only its", () => {
  const plan = RolloutPlanSchema.parse({
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.2' },
    deviceClasses: ['laptop-x1', 'phone-a'],
    phases: [{ share: 100, bake: 0 }],
    thresholds: { maxFailureRate: 0.05, minSample: 20, installTimeoutSec: 600 },
    breachPolicy: { action: 'pause' },
  });
  const at = '2026-12-07T12:00:00.000Z';
  const event = <T extends DomainEvent['type']>(type: T, lane: string, seq: number, data: EventOf<T>['data']) =>
    makeEvent<EventOf<T>>({ type, data, rolloutId: 'bsi-fix', lane, seq, at } as never);
  const exposure = (lane: string) =>
    event('exposure-issued', lane, 1, {
      phase: 0,
      attempt: 1,
      cohortBound: 10000,
      offerId: `${lane}/p0a1`,
      artifact: { build: '26.3.2' },
      bakeUntil: at,
    });
  const offers = offersOf([
    event('lane-started', 'laptop-x1', 0, { config: { ...laneConfigOf(plan, 'laptop-x1'), cohortSalt: 'bsi-old' } }),
    exposure('laptop-x1'),
    event('lane-started', 'phone-a', 0, { config: laneConfigOf(plan, 'phone-a') }),
    exposure('phone-a'),
  ]);
  expect(offers.get('laptop-x1/p0a1')?.cohortSalt).toBe('bsi-old');
  expect(offers.get('phone-a/p0a1')).not.toHaveProperty('cohortSalt');
});
