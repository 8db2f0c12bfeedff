/**
 * The ingest service: a kafkajs consumer-group member on `bsi.install-events` that turns device reports
 * into lane health signals, exactly once in effect.
 *
 * Loop (the house style's, with its bookkeeping batched): `eachBatch` with `eachBatchAutoResolve: false`; stop
 * if `!isRunning() || isStale()` (checked after every await: it cannot change in between); hand each record
 * to the pure core; `resolveOffset` and `heartbeat` with every turn given back to the event loop (about every
 * 10 ms of a batch) and at its end. Per record they cost as much as the pipeline itself.
 * Dead letters of a batch are appended (acks=all) before its records count as handled. A flusher sends
 * each lane's pending deltas at most every `flushIntervalMs` (at once when the verdict would change);
 * a partition's offset is committed only up to the first change not yet accepted by Temporal.
 *
 * Recovery: when a partition is assigned (start-up or rebalance), the member asks every active lane for
 * its high-water marks and replays the partition from its first offset: changes at or below a mark only
 * rebuild device state, changes above it are signalled. Restarting after a crash at any point therefore
 * re-derives exactly what the lanes have not counted yet, as long as every delta sent for a partition before
 * it was assigned here has been decided by its lane when the marks are read; one decided later makes the next
 * delta straddle its mark (counted partly twice, recorded as `overlap`). See docs/ingest.md.
 */
import { setImmediate as eventLoopTurn } from 'node:timers/promises';
import type { Topics } from '../config/env';
import type { Kafka } from '../kafka/client';
import { ResilientConsumer } from '../kafka/resilient-consumer';
import type { Logger } from '../observability/log';
import type { TakenLane } from './aggregator';
import { RolloutCatalogue, type LaneInfo } from './catalogue';
import { CatalogueReader } from './catalogue-reader';
import { IngestCore, type RecordResult } from './core';
import type { DeviceKeys } from '../events/device-keys';
import type { Admin, EachBatchPayload, KafkaMessage, Producer } from './kafka-types';
import type { IngestMetrics } from './metrics';
import type { IngestSettings } from './settings';
import type { LaneSignaler } from './signaler';

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

interface PartitionState {
  /** First offset of the partition when it was assigned (replay starts here). */
  low: number;
  /** Log end when assigned: reaching it ends the rebuild (timeouts are only decided live). */
  liveFrom: number;
  /** Committed offset when assigned: records below it were dead-lettered already. */
  committed: number;
  /** Next offset whose record is not fully handled (counted into state/pending or dead-lettered). */
  handled: number;
  live: boolean;
  /**
   * Seeks back to `handled` (`seekedTo`, how many times): a batch that starts past `handled` (the fetch resumed
   * from the group's committed offset, which is ahead of a replay that just began) seeks back, a few times
   * at most (a consumer restart may undo a seek); a gap that stays is real (records deleted by retention).
   */
  seekedTo: number | undefined;
  seeks: number;
}

const MAX_SEEKS = 3;

const SLACK_MS = 5000;
/** Dead-letter values above this are cut (the broker refuses records near its 1 MiB limit with headers). */
const MAX_DLQ_VALUE_BYTES = 512 * 1024;
/** Bytes per dead-letter produce request. */
const MAX_DLQ_REQUEST_BYTES = 768 * 1024;

