// Health reports in the ingest core, as a specification: given the catalogue and a partition's records, which lane
// group each report counts in (updated, control, neither), what is dropped or refused, and the post-install deltas
// a lane's flush takes — ranges covering exactly the offsets counted, the lane's marks, the contract's bounds.
import { cohortOf } from '../../events/cohort';
import { makeEvent, type EventOf } from '../../events/domain-events';
import type { HealthReport } from '../../events/health-report';
import { laneConfigOf, validatePlan } from '../../events/plan';
import { MAX_SIGNALS, POST_INSTALL_MARK_KEY, PostInstallDeltaSchema } from '../../events/post-install';
import { RolloutCatalogue } from '../../ingest/catalogue';
import { IngestCore } from '../../ingest/core';
import { signalPayloads } from '../../ingest/signaler';
import { HealthDeltaSignalSchema } from '../../workflows/messages';
import { testDeviceKeys } from '../support/device-keys';

const R = 'r-1';
const LANE = 'phone-a';
const OFFER = 'r-1/phone-a/1';
const ROLLBACK = 'r-1/phone-a/9';
const ISSUED = '2026-03-01T12:00:00Z';
const TS = Date.parse('2026-03-02T00:00:00Z');

function catalogueWith(bound = 5000, watches = true): RolloutCatalogue {
  const plan = validatePlan({
    releaseId: 'rel',
    artifact: { build: '26.3.1' },
    deviceClasses: [LANE],
    phases: [
      { share: 50, bake: '1h' },
      { share: 100, bake: 0 },
    ],
    thresholds: { maxFailureRate: 0.5, minSample: 1000, installTimeoutSec: 60, rule: 'plain' },
    breachPolicy: { action: 'pause' },
    // The ingest routes post-install reports only to lanes that watch them.
    ...(watches && { regression: { signals: ['app-crash', 'kernel-panic'] } }),
  });
  if (!plan.ok) throw new Error('plan');
  const catalogue = new RolloutCatalogue();
  catalogue.apply(
    makeEvent<EventOf<'lane-started'>>({
      rolloutId: R,
      lane: LANE,
      seq: 0,
      at: ISSUED,
      type: 'lane-started',
      data: { config: laneConfigOf(plan.plan, LANE) },
    }),
  );
  catalogue.apply(
    makeEvent<EventOf<'exposure-issued'>>({
      rolloutId: R,
      lane: LANE,
      seq: 1,
      at: ISSUED,
      type: 'exposure-issued',
      data: {
        phase: 0,
        attempt: 1,
        cohortBound: bound,
        offerId: OFFER,
        artifact: { build: '26.3.1' },
        bakeUntil: ISSUED,
      },
    }),
  );
  return catalogue;
}

function setup(catalogue = catalogueWith()) {
  const core = new IngestCore(catalogue, {
    maxMessageBytes: 65536,
    maxDevices: 1000,
    maxClockSkewSec: 3600,
    deviceKeys: testDeviceKeys(),
  });
  let offset = 0;
  const feed = (h: Partial<HealthReport> & { deviceId: string }, partition = 0) =>
    core.handle(partition, offset++, TS, Buffer.from(JSON.stringify(healthReport(h))));
  const lane = () => catalogue.rollouts.get(R)!.lanes.get(LANE)!;
  return { core, feed, lane, skipTo: (o: number) => (offset = o) };
}

let period = 0;
/** A report of the device's next 15-minute period after the exposure (unless the fields say otherwise). */
function healthReport(h: Partial<HealthReport> & { deviceId: string }): HealthReport {
  const start = Date.parse('2026-03-01T13:00:00Z') + 900_000 * period++;
  return {
    type: 'health-report',
    eventId: `${h.deviceId}@${start}`,
    deviceClass: LANE,
    build: '26.3.0',
    periodStart: new Date(start).toISOString(),
    periodEnd: new Date(start + 900_000).toISOString(),
    uptimeSec: 900,
    counts: { 'app-crash': 1 },
    at: new Date(start + 900_000).toISOString(),
    schemaVersion: 2,
    ...h,
  };
}

const updated = (deviceId: string, more: Partial<HealthReport> = {}) => ({
  deviceId,
  rolloutId: R,
  offerId: OFFER,
  build: '26.3.1',
  ...more,
});

