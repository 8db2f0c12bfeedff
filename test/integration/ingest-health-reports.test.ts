// Post-install health reports on the real servers: reports produced to a fresh install-events topic reach a real
// LaneWorkflow through the ingest as post-install deltas, split into the lane's updated and control groups exactly
// as the reports say (read back from the lane's own history: the healthDelta signals Temporal accepted), beside
// version-1 install events that still count; invalid and contradicting reports are dead-lettered with their reasons;
// a member SIGKILLed mid-stream and replaced sends no report twice and loses none; and the fleet simulator's reports
// (a regression on the build, a spike on everyone) reach the lane with the regression showing against the control.
//
// What a lane does with a post-install delta is the regression judge's business (workflows-regression and the
// regression-e2e test): these lanes watch the signals with a tolerance no report here comes near (100×), so the
// ingest routes to them (it sends post-install deltas only to lanes with a regression rule) and none halts. What is
// asserted is what reached them, applied under the lane's rule for marks (a delta wholly at or below the marks of its
// partitions is a redelivery and dropped; otherwise it counts whole).
import type { WorkflowBundle } from '@temporalio/worker';
import { cohortOf } from '../../events/cohort';
import type { HealthReport } from '../../events/health-report';
import type { LaneConfig } from '../../events/plan';
import type { ExposureCounts, PostInstallDelta } from '../../events/post-install';
import { deviceKeysOf } from '../../ingest/device-key-secret';
import { createMetrics } from '../../ingest/metrics';
import { IngestService } from '../../ingest/service';
import { loadIngestSettings } from '../../ingest/settings';
import { createSignaler } from '../../ingest/signaler';
import { createLogger } from '../../observability/log';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { mulberry32 } from '../../simulator/prng';
import { ScenarioSchema } from '../../simulator/scenario';
import { laneWorkflowId, type HealthDeltaSignal } from '../../workflows/messages';
import { uniqueName } from '../support/unique-name';
import {
  bundle,
  cohortDevices,
  groundTruth,
  produce,
  quietLaneConfig,
  sleep,
  spawnMember,
  startLane,
  startWorld,
  stopMember,
  waitForTotals,
  workload,
  type World,
} from './ingest-harness';

jest.setTimeout(180_000);

let workflowBundle: WorkflowBundle;
beforeAll(async () => {
  workflowBundle = await bundle();
}, 120_000);

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** A quiet lane that watches app-crash and kernel-panic with a tolerance (100×) no report of these tests nears. */
function watchingLaneConfig(lane: string): LaneConfig {
  return {
    ...quietLaneConfig(lane),
    regression: {
      signals: ['app-crash', 'kernel-panic'],
      maxRateRatio: 100,
      falseHaltProbability: 0.01,
      watchSec: 0,
      minEvents: 5,
    },
  };
}

/** Devices of the class outside the cohort below `bound` (never offered the lane's build). */
function outsideDevices(rolloutId: string, bound: number, n: number, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `${prefix}-${i}`;
    if (cohortOf(id, rolloutId) >= bound) out.push(id);
  }
  return out;
}

/** `periods` consecutive 10-second reports per device from `t0`, with seeded counts; `offer` names the build's offer. */
function reportsOf(
  devices: string[],
  deviceClass: string,
  t0: number,
  periods: number,
  seed: number,
  offer?: { rolloutId: string; offerId: string },
): HealthReport[][] {
  const random = mulberry32(seed);
  return devices.map((deviceId) =>
    Array.from({ length: periods }, (_, k) => {
      const start = t0 + k * 10_000;
      const counts: Record<string, number> = {};
      const crashes = Math.floor(random() * 4);
      if (crashes > 0) counts['app-crash'] = crashes;
      if (random() < 0.2) counts['kernel-panic'] = 1;
      return {
        type: 'health-report',
        eventId: `${deviceId}@${k}`,
        deviceId,
        deviceClass,
        build: offer === undefined ? '26.3.0' : '26.3.1',
        ...offer,
        periodStart: new Date(start).toISOString(),
        periodEnd: new Date(start + 10_000).toISOString(),
        uptimeSec: Math.round(random() * 10_000) / 1000,
        counts,
        at: new Date(start + 10_000).toISOString(),
        schemaVersion: 2,
      } satisfies HealthReport;
    }),
  );
}

