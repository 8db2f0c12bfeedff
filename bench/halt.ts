/**
 * Halt benchmark (`npm run bench:halt`): how fast the engine halts a bad build on real servers under
 * load. Runs a worker, an ingest member and the fleet simulator as real processes on fresh topics
 * (append-time timestamps), starts a stream of rollouts whose classes are mostly healthy (the steady
 * load) and one of which carries a bad build (a spike), and measures for every spike:
 *
 *   decision latency = Kafka append time of the install event that made the breach rule true
 *                    → Kafka append time of the halt event (lane-paused / rollback-started).
 *
 * "The event that made the rule true" is found after the run by re-judging the lane's install events
 * one by one in append order with the lane's own thresholds (`evaluateHealth` on the window's counts,
 * duplicates dropped by event id, a device's first final outcome counted). A second figure runs to the
 * rollback order: the append time of the lane's first `rollback` order on the commands topic, the moment
 * the fleet is told to take the build back.
 *
 * Every injected spike is accounted for: a line per spike says `matched` (halted, trigger found) or why
 * not (`no-breach`, `no-halt-event`, `no-trigger-in-evidence`); the last line gives `spikesInjected`,
 * `spikesMatched`, the unmatched reasons, breaches on healthy classes (`falseBreaches`), the halt and
 * rollback-order quantiles and the install-event throughput:
 * `{"bench":"halt","spikesInjected":…,"spikesMatched":…,"p95Ms":…,"rollbackOrderP95Ms":…,"eventsPerSec":…}`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRollout, waitForRollout } from '../client';
import { loadConfig, type Config } from '../config/env';
import { isRefusal } from '../events/commands';
import type { DomainEvent, OutcomeCounts } from '../events/domain-events';
import { decideLane, foldLane, initialLaneState } from '../events/lane';
import { validatePlan } from '../events/plan';
import { upcast } from '../events/upcast';
import { createKafka } from '../kafka/client';
import { waitForConsumerGroups } from '../kafka/consumer-groups';
import { benchArgs } from './args';
import { readTopicSlice } from '../kafka/read-slice';
import { createTopicsAndWait, topicSpecs } from '../kafka/topics';
import { startEngineProcess, type EngineProcess } from '../scripts/engine-process';
import { connectClient } from '../temporal/connection';
import { laneWorkflowId } from '../workflows/messages';

const args = benchArgs('npm run bench:halt --', {
  rollouts: { type: 'number', integer: true, min: 1, default: 24, help: 'rollouts started, each with one bad class' },
  classes: { type: 'number', integer: true, min: 1, default: 4, help: 'device classes per rollout' },
  devices: { type: 'number', integer: true, min: 1, default: 4000, help: 'devices per class (the steady load)' },
  'interval-ms': { type: 'number', integer: true, default: 4000, help: 'time between rollout starts' },
  'bad-rate': { type: 'number', max: 1, default: 0.15, help: "the bad build's install failure rate" },
  seed: { type: 'number', integer: true, default: 20261127, help: "the fleet simulator's seed" },
  'simulator-nice': {
    type: 'number',
    integer: true,
    min: 0,
    max: 19,
    default: 10,
    help: "the fleet simulator's nice value: the load generator yields the CPU to the engine it loads (0: equal)",
  },
});
const ROLLOUTS = args.rollouts;
const CLASSES = args.classes;
const DEVICES = args.devices;
const INTERVAL_MS = args['interval-ms'];
const BAD_RATE = args['bad-rate'];
const SEED = args.seed;
const SIMULATOR_NICE = args['simulator-nice'];
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

type Rec = { partition: number; offset: number; ts: number; value: Buffer | null };

/** Reads a whole topic (to its end at the time of the call) through the replay's slice reader. */
async function readTopic(config: Config, topic: string): Promise<Rec[]> {
  const recs: Rec[] = [];
  const kafka = createKafka(config.kafka, { clientId: 'bench-halt-reader' });
  await readTopicSlice(
    kafka,
    topic,
    (partition, offset, ts, _k, value) => recs.push({ partition, offset, ts, value }),
    { label: 'bench-halt' },
  );
  return recs;
}

type Ranges = { partition: number; fromOffset: string; toOffset: string }[];

/**
 * When the Temporal server accepted the signal that carried the breaching delta (`offerId` with exactly
 * `ranges`), and when the lane's next workflow task started: splits "evidence → decision" into the ingest's
 * part and Temporal's. Searches every run of the lane (it may have continued as new). Nulls if not found.
 */
