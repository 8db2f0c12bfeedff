/**
 * Keeps a `RolloutCatalogue` up to date from `bsi.rollout-events`: a consumer that reads every partition
 * from the beginning under a private group id and never commits (it is not a group member in any useful
 * sense: it must see all partitions). `sync()` answers "have I read everything appended until now?" by
 * comparing its positions with the log end offsets, which is what lets the ingest tell an unknown offer
 * (dead letter) from one whose `exposure-issued` is still in flight (wait).
 */
import crypto from 'node:crypto';
import type { Kafka } from '../kafka/client';
import { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import type { RolloutCatalogue } from './catalogue';
import type { Admin } from './kafka-types';

/** Reads the rollout log into a catalogue. */
export class CatalogueReader {
  private readonly positions = new Map<number, number>();
  private consumer: ResilientConsumer | undefined;
  private admin: Admin | undefined;
  private waiters: (() => void)[] = [];
  /** Wall-clock time (ms) of the log-end snapshot the catalogue last caught up with. */
  syncedAsOf = 0;
  /** The consumer's crash count when a sync last caught up (a crash since means it lost time). */
  private crashesAtSync = 0;

  /** A reader of `topic` into `catalogue`; call `start()`. */
  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    readonly catalogue: RolloutCatalogue,
    private readonly log: Logger,
    private readonly groupPrefix: string,
    /** Called when its consumer crashed for good and was replaced (a metric). */
    private readonly onReplaced: () => void = () => undefined,
  ) {}

  /**
   * Whether its consumer is reading (joined, not crashed since). While it is down, `sync` cannot catch up: what
   * the catalogue does not know may still be in the log.
   */
  get up(): boolean {
    return this.consumer?.up === true;
  }

  /**
   * Whether the reader lost time since it last caught up: its consumer is down, or crashed after the last `sync`
   * that caught up. A caller that waits for the catalogue should then wait longer than usual instead of deciding
   * that an event is unknown.
   */
  get recovering(): boolean {
    return !this.up || (this.consumer?.crashes ?? 0) !== this.crashesAtSync;
  }

  /** Starts reading from the beginning and resolves once the catalogue caught up with the log end. */
  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    const groupId = `${this.groupPrefix}.catalogue.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    // A replacement re-reads from the beginning (nothing is committed): folding an event twice is harmless.
    this.consumer = new ResilientConsumer({
      name: 'catalogue reader',
      log: this.log,
      create: () => this.kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 30_000 }),
      begin: async (consumer) => {
        await consumer.connect();
        await consumer.subscribe({ topic: this.topic, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: async (payload) => {
            const batch = payload.batch;
            for (const message of batch.messages) {
              if (!payload.isRunning() || payload.isStale()) break;
              if (message.value !== null && !this.catalogue.applyRaw(message.value.toString('utf8'))) {
                this.log.warn(
                  { partition: batch.partition, offset: message.offset },
                  'ignored a record that is not a domain event',
                );
              }
              const next = Number(message.offset) + 1;
              this.positions.set(batch.partition, Math.max(next, this.positions.get(batch.partition) ?? 0));
              payload.resolveOffset(message.offset);
              await payload.heartbeat();
            }
            this.wake();
          },
        });
      },
      onRebuilt: this.onReplaced,
    });
    await this.consumer.start();
    await this.sync(60_000);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * Waits (at most `timeoutMs`) until every record appended to the rollout log before this call has been
   * folded into the catalogue; resolves true when caught up, false on timeout.
   */
  async sync(timeoutMs: number): Promise<boolean> {
    if (this.admin === undefined) return false;
    const asOf = Date.now();
    const crashes = this.consumer?.crashes ?? 0;
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = ends.some(
        (e) => Number(e.high) > Number(e.low) && (this.positions.get(e.partition) ?? 0) < Number(e.high),
      );
      if (!behind) {
        this.syncedAsOf = Math.max(this.syncedAsOf, asOf);
        if (this.up) this.crashesAtSync = Math.max(this.crashesAtSync, crashes);
        return true;
      }
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading and disconnects. */
  async stop(): Promise<void> {
    await this.consumer?.stop();
    await this.admin?.disconnect();
  }
}