/** Reports interleaved across devices, each device's in period order. */
function interleave(perDevice: HealthReport[][], seed: number): HealthReport[] {
  const random = mulberry32(seed);
  const lists = perDevice.map((l) => [...l]);
  const out: HealthReport[] = [];
  while (lists.some((l) => l.length > 0)) {
    const list = lists[Math.floor(random() * lists.length)]!;
    const next = list.shift();
    if (next !== undefined) out.push(next);
  }
  return out;
}

function sumOf(reports: HealthReport[]): ExposureCounts {
  const sums: ExposureCounts = { uptimeSec: 0, events: {} };
  for (const r of reports) {
    sums.uptimeSec += r.uptimeSec;
    for (const [signal, n] of Object.entries(r.counts)) sums.events[signal] = (sums.events[signal] ?? 0) + n;
  }
  return sums;
}

/** The post-install deltas the lane was signalled, in order, read from its history. */
async function signalledPostInstall(w: World, rolloutId: string, lane: string): Promise<PostInstallDelta[]> {
  const history = await w.client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).fetchHistory();
  const deltas: PostInstallDelta[] = [];
  for (const event of history.events ?? []) {
    const signal = event.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName !== 'healthDelta') continue;
    const data = signal.input?.payloads?.[0]?.data;
    if (data === undefined || data === null) continue;
    const payload = JSON.parse(Buffer.from(data).toString('utf8')) as HealthDeltaSignal;
    deltas.push(...(payload.postInstall ?? []));
  }
  return deltas;
}

/**
 * Applies deltas as a lane applies them against its marks: dropped when every range is at or below its partition's
 * mark, else counted whole, and a range starting at or below the mark is an overlap (counted twice).
 */
function applyWithMarks(deltas: PostInstallDelta[]): {
  updated: ExposureCounts;
  control: ExposureCounts;
  overlaps: number;
} {
  const marks = new Map<number, number>();
  const updated: ExposureCounts = { uptimeSec: 0, events: {} };
  const control: ExposureCounts = { uptimeSec: 0, events: {} };
  let overlaps = 0;
  for (const delta of deltas) {
    const markOf = (p: number) => marks.get(p) ?? -1;
    if (delta.ranges.every((r) => Number(r.toOffset) <= markOf(r.partition))) continue;
    overlaps += delta.ranges.filter((r) => Number(r.fromOffset) <= markOf(r.partition)).length;
    for (const [into, from] of [
      [updated, delta.updated],
      [control, delta.control],
    ] as const) {
      into.uptimeSec += from.uptimeSec;
      for (const [signal, n] of Object.entries(from.events)) into.events[signal] = (into.events[signal] ?? 0) + n;
    }
    for (const r of delta.ranges) marks.set(r.partition, Math.max(markOf(r.partition), Number(r.toOffset)));
  }
  return { updated, control, overlaps };
}

/** A group's sums as comparable text: uptime rounded (addition order differs), signals in name order. */
function canonical(c: ExposureCounts): string {
  const events = Object.entries(c.events).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([Math.round(c.uptimeSec * 1000) / 1000, events]);
}

/** Polls the lane's history until the applied post-install sums equal the expected ones (or the time is up). */
async function waitForPostInstall(
  w: World,
  rolloutId: string,
  lane: string,
  expected: { updated: ExposureCounts; control: ExposureCounts },
  timeoutMs = 60_000,
): Promise<ReturnType<typeof applyWithMarks>> {
  const deadline = Date.now() + timeoutMs;
  let last = applyWithMarks([]);
  while (Date.now() < deadline) {
    last = applyWithMarks(await signalledPostInstall(w, rolloutId, lane));
    const same = canonical(last.updated) === canonical(expected.updated);
    if (same && canonical(last.control) === canonical(expected.control)) return last;
    await sleep(500);
  }
  return last;
}

