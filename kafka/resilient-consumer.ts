/**
 * A kafkajs consumer that outlives its crashes. kafkajs restarts a crashed consumer only when the error
 * is retriable (`consumer/index.js`, `onCrash`); after any other crash (a protocol error it classes as
 * final, an error that bailed out of its retrier) it disconnects and stays down, and a service built on
 * it silently stops consuming while it still looks alive. This wrapper listens for such crashes and
 * builds a fresh consumer (same configuration, same group) with capped exponential backoff, until
 * `stop()`.
 */
import type { Consumer } from 'kafkajs';
import type { Logger } from '../observability/log';

/** How to build and start one consumer of the service. */
export interface ResilientConsumerOptions {
  /** What the consumer is, for logs ("ingest", "catalogue reader"). */
  name: string;
  /** Creates an unconnected consumer (attach its event listeners here: they must exist before `run`). */
  create: () => Consumer;
  /** Connects, subscribes and runs it (resolves once `run` did). */
  begin: (consumer: Consumer) => Promise<void>;
  /** Called before each attempt to replace a crashed consumer: drop what depended on the old one. */
  onRebuild?: (error: unknown) => void;
  /** Called once a replacement runs. */
  onRebuilt?: () => void;
  log: Logger;
  /** First backoff of a failed rebuild; doubles up to `maxBackoffMs` (defaults 1 s, 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Runs a consumer and replaces it whenever it crashes for good. */
export class ResilientConsumer {
  private consumer: Consumer | undefined;
  private stopped = false;
  private rebuilding: Promise<void> | undefined;
  /** Consumers that crashed for good (a replacement may crash while it starts). */
  private readonly dead = new WeakSet<Consumer>();
  /** The consumer that has joined its group and not crashed since (kafkajs may restart one that crashed). */
  private joined: Consumer | undefined;
  /** How many times the current consumer crashed (restarted by kafkajs or replaced): it lost its place each time. */
  crashes = 0;
  /** How many times a crashed consumer was replaced. */
  rebuilds = 0;

  /** A wrapper; nothing connects until `start()`. */
  constructor(private readonly options: ResilientConsumerOptions) {}

  /** The consumer running now (a crashed one is replaced: do not keep the reference). */
  get current(): Consumer {
    if (this.consumer === undefined) throw new Error(`${this.options.name} consumer has not started`);
    return this.consumer;
  }

  /**
   * Whether the current consumer is consuming: it joined its group and has not crashed since. False from a crash
   * until kafkajs restarted it or a replacement joined, and after `stop()` (for health checks, and for readers that
   * must tell "nothing there" from "not reading").
   */
  get up(): boolean {
    return !this.stopped && this.consumer !== undefined && this.joined === this.consumer;
  }

  /** Creates and begins the first consumer; its failure to start is the caller's. */
  async start(): Promise<void> {
    await this.options.begin(this.make());
  }

  private make(): Consumer {
    const consumer = this.options.create();
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (consumer === this.consumer && !this.dead.has(consumer)) this.joined = consumer;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const { log, name } = this.options;
      if (this.joined === consumer) this.joined = undefined;
      if (this.stopped || consumer !== this.consumer) return;
      this.crashes++;
      if (payload.restart) {
        log.warn({ err: payload.error }, `${name} consumer crashed; kafkajs restarts it`);
        return;
      }
      this.dead.add(consumer);
      log.error({ err: payload.error }, `${name} consumer crashed and kafkajs will not restart it; replacing it`);
      this.rebuild(payload.error);
    });
    this.consumer = consumer;
    return consumer;
  }

  private rebuild(error: unknown): void {
    if (this.rebuilding !== undefined) return;
    const { log, name } = this.options;
    const initial = this.options.initialBackoffMs ?? 1000;
    const max = this.options.maxBackoffMs ?? 30_000;
    this.rebuilding = (async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        // Before every attempt: a replacement that crashed while it started may have left state behind too.
        this.options.onRebuild?.(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(max, initial * 2 ** attempt)));
        if (this.stopped) return;
        const old = this.consumer;
        await old?.disconnect().catch(() => undefined);
        try {
          const next = this.make();
          await this.options.begin(next);
          if (this.dead.has(next)) throw new Error('the replacement crashed while it started');
          this.rebuilds++;
          log.info({ attempt }, `${name} consumer replaced`);
          this.options.onRebuilt?.();
          return;
        } catch (err) {
          log.warn({ err, attempt }, `${name} consumer could not be replaced yet; retrying`);
        }
      }
    })().finally(() => {
      this.rebuilding = undefined;
      // It crashed for good between starting and this line: go again.
      if (!this.stopped && this.consumer !== undefined && this.dead.has(this.consumer)) this.rebuild(error);
    });
  }

  /** Stops (no more replacements) and disconnects the current consumer. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.rebuilding;
    await this.consumer?.disconnect();
  }

  /** Stops consuming but stays connected (kafkajs `stop`: the running batch finishes); no more replacements. */
  async stopConsuming(): Promise<void> {
    this.stopped = true;
    await this.rebuilding;
    await this.consumer?.stop();
  }
}
