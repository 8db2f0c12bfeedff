// A consumer crash kafkajs does not restart from, on the real broker: the bare kafkajs consumer stays down
// (the premise: if a kafkajs upgrade changes that, this test says so), and ResilientConsumer replaces it and
// consumes everything.
import type { Consumer, Producer } from 'kafkajs';
import { ResilientConsumer } from '../../kafka/resilient-consumer';
import { createLogger } from '../../observability/log';
import { testKafka } from '../support/endpoints';
import { createTopicsAndWait } from '../support/kafka-admin';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(90_000);

const kafka = testKafka(uniqueName('resilient-consumer'));
const log = createLogger('resilient-consumer-test', 'silent');
let producer: Producer;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  await producer.disconnect();
});

/** A fresh one-partition topic holding `n` records valued 0..n-1. */
async function topicWith(n: number): Promise<string> {
  const topic = uniqueName('resilient');
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTopicsAndWait(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  } finally {
    await admin.disconnect();
  }
  await producer.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ value: String(i) })) });
  return topic;
}

/** An error kafkajs classes as final: its retrier bails and `onCrash` does not restart. */
function poison(): Error {
  return Object.assign(new Error('poison batch'), { retriable: false });
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('kafkajs does not restart a consumer after a non-retriable crash (the premise)', async () => {
  const topic = await topicWith(10);
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('bare'), maxWaitTimeInMs: 100 });
  closers.push(() => consumer.disconnect());
  const crashes: boolean[] = [];
  consumer.on(consumer.events.CRASH, ({ payload }) => crashes.push(payload.restart));
  let batches = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachBatch: () => {
      batches++;
      return Promise.reject(poison());
    },
  });
  // A fresh broker may first answer "coordinator loading": kafkajs restarts after that one (restart: true).
  await until('a crash kafkajs does not restart from', () => crashes.includes(false));
  expect(crashes[crashes.length - 1]).toBe(false);
  // Down for good: no batch is handed out any more.
  const seen = batches;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(batches).toBe(seen);
});

test('ResilientConsumer replaces a consumer that crashed for good and reads every record', async () => {
  const topic = await topicWith(200);
  const groupId = uniqueName('resilient');
  const seen = new Set<string>();
  let poisoned = false;
  const rebuilt: string[] = [];
  // `up` as the wrapper reports it when it begins a replacement (the crashed one is down) and once it runs.
  const upWhen: { rebuilding: boolean[]; rebuilt: boolean[] } = { rebuilding: [], rebuilt: [] };
  const rc = new ResilientConsumer({
    name: 'test',
    log,
    initialBackoffMs: 100,
    create: () => kafka.consumer({ groupId, maxWaitTimeInMs: 100 }),
    begin: async (consumer) => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachMessage: ({ message }) => {
          const value = message.value?.toString() ?? '';
          if (value === '50' && !poisoned) {
            poisoned = true;
            return Promise.reject(poison());
          }
          seen.add(value);
          return Promise.resolve();
        },
      });
    },
    onRebuild: (err) => {
      rebuilt.push(String(err));
      upWhen.rebuilding.push(rc.up);
    },
    onRebuilt: () => upWhen.rebuilt.push(rc.up),
  });
  closers.push(() => rc.stop());
  await rc.start();
  const first = rc.current;
  await until('every record', () => seen.size === 200);
  expect(poisoned).toBe(true);
  expect(rc.rebuilds).toBe(1);
  expect(rebuilt).toHaveLength(1);
  expect(rebuilt[0]).toContain('poison batch');
  expect(rc.current).not.toBe(first);
  // Records after the poison were consumed by the replacement, not by the crashed consumer.
  await producer.send({ topic, messages: [{ value: 'after' }] });
  await until('a record appended after the replacement', () => seen.has('after'));
  expect(upWhen).toEqual({ rebuilding: [false], rebuilt: [true] });
  expect(rc.up).toBe(true);
  await rc.stop();
  expect(rc.up).toBe(false);
});