async function signalTimes(
  client: Client,
  rolloutId: string,
  lane: string,
  offerId: string,
  ranges: Ranges,
): Promise<{
  signalledMs: number;
  taskStartedMs: number | null;
  taskCompletedMs: number | null;
  activityStartedMs: number | null;
} | null> {
  const want = JSON.stringify(ranges);
  const T = temporal.api.enums.v1.EventType;
  const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) =>
    Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  // The latest run first, then its predecessors through the continued-as-new links (each history fetched once).
  const handle = client.workflow.getHandle(laneWorkflowId(rolloutId, lane));
  let next: string | undefined = (await handle.describe()).runId;
  for (let runs = 0; next !== undefined && runs < 50; runs++) {
    const history: temporal.api.history.v1.IHistory = await client.workflow
      .getHandle(handle.workflowId, next)
      .fetchHistory();
    const events = history.events ?? [];
    const prev: string | null | undefined = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    next = prev ? prev : undefined;
    for (let i = 0; i < events.length; i++) {
      const attrs = events[i]!.workflowExecutionSignaledEventAttributes;
      if (events[i]!.eventType !== T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED || attrs?.signalName !== 'healthDelta')
        continue;
      const payload = attrs.input?.payloads?.[0];
      if (!payload) continue;
      const signal = defaultPayloadConverter.fromPayload<{ deltas?: { offerId: string; delta: { ranges: Ranges } }[] }>(
        payload,
      );
      if (!signal.deltas?.some((d) => d.offerId === offerId && JSON.stringify(d.delta.ranges) === want)) continue;
      const after = (from: number, type: temporal.api.enums.v1.EventType) => {
        const k = events.findIndex((e, index) => index > from && e.eventType === type);
        return k < 0 ? null : k;
      };
      const started = after(i, T.EVENT_TYPE_WORKFLOW_TASK_STARTED);
      const completed = started === null ? null : after(started, T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      // The round's first activity (its append) started: with eager dispatch, in the task's completion.
      const activity = completed === null ? null : after(completed, T.EVENT_TYPE_ACTIVITY_TASK_STARTED);
      const at = (k: number | null) => (k === null ? null : ms(events[k]!.eventTime));
      return {
        signalledMs: ms(events[i]!.eventTime),
        taskStartedMs: at(started),
        taskCompletedMs: at(completed),
        activityStartedMs: at(activity),
      };
    }
  }
  return null;
}

function plan(i: number, badClass: string) {
  const classes = Array.from({ length: CLASSES }, (_, c) => `c${c}`);
  return validatePlan({
    releaseId: `halt-bench-${i}`,
    artifact: { build: '1.0.0' },
    deviceClasses: classes,
    phases: [
      { share: 10, bake: '5s' },
      { share: 40, bake: '5s' },
      { share: 100, bake: '5s' },
    ],
    thresholds: {
      maxFailureRate: 0.05,
      minSample: 50,
      installTimeoutSec: 120,
      rule: 'sequential',
      falseHaltProbability: 0.01,
    },
    breachPolicy: { action: 'pause' },
    rollbackTimeout: '10s',
    classes: { [badClass]: { artifact: { build: '6.6.6-bad' }, breachPolicy: { action: 'rollback' } } },
  });
}

