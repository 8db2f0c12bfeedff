// Self-healing ingest on the real servers (issue #13 item 7). A member's group consumer and its catalogue reader's
// consumer each crash mid-stream with an error kafkajs does not restart from: their handler rejects with an error
// kafkajs classes as final (as in the premise test of resilient-consumer.test.ts), injected by wrapping the real
// kafkajs client's consumers; broker, group protocol and crash handling are kafkajs's and Kafka's own. The member
// replaces both consumers, /healthz is red while either is down and green again, and the real LaneWorkflows count
// every outcome exactly once, including reports that arrived while the catalogue reader was down.
import type { ConsumerConfig, EachBatchHandler, EachBatchPayload } from 'kafkajs';
import type { WorkflowBundle } from '@temporalio/worker';
import type { Kafka } from '../../kafka/client';
import { deviceKeysOf } from '../../ingest/device-key-secret';
import { createMetrics, serveMetrics } from '../../ingest/metrics';
import { IngestService } from '../../ingest/service';
import { loadIngestSettings } from '../../ingest/settings';
import { createSignaler } from '../../ingest/signaler';
import { createLogger } from '../../observability/log';
import { uniqueName } from '../support/unique-name';
import {
  bundle,
  cohortDevices,
  groundTruth,
  laneTotals,
  produce,
  sleep,
  startLane,
  startWorld,
  waitForTotals,
  workload,
  type World,
} from './ingest-harness';

jest.setTimeout(240_000);

let workflowBundle: WorkflowBundle;
beforeAll(async () => {
  workflowBundle = await bundle();
}, 120_000);

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** An error kafkajs classes as final: its retrier bails and `onCrash` does not restart the consumer. */
function finalError(message: string): Error {
  return Object.assign(new Error(message), { retriable: false });
}

/** The crashes the test forces, and what it saw of them. */
interface Faults {
  /** Group consumer: crashes once, after the member handled a batch, when it was handed `crashAfter` reports of this rollout. */
  ingest: { rolloutId: string; crashAfter: number; seen: number; fired: number; crashes: boolean[] };
  /** Catalogue reader: crashes on the first batch handed to it while armed, before the reader sees the batch. */
  catalogue: { armed: boolean; fired: number; crashes: boolean[]; rejoined: boolean };
  /** Reports of this rollout that reached the group consumer while the catalogue reader was down. */
  whileReaderDown: { rolloutId: string; batches: number };
}

function mentions(payload: EachBatchPayload, rolloutId: string): number {
  return payload.batch.messages.filter((m) => m.value?.includes(rolloutId) === true).length;
}

/**
 * The real client, except that the consumers it makes for the member's group and for its catalogue reader
 * (`<group>.catalogue.…`) record their CRASH events and run their handler through the faults.
 */
function withFaults(real: Kafka, groupId: string, faults: Faults): Kafka {
  // Delegates everything else (producers, admins) to the real client.
  const kafka = Object.create(real) as Kafka;
  kafka.consumer = (config: ConsumerConfig) => {
    const consumer = real.consumer(config);
    const isIngest = config.groupId === groupId;
    if (!isIngest && !config.groupId.startsWith(`${groupId}.catalogue.`)) return consumer;
    const crashes = isIngest ? faults.ingest.crashes : faults.catalogue.crashes;
    consumer.on(consumer.events.CRASH, ({ payload }) => crashes.push(payload.restart));
    if (!isIngest) {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (faults.catalogue.fired > 0) faults.catalogue.rejoined = true;
      });
    }
    const run = consumer.run.bind(consumer);
    consumer.run = (runConfig) => {
      const handler = runConfig?.eachBatch;
      if (handler === undefined) throw new Error(`${config.groupId}: expected an eachBatch handler`);
      return run({
        ...runConfig,
        eachBatch: isIngest ? ingestFault(handler, faults) : catalogueFault(handler, faults),
      });
    };
    return consumer;
  };
  return kafka;
}

function ingestFault(handler: EachBatchHandler, faults: Faults): EachBatchHandler {
  return async (payload) => {
    const { catalogue, whileReaderDown, ingest } = faults;
    if (catalogue.fired > 0 && !catalogue.rejoined && mentions(payload, whileReaderDown.rolloutId) > 0) {
      whileReaderDown.batches++;
    }
    await handler(payload);
    ingest.seen += mentions(payload, ingest.rolloutId);
    if (ingest.fired === 0 && ingest.seen >= ingest.crashAfter) {
      ingest.fired++;
      throw finalError('forced crash of the ingest group consumer');
    }
  };
}

function catalogueFault(handler: EachBatchHandler, faults: Faults): EachBatchHandler {
  return (payload) => {
    if (faults.catalogue.armed && faults.catalogue.fired === 0) {
      faults.catalogue.fired++;
      return Promise.reject(finalError('forced crash of the catalogue reader consumer'));
    }
    return handler(payload);
  };
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Polls `/healthz` every 25 ms until stopped; keeps the status codes as runs (200, 503, 200, …). */
function watchHealth(port: number) {
  const runs: number[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const code = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (res) => res.status,
        () => 0,
      );
      if (runs[runs.length - 1] !== code) runs.push(code);
      await sleep(25);
    }
  })();
  return {
    runs,
    last: () => runs[runs.length - 1],
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

async function replacements(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  const { values } = await metrics.consumerReplacements.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.consumer), v.value]));
}

