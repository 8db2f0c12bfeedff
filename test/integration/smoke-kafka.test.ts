// Smoke test: the Kafka broker is real. A produce/consume round trip in a consumer group on a fresh topic, and the
// admin calls the engine uses (create with settings, metadata, configs, group and topic offsets, delete).
import type { Admin, Consumer, Producer } from 'kafkajs';
import { topicSpecs } from '../../kafka/topics';
import { testKafka } from '../support/endpoints';
import { createTopicsAndWait } from '../support/kafka-admin';
import { uniqueName } from '../support/unique-name';

const TIMEOUT = 60_000;

/** Consumes from `topic` in `groupId` until `count` messages arrived; returns them and the stopped consumer. */
async function consumeN(consumer: Consumer, topic: string, count: number) {
  const seen: { partition: number; offset: string; key: string; value: string }[] = [];
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length}/${count} messages in 30 s`)), 30_000);
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          seen.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? '',
            value: message.value?.toString() ?? '',
          });
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      })
      .catch(reject);
  });
  return seen;
}

describe('Kafka smoke', () => {
  const kafka = testKafka(uniqueName('smoke-kafka'));
  let admin: Admin;
  const topics: string[] = [];
  const clients: (Producer | Consumer)[] = [];

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.disconnect()));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  }, TIMEOUT);

  it(
    'creates a topic with settings and reads its metadata and config back',
    async () => {
      const topic = uniqueName('smoke-log');
      topics.push(topic);
      const created = await createTopicsAndWait(admin, [
        { topic, numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '-1' }] },
      ]);
      expect(created).toBe(true);

      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics).toHaveLength(1);
      expect(meta.topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
      expect(meta.topics[0]!.partitions.every((p) => p.leader >= 0)).toBe(true);

      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['retention.ms'] }],
      });
      expect(configs.resources[0]!.configEntries).toEqual([
        expect.objectContaining({ configName: 'retention.ms', configValue: '-1' }),
      ]);
    },
    TIMEOUT,
  );

  it(
    "creates the engine's topics from their specs, the event log kept forever",
    async () => {
      const names = {
        rolloutEvents: uniqueName('smoke-rollout-events'),
        commands: uniqueName('smoke-commands'),
        installEvents: uniqueName('smoke-install-events'),
        installEventsDlq: uniqueName('smoke-install-events.dlq'),
        partitions: 2,
      };
      const specs = topicSpecs(names);
      topics.push(...specs.map((s) => s.topic));
      expect(await createTopicsAndWait(admin, specs)).toBe(true);
      // A second creation of existing topics reports "nothing created" instead of failing.
      expect(await admin.createTopics({ topics: specs })).toBe(false);
      const listed = new Set(await admin.listTopics());
      expect(specs.every((s) => listed.has(s.topic))).toBe(true);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: names.rolloutEvents, configNames: ['retention.ms'] }],
      });
      expect(configs.resources[0]!.configEntries[0]!.configValue).toBe('-1');
    },
    TIMEOUT,
  );

  it(
    'round-trips messages through a consumer group, commits offsets, and resumes from them',
    async () => {
      const topic = uniqueName('smoke-roundtrip');
      const groupId = uniqueName('smoke-group');
      topics.push(topic);
      await createTopicsAndWait(admin, [{ topic, numPartitions: 3 }]);

      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      clients.push(producer);
      await producer.connect();
      const sent = Array.from({ length: 30 }, (_, i) => ({ key: `device-${i % 7}`, value: `outcome-${i}` }));
      await producer.send({ topic, acks: -1, messages: sent });

      const first = kafka.consumer({ groupId });
      clients.push(first);
      await first.connect();
      const received = await consumeN(first, topic, sent.length);
      await first.disconnect(); // commits what was consumed

      expect(received.map((m) => m.value).sort()).toEqual(sent.map((m) => m.value).sort());
      // Same key, same partition, in order.
      for (const key of new Set(sent.map((m) => m.key))) {
        const forKey = received.filter((m) => m.key === key);
        expect(new Set(forKey.map((m) => m.partition)).size).toBe(1);
        expect(forKey.map((m) => m.value)).toEqual(sent.filter((m) => m.key === key).map((m) => m.value));
      }

      const topicOffsets = await admin.fetchTopicOffsets(topic);
      const high = topicOffsets.reduce((sum, p) => sum + Number(p.high), 0);
      expect(high).toBe(sent.length);
      const [groupOffsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = groupOffsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      expect(committed).toBe(sent.length);

      // A new member of the same group starts at the committed offsets: it sees only what came after.
      await producer.send({ topic, acks: -1, messages: [{ key: 'device-late', value: 'outcome-late' }] });
      const second = kafka.consumer({ groupId });
      clients.push(second);
      await second.connect();
      const resumed = await consumeN(second, topic, 1);
      await second.disconnect();
      expect(resumed.map((m) => m.value)).toEqual(['outcome-late']);

      const groups = await admin.describeGroups([groupId]);
      expect(groups.groups[0]!.state).toBe('Empty');
      await admin.deleteGroups([groupId]);
    },
    TIMEOUT,
  );

  it(
    'deletes topics',
    async () => {
      const topic = uniqueName('smoke-delete');
      await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
      expect(await admin.listTopics()).toContain(topic);
      await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
      // deleteTopics resolves when the controller accepted the deletion; the broker's metadata follows shortly.
      const deadline = Date.now() + 10_000;
      while ((await admin.listTopics()).includes(topic) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await admin.listTopics()).not.toContain(topic);
    },
    TIMEOUT,
  );
});