function expectSums(actual: ExposureCounts, expected: ExposureCounts): void {
  expect(actual.uptimeSec).toBeCloseTo(expected.uptimeSec, 3);
  expect(actual.events).toEqual(expected.events);
}

/** Reads the DLQ until `n` records arrived (or 60 s): their reasons. */
async function deadLetterReasons(w: World, n: number): Promise<string[]> {
  const reasons: string[] = [];
  const consumer = w.kafka.consumer({ groupId: uniqueName('dlq-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: w.config.topics.installEventsDlq, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        reasons.push(message.headers?.['bsi-dlq-reason']?.toString() ?? 'none');
        if (reasons.length >= n) resolve();
        await Promise.resolve();
      },
    });
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
  clearTimeout(timer);
  await sleep(1000); // nothing more arrives
  await consumer.disconnect();
  return reasons.sort();
}

test('health reports reach the lane split into updated and control; bad ones are dead-lettered; v1 still counts', async () => {
  const w = await startWorld(workflowBundle, 'health-route', 4);
  world = w;
  const rolloutId = uniqueName('r-health');
  const lane = 'phone-a';
  const { offerId, cohortBound } = await startLane(w, rolloutId, lane, watchingLaneConfig(lane));
  const offer = { rolloutId, offerId };
  const t0 = Date.now() + 1000; // periods after the exposure (devices' clocks may run ahead: within the skew)
  const updated = reportsOf(cohortDevices(rolloutId, cohortBound, 120, 'up'), lane, t0, 3, 1, offer);
  const control = reportsOf(outsideDevices(rolloutId, cohortBound, 120, 'ctl'), lane, t0, 3, 2);
  // Devices inside the exposed cohort not on the build yet: neither group. So is a period before the lane's first
  // exposure (no updated device beside it: not a concurrent control period).
  const pending = cohortDevices(rolloutId, cohortBound, 80, 'pending');
  const neither = reportsOf(pending.slice(0, 40), lane, t0, 3, 3);
  const earlier = reportsOf(pending.slice(40), lane, t0 - 120_000, 1, 7);
  const noLane = reportsOf(['tab-1', 'tab-2'], 'tablet-z', t0, 3, 4);
  const valid = interleave([...updated, ...control, ...neither, ...earlier, ...noLane], 5);
  const resent = valid.slice(0, 25); // a device resending reports of periods it already reported
  const template = updated[0]![0]!;
  const outsider = outsideDevices(rolloutId, cohortBound, 1, 'out')[0]!;
  const wide = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`s-${i}`, 1]));
  const invalid = [
    { ...template, uptimeSec: 11 }, // more uptime than the period
    { ...template, counts: wide }, // 65 signals
    { ...template, counts: { 'App-Crash': 1 } }, // not a signal name
    { ...template, schemaVersion: 3 },
    { ...template, deviceClass: 'laptop-x1' }, // the offer is phone-a's
    { ...template, deviceId: outsider }, // names an offer its cohort was never given
    { ...template, offerId: `${offerId}-never` },
  ];
  const installs = workload(rolloutId, lane, offerId, cohortDevices(rolloutId, cohortBound, 200, 'inst'), 6);

  const settings = loadIngestSettings({ ...w.env, INGEST_UNKNOWN_WAIT_MS: '500', INGEST_FLUSH_INTERVAL_MS: '500' });
  const metrics = createMetrics();
  const service = new IngestService({
    kafka: w.kafka,
    topics: w.config.topics,
    settings,
    deviceKeys: deviceKeysOf(w.config.deviceKeys),
    signaler: createSignaler(w.client),
    metrics,
    log: createLogger('ingest-test', 'silent'),
  });
  await service.start();
  try {
    await produce(
      w,
      [
        ...installs.slice(0, 300),
        ...valid,
        ...installs.slice(300),
        ...resent,
        ...invalid.map((r) => JSON.stringify(r)),
      ],
      {
        chunk: 100,
      },
    );
    const expected = { updated: sumOf(updated.flat()), control: sumOf(control.flat()) };
    const got = await waitForPostInstall(w, rolloutId, lane, expected);
    expectSums(got.updated, expected.updated);
    expectSums(got.control, expected.control);
    expect(got.overlaps).toBe(0);
    // Version-1 install events on the same topic are counted as before.
    const truth = groundTruth(installs);
    const totals = await waitForTotals(w, rolloutId, lane, offerId, truth);
    expect(totals).toEqual(expect.objectContaining({ succeeded: truth.succeeded, inProgress: truth.inProgress }));

    expect(await deadLetterReasons(w, invalid.length)).toEqual(
      [
        'invalid-event',
        'invalid-event',
        'invalid-event',
        'unknown-schema-version',
        'wrong-lane',
        'outside-cohort',
        'unknown-offer',
      ].sort(),
    );
    const byResult = Object.fromEntries(
      (await metrics.healthReports.get()).values.map((v) => [String(v.labels.result), v.value]),
    );
    expect(byResult).toEqual({
      routed: (updated.length + control.length) * 3,
      neither: neither.length * 3 + earlier.length,
      'no-lane': noLane.length * 3,
      duplicate: resent.length,
      'dead-lettered': invalid.length,
    });
    // Nothing arrives twice later.
    await sleep(2000);
    expect(applyWithMarks(await signalledPostInstall(w, rolloutId, lane))).toEqual(got);
  } finally {
    await service.stop();
  }
});