/** A dead-letter record: the original bytes, the reason and the source coordinates as headers. */
interface DeadLetter {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** A batch's records are handled in slices of about this long between turns of the event loop. */
const YIELD_EVERY_MS = 10;
/** The clock is read every 16th record (a mask), which is plenty to keep turns near YIELD_EVERY_MS. */
const CLOCK_MASK = 15;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or an error naming `what` once `ms` passed first (the timer never outlives the race). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One ingest member. `start()` joins the group; `stop()` leaves it gracefully. */
export class IngestService {
  readonly catalogue = new RolloutCatalogue();
  readonly core: IngestCore;
  private readonly reader: CatalogueReader;
  private group: ResilientConsumer | undefined;
  /** Bumped when a crashed consumer is replaced: work of the old one that is still running is void. */
  private generation = 0;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  private assigned = new Set<number>();
  private readonly partitions = new Map<number, PartitionState>();
  private readonly inflight = new Set<TakenLane>();
  private readonly lastFlush = new Map<string, number>();
  /** The signal each lane has in flight (one at a time per lane, so a lane's ranges arrive in order). */
  private readonly delivering = new Map<LaneInfo, Promise<void>>();
  private frozen = false;
  private stopping = false;
  private committing: Promise<void> | undefined;
  /** A delivery finished while a commit ran: commit again right after it. */
  private commitAgain = false;
  private timers: NodeJS.Timeout[] = [];
  private healthyFlag = false;

