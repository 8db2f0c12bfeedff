// The ingest core as a specification: given the catalogue and a partition's records, the count changes it
// emits — duplicates, out-of-order reports, attempts, impossible transitions, timeouts and lane marks.
import { cohortOf } from '../../events/cohort';
import { makeEvent, type EventOf } from '../../events/domain-events';
import type { InstallEvent } from '../../events/install-event';
import { laneConfigOf, validatePlan } from '../../events/plan';
import { RolloutCatalogue } from '../../ingest/catalogue';
import { IngestCore } from '../../ingest/core';
import { testDeviceKeys } from '../support/device-keys';

const R = 'r-1';
const LANE = 'phone-a';
const OFFER = 'phone-a/p0a1';
const AT = '2026-03-01T12:00:00Z';
const TS = Date.parse(AT);

function setup(correctTimeouts = false) {
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
  });
  if (!plan.ok) throw new Error('plan');
  const catalogue = new RolloutCatalogue();
  catalogue.apply(
    makeEvent<EventOf<'lane-started'>>({
      rolloutId: R,
      lane: LANE,
      seq: 0,
      at: AT,
      type: 'lane-started',
      data: { config: laneConfigOf(plan.plan, LANE) },
    }),
  );
  catalogue.apply(
    makeEvent<EventOf<'exposure-issued'>>({
      rolloutId: R,
      lane: LANE,
      seq: 1,
      at: AT,
      type: 'exposure-issued',
      data: { phase: 0, attempt: 1, cohortBound: 5000, offerId: OFFER, artifact: { build: '26.3.1' }, bakeUntil: AT },
    }),
  );
  const core = new IngestCore(catalogue, {
    maxMessageBytes: 65536,
    maxDevices: 1000,
    maxClockSkewSec: 3600,
    deviceKeys: testDeviceKeys(),
    correctTimeouts,
  });
  let offset = 0;
  const feed = (e: Partial<InstallEvent>, ts = TS) => {
    const event = {
      eventId: `e${offset}`,
      deviceId: inside[0],
      deviceClass: LANE,
      rolloutId: R,
      releaseId: 'rel',
      offerId: OFFER,
      attempt: 1,
      type: 'succeeded',
      osVersion: '1',
      at: AT,
      schemaVersion: 1,
      ...e,
    };
    return core.handle(0, offset++, ts, Buffer.from(JSON.stringify(event)));
  };
  const totals = () => core.aggregator.totalsOf(0);
  return { core, feed, totals, next: () => offset };
}

const inside: string[] = [];
let outside = '';
for (let i = 0; inside.length < 3 || outside === ''; i++) {
  const id = `d-${i}`;
  if (cohortOf(id, R) < 5000) inside.push(id);
  else outside ||= id;
}

test('a final counts once; duplicates and later finals are ignored; in progress follows install-started', () => {
  const { feed, totals } = setup();
  expect(feed({ type: 'install-started' })).toEqual({ kind: 'counted' });
  expect(feed({ type: 'install-started' })).toEqual({ kind: 'ignored', why: 'duplicate' });
  expect(feed({ type: 'failed', errorCode: 'E_X' })).toEqual({ kind: 'counted' });
  expect(feed({ type: 'succeeded' })).toEqual({ kind: 'ignored', why: 'after-final' });
  expect(totals()).toEqual({ succeeded: 0, failedByCode: { E_X: 1 }, timedOut: 0, inProgress: 0 });
});

test('out of order: succeeded before install-started counts the final and never in progress', () => {
  const { feed, totals } = setup();
  feed({ deviceId: inside[1], type: 'succeeded' });
  expect(feed({ deviceId: inside[1], type: 'install-started' })).toEqual({ kind: 'ignored', why: 'after-final' });
  expect(totals()).toEqual({ succeeded: 1, failedByCode: {}, timedOut: 0, inProgress: 0 });
});

test('impossible transitions are rejected with reasons', () => {
  const { feed } = setup();
  expect(feed({ deviceClass: 'tablet' })).toMatchObject({ reason: 'wrong-lane' });
  expect(feed({ deviceId: outside })).toMatchObject({ reason: 'outside-cohort' });
  expect(feed({ attempt: 2 })).toMatchObject({ reason: 'attempt-not-issued' });
  expect(feed({ type: 'rolled-back' })).toMatchObject({ reason: 'wrong-offer-kind' });
  expect(feed({ at: '2999-01-01T00:00:00Z' })).toMatchObject({ reason: 'clock-skew' });
  expect(feed({ offerId: 'x' })).toMatchObject({ kind: 'unknown', reason: 'unknown-offer' });
  expect(feed({ rolloutId: 'nope' })).toMatchObject({ kind: 'unknown', reason: 'unknown-rollout' });
});