test('a member SIGKILLed mid-stream and replaced sends each health report once: none twice, none lost', async () => {
  const w = await startWorld(workflowBundle, 'health-kill', 4);
  world = w;
  const rolloutId = uniqueName('r-health-kill');
  const lane = 'phone-a';
  const { offerId, cohortBound } = await startLane(w, rolloutId, lane, watchingLaneConfig(lane));
  const t0 = Date.now() + 1000; // periods after the exposure
  const updated = reportsOf(cohortDevices(rolloutId, cohortBound, 300, 'up'), lane, t0, 6, 11, { rolloutId, offerId });
  const control = reportsOf(outsideDevices(rolloutId, cohortBound, 300, 'ctl'), lane, t0, 6, 12);
  const reports = interleave([...updated, ...control], 13);
  const expected = { updated: sumOf(updated.flat()), control: sumOf(control.flat()) };
  const env = { INGEST_FLUSH_INTERVAL_MS: '300' };
  const first = spawnMember(w, env);
  await first.started;
  await produce(w, reports, {
    chunk: 150,
    pauseMs: 150,
    onChunk: async (c) => {
      if (c === 12) await stopMember(first, 'SIGKILL');
    },
  });
  // Part of the stream reached the lane before the kill, not all of it.
  const before = applyWithMarks(await signalledPostInstall(w, rolloutId, lane));
  expect(before.updated.uptimeSec + before.control.uptimeSec).toBeGreaterThan(0);
  expect(before.updated.uptimeSec).toBeLessThan(expected.updated.uptimeSec);
  const second = spawnMember(w, env);
  try {
    const got = await waitForPostInstall(w, rolloutId, lane, expected, 90_000);
    expectSums(got.updated, expected.updated);
    expectSums(got.control, expected.control);
    expect(got.overlaps).toBe(0);
    await sleep(2000);
    expect(applyWithMarks(await signalledPostInstall(w, rolloutId, lane))).toEqual(got);
  } finally {
    await stopMember(second, 'SIGTERM');
  }
});