  /** Creates a member; nothing connects until `start()`. */
  constructor(private readonly deps: IngestDeps) {
    this.core = new IngestCore(this.catalogue, { ...deps.settings, deviceKeys: deps.deviceKeys });
    this.catalogue.onLaneRestarted((lane) => this.recount(lane));
    this.reader = new CatalogueReader(
      deps.kafka,
      deps.topics.rolloutEvents,
      this.catalogue,
      deps.log,
      deps.settings.groupId,
      () => deps.metrics.consumerReplacements.inc({ consumer: 'catalogue' }),
    );
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
    const { kafka, topics, settings, log } = this.deps;
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
        consumer.on(consumer.events.REBALANCING, () => {
          this.frozen = true;
        });
        consumer.on(consumer.events.GROUP_JOIN, (event) =>
          this.onJoin(event.payload.memberAssignment[topics.installEvents] ?? []),
        );
        return consumer;
      },
      begin: async (consumer) => {
        await consumer.connect();
        await consumer.subscribe({ topic: topics.installEvents, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: (payload) => this.eachBatch(payload),
        });
      },
      // The replacement joins as a new member: everything is prepared again from the lanes' marks.
      onRebuild: () => {
        this.healthyFlag = false;
        this.frozen = true;
        this.generation++;
        this.dropPartitions(new Set(this.partitions.keys()));
        this.assigned = new Set();
      },
      onRebuilt: () => {
        this.healthyFlag = true;
        this.deps.metrics.consumerReplacements.inc({ consumer: 'ingest' });
      },
    });
    this.group = group;
    await group.start();
    this.healthyFlag = true;
    this.timers.push(setInterval(() => this.kickFlush(), Math.max(10, Math.floor(settings.flushIntervalMs / 5))));
    this.timers.push(setInterval(() => void this.scanTimeouts(), settings.timeoutScanMs));
    this.timers.push(setInterval(() => void this.updateLag(), 5000));
    log.info({ groupId: settings.groupId, topic: topics.installEvents }, 'ingest started');
  }

  private onJoin(assignment: number[]): void {
    const next = new Set(assignment);
    const revoked = new Set([...this.partitions.keys()].filter((p) => !next.has(p)));
    this.dropPartitions(revoked);
    this.assigned = next;
    this.frozen = false;
    this.deps.log.info({ assigned: [...next], revoked: [...revoked] }, 'partitions assigned');
  }

  /**
   * A lost lane was restarted from its log: its new workflow has the marks of what its old one had decided, and
   * deltas the old one never decided (or that came back "gone" while it was down) must reach it. Recounting is what
   * a newly assigned partition gets: every assigned partition is replayed from its first offset against the lanes'
   * marks (the new workflow runs before its `lane-restarted` is in the log, so its marks answer). A no-op until the
   * member runs; a restart read back at start-up is covered by start-up's own replay.
   */
  private recount(lane: LaneInfo): void {
    const group = this.group;
    if (group === undefined || this.stopping || this.partitions.size === 0) return;
    const replay = [...this.partitions].map(([partition, ps]) => ({ partition, low: ps.low }));
    this.deps.log.info(
      { lane: lane.key, partitions: replay.map((r) => r.partition) },
      'lane restarted: replaying the assigned partitions against the lanes marks',
    );
    this.generation++;
    this.dropPartitions(new Set(replay.map((r) => r.partition)));
    for (const { partition, low } of replay) {
      group.current.seek({ topic: this.deps.topics.installEvents, partition, offset: String(low) });
    }
  }

  /** Forgets the partitions' device state, pending changes and replay positions (their next owner recounts). */
  private dropPartitions(revoked: ReadonlySet<number>): void {
    if (revoked.size === 0) return;
    this.core.revoke(revoked, new Set([...this.partitions.keys()].filter((p) => !revoked.has(p))));
    for (const p of revoked) {
      this.partitions.delete(p);
      this.deps.metrics.lag.remove({ partition: String(p) });
    }
  }

  /** Asks the lanes for their marks and fixes where replay of each newly assigned partition starts. */
  private async prepare(partitions: number[]): Promise<void> {
    const { settings, topics, signaler, log } = this.deps;
    const gen = this.generation;
    if (settings.handoverSettleMs > 0) await sleep(settings.handoverSettleMs);
    // This member's own signals still in flight (from before a consumer replacement or a revocation of these
    // partitions) must land first: marks read before them would make the replay count their ranges again.
    await Promise.all(this.delivering.values());
    if (gen !== this.generation) return;
    await this.reader.sync(30_000);
    const set = new Set(partitions);
    for (const lane of this.catalogue.activeLanes()) {
      for (let attempt = 0; ; attempt++) {
        try {
          const marks = await signaler.marks(lane.rolloutId, lane.lane);
          if (gen !== this.generation) return;
          const rollout = this.catalogue.rollouts.get(lane.rolloutId);
          this.core.aggregator.setMarks((id) => rollout?.offers.get(id), lane.rolloutId, marks, set);
          break;
        } catch (err) {
          if (this.stopping) throw err;
          log.warn({ err, lane: lane.key, attempt }, 'high-water-mark query failed; retrying');
          await sleep(Math.min(5000, 200 * 2 ** attempt));
        }
      }
    }
    const admin = this.admin!;
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topics.installEvents),
      admin.fetchOffsets({ groupId: settings.groupId, topics: [topics.installEvents] }),
    ]);
    if (gen !== this.generation) return;
    const committedOf = new Map(
      (committed[0]?.partitions ?? []).map((c) => [c.partition, Number(c.offset) < 0 ? 0 : Number(c.offset)]),
    );
    for (const p of partitions) {
      const end = ends.find((e) => e.partition === p);
      const low = Number(end?.low ?? 0);
      const state: PartitionState = {
        low,
        liveFrom: Number(end?.high ?? 0),
        committed: Math.max(low, committedOf.get(p) ?? 0),
        handled: low,
        live: false,
        seekedTo: undefined,
        seeks: 0,
      };
      this.partitions.set(p, state);
    }
    this.deps.metrics.rebuilding.set([...this.partitions.values()].filter((s) => !s.live).length);
    log.info({ partitions }, 'partitions prepared: replaying from the first offset up to the lanes marks');
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const batch = payload.batch;
    const { settings, topics, metrics } = this.deps;
    const partition = batch.partition;
    const gen = this.generation;
    if (!this.partitions.has(partition)) {
      const fresh = [...this.assigned].filter((p) => !this.partitions.has(p));
      await this.prepare(fresh.includes(partition) ? fresh : [...fresh, partition]);
    }
    if (gen !== this.generation) return;
    const ps = this.partitions.get(partition)!;
    const first = batch.messages[0];
    if (first !== undefined && Number(first.offset) > ps.handled) {
      // Nothing may be skipped: replay starts at the first offset, and a restart resumes where handling ended.
      if (ps.seekedTo !== ps.handled) {
        ps.seekedTo = ps.handled;
        ps.seeks = 0;
      }
      if (ps.seeks < MAX_SEEKS) {
        ps.seeks++;
        this.group!.current.seek({ topic: topics.installEvents, partition, offset: String(ps.handled) });
        return;
      }
      this.deps.log.warn({ partition, from: ps.handled, to: first.offset }, 'offsets missing from the log; skipped');
    }
    const batchStart = Date.now();
    let sliceStart = batchStart;
    const results = new Map<string, number>();
    let counted = 0;
    let sinceClock = 0;
    const dead: DeadLetter[] = [];
    let lastResolved: string | undefined;
    // Whether the batch may go on can only change while this loop awaits (JS runs it alone in between), so it is
    // checked after every await, not per record (kafkajs's isStale parses offsets on every call).
    let recheck = true;
    for (const message of batch.messages) {
      if (recheck) {
        if (!payload.isRunning() || payload.isStale() || gen !== this.generation) break;
        recheck = false;
      }
      const offset = Number(message.offset);
      if (offset < ps.handled) {
        // Handled before (the fetch resumed from the committed offset): resolved, so that a batch of only
        // such records still moves the fetch position on.
        lastResolved = message.offset;
        continue;
      }
      let result = this.core.handle(partition, offset, Number(message.timestamp), message.value);
      if (
        result.kind === 'unknown' &&
        this.reader.syncedAsOf < batchStart &&
        Number(message.timestamp) + SLACK_MS >= this.reader.syncedAsOf
      ) {
        // Its exposure may still be in flight: catch the catalogue up once per batch, then decide. While the
        // reader recovers from a crash of its consumer (down, or re-reading) the catalogue cannot catch up in the
        // usual time, and dead-lettering the record as unknown would lose a valid report: wait for the reader,
        // heartbeating, as long as it recovers.
        let caughtUp = await this.reader.sync(settings.unknownWaitMs);
        while (!caughtUp && this.reader.recovering && payload.isRunning() && !payload.isStale()) {
          if (gen !== this.generation) break;
          await payload.heartbeat();
          caughtUp = await this.reader.sync(Math.max(250, settings.unknownWaitMs));
        }
        if (!payload.isRunning() || payload.isStale() || gen !== this.generation) break;
        result = this.core.handle(partition, offset, Number(message.timestamp), message.value);
      }
      if (result.kind === 'counted') counted++;
      else {
        const kind = result.kind === 'ignored' ? result.why : result.kind;
        results.set(kind, (results.get(kind) ?? 0) + 1);
      }
      if ((result.kind === 'reject' || result.kind === 'unknown') && offset >= ps.committed) {
        metrics.deadLetters.inc({ reason: result.reason });
        dead.push(this.deadLetter(partition, message, result));
      }
      lastResolved = message.offset;
      // A delta that may change a verdict goes out now, not at the end of a large batch: the signal is started
      // and the event loop gets a turn to put it on the wire (a batch is otherwise one long synchronous run).
      // Also now and then, so that accepted signals are seen (and a lane's next urgent delta may go); the
      // heartbeat goes with the turn (kafkajs sends one at most every heartbeatInterval anyway), not per record.
      const sent = this.core.aggregator.urgent.size > 0 && this.flushUrgent();
      if (sent || ((++sinceClock & CLOCK_MASK) === 0 && Date.now() - sliceStart >= YIELD_EVERY_MS)) {
        payload.resolveOffset(lastResolved);
        await eventLoopTurn(); // the event loop handles pending I/O (sockets, timers) first
        await payload.heartbeat();
        sliceStart = Date.now();
        recheck = true;
      }
    }
    // Per batch, not per record: kafkajs parses the offset and prom-client hashes the labels on every call.
    if (lastResolved !== undefined) payload.resolveOffset(lastResolved);
    if (counted > 0) metrics.events.inc({ result: 'counted' }, counted);
    for (const [result, n] of results) metrics.events.inc({ result }, n);
    if (dead.length > 0) await this.sendDeadLetters(dead);
    if (gen !== this.generation) return;
    if (lastResolved !== undefined) {
      ps.handled = Math.max(ps.handled, Number(lastResolved) + 1);
      if (!ps.live && ps.handled >= ps.liveFrom) {
        ps.live = true;
        metrics.rebuilding.set([...this.partitions.values()].filter((s) => !s.live).length);
        this.deps.log.info({ partition, offset: ps.handled }, 'partition rebuilt; live');
      }
    }
    metrics.trackedDevices.set(this.core.table.size);
    metrics.deviceTableBytes.set(this.core.table.byteLength);
    if (this.core.aggregator.urgent.size > 0) this.flushUrgent();
  }

  /**
   * Appends dead letters in requests below the broker's size limit, retrying until they are acknowledged:
   * a batch's records only count as handled once their dead letters are durable.
   */
  private async sendDeadLetters(dead: DeadLetter[]): Promise<void> {
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
          await this.producer!.send({ topic: this.deps.topics.installEventsDlq, acks: -1, messages });
          break;
        } catch (err) {
          if (this.stopping) throw err;
          this.deps.log.warn({ err, attempt }, 'dead-letter append failed; retrying');
          await sleep(Math.min(5000, 100 * 2 ** attempt));
        }
      }
    }
  }

  private deadLetter(
    partition: number,
    message: KafkaMessage,
    result: Extract<RecordResult, { reason: string }>,
  ): DeadLetter {
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
   * Signals every lane that is due: urgent (a verdict may change), or dirty for `flushIntervalMs`. Lanes are
   * independent: each has at most one signal in flight, and a slow one (a loaded Temporal, a lane workflow
   * far away) holds up neither the others nor an urgent lane's next signal. Nothing while frozen or stopping.
   */
  private kickFlush(): void {
    if (this.frozen || this.stopping) return;
    const agg = this.core.aggregator;
    const now = Date.now();
    for (const lane of [...agg.dirtyLanes()]) {
      if (agg.urgent.has(lane) || now - (this.lastFlush.get(lane.key) ?? 0) >= this.deps.settings.flushIntervalMs) {
        this.flushLane(lane);
      }
    }
  }

  /** Signals the urgent lanes now (called per record while a batch is read: touches only those lanes); true if one went. */
  private flushUrgent(): boolean {
    if (this.frozen || this.stopping) return false;
    let sent = false;
    for (const lane of [...this.core.aggregator.urgent]) sent = this.flushLane(lane) || sent;
    return sent;
  }

  /** Takes the lane's pending deltas and signals them, unless a signal of that lane is still in flight; true if sent. */
  private flushLane(lane: LaneInfo): boolean {
    if (this.delivering.has(lane)) return false;
    const taken = this.core.aggregator.takeLane(lane);
    this.lastFlush.set(lane.key, Date.now());
    if (taken === undefined) return false;
    const delivery = this.deliver(taken).finally(() => {
      this.delivering.delete(lane);
      this.requestCommit();
      // What arrived meanwhile goes out now if it is urgent; otherwise on the interval as usual.
      if (this.core.aggregator.urgent.has(lane) && !this.frozen && !this.stopping) this.flushLane(lane);
    });
    this.delivering.set(lane, delivery);
    return true;
  }

  /** Commits now, or right after the commit in progress (commits never overlap). */
  private requestCommit(): void {
    if (this.committing !== undefined) {
      this.commitAgain = true;
      return;
    }
    this.committing = this.commit().finally(() => {
      this.committing = undefined;
      if (this.commitAgain) {
        this.commitAgain = false;
        this.requestCommit();
      }
    });
  }

  /** Waits until no signal is in flight and the last commit is done. */
  private async settle(): Promise<void> {
    while (this.delivering.size > 0 || this.committing !== undefined) {
      await Promise.all([...this.delivering.values(), this.committing]);
    }
  }

  private async deliver(taken: TakenLane): Promise<void> {
    const { signaler, metrics, log } = this.deps;
    this.inflight.add(taken);
    try {
      for (let attempt = 0; ; attempt++) {
        const timer = metrics.flushLatency.startTimer();
        try {
          const outcome = await signaler.send(taken);
          timer();
          metrics.signals.inc({ outcome });
          if (outcome === 'gone') log.info({ lane: taken.lane.key }, 'lane workflow gone: deltas dropped');
          this.inflight.delete(taken);
          return;
        } catch (err) {
          metrics.signals.inc({ outcome: 'retried' });
          if (this.stopping && attempt >= 3) throw err;
          log.warn({ err, lane: taken.lane.key, attempt }, 'health-delta signal failed; retrying');
          await sleep(Math.min(5000, 100 * 2 ** attempt));
        }
      }
    } catch (err) {
      log.error({ err, lane: taken.lane.key }, 'giving up a signal while stopping; offsets stay uncommitted');
    }
  }

  /** Commits, per owned partition, up to the first change that is pending or not yet accepted. */
  private async commit(): Promise<void> {
    const floors = this.core.aggregator.pendingFloors();
    for (const taken of this.inflight) {
      for (const [p, from] of taken.floors) floors.set(p, Math.min(floors.get(p) ?? Infinity, from));
    }
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const [p, ps] of this.partitions) {
      if (!this.assigned.has(p)) continue;
      const upTo = Math.min(ps.handled, floors.get(p) ?? Infinity);
      if (upTo > ps.committed) {
        offsets.push({ topic: this.deps.topics.installEvents, partition: p, offset: String(upTo) });
        ps.committed = upTo;
      }
    }
    if (offsets.length === 0) return;
    try {
      // Bounded: during a broker outage kafkajs may never settle a commit, and the flusher must go on.
      await withTimeout(this.group!.current.commitOffsets(offsets), 10_000, 'offset commit');
    } catch (err) {
      for (const o of offsets) {
        const ps = this.partitions.get(o.partition);
        if (ps !== undefined) ps.committed = Math.min(ps.committed, ps.low);
      }
      this.deps.log.warn({ err }, 'offset commit failed (rebalance?); will commit later');
    }
  }

  private async scanTimeouts(): Promise<void> {
    if (this.stopping || this.producer === undefined) return;
    const live = new Set([...this.partitions].filter(([p, s]) => s.live && this.assigned.has(p)).map(([p]) => p));
    if (live.size === 0) return;
    const due = this.core.dueTimeouts(Date.now(), live);
    if (due.length === 0) return;
    try {
      await this.producer.send({
        topic: this.deps.topics.installEvents,
        acks: -1,
        messages: due.map(({ partition, marker }) => ({
          partition,
          key: marker.deviceKey,
          value: JSON.stringify(marker),
        })),
      });
      this.deps.metrics.timeoutMarkers.inc(due.length);
    } catch (err) {
      this.deps.log.warn({ err, markers: due.length }, 'could not append timeout markers; retrying next scan');
      for (const { marker } of due) this.core.unrequestTimeout(marker);
    }
  }

  private async updateLag(): Promise<void> {
    if (this.admin === undefined || this.stopping) return;
    try {
      const ends = await this.admin.fetchTopicOffsets(this.deps.topics.installEvents);
      for (const end of ends) {
        const ps = this.partitions.get(end.partition);
        if (ps === undefined || !this.assigned.has(end.partition)) continue;
        this.deps.metrics.lag.set({ partition: String(end.partition) }, Math.max(0, Number(end.high) - ps.handled));
      }
    } catch (err) {
      this.deps.log.debug({ err }, 'lag update failed');
    }
  }

  /** Whether every assigned partition has been prepared and replayed up to its log end at assignment. */
  isLive(): boolean {
    return this.assigned.size > 0 && [...this.assigned].every((p) => this.partitions.get(p)?.live === true);
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
    // Let the signals in flight land, then signal what is still pending (unless a rebalance took the partitions).
    await this.settle();
    if (!this.frozen) {
      for (const lane of [...this.core.aggregator.dirtyLanes()]) this.flushLane(lane);
      await this.settle();
    }
    await this.group?.stop();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    await this.reader.stop();
    this.deps.log.info('ingest stopped');
  }
}