const inside: string[] = [];
const outside: string[] = [];
for (let i = 0; inside.length < 4 || outside.length < 10; i++) {
  const id = `d-${i}`;
  (cohortOf(id, R) < 5000 ? inside : outside).push(id);
}

test('a report naming an exposure offer counts as updated; one of a device outside the cohort with no offer as control', () => {
  const { core, feed, lane } = setup();
  expect(feed(updated(inside[0]!, { counts: { 'app-crash': 2, 'kernel-panic': 1 }, uptimeSec: 800 }))).toEqual({
    kind: 'counted',
  });
  expect(feed({ deviceId: outside[0]!, counts: { 'app-crash': 1 }, uptimeSec: 900 })).toEqual({ kind: 'counted' });
  expect(feed({ deviceId: outside[1]!, counts: {}, uptimeSec: 300 })).toEqual({ kind: 'counted' });
  const taken = core.aggregator.takeLane(lane());
  expect(taken?.deltas).toEqual([]);
  expect(taken?.postInstall).toEqual([
    {
      updated: { uptimeSec: 800, events: { 'app-crash': 2, 'kernel-panic': 1 } },
      control: { uptimeSec: 1200, events: { 'app-crash': 1 } },
      ranges: [{ partition: 0, fromOffset: '0', toOffset: '2' }],
    },
  ]);
  expect(taken?.floors).toEqual(new Map([[0, 0]]));
  expect(core.aggregator.takeLane(lane())).toBeUndefined();
});

test('neither: a device inside the exposed cohort not on the build, one rolled back, one on another rollout build', () => {
  const catalogue = catalogueWith();
  catalogue.apply(
    makeEvent<EventOf<'rollback-started'>>({
      rolloutId: R,
      lane: LANE,
      seq: 2,
      at: ISSUED,
      type: 'rollback-started',
      data: { offerId: ROLLBACK, rollbackAttempt: 1, cohortBound: 5000, until: ISSUED, trigger: 'operator' },
    }),
  );
  const { core, feed, lane } = setup(catalogue);
  expect(feed({ deviceId: inside[0]! })).toEqual({ kind: 'ignored', why: 'neither' });
  expect(feed(updated(inside[1]!, { offerId: ROLLBACK, build: '26.3.0' }))).toEqual({
    kind: 'ignored',
    why: 'neither',
  });
  expect(core.aggregator.takeLane(lane())).toBeUndefined();
  expect(core.aggregator.pendingFloors()).toEqual(new Map());
});

test('control is concurrent: a period of a device not offered yet by its end, and only once the lane exposes', () => {
  const catalogue = catalogueWith();
  catalogue.apply(
    makeEvent<EventOf<'exposure-issued'>>({
      rolloutId: R,
      lane: LANE,
      seq: 2,
      at: '2026-03-01T14:00:00Z',
      type: 'exposure-issued',
      data: {
        phase: 1,
        attempt: 1,
        cohortBound: 10_000,
        offerId: 'r-1/phone-a/2',
        artifact: { build: '26.3.1' },
        bakeUntil: ISSUED,
      },
    }),
  );
  const { core, feed, lane } = setup(catalogue);
  const at = '2026-03-01T23:00:00Z';
  const period = (start: string, end: string) => ({ periodStart: start, periodEnd: end, at });
  // Offered at 14:00 (cohort ≥ 5000, < 10000): control in a period that ended before, neither after.
  expect(feed({ deviceId: outside[0]!, ...period('2026-03-01T13:00:00Z', '2026-03-01T13:15:00Z') })).toEqual({
    kind: 'counted',
  });
  expect(feed({ deviceId: outside[0]!, ...period('2026-03-01T14:00:00Z', '2026-03-01T14:15:00Z') })).toEqual({
    kind: 'ignored',
    why: 'neither',
  });
  // A period before the lane's first exposure has no updated devices beside it: not a control period.
  expect(feed({ deviceId: outside[1]!, ...period('2026-03-01T11:00:00Z', '2026-03-01T11:15:00Z') })).toEqual({
    kind: 'ignored',
    why: 'neither',
  });
  expect(core.aggregator.takeLane(lane())?.postInstall).toEqual([
    {
      updated: { uptimeSec: 0, events: {} },
      control: { uptimeSec: 900, events: { 'app-crash': 1 } },
      ranges: [{ partition: 0, fromOffset: '0', toOffset: '0' }],
    },
  ]);
});

