/**
 * The engine's Kafka topics and their settings, and idempotent provisioning. The rollout event log is
 * the source of truth for replay, so it is kept forever; commands and install events are operational
 * streams with finite retention; dead letters are kept long enough for a postmortem.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type { Topics } from '../config/env';

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

/**
 * Creates the topics that do not exist yet and waits until their leaders are elected; topics that
 * already exist are left as they are. Safe to call from every process at start-up.
 */
export async function ensureTopics(admin: Admin, specs: ITopicConfig[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    // Another process may have created them between listTopics and createTopics; that is success.
    const after = new Set(await admin.listTopics());
    if (!missing.every((s) => after.has(s.topic))) throw err;
  }
}