async function main(): Promise<void> {
  const run = `halt-${Date.now().toString(36)}`;
  const base = loadConfig(process.env);
  const topics = {
    rolloutEvents: `${run}.rollout-events`,
    commands: `${run}.commands`,
    installEvents: `${run}.install-events`,
    installEventsDlq: `${run}.dlq`,
    partitions: base.topics.partitions,
  };
  const config: Config = { ...base, topics, temporal: { ...base.temporal, taskQueue: run } };
  const env = {
    BSI_TOPIC_ROLLOUT_EVENTS: topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: topics.installEventsDlq,
    TEMPORAL_TASK_QUEUE: run,
    INGEST_GROUP_ID: `${run}-ingest`,
    INGEST_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  };
  out({
    bench: 'halt',
    phase: 'settings',
    run,
    rollouts: ROLLOUTS,
    classes: CLASSES,
    devicesPerClass: DEVICES,
    intervalMs: INTERVAL_MS,
    badRate: BAD_RATE,
    seed: SEED,
    simulatorNice: SIMULATOR_NICE,
  });

  // Topics with broker append time, so both ends of the latency are stamped by the same clock.
  const kafka = createKafka(config.kafka, { clientId: 'bench-halt' });
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(
    admin,
    topicSpecs(topics).map((t) => ({
      ...t,
      configEntries: [...(t.configEntries ?? []), { name: 'message.timestamp.type', value: 'LogAppendTime' }],
    })),
  );
  await admin.disconnect();

  const dir = mkdtempSync(join(tmpdir(), 'bench-halt-'));
  const scenarioFile = join(dir, 'scenario.json');
  writeFileSync(
    scenarioFile,
    JSON.stringify({
      seed: SEED,
      defaults: {
        failureRate: 0.003,
        errorCodes: { E_DISK_FULL: 1, E_NETWORK: 1 },
        silentRate: 0,
        duplicateRate: 0.01,
        reorderRate: 0.01,
        rollbackSuccessRate: 1,
        checkInDelaySec: { median: 1.5, max: 6 },
        installDurationSec: { median: 2, max: 8 },
        rollbackDurationSec: { median: 1, max: 3 },
      },
      classes: Object.fromEntries(
        Array.from({ length: CLASSES }, (_, c) => [
          `c${c}`,
          { devices: DEVICES, builds: { '6.6.6-bad': { failureRate: BAD_RATE, errorCodes: { E_BOOT_LOOP: 1 } } } },
        ]),
      ),
    }),
  );

  const children: EngineProcess[] = [];
  const client = await connectClient(config.temporal);
  try {
    const logDir = dir;
    children.push(
      startEngineProcess('worker', ['worker'], {
        env,
        logFile: join(logDir, 'worker.log'),
        ready: /worker running|RUNNING/,
      }),
    );
    children.push(
      startEngineProcess('ingest', ['ingest'], {
        env,
        logFile: join(logDir, 'ingest.log'),
        ready: /"ingest":"started"/,
      }),
    );
    children.push(
      startEngineProcess('simulator', ['simulate', scenarioFile, '--group', `${run}-sim`], {
        env: { ...env, LOG_LEVEL: 'info' },
        logFile: join(logDir, 'simulator.log'),
        ready: /simulating/,
        nice: SIMULATOR_NICE,
      }),
    );
    await Promise.all(children.map((c) => c.ready));
    // The ingest and the simulator read nothing until their groups have joined: a rollout started before would see
    // its first install events delivered late, as one backlog (a halt that waited seconds for the join, not for the
    // engine). In production the ingest runs long before a rollout starts.
    const joinStart = Date.now();
    await waitForConsumerGroups(kafka, [env.INGEST_GROUP_ID, `${run}-sim`]);
    out({ bench: 'halt', phase: 'started', logs: logDir, groupsJoinedMs: Date.now() - joinStart });

    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < ROLLOUTS; i++) {
      const parsed = plan(i, `c${i % CLASSES}`);
      if (!parsed.ok) throw new Error(`bench plan invalid: ${JSON.stringify(parsed.errors)}`);
      const started = await startRollout(client, {
        plan: parsed.plan,
        rolloutId: `${run}-r${i}`,
        actor: 'bench',
        reason: 'halt bench',
        taskQueue: run,
      });
      ids.push(started.rolloutId);
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
    const summaries = await Promise.all(ids.map((id) => waitForRollout(client, id)));
    const wallSec = (Date.now() - t0) / 1000;
    out({ bench: 'halt', phase: 'rollouts-done', wallSec, outcomes: summaries.map((s) => s.lanes) });
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }

  // Analysis: both topics as recorded.
  const [installs, log] = await Promise.all([
    readTopic(config, topics.installEvents),
    readTopic(config, topics.rolloutEvents),
  ]);
  // The log as first appended: a republished event (an activity retried) keeps its first append time.
  const appendedIds = new Set<string>();
  const events = log
    .map((r) => ({ ts: r.ts, event: upcast(JSON.parse(r.value?.toString() ?? 'null')) }))
    .filter(({ event }) => !appendedIds.has(event.eventId) && appendedIds.add(event.eventId));

  type Report = {
    ts: number;
    partition: number;
    offset: number;
    eventId: string;
    deviceId: string;
    offerId: string;
    rolloutId: string;
    type: string;
    errorCode?: string;
  };
  const byOffer = new Map<string, Report[]>();
  for (const r of installs) {
    const v = JSON.parse(r.value?.toString() ?? 'null') as Report & { kind?: string };
    if (v.kind !== undefined) continue; // ingest timeout markers: none expected at these install times
    const key = `${v.rolloutId}/${v.offerId}`;
    let list = byOffer.get(key);
    if (!list) byOffer.set(key, (list = []));
    list.push({ ...v, ts: r.ts, partition: r.partition, offset: r.offset });
  }
  const installTimes = installs.map((r) => r.ts).sort((a, b) => a - b);

  // Every injected spike (rollout i's bad class is c<i mod classes>) gets a line: matched (halted, with the
  // evidence that made the rule true found), or why not — none is dropped silently.
  const commands = await readTopic(config, topics.commands);
  const rollbackOrderAt = new Map<string, number>();
  for (const r of commands) {
    const order = JSON.parse(r.value?.toString() ?? 'null') as { kind?: string; rolloutId?: string; lane?: string };
    const key = `${order.rolloutId}/${order.lane}`;
    if (order.kind === 'rollback' && !rollbackOrderAt.has(key)) rollbackOrderAt.set(key, r.ts);
  }
  type Spike = { latencyMs: number; rollbackOrderMs: number | null };
  const matched: Spike[] = [];
  const unmatched: Record<string, number> = {};
  const injected = Array.from({ length: ROLLOUTS }, (_, i) => ({ rolloutId: `${run}-r${i}`, lane: `c${i % CLASSES}` }));
  for (const { rolloutId, lane } of injected) {
    const spike = await judgeSpike(rolloutId, lane);
    if ('unmatched' in spike) unmatched[spike.unmatched] = (unmatched[spike.unmatched] ?? 0) + 1;
    else matched.push(spike);
  }
  // Breaches on the healthy classes: false halts under the steady load (each one a class paused for nothing).
  const badLanes = new Set(injected.map((s) => `${s.rolloutId}/${s.lane}`));
  const falseBreaches = events.filter(
    (e) => e.event.type === 'threshold-breached' && !badLanes.has(`${e.event.rolloutId}/${e.event.lane}`),
  ).length;

  /**
   * When the evidence that made the lane's rule true was appended. The lane judged the breaching delta's records
   * all at once; replaying them one by one in append order into the lane's own decider (`decideLane`, on the state
   * folded from the lane's events before that delta) finds the first record after which the lane would have
   * breached. Records count as the ingest counts them: by event id once, a device's first final outcome on the
   * offer (finals before the lane's marks were counted by earlier deltas).
   */
  function triggerOf(
    laneEvents: { event: DomainEvent }[],
    evaluated: Extract<DomainEvent, { type: 'health-evaluated' }>,
  ): { trigger: number; exact: boolean; devicesJudged: number } | null {
    const { offerId, delta } = evaluated.data;
    const prior = foldLane(
      laneEvents.map((e) => e.event).filter((e) => e.seq < evaluated.seq),
      initialLaneState(evaluated.rolloutId, evaluated.lane ?? ''),
    );
    const marks = prior.highWater[offerId] ?? {};
    const inDelta = (r: Report) =>
      delta.ranges.some(
        (range) =>
          range.partition === r.partition &&
          r.offset >= Number(range.fromOffset) &&
          r.offset <= Number(range.toOffset) &&
          (marks[String(r.partition)] === undefined || r.offset > Number(marks[String(r.partition)])),
      );
    const reports = byOffer.get(`${evaluated.rolloutId}/${offerId}`) ?? [];
    const seen = new Set<string>();
    const finals = new Set<string>();
    const before = (r: Report) => {
      const mark = marks[String(r.partition)];
      return mark !== undefined && r.offset <= Number(mark);
    };
    for (const r of reports) {
      if (!before(r) || seen.has(r.eventId)) continue;
      seen.add(r.eventId);
      if (r.type === 'succeeded' || r.type === 'failed') finals.add(r.deviceId);
    }
    const records = reports
      .filter(inDelta)
      .sort((a, b) => a.ts - b.ts || a.partition - b.partition || a.offset - b.offset);
    if (records.length === 0) return null;
    const counts: OutcomeCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
    for (const r of records) {
      if (seen.has(r.eventId)) continue;
      seen.add(r.eventId);
      if ((r.type !== 'succeeded' && r.type !== 'failed') || finals.has(r.deviceId)) continue;
      finals.add(r.deviceId);
      if (r.type === 'succeeded') counts.succeeded++;
      else counts.failedByCode[r.errorCode ?? 'unknown'] = (counts.failedByCode[r.errorCode ?? 'unknown'] ?? 0) + 1;
      const answer = decideLane(prior, {
        type: 'health-delta',
        lane: prior.lane,
        offerId,
        delta: { counts: { ...counts, failedByCode: { ...counts.failedByCode } }, ranges: delta.ranges },
        at: evaluated.at,
      });
      if (!isRefusal(answer) && answer.some((e) => e.type === 'threshold-breached')) {
        return { trigger: r.ts, exact: true, devicesJudged: finals.size };
      }
    }
    return { trigger: records[records.length - 1]!.ts, exact: false, devicesJudged: finals.size };
  }

  async function judgeSpike(rolloutId: string, lane: string): Promise<Spike | { unmatched: string }> {
    const fail = (unmatched: string) => {
      out({ bench: 'halt', phase: 'spike', rolloutId, lane, matched: false, unmatched });
      return { unmatched };
    };
    const laneEvents = events.filter((e) => e.event.rolloutId === rolloutId && e.event.lane === lane);
    const breach = laneEvents.find((e) => e.event.type === 'threshold-breached');
    if (breach === undefined || breach.event.type !== 'threshold-breached') return fail('no-breach');
    const event = breach.event;
    const halt = laneEvents.find(
      (e) => e.event.seq > event.seq && (e.event.type === 'lane-paused' || e.event.type === 'rollback-started'),
    );
    if (halt === undefined) return fail('no-halt-event');
    const evaluated = laneEvents.find((e) => e.event.seq === event.seq - 1)?.event;
    if (evaluated?.type !== 'health-evaluated') return fail('breach-not-on-a-delta');
    const found = triggerOf(laneEvents, evaluated);
    if (found === null) return fail('no-trigger-in-evidence');
    const { trigger, exact, devicesJudged } = found;
    const latencyMs = halt.ts - trigger;
    const orderAt = rollbackOrderAt.get(`${rolloutId}/${lane}`);
    const rollbackOrderMs = orderAt === undefined ? null : orderAt - trigger;
    // Where the time went: the lane decided in a round stamped with the workflow clock (`at`), together with
    // every other input that round took (the lane's backlog); the round's append then landed at `halt.ts`.
    const decidedAt = Date.parse(event.at);
    const times = await signalTimes(client, rolloutId, lane, evaluated.data.offerId, evaluated.data.delta.ranges);
    const roundInputs = laneEvents.filter((e) => e.event.at === event.at && e.event.type === 'health-evaluated').length;
    out({
      bench: 'halt',
      phase: 'spike',
      rolloutId,
      lane,
      matched: true,
      latencyMs,
      rollbackOrderMs,
      evidenceToDecisionMs: decidedAt - trigger,
      // of which: ingest (evidence appended → signal accepted) and Temporal (→ the lane's workflow task started)
      ingestMs: times ? times.signalledMs - trigger : null,
      signalToTaskMs: times?.taskStartedMs != null ? times.taskStartedMs - times.signalledMs : null,
      decisionToAppendMs: halt.ts - decidedAt,
      // of which: the workflow task (started → completed, as the server saw it), then the append activity (task
      // completed → activity started → the halt event on the log)
      taskMs:
        times?.taskCompletedMs != null && times.taskStartedMs != null
          ? times.taskCompletedMs - times.taskStartedMs
          : null,
      activityStartMs:
        times?.activityStartedMs != null && times.taskCompletedMs != null
          ? times.activityStartedMs - times.taskCompletedMs
          : null,
      appendMs: times?.activityStartedMs != null ? halt.ts - times.activityStartedMs : null,
      roundInputs,
      devicesJudged,
      // false: re-counting the breaching delta's records did not give the lane's breach; the trigger is then the
      // delta's last record (an upper bound on the evidence time, so the latency is a lower bound).
      triggerExact: exact,
    });
    return { latencyMs, rollbackOrderMs };
  }
  await client.connection.close();
  const quantiles = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? null;
    return { p50: q(0.5), p95: q(0.95), max: sorted[sorted.length - 1] ?? null };
  };
  const halt = quantiles(matched.map((s) => s.latencyMs));
  const orders = matched.flatMap((s) => (s.rollbackOrderMs === null ? [] : [s.rollbackOrderMs]));
  const order = quantiles(orders);
  const first = installTimes[0] ?? 0;
  const last = installTimes[installTimes.length - 1] ?? 0;
  // Throughput over the busy part of the run: the central 90% of install events by append time.
  const lo = installTimes[Math.floor(installTimes.length * 0.05)] ?? first;
  const hi = installTimes[Math.floor(installTimes.length * 0.95)] ?? last;
  const eventsPerSec = hi > lo ? Math.round((installTimes.length * 0.9) / ((hi - lo) / 1000)) : 0;
  out({
    bench: 'halt',
    spikesInjected: injected.length,
    spikesMatched: matched.length,
    unmatched,
    falseBreaches,
    p50Ms: halt.p50,
    p95Ms: halt.p95,
    maxMs: halt.max,
    // Evidence → the rollback order on the commands topic (the fleet is told to take the build back).
    rollbackOrders: orders.length,
    rollbackOrderP50Ms: order.p50,
    rollbackOrderP95Ms: order.p95,
    rollbackOrderMaxMs: order.max,
    eventsPerSec,
    installEvents: installTimes.length,
    spanSec: Math.round((last - first) / 100) / 10,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:halt failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
