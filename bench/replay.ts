/**
 * Replay benchmark: how fast `rollout replay` folds a large recorded rollout, against how fast the leanest kafkajs
 * client reads the same topics (`bench/lean-consumer.ts`, the baseline of `bench:ingest` too).
 *
 * 1. A synthetic but realistic rollout (the demo plan and scenario, classes scaled up so the log holds
 *    ≥ 1,000,000 domain and install events): the engine's deciders drive the fleet model on a simulated
 *    clock, an ingest stand-in sends health deltas (see bench/synthetic-rollout.ts).
 * 2. Its domain events go to a fresh event-log topic (key rolloutId) and its install reports to a fresh
 *    install-events topic (key deviceId, the partition the simulated run assigned), on the real broker. The
 *    synthetic run is dropped before anything is timed, so neither pass pays for its memory.
 * 3. Lean read: both topics at once, one consumer each, `JSON.parse` of every record and nothing else;
 *    before and after the replay (their harmonic mean is the baseline: on a shared machine the CPU a process
 *    gets drifts over a run, and a baseline on both sides cancels the drift).
 * 4. Replay: read the log (upcast, dedupe), read the install events of the rollout's time slice and
 *    rebuild counts and device facts as they arrive, and build the whole postmortem (fold, timelines,
 *    re-decision of every lane, blast radius, exposure windows, chart data).
 *
 * The lean read is timed from its first batch to its last record, as `bench:ingest` times it; the replay from
 * the call to the finished report (admin look-ups, both group joins, the report included). `ratioWall` compares
 * both from the call on (the lean read's connect and join included).
 *
 * Usage: npm run bench:replay [-- --devices N]. Needs the servers (`make servers-up`). Prints JSON lines; the
 * last is `{"bench":"replay","events":…,"eventsPerSec":…,"leanEventsPerSec":…,"ratio":…,…}`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config/env';
import { parsePlan } from '../events/plan';
import { createKafka, type Kafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { deviceKeysOf } from '../ingest/device-key-secret';
import { readInstallFacts } from '../replay/install-log';
import { readRolloutLog } from '../replay/read-log';
import { buildReport } from '../replay/postmortem';
import { benchArgs } from './args';
import { leanRead, perCpuSecond, type LeanReadResult, type LeanTopic } from './lean-consumer';
import { syntheticRollout } from './synthetic-rollout';
import { parseScenario } from '../simulator/scenario';

const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

const args = benchArgs('npm run bench:replay --', {
  devices: {
    type: 'number',
    integer: true,
    min: 1,
    default: 90_000,
    help: 'devices per class of the demo scenario (the default makes the log ≥ 1,000,000 events)',
  },
});

/** The synthetic run, produced to the bench's topics; only its counts outlive this call (see step 2). */
async function synthesizeAndProduce(
  kafka: Kafka,
  topics: { rolloutEvents: string; installEvents: string },
  options: Parameters<typeof syntheticRollout>[0],
): Promise<{ domainEvents: number; installEvents: number }> {
  let t = performance.now();
  const run = syntheticRollout(options);
  const { rolloutId } = options;
  line({
    step: 'synthesize',
    domainEvents: run.events.length,
    installEvents: run.installs.length,
    seconds: (performance.now() - t) / 1000,
  });
  t = performance.now();
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  await producer.connect();
  for (let i = 0; i < run.events.length; i += 200) {
    await producer.send({
      topic: topics.rolloutEvents,
      acks: 1,
      messages: run.events
        .slice(i, i + 200)
        .map((e) => ({ key: rolloutId, value: JSON.stringify(e), timestamp: String(Date.parse(e.at)) })),
    });
  }
  // Batches stay under the topics' 1 MiB max.message.bytes.
  const batch = 2_000;
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < run.installs.length; i += batch) {
    sends.push(
      producer.send({
        topic: topics.installEvents,
        acks: 1,
        messages: run.installs.slice(i, i + batch).map((r) => ({
          key: r.key,
          value: r.value,
          partition: r.partition,
          timestamp: String(r.timestampMs),
        })),
      }),
    );
    if (sends.length >= 8) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await producer.disconnect();
  const counts = { domainEvents: run.events.length, installEvents: run.installs.length };
  line({
    step: 'produce',
    events: counts.domainEvents + counts.installEvents,
    seconds: (performance.now() - t) / 1000,
  });
  return counts;
}

