// The engine as an SRE runs it, for end-to-end tests: the `rollout` worker, ingest and fleet simulator as real child
// processes (bin/rollout.js, compiled dist/) on this test's own fresh topics, task queue and consumer groups, against
// the servers of `endpoints.ts`. `stop()` ends the processes (SIGTERM, then SIGKILL after 10 s), closes the Temporal
// client and deletes the topics.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../../config/env';
import { waitForConsumerGroups } from '../../kafka/consumer-groups';
import { readTopicSlice } from '../../kafka/read-slice';
import { ensureTopics, topicSpecs } from '../../kafka/topics';
import { testKafka, testTemporalClient } from './endpoints';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rollout.js');

/** A running engine on fresh topics. */
export interface EngineFleet {
  config: Config;
  kafka: Kafka;
  client: Client;
  /** The environment that points a `rollout` command at this fleet's topics and task queue. */
  env: NodeJS.ProcessEnv;
  /** Runs `rollout <args>` to its end (the CLI as an SRE runs it). */
  cli(args: string[], timeoutMs?: number): SpawnSyncReturns<string>;
  stop(): Promise<void>;
}

/** The environment of a `rollout` process on `config`'s topics and task queue. */
export function engineEnvOf(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: config.topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: config.topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: config.topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: config.topics.installEventsDlq,
    BSI_TOPIC_PARTITIONS: String(config.topics.partitions),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/**
 * Creates fresh topics named after `base`, starts a worker, an ingest member and the simulator on `scenarioPath`, and
 * waits until the ingest and the simulator have joined their consumer groups (the simulator must be reading orders,
 * and the ingest install events, before a rollout starts: an ingest that joins late delivers its backlog as one delta).
 */
export async function startEngineFleet(base: string, scenarioPath: string): Promise<EngineFleet> {
  const config = loadConfig({
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: `${base}.rollout-events`,
    BSI_TOPIC_COMMANDS: `${base}.commands`,
    BSI_TOPIC_INSTALL_EVENTS: `${base}.install-events`,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: `${base}.install-events.dlq`,
    BSI_TOPIC_PARTITIONS: '3',
    TEMPORAL_TASK_QUEUE: `${base}-tq`,
  });
  const kafka = testKafka(`${base}-test`);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicSpecs(config.topics));
  await admin.disconnect();
  const client = await testTemporalClient();
  const children: ChildProcess[] = [];
  const start = (args: string[], extra: Record<string, string>) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: engineEnvOf(config, extra),
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
  };
  start(['worker'], {});
  start(['ingest'], { INGEST_GROUP_ID: `${base}-ingest`, INGEST_METRICS_PORT: '0' });
  start(['simulate', scenarioPath, '--group', `${base}-sim`], {});
  await waitForConsumerGroups(kafka, [`${base}-ingest`, `${base}-sim`]);
  const env = engineEnvOf(config);
  return {
    config,
    kafka,
    client,
    env,
    cli: (args, timeoutMs = 120_000) =>
      spawnSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: 'utf8', timeout: timeoutMs }),
    async stop() {
      await stopChildren(children);
      await client.connection.close();
      const cleanup = kafka.admin();
      await cleanup
        .connect()
        .then(() => cleanup.deleteTopics({ topics: topicSpecs(config.topics).map((s) => s.topic) }))
        .catch(() => undefined)
        .finally(() => cleanup.disconnect());
    },
  };
}

/** Ends child processes: SIGTERM, then SIGKILL for any still running after 10 s; resolves once all have gone. */
export async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null) resolve(undefined);
          else child.once('exit', resolve);
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve(undefined);
          }, 10_000).unref();
        }),
    ),
  );
}

/** Every JSON record value of a topic, parsed (records that are not JSON objects are skipped). */
export async function readJsonRecords(kafka: Kafka, topic: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  await readTopicSlice(kafka, topic, (_p, _o, _t, _k, value) => {
    if (value === null) return;
    try {
      const parsed: unknown = JSON.parse(value.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) out.push(parsed as Record<string, unknown>);
    } catch {
      // a dead letter may hold bytes that are not JSON: not one of ours
    }
  });
  return out;
}
