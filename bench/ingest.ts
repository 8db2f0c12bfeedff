/**
 * Ingest benchmark (`npm run bench:ingest`): produces ≥ 1,000,000 realistic install events for 1,000,000
 * devices to a fresh topic, then measures (a) a bare kafkajs consumer that only `JSON.parse`s each record, with
 * its bookkeeping (resolveOffset, heartbeat) once per batch: the leanest loop, the `ratio` baseline (measured
 * before and after (b), to cancel the drift of a shared machine); and once more
 * with the house style's per-record bookkeeping, for reference (`ratioHouseStyle`); and (b) the full ingest
 * (validation, dedupe, device state, deltas, signals to a real LaneWorkflow on the real worker). Prints JSON
 * lines; the last one is the summary `{"bench":"ingest","events","rawEventsPerSec","ingestEventsPerSec","ratio",
 * "bytesPerDevice","rssMb","ratioCpu","rawHouseStyleEventsPerSec","ratioHouseStyle"}`; `ratioCpu` is the ratio by
 * CPU time of this process (all its threads, the in-process worker's included) instead of wall time.
 * Needs the local servers (`npx tsx scripts/servers.ts up`). `--devices N` sets the device count, `--seed N` the
 * draws that decide what each device reports (simulator/prng.ts).
 */
import crypto from 'node:crypto';
import { loadConfig, type Config } from '../config/env';
import { laneConfigOf, validatePlan } from '../events/plan';
import { deviceKeysOf } from '../ingest/device-key-secret';
import { createMetrics } from '../ingest/metrics';
import { IngestService } from '../ingest/service';
import { loadIngestSettings } from '../ingest/settings';
import { createSignaler } from '../ingest/signaler';
import { createKafka } from '../kafka/client';
import { mulberry32 } from '../simulator/prng';
import { benchArgs } from './args';
import { leanRead, perCpuSecond, type Bookkeeping } from './lean-consumer';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger } from '../observability/log';
import { connectClient } from '../temporal/connection';
import { createWorker } from '../worker/create-worker';
import { laneStateQuery, laneWorkflowId, type LaneWorkflowInput } from '../workflows/messages';

const args = benchArgs('npm run bench:ingest --', {
  devices: { type: 'number', integer: true, min: 1, default: 1_000_000, help: 'devices, one or more reports each' },
  seed: { type: 'number', integer: true, default: 20261127, help: "seed of the devices' draws" },
});
const DEVICES = args.devices;
const PARTITIONS = 6;
const LANE = 'phone-a';