test('a report of a class with no running lane is dropped (valid: not dead-lettered)', () => {
  const { feed } = setup();
  expect(feed({ deviceId: 'tablet-1', deviceClass: 'tablet-z' })).toEqual({ kind: 'ignored', why: 'no-lane' });
});

test('a report that contradicts the catalogue is refused like an install event (outside the cohort: once the catalogue caught up)', () => {
  const { feed } = setup();
  expect(feed(updated(outside[0]!))).toMatchObject({ kind: 'unknown', reason: 'outside-cohort' });
  expect(feed(updated(inside[0]!, { deviceClass: 'laptop-x1' }))).toMatchObject({
    kind: 'reject',
    reason: 'wrong-lane',
  });
  expect(feed(updated(inside[0]!, { offerId: 'r-1/phone-a/77' }))).toMatchObject({
    kind: 'unknown',
    reason: 'unknown-offer',
  });
  expect(feed(updated(inside[0]!, { rolloutId: 'r-x' }))).toMatchObject({ kind: 'unknown', reason: 'unknown-rollout' });
  expect(feed(updated(inside[0]!, { at: '2026-03-02T02:00:00Z' }))).toMatchObject({
    kind: 'reject',
    reason: 'clock-skew',
  });
  const invalid = { ...healthReport({ deviceId: inside[0]! }), uptimeSec: 5000 };
  const { core } = setup();
  expect(core.handle(0, 0, TS, Buffer.from(JSON.stringify(invalid)))).toMatchObject({
    kind: 'reject',
    reason: 'invalid-event',
  });
  expect(core.lastWasHealth).toBe(true);
});

test('a resent or overlapping period of a device is a duplicate; its next period counts', () => {
  const { core, feed, lane } = setup();
  const first = healthReport({ deviceId: outside[0]! });
  expect(feed(first)).toEqual({ kind: 'counted' });
  expect(feed(first)).toEqual({ kind: 'ignored', why: 'duplicate' });
  const overlap = new Date(Date.parse(first.periodEnd) - 60_000).toISOString();
  expect(
    feed({
      ...first,
      eventId: 'x',
      periodStart: overlap,
      periodEnd: new Date(Date.parse(overlap) + 900_000).toISOString(),
      at: '2026-03-01T23:00:00Z',
    }),
  ).toEqual({
    kind: 'ignored',
    why: 'duplicate',
  });
  const next = {
    periodStart: first.periodEnd,
    periodEnd: new Date(Date.parse(first.periodEnd) + 900_000).toISOString(),
  };
  expect(feed({ ...first, eventId: 'y', ...next, at: next.periodEnd })).toEqual({ kind: 'counted' });
  expect(core.aggregator.takeLane(lane())?.postInstall[0]).toMatchObject({
    control: { uptimeSec: 1800, events: { 'app-crash': 2 } },
    ranges: [{ partition: 0, fromOffset: '0', toOffset: '3' }],
  });
});

test('a replay against the lane post-install mark sends only what lies above it, with ranges starting above it', () => {
  // The first member counts offsets 0..3 and the lane decides that delta; a new member replays the partition.
  const records = [updated(inside[0]!), { deviceId: outside[0]! }, updated(inside[1]!), { deviceId: outside[1]! }];
  const first = setup();
  for (const r of records) first.feed(r);
  const sent = first.core.aggregator.takeLane(first.lane())!.postInstall;
  expect(sent).toHaveLength(1);
  period -= records.length; // the same records again
  const second = setup();
  const marks = { [POST_INSTALL_MARK_KEY]: { '0': '1' } };
  second.core.aggregator.setMarks(() => undefined, second.lane(), marks, new Set([0]));
  for (const r of records) second.feed(r);
  const resent = second.core.aggregator.takeLane(second.lane())!.postInstall;
  expect(resent).toEqual([
    {
      updated: { uptimeSec: 900, events: { 'app-crash': 1 } },
      control: { uptimeSec: 900, events: { 'app-crash': 1 } },
      ranges: [{ partition: 0, fromOffset: '2', toOffset: '3' }],
    },
  ]);
  // Marks of a partition not being prepared are not taken; a revoked partition's marks and sums are forgotten.
  second.core.aggregator.setMarks(
    () => undefined,
    second.lane(),
    { [POST_INSTALL_MARK_KEY]: { '1': '99' } },
    new Set([0]),
  );
  second.feed({ deviceId: outside[2]! }, 1);
  second.core.revoke(new Set([1]), new Set([0]));
  expect(second.core.aggregator.takeLane(second.lane())).toBeUndefined();
});