/** One lean pass over both topics, as a JSON line. */
async function leanPass(kafka: Kafka, topics: LeanTopic[], when: 'before' | 'after'): Promise<LeanReadResult> {
  const lean = await leanRead(kafka, topics);
  line({
    step: 'lean-read',
    when,
    events: lean.events,
    seconds: lean.seconds,
    eventsPerSec: Math.round(lean.events / lean.seconds),
    wallSeconds: lean.wallSeconds,
    cpuEventsPerSec: perCpuSecond(lean.events, lean.cpu),
    checksum: lean.checksum,
  });
  return lean;
}

async function main(): Promise<void> {
  const devices = args.devices;
  const root = path.join(__dirname, '..');
  const plan = parsePlan(readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
  const scenario = parseScenario(
    readFileSync(path.join(root, 'examples/scenarios/demo.yaml'), 'utf8').replace(
      /devices: 25000/g,
      `devices: ${devices}`,
    ),
  );
  if (!plan.ok || !scenario.ok) throw new Error('demo plan or scenario invalid');
  const suffix = `${Date.now().toString(36)}-${process.pid}`;
  const rolloutId = `bench-replay-${suffix}`;
  const config = loadConfig({
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: `bench-replay-${suffix}.rollout-events`,
    BSI_TOPIC_COMMANDS: `bench-replay-${suffix}.commands`,
    BSI_TOPIC_INSTALL_EVENTS: `bench-replay-${suffix}.install-events`,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: `bench-replay-${suffix}.install-events.dlq`,
  });
  const kafka = createKafka(config.kafka, { clientId: 'bench-replay', logLevel: 'error' });
  const deviceKeys = deviceKeysOf(config.deviceKeys);

  const admin = kafka.admin();
  await admin.connect();
  const specs = topicSpecs(config.topics);
  await ensureTopics(admin, specs);
  try {
    // The synthetic run starts an hour ago, so the broker's time index (append time = the run's clock) holds it.
    const counts = await synthesizeAndProduce(kafka, config.topics, {
      rolloutId,
      deviceKeys,
      plan: plan.plan,
      scenario: scenario.scenario,
      startMs: Date.now() - 3_600_000,
      partitions: config.topics.partitions,
    });
    const topics: LeanTopic[] = [
      { topic: config.topics.rolloutEvents, events: counts.domainEvents },
      { topic: config.topics.installEvents, events: counts.installEvents },
    ];
    const leanBefore = await leanPass(kafka, topics, 'before');

    // Replay: the log, the install events of its time slice, the whole postmortem.
    const t = performance.now();
    const log = await readRolloutLog(kafka, config.topics.rolloutEvents, rolloutId);
    const install = await readInstallFacts(kafka, config.topics.installEvents, rolloutId, log.events, deviceKeys);
    const report = buildReport({ rolloutId, events: log.events, install });
    const replaySec = (performance.now() - t) / 1000;
    const replayed = log.events.length + install.records;
    line({
      step: 'replay',
      domainEvents: log.events.length,
      installRecords: install.records,
      counted: install.changes.length,
      skipped: install.skipped,
      unreadableLogRecords: log.unreadable.length,
      duplicateLogRecords: log.duplicates,
      identical: report.classes.every((c) => c.fidelity.identical),
      seconds: replaySec,
    });
    const leanAfter = await leanPass(kafka, topics, 'after');

    const events = counts.domainEvents + counts.installEvents;
    const harmonic = (a: number, b: number) => Math.round(2 / (1 / a + 1 / b));
    const leanEventsPerSec = harmonic(events / leanBefore.seconds, events / leanAfter.seconds);
    const leanWallEventsPerSec = harmonic(events / leanBefore.wallSeconds, events / leanAfter.wallSeconds);
    const eventsPerSec = Math.round(replayed / replaySec);
    const round3 = (x: number) => Number(x.toFixed(3));
    line({
      bench: 'replay',
      events: replayed,
      domainEvents: log.events.length,
      installEvents: install.records,
      eventsPerSec,
      leanEventsPerSec,
      ratio: round3(eventsPerSec / leanEventsPerSec),
      leanWallEventsPerSec,
      ratioWall: round3(eventsPerSec / leanWallEventsPerSec),
      notCounted: install.skipped,
      identical: report.classes.every((c) => c.fidelity.identical),
    });
  } finally {
    await admin.deleteTopics({ topics: specs.map((s) => s.topic) }).catch(() => undefined);
    await admin.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
