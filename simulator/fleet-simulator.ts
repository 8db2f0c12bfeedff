/**
 * The fleet simulator as a real Kafka client of the engine: it consumes orders from `bsi.commands`,
 * lets the seeded fleet model decide what every addressed device does, and produces the devices'
 * reports to `bsi.install-events` (key = deviceId) when they fall due — with the scenario's `health` section, also
 * every device's periodic post-install health report (`health-model.ts`). It never reaches into the
 * engine; the engine sees it exactly as it would see a real update service and its devices.
 */
import type { Admin, Producer } from 'kafkajs';
import type { Config } from '../config/env';
import { FleetCommandSchema, type FleetCommand } from '../events/fleet-commands';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import { FleetModel, type FleetOrder, type OfferTruth, type ScheduledSend } from './fleet-model';
import { HealthModel, type PostInstallTruth } from './health-model';
import { ReportQueue } from './report-queue';
import type { Scenario } from './scenario';

export type SimulatorStats = {
  ordersApplied: number;
  ordersRejected: number;
  reportsSent: number;
  reportsPending: number;
};

export type SimulatorOptions = {
  config: Config;
  scenario: Scenario;
  logger: Logger;
  /** Consumer group on `bsi.commands`; one simulator per group. */
  groupId?: string;
  /** Largest batch of reports sent in one produce request (default 1000, well under the broker's 1 MiB). */
  maxBatch?: number;
};

/** Maps an order from the wire to what the model needs. */
export function orderOf(command: FleetCommand): FleetOrder {
  return {
    kind: command.kind,
    rolloutId: command.rolloutId,
    lane: command.lane,
    releaseId: command.releaseId,
    build: command.artifact.build,
    offerId: command.offerId,
    attempt: command.attempt,
    cohortBound: command.cohortBound,
    ...(command.cohortSalt !== undefined && { cohortSalt: command.cohortSalt }),
  };
}

/**
 * Runs a simulated fleet against Kafka until `stop()`. `truth()` gives what every device really did,
 * per offer, for tests and benchmarks to compare with the engine's counts.
 */
export class FleetSimulator {
  private readonly model: FleetModel;
  /** The devices' post-install health reports, when the scenario has a `health` section. */
  private readonly health: HealthModel | undefined;
  private readonly queue = new ReportQueue();
  private readonly consumer: ResilientConsumer;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly stats: SimulatorStats = { ordersApplied: 0, ordersRejected: 0, reportsSent: 0, reportsPending: 0 };
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private running = false;

  constructor(private readonly options: SimulatorOptions) {
    this.model = new FleetModel(options.scenario);
    this.health = options.scenario.health === undefined ? undefined : new HealthModel(options.scenario, this.model);
    const kafka = createKafka(options.config.kafka, { clientId: 'bsi-simulator' });
    this.consumer = new ResilientConsumer({
      name: 'simulator orders',
      log: options.logger,
      create: () =>
        kafka.consumer({
          groupId: options.groupId ?? 'bsi-simulator',
          maxWaitTimeInMs: 100,
          sessionTimeout: 10_000,
          heartbeatInterval: 1_000,
        }),
      begin: async (consumer) => {
        await consumer.connect();
        await consumer.subscribe({ topic: options.config.topics.commands, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message, partition }) => {
            this.onOrder(message.value, partition, message.offset);
            return Promise.resolve();
          },
        });
      },
    });
    // Devices are not idempotent producers either (duplicates are part of the model): plain producer, several
    // requests in flight, so the fleet keeps up with tens of thousands of reports a second.
    this.producer = kafka.producer({ maxInFlightRequests: 5 });
    this.admin = kafka.admin();
  }

  /** Connects, makes sure the topics exist, and starts consuming orders and sending reports. */
  async start(): Promise<void> {
    const { topics } = this.options.config;
    await this.admin.connect();
    await ensureTopics(this.admin, topicSpecs(topics));
    await this.admin.disconnect();
    await this.producer.connect();
    this.running = true;
    await this.consumer.start();
    this.schedule();
  }

  private onOrder(value: Buffer | null, partition: number, offset: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(value?.toString('utf8') ?? 'null');
    } catch {
      raw = undefined;
    }
    const parsed = FleetCommandSchema.safeParse(raw);
    if (!parsed.success) {
      this.stats.ordersRejected++;
      this.options.logger.warn({ partition, offset, issues: parsed.error.issues.slice(0, 3) }, 'order rejected');
      return;
    }
    const reports = this.model.apply(orderOf(parsed.data), Date.now());
    if (reports.length > 0) this.stats.ordersApplied++;
    for (const report of reports) this.queue.push(report);
    this.options.logger.info(
      { kind: parsed.data.kind, lane: parsed.data.lane, offerId: parsed.data.offerId, devices: reports.length },
      'order applied',
    );
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.sending = this.sendDue().then(
        () => this.schedule(),
        (err: unknown) => {
          this.options.logger.error({ err }, 'sending reports failed; retrying');
          this.schedule();
        },
      );
    }, 10);
  }

  /**
   * Sends every report that is due, in requests of at most `maxBatch` reports (a request over the broker's
   * max message size would be refused whole), several requests in flight at once.
   */
  private async sendDue(): Promise<void> {
    const max = this.options.maxBatch ?? 1000;
    const now = Date.now();
    for (const report of this.health?.due(now) ?? []) this.queue.push(report);
    for (;;) {
      const chunks: ScheduledSend[][] = [];
      for (let i = 0; i < 5; i++) {
        const due = this.queue.popDue(now, max);
        if (due.length === 0) break;
        chunks.push(due);
      }
      if (chunks.length === 0) return;
      const results = await Promise.allSettled(chunks.map((due) => this.send(due)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  private async send(due: ScheduledSend[]): Promise<void> {
    try {
      await this.producer.send({
        topic: this.options.config.topics.installEvents,
        acks: -1,
        messages: due.map((r) => ({
          key: r.event.deviceId,
          value: JSON.stringify({ ...r.event, at: new Date(Math.max(r.dueMs, 0)).toISOString() }),
        })),
      });
      this.stats.reportsSent += due.length;
    } catch (err) {
      // Put them back: a broker restart must not lose a device's report.
      for (const r of due) this.queue.push(r);
      throw err;
    }
  }

  /** Counters so far. */
  currentStats(): SimulatorStats {
    return { ...this.stats, reportsPending: this.queue.size };
  }

  /** Ground truth of every order, keyed `${rolloutId}/${offerId}`. */
  truth(): Record<string, OfferTruth> {
    return this.model.truth();
  }

  /** Post-install ground truth (what devices reported on which build, regressions, spikes), if health is simulated. */
  healthTruth(): PostInstallTruth | undefined {
    return this.health?.truth();
  }

  /** Ground truth of one rollout, keyed by offer id. */
  truthOf(rolloutId: string): Record<string, OfferTruth> {
    return this.model.truthOf(rolloutId);
  }

  /** Resolves when every scheduled report has been sent (or after `timeoutMs`). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.sending;
    return this.queue.size === 0;
  }

  /** Stops consuming and sending, and disconnects. Pending reports are dropped (devices went away). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.sending.catch(() => undefined);
    await this.consumer.stop();
    await this.producer.disconnect();
  }
}
