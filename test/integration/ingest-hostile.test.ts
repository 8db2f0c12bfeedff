// 10,000 hostile records (fast-check: broken JSON, wrong types, __proto__ keys, huge strings, negative
// attempts, timestamps far in the future, unknown rollouts, impossible transitions) interleaved with valid
// reports: every hostile record lands in the DLQ with a reason, every valid report is counted by the real
// LaneWorkflow, the consumer never crashes and nothing is polluted.
import type { WorkflowBundle } from '@temporalio/worker';
import fc from 'fast-check';
import { cohortOf } from '../../events/cohort';
import type { InstallEvent } from '../../events/install-event';
import { deviceKeysOf } from '../../ingest/device-key-secret';
import { createMetrics } from '../../ingest/metrics';
import { IngestService } from '../../ingest/service';
import { loadIngestSettings } from '../../ingest/settings';
import { createSignaler } from '../../ingest/signaler';
import { createLogger } from '../../observability/log';
import { uniqueName } from '../support/unique-name';
import {
  bundle,
  cohortDevices,
  groundTruth,
  produce,
  startLane,
  startWorld,
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

const HOSTILE = 10_000;

function hostileArbitrary(valid: InstallEvent, outsider: string): fc.Arbitrary<string | Buffer> {
  const text = JSON.stringify(valid);
  const withField = (key: string, value: unknown) => JSON.stringify({ ...valid, [key]: value });
  const stringFields = [
    'eventId',
    'deviceId',
    'deviceClass',
    'rolloutId',
    'releaseId',
    'offerId',
    'osVersion',
    'at',
    'type',
  ];
  const notString = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.object({ maxDepth: 1 }),
  );
  return fc.oneof(
    // broken JSON: a proper prefix of an object's text is never JSON
    fc.integer({ min: 1, max: text.length - 1 }).map((n) => text.slice(0, n)),
    fc.string({ maxLength: 40 }).map((s) => `{${s}`),
    // wrong types
    fc.tuple(fc.constantFrom(...stringFields), notString).map(([k, v]) => withField(k, v)),
    fc
      .oneof(fc.string({ maxLength: 5 }), fc.double(), fc.constant(null))
      .filter((v) => typeof v !== 'number' || !Number.isInteger(v))
      .map((v) => withField('attempt', v)),
    fc.integer({ min: 3, max: 1000 }).map((v) => withField('schemaVersion', v)),
    // __proto__ and constructor keys
    fc.json({ maxDepth: 1 }).map((j) => text.replace('{', `{"__proto__":{"polluted":${j}},`)),
    fc.constant(text.replace('{', '{"constructor":{"prototype":{"polluted":true}},')),
    // huge strings: beyond the schema's bounds, or beyond the size limit
    fc.integer({ min: 129, max: 5000 }).map((n) => withField('deviceId', 'd'.repeat(n))),
    fc.integer({ min: 70_000, max: 100_000 }).map((n) => withField('osVersion', 'x'.repeat(n))),
    // negative and zero attempts
    fc.integer({ min: -1_000_000, max: 0 }).map((v) => withField('attempt', v)),
    // timestamps far in the future (device clocks lie)
    fc.integer({ min: 2100, max: 9999 }).map((y) => withField('at', `${y}-01-01T00:00:00Z`)),
    // unknown rollouts and offers
    fc.stringMatching(/^[a-z]{4,12}$/).map((r) => withField('rolloutId', `unknown-${r}`)),
    fc.stringMatching(/^[a-z]{4,12}$/).map((o) => withField('offerId', `nope/${o}`)),
    // impossible transitions: another lane, outside the cohort, an attempt never issued, a rollback report
    fc.constant(withField('deviceClass', 'tablet-z')),
    fc.constant(withField('deviceId', outsider)),
    fc.integer({ min: 2, max: 1000 }).map((v) => withField('attempt', v)),
    fc.constant(withField('type', 'rolled-back')),
    // empty values
    fc.constant(Buffer.alloc(0)),
  );
}

test('10,000 hostile records all land in the DLQ with reasons; interleaved valid reports are all counted', async () => {
  const w = await startWorld(workflowBundle, 'ingest-hostile', 4);
  world = w;
  const rolloutId = uniqueName('r-hostile');
  const lane = 'phone-a';
  const { offerId, cohortBound } = await startLane(w, rolloutId, lane);
  const devices = cohortDevices(rolloutId, cohortBound, 2000);
  const valid = workload(rolloutId, lane, offerId, devices, 7);
  const expected = groundTruth(valid);
  let outsider = 'outsider-0';
  for (let i = 0; cohortOf(outsider, rolloutId) < cohortBound; i++) outsider = `outsider-${i}`;
  const template = { ...valid[0]!, eventId: 'hostile' };
  const hostile = fc.sample(hostileArbitrary(template, outsider), { numRuns: HOSTILE, seed: 42 });
  const mixed: (InstallEvent | string | Buffer)[] = [];
  let h = 0;
  for (const event of valid) {
    mixed.push(event);
    while (h < hostile.length && h * valid.length < mixed.length * hostile.length) mixed.push(hostile[h++]!);
  }
  while (h < hostile.length) mixed.push(hostile[h++]!);

  const settings = loadIngestSettings({ ...w.env, INGEST_UNKNOWN_WAIT_MS: '500' });
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
    await produce(w, mixed, { chunk: 50 });
    const totals = await waitForTotals(w, rolloutId, lane, offerId, expected, 90_000);
    expect(totals).toEqual(expect.objectContaining({ succeeded: expected.succeeded, inProgress: expected.inProgress }));
    expect(totals?.failedByCode).toEqual(expected.failedByCode);

    // Every hostile record is in the DLQ, with a reason and its source coordinates.
    const reasons = new Map<string, number>();
    const consumer = w.kafka.consumer({ groupId: uniqueName('dlq-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic: w.config.topics.installEventsDlq, fromBeginning: true });
    let seen = 0;
    let withSource = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          const reason = message.headers?.['bsi-dlq-reason']?.toString() ?? 'none';
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
          if (
            message.headers?.['bsi-source-partition'] !== undefined &&
            message.headers['bsi-source-offset'] !== undefined
          )
            withSource++;
          if (++seen >= HOSTILE) resolve();
          await Promise.resolve();
        },
      });
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
    clearTimeout(timer);
    await new Promise((r) => setTimeout(r, 1000));
    await consumer.disconnect();
    expect(seen).toBe(HOSTILE);
    expect(withSource).toBe(HOSTILE);
    expect(reasons.has('none')).toBe(false);
    for (const reason of [
      'bad-json',
      'invalid-event',
      'oversized',
      'clock-skew',
      'unknown-rollout',
      'unknown-offer',
      'wrong-lane',
      'outside-cohort',
      'attempt-not-issued',
      'wrong-offer-kind',
      'unknown-schema-version',
      'empty',
    ]) {
      expect(reasons.get(reason) ?? 0).toBeGreaterThan(0);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(service.healthy()).toBe(true);
  } finally {
    await service.stop();
  }
});
