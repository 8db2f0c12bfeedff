/**
 * The dead-letter writer: turns a rejected record into a dead letter (the original bytes, the reason and the
 * source coordinates as headers) and appends a batch's dead letters to `bsi.install-events.dlq` with acks=all,
 * retried until acknowledged, so that the batch's records only count as handled once their dead letters are
 * durable. See the DLQ section of docs/ingest.md.
 */
import type { Topics } from '../config/env';
import type { Logger } from '../observability/log';
import type { RecordResult } from './core';
import type { KafkaMessage, Producer } from './kafka-types';
import { sleep } from './wait';

/** Dead-letter values above this are cut (the broker refuses records near its 1 MiB limit with headers). */
const MAX_DLQ_VALUE_BYTES = 512 * 1024;
/** Bytes per dead-letter produce request. */
const MAX_DLQ_REQUEST_BYTES = 768 * 1024;

/** A dead-letter record: the original bytes, the reason and the source coordinates as headers. */
export interface DeadLetter {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** A record result that carries a dead-letter reason. */
export type RejectedResult = Extract<RecordResult, { reason: string }>;

/** What the writer needs: the topics, the member's producer once it is connected, and whether it is stopping. */
export interface DeadLetterWriterDeps {
  topics: Topics;
  log: Logger;
  producer: () => Producer;
  stopping: () => boolean;
}

/** Builds and appends dead letters for one ingest member. */
export class DeadLetterWriter {
  /** A writer; it sends through `deps.producer()`, which must be connected before the first `append`. */
  constructor(private readonly deps: DeadLetterWriterDeps) {}

  /** The dead letter of `message` (read from `partition`) rejected with `result`'s reason and message. */
  letterFor(partition: number, message: KafkaMessage, result: RejectedResult): DeadLetter {
    const original = message.value ?? Buffer.alloc(0);
    // The original bytes, unless they would not fit a dead-letter record: then the head, marked as cut.
    const value = original.length > MAX_DLQ_VALUE_BYTES ? original.subarray(0, MAX_DLQ_VALUE_BYTES) : original;
    return {
      key: message.key,
      value,
      headers: {
        ...(value !== original && { 'bsi-dlq-truncated-from': String(original.length) }),
        'bsi-dlq-reason': result.reason,
        'bsi-dlq-message': result.message.slice(0, 1000),
        'bsi-source-topic': this.deps.topics.installEvents,
        'bsi-source-partition': String(partition),
        'bsi-source-offset': message.offset,
        'bsi-source-timestamp': message.timestamp,
      },
    };
  }

  /**
   * Appends dead letters in requests below the broker's size limit, retrying until they are acknowledged (while
   * stopping, a failed append throws instead): a batch's records only count as handled once their dead letters
   * are durable.
   */
  async append(dead: readonly DeadLetter[]): Promise<void> {
    const chunks: DeadLetter[][] = [];
    let chunk: DeadLetter[] = [];
    let bytes = 0;
    for (const d of dead) {
      const size = d.value.length + 1024;
      if (chunk.length > 0 && bytes + size > MAX_DLQ_REQUEST_BYTES) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(d);
      bytes += size;
    }
    if (chunk.length > 0) chunks.push(chunk);
    for (const messages of chunks) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.deps.producer().send({ topic: this.deps.topics.installEventsDlq, acks: -1, messages });
          break;
        } catch (err) {
          if (this.deps.stopping()) throw err;
          this.deps.log.warn({ err, attempt }, 'dead-letter append failed; retrying');
          await sleep(Math.min(5000, 100 * 2 ** attempt));
        }
      }
    }
  }
}
