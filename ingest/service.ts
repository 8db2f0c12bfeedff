/**
 * The ingest service: a kafkajs consumer-group member on `bsi.install-events` that turns device reports
 * into lane health signals, exactly once in effect.
 *
 * A thin composition of its parts: partition recovery (`partition-recovery.ts`: positions, preparation from the
 * lanes' marks, replay), the batch loop (`batch-loop.ts`), the dead-letter writer (`dead-letter-writer.ts`), the lane
 * deliverer (`lane-deliverer.ts`: flush, deliver, commit) and the timeout scan (`timeout-scan.ts`). This file joins
 * the group, wires the rebalance events to them, runs their timers, and stops them in order. See docs/ingest.md.
 */
import type { Topics } from '../config/env';
import type { DeviceKeys } from '../events/device-keys';
import type { Kafka } from '../kafka/client';
import { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import { BatchLoop } from './batch-loop';
import { RolloutCatalogue } from './catalogue';
import { CatalogueReader } from './catalogue-reader';
import { IngestCore } from './core';
import { DeadLetterWriter } from './dead-letter-writer';
import type { Admin, Producer } from './kafka-types';
import { LaneDeliverer } from './lane-deliverer';
import type { IngestMetrics } from './metrics';
import { PartitionRecovery } from './partition-recovery';
import type { IngestSettings } from './settings';
import type { LaneSignaler } from './signaler';
import { scanTimeouts, type TimeoutScanDeps } from './timeout-scan';

/** What the service needs from the outside world. */
export interface IngestDeps {
  kafka: Kafka;
  topics: Topics;
  settings: IngestSettings;
  /** The deployment's device keys (`deviceKeysOf(config.deviceKeys)`): the same secret on every member. */
  deviceKeys: DeviceKeys;
  signaler: LaneSignaler;
  metrics: IngestMetrics;
  log: Logger;
}

/** How often the lag gauge is refreshed. */
const LAG_EVERY_MS = 5000;

/** One ingest member. `start()` joins the group; `stop()` leaves it gracefully. */
export class IngestService {
  readonly catalogue = new RolloutCatalogue();
  readonly core: IngestCore;
  private readonly reader: CatalogueReader;
  private readonly recovery: PartitionRecovery;
  private readonly deliverer: LaneDeliverer;
  private readonly batches: BatchLoop;
  private group: ResilientConsumer | undefined;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private stopping = false;
  private timers: NodeJS.Timeout[] = [];
  private healthyFlag = false;

  /** Creates a member; nothing connects until `start()`. */
  constructor(private readonly deps: IngestDeps) {
    const { kafka, topics, settings, signaler, metrics, log } = deps;
    this.core = new IngestCore(this.catalogue, { ...settings, deviceKeys: deps.deviceKeys });
    this.reader = new CatalogueReader(kafka, topics.rolloutEvents, this.catalogue, log, settings.groupId, () =>
      metrics.consumerReplacements.inc({ consumer: 'catalogue' }),
    );
    const stopping = () => this.stopping;
    const group = () => this.group;
    const common = { topics, settings, signaler, metrics, log, core: this.core, stopping, group };
    this.recovery = new PartitionRecovery({
      ...common,
      catalogue: this.catalogue,
      reader: this.reader,
      admin: () => this.admin,
      landed: () => this.deliverer.landed(),
    });
    this.deliverer = new LaneDeliverer({ ...common, recovery: this.recovery });
    const deadLetters = new DeadLetterWriter({
      topics,
      log,
      stopping,
      producer: () => {
        if (this.producer === undefined) throw new Error('the ingest producer is not connected');
        return this.producer;
      },
    });
    this.batches = new BatchLoop({
      ...common,
      reader: this.reader,
      recovery: this.recovery,
      deadLetters,
      deliverer: this.deliverer,
    });
    this.catalogue.onLaneRestarted((lane) => this.recovery.recount(lane));
  }

  /**
   * Whether the member is consuming (for `/healthz`): started, not stopping, and both its group consumer and its
   * catalogue reader's consumer running (false from a crash until kafkajs restarted it or it was replaced).
   */
  healthy(): boolean {
    return this.healthyFlag && !this.stopping && this.group?.up === true && this.reader.up;
  }

  /** Reads the rollout catalogue, then joins the consumer group and starts the flusher and timeout scanner. */
  async start(): Promise<void> {
    const { kafka, topics, settings, metrics, log } = this.deps;
    await this.reader.start();
    this.admin = kafka.admin();
    await this.admin.connect();
    this.producer = kafka.producer({ allowAutoTopicCreation: false });
    await this.producer.connect();
    const group = new ResilientConsumer({
      name: 'ingest',
      log,
      create: () => {
        const consumer = kafka.consumer({
          groupId: settings.groupId,
          maxWaitTimeInMs: settings.maxWaitMs,
          minBytes: 1,
          maxBytes: 16 * 1024 * 1024,
          maxBytesPerPartition: 4 * 1024 * 1024,
          sessionTimeout: settings.sessionTimeoutMs,
          heartbeatInterval: Math.max(500, Math.floor(settings.sessionTimeoutMs / 10)),
        });
        consumer.on(consumer.events.REBALANCING, () => this.deliverer.freeze());
        consumer.on(consumer.events.GROUP_JOIN, (event) => {
          this.recovery.assign(event.payload.memberAssignment[topics.installEvents] ?? []);
          this.deliverer.thaw();
        });
        return consumer;
      },
      begin: async (consumer) => {
        await consumer.connect();
        await consumer.subscribe({ topic: topics.installEvents, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: (payload) => this.batches.handle(payload),
        });
      },
      // The replacement joins as a new member: everything is prepared again from the lanes' marks.
      onRebuild: () => {
        this.healthyFlag = false;
        this.deliverer.freeze();
        this.recovery.reset();
      },
      onRebuilt: () => {
        this.healthyFlag = true;
        metrics.consumerReplacements.inc({ consumer: 'ingest' });
      },
    });
    this.group = group;
    await group.start();
    this.healthyFlag = true;
    const scan: TimeoutScanDeps = {
      topics,
      metrics,
      log,
      core: this.core,
      recovery: this.recovery,
      producer: () => this.producer,
      stopping: () => this.stopping,
    };
    this.timers.push(
      setInterval(() => this.deliverer.flushDueLanes(), Math.max(10, Math.floor(settings.flushIntervalMs / 5))),
      setInterval(() => void scanTimeouts(scan), settings.timeoutScanMs),
      setInterval(() => void this.recovery.reportLag(), LAG_EVERY_MS),
    );
    log.info({ groupId: settings.groupId, topic: topics.installEvents }, 'ingest started');
  }

  /** Whether every assigned partition has been prepared and replayed up to its log end at assignment. */
  isLive(): boolean {
    return this.recovery.isLive();
  }

  /**
   * Graceful stop: stop consuming (the in-flight batch finishes), deliver what is pending, commit, and
   * disconnect. The Temporal connection belongs to the caller.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.group?.stopConsuming();
    this.stopping = true;
    await this.deliverer.drain();
    await this.group?.stop();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    await this.reader.stop();
    this.deps.log.info('ingest stopped');
  }
}
