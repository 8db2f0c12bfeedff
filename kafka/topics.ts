/**
 * The engine's Kafka topics and their settings, and idempotent provisioning. The rollout event log is
 * the source of truth for replay, so it is kept forever; commands and install events are operational
 * streams with finite retention; dead letters are kept long enough for a postmortem.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type { Topics } from '../config/env';
import { kafkaErrorType } from './client';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Topic specs for the engine's four topics, named by config (tests pass fresh names). */
export function topicSpecs(topics: Topics): ITopicConfig[] {
  const spec = (topic: string, retentionMs: number): ITopicConfig => ({
    topic,
    numPartitions: topics.partitions,
    configEntries: [
      { name: 'retention.ms', value: String(retentionMs) },
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'max.message.bytes', value: String(1024 * 1024) },
    ],
  });
  return [
    spec(topics.rolloutEvents, -1),
    spec(topics.commands, 7 * DAY_MS),
    spec(topics.installEvents, 7 * DAY_MS),
    spec(topics.installEventsDlq, 30 * DAY_MS),
  ];
}

const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']);

/**
 * Waits until every named topic is in the broker's metadata with a leader for each partition. kafkajs's own
 * `createTopics({ waitForLeaders: true })` retries only LEADER_NOT_AVAILABLE, but a KRaft broker (Kafka 3.9 and
 * 4.x) answers UNKNOWN_TOPIC_OR_PARTITION until it has applied the controller's record of a new topic, so that
 * wait fails spuriously (29 of 30 four-topic creations here). Metadata naming a leader is not enough either: a
 * freshly started broker can still answer NOT_LEADER_FOR_PARTITION to ListOffsets for a moment (the ingest died of
 * it once at demo start-up), so the wait ends only when every topic's offsets can be listed. Those three errors
 * are retried; any other is thrown.
 */
export async function waitForTopics(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      const ready = meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready && meta.topics.length === topics.length) {
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      }
    } catch (err) {
      if (!NOT_YET.has(kafkaErrorType(err) ?? '')) throw err;
    }
    if (Date.now() > deadline) throw new Error(`topics not ready after ${timeoutMs} ms: ${topics.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Creates the topics and waits until each has leaders (see {@link waitForTopics}); returns kafkajs's created flag. */
export async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[], timeoutMs = 30_000): Promise<boolean> {
  const created = await admin.createTopics({ topics, waitForLeaders: false });
  await waitForTopics(
    admin,
    topics.map((t) => t.topic),
    timeoutMs,
  );
  return created;
}

/**
 * Creates the topics that do not exist yet and waits until every one of them has leaders; topics that
 * already exist are left as they are. Safe to call from every process at start-up, concurrently.
 */
export async function ensureTopics(admin: Admin, specs: ITopicConfig[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: false });
    } catch (err) {
      // Another process may have created them between listTopics and createTopics; that is success.
      if (kafkaErrorType(err) !== 'TOPIC_ALREADY_EXISTS' && !/already exists/i.test(String(err))) {
        const after = new Set(await admin.listTopics());
        if (!missing.every((s) => after.has(s.topic))) throw err;
      }
    }
  }
  await waitForTopics(
    admin,
    specs.map((s) => s.topic),
  );
}
