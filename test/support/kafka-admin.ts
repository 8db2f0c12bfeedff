// Topic creation that is reliable on a KRaft broker with auto.create.topics.enable=false.
//
// kafkajs's `createTopics({ waitForLeaders: true })` polls metadata but retries only LEADER_NOT_AVAILABLE. A KRaft
// broker (Kafka 3.9 and 4.x alike) answers UNKNOWN_TOPIC_OR_PARTITION until it has applied the controller's record
// of the new topic, so that call fails spuriously — on this machine 29 of 30 four-topic creations failed. Here the
// creation does not wait, and the wait retries both errors.
import type { Admin, ITopicConfig } from 'kafkajs';

const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Waits until every named topic is in the broker's metadata with a leader for each partition. Retries the errors a
 * broker gives while a new topic propagates; throws any other error, or after `timeoutMs`.
 */
export async function waitForTopics(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      const ready = meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready && meta.topics.length === topics.length) return;
    } catch (err) {
      if (!NOT_YET.has((err as { type?: string }).type ?? '')) throw err;
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
