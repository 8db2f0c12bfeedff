/**
 * One producer's sends, coalesced. The engine's producer is idempotent with one request in flight (the broker
 * deduplicates its retries and keeps per-partition order), so concurrent `producer.send` calls queue behind each
 * other, one request each: with dozens of lanes appending at once, a halt's append waits for every append queued
 * before it. This queue keeps the single request in flight but puts everything that arrived meanwhile into the
 * next one (`sendBatch`, up to `maxBatchBytes`), so a send waits for at most the request in flight.
 *
 * Order: sends leave in call order, and a batch keeps it, so records of one key keep the order of the calls.
 * Failure: when a batch of several sends fails, each of them is tried again on its own, so one caller's bad
 * records (too large, refused) fail that caller alone and never a neighbour that shared its request.
 */
import type { Message, Producer, TopicMessages } from 'kafkajs';

/** What the queue needs of a kafkajs producer. */
export type BatchProducer = Pick<Producer, 'sendBatch'>;

type Pending = {
  topic: string;
  messages: Message[];
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
};

/** The payload size a message counts for when batches are cut (value, key and a record's overhead). */
export function messageBytes(message: Message): number {
  const size = (v: unknown) => (v === null || v === undefined ? 0 : Buffer.byteLength(v as string | Buffer));
  return size(message.value) + size(message.key) + 256;
}

export class SendQueue {
  private readonly pending: Pending[] = [];
  private inFlight = false;

  constructor(
    private readonly producer: BatchProducer,
    private readonly options: { acks: number; maxBatchBytes: number },
  ) {}

  /** Sends `messages` to `topic` in the next request; resolves when the broker has acknowledged them. */
  send(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const bytes = messages.reduce((n, m) => n + messageBytes(m), 0);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ topic, messages, bytes, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

  /** Sends queued batches one request at a time until nothing is queued. */
  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.nextBatch();
        try {
          await this.sendAll(batch);
          for (const p of batch) p.resolve();
        } catch (err) {
          if (batch.length === 1) batch[0]!.reject(err);
          else for (const p of batch) await this.sendAll([p]).then(p.resolve, p.reject);
        }
      }
    } finally {
      this.inFlight = false;
    }
  }

  /** The queued sends that fit one request, in call order (a send larger than the limit goes alone). */
  private nextBatch(): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < this.pending.length) {
      const next = this.pending[count]!;
      if (count > 0 && bytes + next.bytes > this.options.maxBatchBytes) break;
      bytes += next.bytes;
      count++;
    }
    return this.pending.splice(0, count);
  }

  private async sendAll(batch: readonly Pending[]): Promise<void> {
    // One entry per topic, in first-call order; a topic's messages keep call order.
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const list = byTopic.get(p.topic);
      if (list === undefined) byTopic.set(p.topic, [...p.messages]);
      else list.push(...p.messages);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    await this.producer.sendBatch({ acks: this.options.acks, topicMessages });
  }
}