test('partitions merge into one delta; signals beyond the contract bound split it, and the lane flushes at once', () => {
  const { core, feed, lane } = setup();
  feed({ deviceId: outside[0]! }, 0);
  feed(updated(inside[0]!), 1);
  expect(core.aggregator.urgent.has(lane())).toBe(false);
  const wide = (from: number) =>
    Object.fromEntries(Array.from({ length: MAX_SIGNALS }, (_, i) => [`s-${from + i}`, 1]));
  feed({ deviceId: outside[1]!, counts: wide(0) }, 0);
  expect(core.aggregator.urgent.has(lane())).toBe(true);
  feed({ deviceId: outside[2]!, counts: wide(1) }, 0);
  const taken = core.aggregator.takeLane(lane())!;
  for (const delta of taken.postInstall) expect(PostInstallDeltaSchema.safeParse(delta).success).toBe(true);
  expect(taken.postInstall.map((d) => d.ranges)).toEqual([
    [
      { partition: 0, fromOffset: '0', toOffset: '0' },
      { partition: 1, fromOffset: '1', toOffset: '1' },
    ],
    [{ partition: 0, fromOffset: '2', toOffset: '2' }],
    [{ partition: 0, fromOffset: '3', toOffset: '3' }],
  ]);
  expect(taken.floors).toEqual(
    new Map([
      [0, 0],
      [1, 1],
    ]),
  );
});

test('signals carry at most 64 offer deltas and 8 post-install deltas each, all valid, in order', () => {
  const { core, feed, lane } = setup();
  const wide = (from: number) =>
    Object.fromEntries(Array.from({ length: MAX_SIGNALS }, (_, i) => [`s-${from + i}`, 1]));
  for (let i = 0; i < 10; i++) feed({ deviceId: outside[i]!, counts: wide(i) });
  const taken = core.aggregator.takeLane(lane())!;
  expect(taken.postInstall).toHaveLength(10);
  const payloads = signalPayloads(taken);
  expect(payloads.map((p) => [p.deltas.length, p.postInstall?.length])).toEqual([
    [0, 8],
    [0, 2],
  ]);
  for (const p of payloads) expect(HealthDeltaSignalSchema.safeParse(p).success).toBe(true);
  expect(payloads.flatMap((p) => p.postInstall ?? [])).toEqual(taken.postInstall);
});

test('reports below the committed offset at assignment were delivered: not sent again, whatever the marks', () => {
  // A lane that refuses post-install deltas keeps no marks; the group's committed offset still covers what it got.
  const records = [{ deviceId: outside[0]! }, { deviceId: outside[1]! }, { deviceId: outside[2]! }];
  const { core, feed, lane } = setup();
  core.aggregator.setCommitted(0, 2);
  core.aggregator.setMarks(() => undefined, lane(), { [POST_INSTALL_MARK_KEY]: { '0': '0' } }, new Set([0]));
  for (const r of records) feed(r);
  expect(core.aggregator.takeLane(lane())?.postInstall.map((d) => d.ranges)).toEqual([
    [{ partition: 0, fromOffset: '2', toOffset: '2' }],
  ]);
});

test('a lane without a regression rule gets no post-install delta: its reports are valid and dropped as no-lane', () => {
  const { core, feed, lane } = setup(catalogueWith(5000, false));
  expect(feed(updated(inside[0]!))).toEqual({ kind: 'ignored', why: 'no-lane' });
  expect(feed({ deviceId: outside[0]! })).toEqual({ kind: 'ignored', why: 'no-lane' });
  expect(core.aggregator.isDirty(lane())).toBe(false);
});
