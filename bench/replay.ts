/**
 * Replay benchmark: how fast `rollout replay` folds a large recorded rollout, against how fast the same
 * topics can merely be consumed.
 *
 * 1. A synthetic but realistic rollout (the demo plan and scenario, classes scaled up so the log holds
 *    ≥ 1,000,000 domain and install events): the engine's deciders drive the fleet model on a simulated
 *    clock, an ingest stand-in sends health deltas (see replay/synthetic-rollout.ts).
 * 2. Its domain events go to a fresh event-log topic (key rolloutId) and its install reports to a fresh
 *    install-events topic (key deviceId, the partition the simulated run assigned), on the real broker.
 * 3. Raw read: consume both topics to their end doing nothing with the records.
 * 4. Replay: read the log (upcast, dedupe), read the install events of the rollout's time slice and
 *    rebuild counts and device facts, and build the whole postmortem (fold, timelines, re-decision of every
 *    lane, blast radius, exposure windows, chart data).
 *
 * Usage: npm run bench:replay [-- --devices N]. Needs the servers (`make servers-up`). Prints JSON lines;
 * the last is `{"bench":"replay","events":…,"eventsPerSec":…,"rawReadEventsPerSec":…,"ratio":…}`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config/env';
import { parsePlan } from '../events/plan';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { deviceKeysOf } from '../ingest/device-key-secret';
import { readInstallFacts } from '../replay/install-log';
import { readRolloutLog } from '../replay/read-log';
import { buildReport } from '../replay/report';
import { scanTopic } from '../replay/scan-topic';
import { syntheticRollout } from '../replay/synthetic-rollout';
import { parseScenario } from '../simulator/scenario';

const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

function argOf(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw === undefined ? fallback : Number(raw);
}

async function main(): Promise<void> {
  const devices = argOf('devices', 90_000);
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

  let t = performance.now();
  // The synthetic run starts now, so the broker's time index (append time = now) bounds the slice as live.
  const startMs = Date.now() - 3_600_000;
  const deviceKeys = deviceKeysOf(config.deviceKeys);
  const run = syntheticRollout({
    rolloutId,
    deviceKeys,
    plan: plan.plan,
    scenario: scenario.scenario,
    startMs,
    partitions: config.topics.partitions,
  });
  const events = run.events.length + run.installs.length;
  line({
    step: 'synthesize',
    domainEvents: run.events.length,
    installEvents: run.installs.length,
    seconds: (performance.now() - t) / 1000,
  });

  const admin = kafka.admin();
  await admin.connect();
  const specs = topicSpecs(config.topics);
  await ensureTopics(admin, specs);
  try {
    t = performance.now();
    const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
    await producer.connect();
    // Batches stay under the topics' 1 MiB max.message.bytes.
    const batch = 2_000;
    for (let i = 0; i < run.events.length; i += 200) {
      await producer.send({
        topic: config.topics.rolloutEvents,
        acks: 1,
        messages: run.events
          .slice(i, i + 200)
          .map((e) => ({ key: rolloutId, value: JSON.stringify(e), timestamp: String(Date.parse(e.at)) })),
      });
    }
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < run.installs.length; i += batch) {
      sends.push(
        producer.send({
          topic: config.topics.installEvents,
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
    line({ step: 'produce', events, seconds: (performance.now() - t) / 1000 });

    // Raw read: both topics to their end, doing nothing.
    t = performance.now();
    let raw = 0;
    raw += (await scanTopic(kafka, config.topics.rolloutEvents, () => undefined, { label: 'raw-log' })).records;
    raw += (await scanTopic(kafka, config.topics.installEvents, () => undefined, { label: 'raw-install' })).records;
    const rawSec = (performance.now() - t) / 1000;
    line({ step: 'raw-read', records: raw, seconds: rawSec, eventsPerSec: Math.round(raw / rawSec) });

    // Replay: the log, the install events of its time slice, the whole postmortem.
    t = performance.now();
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
      identical: report.classes.every((c) => c.fidelity.identical),
      seconds: replaySec,
    });
    const eventsPerSec = Math.round(replayed / replaySec);
    const rawReadEventsPerSec = Math.round(raw / rawSec);
    line({
      bench: 'replay',
      events: replayed,
      eventsPerSec,
      rawReadEventsPerSec,
      ratio: Number((eventsPerSec / rawReadEventsPerSec).toFixed(3)),
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
