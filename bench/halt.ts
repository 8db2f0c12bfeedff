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
 * duplicates dropped by event id, a device's first final outcome counted). Prints JSON lines: the
 * settings, one line per spike, and last
 * `{"bench":"halt","spikes":…,"p50Ms":…,"p95Ms":…,"maxMs":…,"eventsPerSec":…}`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRollout, waitForRollout } from '../client';
import { loadConfig, type Config } from '../config/env';
import { evaluateHealth, type HealthCounts } from '../events/health';
import { windowThresholds } from '../events/lane';
import { rulesVersionOf, validatePlan, type LaneConfig } from '../events/plan';
import { upcast } from '../events/upcast';
import { createKafka } from '../kafka/client';
import { readTopicSlice } from '../kafka/read-slice';
import { createTopicsAndWait, topicSpecs } from '../kafka/topics';
import { startEngineProcess, type EngineProcess } from '../scripts/engine-process';
import { connectClient } from '../temporal/connection';
import { laneWorkflowId } from '../workflows/messages';

const args = new Map(
  process.argv.slice(2).flatMap((a, i, all) => (a.startsWith('--') ? [[a.slice(2), all[i + 1] ?? '']] : [])),
);
const ROLLOUTS = Number(args.get('rollouts') ?? 24);
const CLASSES = Number(args.get('classes') ?? 4);
const DEVICES = Number(args.get('devices') ?? 4000);
const INTERVAL_MS = Number(args.get('interval-ms') ?? 4000);
const BAD_RATE = Number(args.get('bad-rate') ?? 0.15);
const SEED = Number(args.get('seed') ?? 20261127);
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

type Rec = { ts: number; value: Buffer | null };

/** Reads a whole topic (to its end at the time of the call) through the replay's slice reader. */
async function readTopic(config: Config, topic: string): Promise<Rec[]> {
  const recs: Rec[] = [];
  const kafka = createKafka(config.kafka, { clientId: 'bench-halt-reader' });
  await readTopicSlice(kafka, topic, (_p, _o, ts, _k, value) => recs.push({ ts, value }), { label: 'bench-halt' });
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
): Promise<{ signalledMs: number; taskStartedMs: number | null } | null> {
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
      const started = events.slice(i + 1).find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED);
      return { signalledMs: ms(events[i]!.eventTime), taskStartedMs: started ? ms(started.eventTime) : null };
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
      }),
    );
    await Promise.all(children.map((c) => c.ready));
    out({ bench: 'halt', phase: 'started', logs: logDir });

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
  const events = log.map((r) => ({ ts: r.ts, event: upcast(JSON.parse(r.value?.toString() ?? 'null')) }));
  const configs = new Map<string, LaneConfig>();
  for (const { event } of events)
    if (event.type === 'lane-started') configs.set(`${event.rolloutId}/${event.lane}`, event.data.config);

  type Report = {
    ts: number;
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
    list.push({ ...v, ts: r.ts });
  }
  const installTimes = installs.map((r) => r.ts).sort((a, b) => a - b);

  const spikes: { rolloutId: string; lane: string; latencyMs: number; sample: number }[] = [];
  for (const { ts: breachTs, event } of events) {
    if (event.type !== 'threshold-breached' || event.lane === null) continue;
    const halt = events.find(
      (e) =>
        e.event.rolloutId === event.rolloutId &&
        e.event.lane === event.lane &&
        e.event.seq > event.seq &&
        (e.event.type === 'lane-paused' || e.event.type === 'rollback-started'),
    );
    const laneConfig = configs.get(`${event.rolloutId}/${event.lane}`);
    if (!halt || !laneConfig) continue;
    const thresholds = windowThresholds(laneConfig, 'exposure');
    // The lane judges the attempt's evidence over all its phases (rules version 2): replay every offer of it.
    const attemptOffers = [...byOffer.keys()].filter(
      (key) =>
        key.startsWith(`${event.rolloutId}/${event.lane}/p`) &&
        key.endsWith(`a${event.data.attempt}`) &&
        (rulesVersionOf(laneConfig) >= 2 || key === `${event.rolloutId}/${event.data.offerId}`),
    );
    const reports = attemptOffers.flatMap((key) => byOffer.get(key) ?? []).sort((a, b) => a.ts - b.ts);
    const seen = new Set<string>();
    const finals = new Set<string>();
    const counts: HealthCounts = { succeeded: 0, failedByCode: {}, timedOut: 0, inProgress: 0 };
    let trigger: number | undefined;
    for (const r of reports) {
      if (seen.has(r.eventId)) continue;
      seen.add(r.eventId);
      if ((r.type !== 'succeeded' && r.type !== 'failed') || finals.has(r.deviceId)) continue;
      finals.add(r.deviceId);
      if (r.type === 'succeeded') counts.succeeded++;
      else counts.failedByCode[r.errorCode ?? 'unknown'] = (counts.failedByCode[r.errorCode ?? 'unknown'] ?? 0) + 1;
      if (evaluateHealth(counts, thresholds).verdict === 'breach') {
        trigger = r.ts;
        break;
      }
    }
    if (trigger === undefined) continue;
    const latencyMs = halt.ts - trigger;
    // Where the time went: the lane decided in a round stamped with the workflow clock (`at`), together with
    // every other input that round took (the lane's backlog); the round's append then landed at `halt.ts`.
    const decidedAt = Date.parse(event.at);
    const evaluated = events.find(
      (e) => e.event.rolloutId === event.rolloutId && e.event.lane === event.lane && e.event.seq === event.seq - 1,
    )?.event;
    const times =
      evaluated?.type === 'health-evaluated'
        ? await signalTimes(client, event.rolloutId, event.lane, evaluated.data.offerId, evaluated.data.delta.ranges)
        : null;
    const roundInputs = events.filter(
      (e) =>
        e.event.rolloutId === event.rolloutId &&
        e.event.lane === event.lane &&
        e.event.at === event.at &&
        e.event.type === 'health-evaluated',
    ).length;
    spikes.push({ rolloutId: event.rolloutId, lane: event.lane, latencyMs, sample: finals.size });
    out({
      bench: 'halt',
      phase: 'spike',
      rolloutId: event.rolloutId,
      lane: event.lane,
      latencyMs,
      evidenceToDecisionMs: decidedAt - trigger,
      // of which: ingest (evidence appended → signal accepted) and Temporal (→ the lane's workflow task started)
      ingestMs: times ? times.signalledMs - trigger : null,
      signalToTaskMs: times?.taskStartedMs != null ? times.taskStartedMs - times.signalledMs : null,
      decisionToAppendMs: halt.ts - decidedAt,
      roundInputs,
      devicesJudged: finals.size,
      breachAppendMs: breachTs,
    });
  }
  await client.connection.close();
  const lat = spikes.map((s) => s.latencyMs).sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.max(0, Math.ceil(p * lat.length) - 1))] ?? null;
  const first = installTimes[0] ?? 0;
  const last = installTimes[installTimes.length - 1] ?? 0;
  // Throughput over the busy part of the run: the central 90% of install events by append time.
  const lo = installTimes[Math.floor(installTimes.length * 0.05)] ?? first;
  const hi = installTimes[Math.floor(installTimes.length * 0.95)] ?? last;
  const eventsPerSec = hi > lo ? Math.round((installTimes.length * 0.9) / ((hi - lo) / 1000)) : 0;
  out({
    bench: 'halt',
    spikes: spikes.length,
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    maxMs: lat[lat.length - 1] ?? null,
    eventsPerSec,
    installEvents: installTimes.length,
    spanSec: Math.round((last - first) / 100) / 10,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:halt failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