test('the simulated fleet: a regression on the build shows against the concurrent control, a spike on both', async () => {
  const w = await startWorld(workflowBundle, 'health-sim', 3);
  world = w;
  const scenario = ScenarioSchema.parse({
    seed: 17,
    defaults: {
      failureRate: 0,
      errorCodes: { E_DISK_FULL: 1 },
      silentRate: 0,
      duplicateRate: 0.01,
      reorderRate: 0,
      rollbackSuccessRate: 1,
      checkInDelaySec: { median: 0.2, max: 0.5 },
      installDurationSec: { median: 0.2, max: 0.5 },
      rollbackDurationSec: { median: 0.2, max: 0.5 },
    },
    classes: { 'phone-a': { devices: 800 } },
    health: {
      periodSec: 1,
      timeScale: 3600,
      rates: { 'app-crash': 1, 'kernel-panic': 0.2 },
      reportDelaySec: { median: 0.2, max: 0.8 },
      offlineRate: 0.02,
      regressions: [{ class: 'phone-a', build: '26.3.1', signal: 'app-crash', factor: 3, afterHours: 0 }],
      spikes: [{ signal: 'kernel-panic', factor: 5, fromHours: 0, toHours: 1000 }],
    },
  });
  const settings = loadIngestSettings({ ...w.env, INGEST_FLUSH_INTERVAL_MS: '500' });
  const metrics = createMetrics();
  const service = new IngestService({
    kafka: w.kafka,
    topics: w.config.topics,
    settings,
    deviceKeys: deviceKeysOf(w.config.deviceKeys),
    signaler: createSignaler(w.client),
    metrics,
    log: createLogger('ingest-test', 'silent'),
  });
  const simulator = new FleetSimulator({
    config: w.config,
    scenario,
    logger: createLogger('simulator-test', 'silent'),
    groupId: uniqueName('health-sim-fleet'),
  });
  await service.start();
  await simulator.start();
  let simulating = true;
  try {
    const rolloutId = uniqueName('r-health-sim');
    await startLane(w, rolloutId, 'phone-a', watchingLaneConfig('phone-a')); // the exposure order reaches the simulated fleet: half the class
    await sleep(15_000);
    simulating = false;
    await simulator.stop();
    await sleep(2000); // the last flush
    const got = applyWithMarks(await signalledPostInstall(w, rolloutId, 'phone-a'));
    const rate = (c: ExposureCounts, signal: string) => (c.events[signal] ?? 0) / c.uptimeSec;
    // Rates are per second of uptime, each standing for an hour: app-crash 1 (3 on the build), kernel-panic 0.2 × 5.
    expect(got.updated.uptimeSec).toBeGreaterThan(1000);
    expect(got.control.uptimeSec).toBeGreaterThan(1000);
    expect(rate(got.updated, 'app-crash') / rate(got.control, 'app-crash')).toBeGreaterThan(2.4);
    expect(rate(got.updated, 'app-crash') / rate(got.control, 'app-crash')).toBeLessThan(3.6);
    expect(rate(got.control, 'app-crash')).toBeGreaterThan(0.8);
    expect(rate(got.control, 'app-crash')).toBeLessThan(1.2);
    for (const group of [got.updated, got.control]) {
      expect(rate(group, 'kernel-panic')).toBeGreaterThan(0.8);
      expect(rate(group, 'kernel-panic')).toBeLessThan(1.2);
    }
    expect(got.overlaps).toBe(0);
    // Every simulated report was valid: none dead-lettered.
    const byResult = Object.fromEntries(
      (await metrics.healthReports.get()).values.map((v) => [String(v.labels.result), v.value]),
    );
    expect(byResult['dead-lettered']).toBe(0);
    expect(byResult.routed).toBeGreaterThan(5000);
    const truth = simulator.healthTruth();
    expect(truth?.regressions[0]?.devices).toBeGreaterThan(300);
  } finally {
    if (simulating) await simulator.stop();
    await service.stop();
  }
});