function line(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

function fresh(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
}

/** One lean pass (`bench/lean-consumer.ts`) over the install events, as a JSON line; returns events/s. */
async function rawPass(
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  events: number,
  bookkeeping: Bookkeeping,
): Promise<{ eventsPerSec: number; cpuEventsPerSec: number }> {
  const lean = await leanRead(kafka, [{ topic, events }], bookkeeping);
  const eventsPerSec = Math.round(events / lean.seconds);
  const cpuEventsPerSec = perCpuSecond(events, lean.cpu);
  line({
    bench: 'ingest',
    phase: 'raw',
    bookkeeping,
    events: lean.events,
    seconds: lean.seconds,
    eventsPerSec,
    cpuEventsPerSec,
    checksum: lean.checksum,
  });
  return { eventsPerSec, cpuEventsPerSec };
}

async function main(): Promise<void> {
  const base = loadConfig(process.env);
  const config: Config = {
    ...base,
    topics: {
      rolloutEvents: fresh('bench-events'),
      commands: fresh('bench-commands'),
      installEvents: fresh('bench-installs'),
      installEventsDlq: fresh('bench-dlq'),
      partitions: PARTITIONS,
    },
    temporal: { ...base.temporal, taskQueue: fresh('bench-tq') },
  };
  const kafka = createKafka(config.kafka, { clientId: 'bench-ingest', logLevel: 'error' });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicSpecs(config.topics));

  // The real worker and one lane exposing the whole class (one phase of 100%), judged so it never halts.
  const worker = await createWorker(config, { ensureTopics: false, logger: createLogger('bench-worker', 'warn') });
  const running = worker.run();
  const client = await connectClient(config.temporal);
  const rolloutId = fresh('r-bench');
  const plan = validatePlan({
    releaseId: 'rel-bench',
    artifact: { build: '26.3.1' },
    deviceClasses: [LANE],
    phases: [{ share: 100, bake: '1h' }],
    thresholds: { maxFailureRate: 0.5, minSample: 100_000_000, installTimeoutSec: 86_400, rule: 'plain' },
    breachPolicy: { action: 'pause' },
  });
  if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
  const input: LaneWorkflowInput = {
    rolloutId,
    lane: LANE,
    config: laneConfigOf(plan.plan, LANE),
    reportTo: null,
    reportHealth: false,
  };
  const lane = await client.workflow.start('laneWorkflow', {
    taskQueue: config.temporal.taskQueue,
    workflowId: laneWorkflowId(rolloutId, LANE),
    args: [input],
  });
  let offerId: string | null = null;
  while (offerId === null) {
    offerId = (await lane.query(laneStateQuery)).offerId;
    if (offerId === null) await new Promise((r) => setTimeout(r, 100));
  }

  // Produce: every device reports its outcome; 15% also report install-started first, 2% fail, 1% repeat.
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const at = new Date().toISOString();
  let events = 0;
  const started = Date.now();
  const BATCH = 5000;
  let batch: { key: string; value: string }[] = [];
  const inflight: Promise<unknown>[] = [];
  const push = (deviceId: string, type: string, n: number, errorCode?: string) => {
    const value = JSON.stringify({
      eventId: `${deviceId}/${n}`,
      deviceId,
      deviceClass: LANE,
      rolloutId,
      releaseId: 'rel-bench',
      offerId,
      attempt: 1,
      type,
      ...(errorCode !== undefined && { errorCode }),
      osVersion: '26.3.0',
      at,
      schemaVersion: 1,
    });
    batch.push({ key: deviceId, value });
    events++;
  };
  const random = mulberry32(args.seed);
  for (let d = 0; d < DEVICES; d++) {
    const deviceId = `device-${d.toString(36).padStart(6, '0')}`;
    const r = random();
    if (r < 0.15) push(deviceId, 'install-started', 0);
    if (r > 0.98) push(deviceId, 'failed', 1, 'E_DISK_FULL');
    else push(deviceId, 'succeeded', 1);
    if (r > 0.5 && r < 0.51) push(deviceId, 'succeeded', 1);
    if (batch.length >= BATCH) {
      inflight.push(producer.send({ topic: config.topics.installEvents, acks: 1, messages: batch }));
      batch = [];
      if (inflight.length >= 8) await Promise.all(inflight.splice(0));
    }
  }
  if (batch.length > 0) inflight.push(producer.send({ topic: config.topics.installEvents, acks: 1, messages: batch }));
  await Promise.all(inflight);
  await producer.disconnect();
  const produceSec = (Date.now() - started) / 1000;
  line({
    bench: 'ingest',
    phase: 'produce',
    events,
    devices: DEVICES,
    seconds: produceSec,
    eventsPerSec: Math.round(events / produceSec),
  });

  // (a) Bare kafkajs consumers that only JSON.parse each record: the leanest loop (bookkeeping once per batch:
  // the `ratio` baseline; run again after the ingest, see below), and the house style's loop (resolveOffset and
  // heartbeat per record, for reference).
  const rawBefore = await rawPass(kafka, config.topics.installEvents, events, 'per-batch');
  const rawHouseStyle = await rawPass(kafka, config.topics.installEvents, events, 'per-record');

  // (b) The full ingest pipeline, signalling the real lane.
  const settings = loadIngestSettings({
    INGEST_GROUP_ID: fresh('bench-ingest'),
    INGEST_MAX_WAIT_MS: '50',
    INGEST_HANDOVER_SETTLE_MS: '0',
  });
  const metrics = createMetrics();
  const service = new IngestService({
    kafka,
    topics: config.topics,
    settings,
    deviceKeys: deviceKeysOf(config.deviceKeys),
    signaler: createSignaler(client),
    metrics,
    log: createLogger('bench-ingest', 'warn'),
  });
  const heapBefore = process.memoryUsage().heapUsed;
  await service.start();
  let ingestFirst = 0;
  let ingestCpuFirst = process.cpuUsage();
  while (ingestFirst === 0) {
    if (service.core.table.size > 0) {
      ingestFirst = Date.now();
      ingestCpuFirst = process.cpuUsage();
    } else await new Promise((r) => setTimeout(r, 5));
  }
  while (!service.isLive()) await new Promise((r) => setTimeout(r, 5));
  const ingestLast = Date.now();
  const ingestCpuEventsPerSec = perCpuSecond(events, process.cpuUsage(ingestCpuFirst));
  const ingestSec = (ingestLast - ingestFirst) / 1000;
  const ingestEventsPerSec = Math.round(events / ingestSec);
  const table = service.core.table;
  const bytesPerDevice = Math.round((table.byteLength / table.size) * 10) / 10;
  const rssMb = Math.round(process.memoryUsage().rss / (1024 * 1024));
  const heapDeltaMb = Math.round((process.memoryUsage().heapUsed - heapBefore) / (1024 * 1024));
  // Wait until the lane counted every device (signals delivered), then report.
  let counted = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const totals = (await lane.query(laneStateQuery)).windows[offerId]?.totals;
    counted = (totals?.succeeded ?? 0) + Object.values(totals?.failedByCode ?? {}).reduce((s, n) => s + n, 0);
    if (counted >= DEVICES) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const signalledSec = (Date.now() - ingestFirst) / 1000;
  line({
    bench: 'ingest',
    phase: 'ingest',
    events,
    seconds: ingestSec,
    eventsPerSec: ingestEventsPerSec,
    cpuEventsPerSec: ingestCpuEventsPerSec,
    trackedDevices: table.size,
    tableBytes: table.byteLength,
    heapDeltaMb,
    laneCountedDevices: counted,
    secondsUntilLaneCountedAll: signalledSec,
  });
  await service.stop();
  // The baseline once more, after the ingest: on a shared VM the CPU it gets drifts over a run, and a baseline
  // on both sides of the measured pass (their harmonic mean: total events over total time) cancels the drift.
  const rawAfter = await rawPass(kafka, config.topics.installEvents, events, 'per-batch');
  const raw = {
    eventsPerSec: Math.round(2 / (1 / rawBefore.eventsPerSec + 1 / rawAfter.eventsPerSec)),
    cpuEventsPerSec: Math.round(2 / (1 / rawBefore.cpuEventsPerSec + 1 / rawAfter.cpuEventsPerSec)),
  };
  await lane.terminate('bench done');
  await worker.shutdown();
  await running.catch(() => undefined);
  await client.connection.close();
  await admin
    .deleteTopics({
      topics: [
        config.topics.installEvents,
        config.topics.installEventsDlq,
        config.topics.rolloutEvents,
        config.topics.commands,
      ],
    })
    .catch(() => undefined);
  await admin.disconnect();
  const round3 = (x: number) => Math.round(x * 1000) / 1000;
  line({
    bench: 'ingest',
    events,
    rawEventsPerSec: raw.eventsPerSec,
    ingestEventsPerSec,
    ratio: round3(ingestEventsPerSec / raw.eventsPerSec),
    bytesPerDevice,
    rssMb,
    // The same ratio by CPU time instead of wall time, which CPU stolen from this VM moves less.
    ratioCpu: round3(ingestCpuEventsPerSec / raw.cpuEventsPerSec),
    rawHouseStyleEventsPerSec: rawHouseStyle.eventsPerSec,
    ratioHouseStyle: round3(ingestEventsPerSec / rawHouseStyle.eventsPerSec),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
