/**
 * The coalescing send queue (kafka/send-queue.ts) against a producer stand-in that records each request and lets
 * the test decide when the broker answers: one request in flight, what queued meanwhile in the next one, call
 * order kept, the byte limit kept, and one caller's refused records failing that caller alone.
 */
import type { Message } from 'kafkajs';
import { SendQueue, messageBytes, type BatchProducer } from '../../kafka/send-queue';

type Request = { topics: { topic: string; values: string[] }[]; answer: (err?: Error) => void };

/** A producer whose requests wait until the test answers them; `refuse` values fail any request holding them. */
function recordingProducer(refuse: Set<string> = new Set()) {
  const requests: Request[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const producer: BatchProducer = {
    sendBatch: ({ topicMessages }) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const topics = (topicMessages ?? []).map((t) => ({
        topic: t.topic,
        values: t.messages.map((m) => String(m.value)),
      }));
      return new Promise((resolve, reject) => {
        requests.push({
          topics,
          answer: (err) => {
            inFlight--;
            const bad = topics.some((t) => t.values.some((v) => refuse.has(v)));
            if (err ?? bad) reject(err ?? new Error('MESSAGE_TOO_LARGE'));
            else resolve([]);
          },
        });
      });
    },
  };
  return { producer, requests, maxInFlight: () => maxInFlight };
}

const msgs = (...values: string[]): Message[] => values.map((value) => ({ key: 'k', value }));
const tick = () => new Promise((r) => setImmediate(r));

/** Answers every request as it comes until `done` settles. */
async function answerAll(requests: Request[], done: Promise<unknown>): Promise<void> {
  let settled = false;
  void done.finally(() => (settled = true));
  let answered = 0;
  while (!settled) {
    await tick();
    while (answered < requests.length) requests[answered++]!.answer();
  }
}

describe('SendQueue', () => {
  test('one request in flight; the sends queued meanwhile leave together, in call order', async () => {
    const { producer, requests, maxInFlight } = recordingProducer();
    const queue = new SendQueue(producer, { acks: -1, maxBatchBytes: 1 << 20 });
    const first = queue.send('log', msgs('a1'));
    await tick();
    const rest = [queue.send('log', msgs('b1', 'b2')), queue.send('orders', msgs('c1')), queue.send('log', msgs('d1'))];
    await tick();
    expect(requests).toHaveLength(1);
    requests[0]!.answer();
    await first;
    await tick();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.topics).toEqual([
      { topic: 'log', values: ['b1', 'b2', 'd1'] },
      { topic: 'orders', values: ['c1'] },
    ]);
    requests[1]!.answer();
    await Promise.all(rest);
    expect(maxInFlight()).toBe(1);
  });

  test('a request holds at most maxBatchBytes of queued sends; a larger send goes alone', async () => {
    const { producer, requests } = recordingProducer();
    const big = 'x'.repeat(2000);
    const limit = messageBytes({ key: 'k', value: big }) + 10;
    const queue = new SendQueue(producer, { acks: -1, maxBatchBytes: limit });
    const all = Promise.all([
      queue.send('log', msgs('first')),
      queue.send('log', msgs(big)),
      queue.send('log', msgs('small')),
      queue.send('log', msgs(big, big)),
      queue.send('log', msgs('tail')),
    ]);
    await answerAll(requests, all);
    expect(requests.map((r) => r.topics[0]!.values.map((v) => (v === big ? 'BIG' : v)))).toEqual([
      ['first'],
      ['BIG'],
      ['small'],
      ['BIG', 'BIG'],
      ['tail'],
    ]);
  });

  test('a refused batch is retried send by send: only the caller whose records the broker refuses fails', async () => {
    const { producer, requests } = recordingProducer(new Set(['poison']));
    const queue = new SendQueue(producer, { acks: -1, maxBatchBytes: 1 << 20 });
    const first = queue.send('log', msgs('a'));
    await tick();
    const good1 = queue.send('log', msgs('b'));
    const bad = queue.send('log', msgs('poison'));
    const good2 = queue.send('log', msgs('c'));
    const outcomes = Promise.allSettled([first, good1, bad, good2]);
    await answerAll(requests, outcomes);
    const [r0, r1, r2, r3] = await outcomes;
    expect([r0.status, r1.status, r2.status, r3.status]).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((r2 as PromiseRejectedResult).reason).toEqual(new Error('MESSAGE_TOO_LARGE'));
    // first alone, then b+poison+c together (refused), then each alone again
    expect(requests.map((r) => r.topics[0]!.values)).toEqual([['a'], ['b', 'poison', 'c'], ['b'], ['poison'], ['c']]);
  });

  test('a broker error on a lone send rejects it, and the queue goes on with the next', async () => {
    const { producer, requests } = recordingProducer();
    const queue = new SendQueue(producer, { acks: -1, maxBatchBytes: 1 << 20 });
    const failed = queue.send('log', msgs('a'));
    await tick();
    const next = queue.send('log', msgs('b'));
    requests[0]!.answer(new Error('NOT_LEADER_FOR_PARTITION'));
    await expect(failed).rejects.toThrow('NOT_LEADER_FOR_PARTITION');
    await tick();
    requests[1]!.answer();
    await expect(next).resolves.toBeUndefined();
  });

  test('an empty send resolves without a request', async () => {
    const { producer, requests } = recordingProducer();
    await new SendQueue(producer, { acks: -1, maxBatchBytes: 1024 }).send('log', []);
    expect(requests).toHaveLength(0);
  });
});