test('crashes kafkajs does not restart from: both consumers replaced, healthz green again, every outcome once', async () => {
  const w = await startWorld(workflowBundle, 'ingest-heal', 4);
  world = w;
  const lane = 'phone-a';
  const rolloutA = uniqueName('r-heal-a');
  const rolloutB = uniqueName('r-heal-b');
  const a = await startLane(w, rolloutA, lane);
  const eventsA = workload(rolloutA, lane, a.offerId, cohortDevices(rolloutA, a.cohortBound, 3000), 11);
  const faults: Faults = {
    ingest: { rolloutId: rolloutA, crashAfter: Infinity, seen: 0, fired: 0, crashes: [] },
    catalogue: { armed: false, fired: 0, crashes: [], rejoined: false },
    whileReaderDown: { rolloutId: rolloutB, batches: 0 },
  };
  // A short wait for the catalogue: without the member waiting for a reader that is down, lane B's reports below
  // would be dead-lettered as unknown.
  const settings = loadIngestSettings({ ...w.env, INGEST_UNKNOWN_WAIT_MS: '200' });
  const metrics = createMetrics();
  const service = new IngestService({
    kafka: withFaults(w.kafka, settings.groupId, faults),
    topics: w.config.topics,
    settings,
    deviceKeys: deviceKeysOf(w.config.deviceKeys),
    signaler: createSignaler(w.client),
    metrics,
    log: createLogger('ingest-self-healing-test', process.env.INGEST_TEST_LOG_LEVEL ?? 'silent'),
  });
  const { server, port } = await serveMetrics(metrics, 0, () => service.healthy());
  const health = watchHealth(port);
  try {
    await service.start();
    await until('/healthz green after start', () => health.last() === 200);
    // A third of lane A's reports first: the member is live (every partition prepared) before anything crashes.
    const third = Math.floor(eventsA.length / 3);
    await produce(w, eventsA.slice(0, third), { chunk: 400, pauseMs: 100 });
    await until('the member to be live', () => service.isLive());

    // 1. The catalogue reader's consumer crashes on the batch that brings lane B's exposure, before reading it.
    faults.catalogue.armed = true;
    const b = await startLane(w, rolloutB, lane);
    await until('a crash of the catalogue reader that kafkajs does not restart', () =>
      faults.catalogue.crashes.includes(false),
    );
    // Lane B's reports go out while the reader is down: the member must wait for its replacement, not dead-letter.
    const eventsB = workload(rolloutB, lane, b.offerId, cohortDevices(rolloutB, b.cohortBound, 1000), 12);
    await produce(w, eventsB, { chunk: 500 });
    await until('the catalogue reader to be replaced', () => faults.catalogue.rejoined);
    await until('/healthz green after the catalogue reader was replaced', () => health.last() === 200);

    // 2. The group consumer crashes mid-stream, right after the member handled a batch (counted, not committed).
    faults.ingest.crashAfter = 2 * third;
    await produce(w, eventsA.slice(third), { chunk: 400, pauseMs: 100 });

    const expectedA = groundTruth(eventsA);
    const expectedB = groundTruth(eventsB);
    const [totalsA, totalsB] = await Promise.all([
      waitForTotals(w, rolloutA, lane, a.offerId, expectedA, 90_000),
      waitForTotals(w, rolloutB, lane, b.offerId, expectedB, 90_000),
    ]);
    expect(totalsA).toEqual({ ...expectedA, timedOut: 0 });
    expect(totalsB).toEqual({ ...expectedB, timedOut: 0 });
    // Nothing arrives twice later (a replay past the marks or a redelivered signal would show here).
    await sleep(2000);
    expect(await laneTotals(w, rolloutA, lane, a.offerId)).toEqual(totalsA);
    expect(await laneTotals(w, rolloutB, lane, b.offerId)).toEqual(totalsB);

    // The crashes happened as forced, each was final for kafkajs, and each consumer was replaced once.
    expect(faults.ingest.fired).toBe(1);
    expect(faults.ingest.crashes).toContain(false);
    expect(faults.whileReaderDown.batches).toBeGreaterThan(0);
    expect(await replacements(metrics)).toEqual({ ingest: 1, catalogue: 1 });
    expect((await metrics.deadLetters.get()).values.reduce((n, v) => n + v.value, 0)).toBe(0);

    // Red while a consumer was down (twice: catalogue reader, then group consumer), green now.
    await until('/healthz green at the end', () => health.last() === 200);
    const afterStart = health.runs.slice(health.runs.indexOf(200));
    expect(afterStart.filter((code) => code === 503).length).toBeGreaterThanOrEqual(2);
    expect(afterStart.filter((code) => code !== 200 && code !== 503)).toEqual([]);
    expect(service.healthy()).toBe(true);
  } finally {
    await health.stop();
    await service.stop();
    server.close();
  }
});