test('a timeout marker times out a silent device once; a late final is kept out unless corrections are on', () => {
  for (const corrections of [false, true]) {
    const { core, feed, totals, next } = setup(corrections);
    feed({ deviceId: inside[2], type: 'install-started' });
    expect(core.dueTimeouts(TS + 30_000, new Set([0]))).toHaveLength(0);
    const due = core.dueTimeouts(TS + 61_000, new Set([0]));
    expect(due).toHaveLength(1);
    expect(core.dueTimeouts(TS + 62_000, new Set([0]))).toHaveLength(0); // already on its way
    const marker = Buffer.from(JSON.stringify(due[0]!.marker));
    expect(core.handle(0, next(), TS, marker)).toEqual({ kind: 'counted' });
    expect(core.handle(0, next() + 1, TS, marker).kind).toBe('ignored');
    expect(totals()).toEqual({ succeeded: 0, failedByCode: {}, timedOut: 1, inProgress: 0 });
    feed({ deviceId: inside[2], type: 'succeeded' });
    expect(totals()).toEqual(
      corrections
        ? { succeeded: 1, failedByCode: {}, timedOut: 0, inProgress: 0 }
        : { succeeded: 0, failedByCode: {}, timedOut: 1, inProgress: 0 },
    );
  }
});

test('changes at or below a lane mark rebuild state only; above it they become the next delta', () => {
  const { core, feed } = setup();
  const lane = core.catalogue.offers[0]!.lane;
  core.aggregator.setMarks((id) => core.catalogue.offer(R, id), lane, { [OFFER]: { '0': '1' } }, new Set([0]));
  feed({ deviceId: inside[0], type: 'install-started' }); // offset 0: below the mark
  feed({ deviceId: inside[0], type: 'succeeded' }); // offset 1: at the mark
  feed({ deviceId: inside[1], type: 'succeeded' }); // offset 2: above
  const taken = core.aggregator.takeLane(lane);
  expect(taken?.deltas).toEqual([
    {
      offerId: OFFER,
      delta: {
        counts: { succeeded: 1, failedByCode: {}, timedOut: 0, inProgress: 0 },
        ranges: [{ partition: 0, fromOffset: '2', toOffset: '2' }],
      },
    },
  ]);
});

test('the device table refuses beyond its capacity instead of growing', () => {
  const catalogueCore = setup().core;
  const small = new IngestCore(catalogueCore.catalogue, {
    maxMessageBytes: 65536,
    maxDevices: 1,
    maxClockSkewSec: 3600,
    deviceKeys: testDeviceKeys(),
  });
  const ev = (deviceId: string) =>
    Buffer.from(
      JSON.stringify({
        eventId: 'e',
        deviceId,
        deviceClass: LANE,
        rolloutId: R,
        releaseId: 'rel',
        offerId: OFFER,
        attempt: 1,
        type: 'succeeded',
        osVersion: '1',
        at: AT,
        schemaVersion: 1,
      }),
    );
  expect(small.handle(0, 0, TS, ev(inside[0]!))).toEqual({ kind: 'counted' });
  expect(small.handle(0, 1, TS, ev(inside[1]!))).toMatchObject({ reason: 'capacity' });
});

test('a lane in its patching stage is an active lane: its reports are counted and signalled until lane-completed', () => {
  const { core, feed, totals } = setup();
  core.catalogue.apply(
    makeEvent<EventOf<'patching-started'>>({
      rolloutId: R,
      lane: LANE,
      seq: 2,
      at: AT,
      type: 'patching-started',
      data: {
        phase: 0,
        attempt: 1,
        target: 0.95,
        deadline: AT,
        succeeded: 0,
        classSize: 10,
        sizeSource: 'plan',
        patchedShare: 0,
      },
    }),
  );
  expect(core.catalogue.activeLanes().map((l) => l.lane)).toEqual([LANE]);
  expect(feed({ deviceId: inside[0], type: 'succeeded' })).toEqual({ kind: 'counted' });
  expect(totals()).toMatchObject({ succeeded: 1 });
  core.catalogue.apply(
    makeEvent<EventOf<'lane-completed'>>({
      rolloutId: R,
      lane: LANE,
      seq: 3,
      at: AT,
      type: 'lane-completed',
      data: { phases: 2, attempt: 1, endedBy: 'patched-share' },
    }),
  );
  // Completed: no longer active (recovery asks it for no marks); late reports are still attributed to its offers.
  expect(core.catalogue.activeLanes()).toEqual([]);
});
