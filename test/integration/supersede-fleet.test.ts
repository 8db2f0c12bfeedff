// Superseding a rolled-back class on the real servers, end to end: the worker, the ingest and the fleet simulator run
// as the real `rollout` processes (fresh topics, task queue and consumer groups). A bad build is rolled back from
// laptop-x1 at 10 %; `rollout start fix.yaml --supersedes <old>` (the CLI) brings a fixed build through a linked
// rollout. The fix's first cohort is the old exposed bound under the old rollout's salt — the very devices that
// reported on the bad build report on the fix — the ingest counts them (none dead-lettered as outside the cohort),
// the class completes on the fixed build, and both postmortems (`rollout replay`) name the other rollout.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { startRollout, waitForRollout } from '../../client';
import { loadConfig, type Config } from '../../config/env';
import { cohortOf } from '../../events/cohort';
import { exposureOfferId } from '../../events/lane';
import { parsePlan } from '../../events/plan';
import { readTopicSlice } from '../../kafka/read-slice';
import { ensureTopics, topicSpecs } from '../../kafka/topics';
import { readRolloutLog } from '../../replay/read-log';
import { testKafka, testTemporalClient } from '../support/endpoints';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(300_000);

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'rollout.js');
const LANE = 'laptop-x1';

const BAD_PLAN = `releaseId: bsi-sup-bad
artifact: { build: 26.3.2 }
deviceClasses: [laptop-x1]
phases:
  - { share: 10, bake: 6s }
  - { share: 100, bake: 0 }
thresholds: { maxFailureRate: 0.05, minSample: 100, installTimeoutSec: 60, rule: plain }
breachPolicy: { action: rollback }
rollbackTimeout: 8s
`;

// The fix starts at 5 %: the superseding lane widens its first phase to the old 10 %.
const FIX_PLAN = `releaseId: bsi-sup-fix
artifact: { build: 26.3.3 }
deviceClasses: [laptop-x1]
phases:
  - { share: 5, bake: 6s }
  - { share: 100, bake: 0 }
thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 60, rule: plain }
breachPolicy: { action: pause }
`;

const SCENARIO = `seed: 11
defaults:
  failureRate: 0.002
  errorCodes: { E_DISK_FULL: 1 }
  silentRate: 0
  duplicateRate: 0
  reorderRate: 0
  rollbackSuccessRate: 1
  checkInDelaySec: { median: 3, max: 10 }
  installDurationSec: { median: 2, max: 6 }
  rollbackDurationSec: { median: 1, max: 3 }
classes:
  laptop-x1:
    devices: 3000
    builds:
      26.3.2: { failureRate: 0.15, errorCodes: { E_BOOT_LOOP: 1 } }
`;

function childEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: config.topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: config.topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: config.topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: config.topics.installEventsDlq,
    BSI_TOPIC_PARTITIONS: String(config.topics.partitions),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Every JSON record value of a topic, parsed (records that are not JSON objects are skipped). */
async function readJson(kafka: Kafka, topic: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  await readTopicSlice(kafka, topic, (_p, _o, _t, _k, value) => {
    if (value === null) return;
    try {
      const parsed: unknown = JSON.parse(value.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) out.push(parsed as Record<string, unknown>);
    } catch {
      // a dead letter may hold bytes that are not JSON: not one of ours
    }
  });
  return out;
}

describe('superseding a rolled-back class (worker, ingest and simulator processes)', () => {
  let config: Config;
  let kafka: Kafka;
  let client: Client;
  let dir: string;
  const children: ChildProcess[] = [];
  let oldId: string;
  let newId: string;

  beforeAll(async () => {
    const base = uniqueName('supersede');
    config = loadConfig({
      ...process.env,
      BSI_TOPIC_ROLLOUT_EVENTS: `${base}.rollout-events`,
      BSI_TOPIC_COMMANDS: `${base}.commands`,
      BSI_TOPIC_INSTALL_EVENTS: `${base}.install-events`,
      BSI_TOPIC_INSTALL_EVENTS_DLQ: `${base}.install-events.dlq`,
      BSI_TOPIC_PARTITIONS: '3',
      TEMPORAL_TASK_QUEUE: `${base}-tq`,
    });
    kafka = testKafka(`${base}-test`);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, topicSpecs(config.topics));
    await admin.disconnect();
    client = await testTemporalClient();
    dir = mkdtempSync(path.join(tmpdir(), 'supersede-'));
    writeFileSync(path.join(dir, 'fix.yaml'), FIX_PLAN);
    writeFileSync(path.join(dir, 'scenario.yaml'), SCENARIO);
    const start = (args: string[], extra: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: childEnv(config, extra),
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
    };
    start(['worker'], {});
    start(['ingest'], { INGEST_GROUP_ID: `${base}-ingest`, INGEST_METRICS_PORT: '0' });
    start(['simulate', path.join(dir, 'scenario.yaml'), '--group', `${base}-sim`], {});
    await new Promise((resolve) => setTimeout(resolve, 12_000));

    const bad = parsePlan(BAD_PLAN);
    if (!bad.ok) throw new Error('bad plan invalid');
    oldId = `${base}-old`;
    newId = `${base}-fix`;
    await startRollout(client, {
      plan: bad.plan,
      rolloutId: oldId,
      actor: 'sre-test',
      reason: 'bad build',
      taskQueue: config.temporal.taskQueue,
    });
    await waitForRollout(client, oldId);
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null) resolve(undefined);
            else child.once('exit', resolve);
            setTimeout(() => {
              child.kill('SIGKILL');
              resolve(undefined);
            }, 10_000).unref();
          }),
      ),
    );
    await client?.connection.close();
    const admin = kafka?.admin();
    if (admin) {
      await admin
        .connect()
        .then(() => admin.deleteTopics({ topics: topicSpecs(config.topics).map((s) => s.topic) }))
        .catch(() => undefined)
        .finally(() => admin.disconnect());
    }
  });

  it('the class completes on the fixed build, first offered to the devices that got the bad one', async () => {
    const oldLog = (await readRolloutLog(kafka, config.topics.rolloutEvents, oldId)).events;
    const rollback = oldLog.find((e) => e.type === 'rollback-started');
    expect(rollback?.type === 'rollback-started' && rollback.data.cohortBound).toBe(1000);
    expect(oldLog.find((e) => e.type === 'rollout-completed')?.data).toEqual({ lanes: { [LANE]: 'rolled-back' } });

    // The CLI, as an SRE runs it; a refusal first: a rollout cannot supersede one that does not exist.
    const env = childEnv(config);
    const refused = spawnSync(
      process.execPath,
      [BIN, 'start', path.join(dir, 'fix.yaml'), '--id', `${newId}-x`, '--supersedes', `${oldId}-nope`],
      { env, cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain(`unknown rollout ${oldId}-nope`);
    const started = spawnSync(
      process.execPath,
      [BIN, 'start', path.join(dir, 'fix.yaml'), '--id', newId, '--supersedes', oldId, '--reason', 'fixed build'],
      { env, cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(started.stderr).toBe('');
    expect(started.status).toBe(0);
    const summary = await waitForRollout(client, newId);
    expect(summary).toMatchObject({ status: 'completed', lanes: { [LANE]: 'completed' } });
    // Let the last phase's devices report.
    await new Promise((resolve) => setTimeout(resolve, 15_000));

    const newLog = (await readRolloutLog(kafka, config.topics.rolloutEvents, newId)).events;
    const laneStarted = newLog.find((e) => e.type === 'lane-started');
    expect(laneStarted?.type === 'lane-started' && laneStarted.data.config).toMatchObject({
      cohortSalt: oldId,
      artifact: { build: '26.3.3' },
    });
    const exposures = newLog.flatMap((e) => (e.type === 'exposure-issued' ? [e.data.cohortBound] : []));
    expect(exposures).toEqual([1000, 10000]);

    // Who reported on each first offer: the same devices, all in the old rollout's first 10 %.
    const installs = await readJson(kafka, config.topics.installEvents);
    const reporters = (rolloutId: string) =>
      new Set(
        installs
          .filter((r) => r.rolloutId === rolloutId && r.offerId === exposureOfferId(LANE, 0, 1))
          .map((r) => String(r.deviceId)),
      );
    const bad = reporters(oldId);
    const fixed = reporters(newId);
    expect(bad.size).toBeGreaterThan(200);
    for (const id of fixed) expect(cohortOf(id, oldId)).toBeLessThan(1000);
    const overlap = [...bad].filter((id) => fixed.has(id)).length;
    expect(overlap).toBeGreaterThanOrEqual(0.95 * bad.size);
    // The ingest counted them: no report of the fix was dead-lettered, and the first window holds their outcomes.
    const dead = (await readJson(kafka, config.topics.installEventsDlq)).filter((r) => r.rolloutId === newId);
    expect(dead).toEqual([]);
    const firstWindow = newLog.filter(
      (e) => e.type === 'health-evaluated' && e.data.offerId === exposureOfferId(LANE, 0, 1),
    );
    const counted = firstWindow.reduce(
      (n, e) => n + (e.type === 'health-evaluated' ? e.data.delta.counts.succeeded : 0),
      0,
    );
    expect(counted).toBeGreaterThan(0.5 * fixed.size);

    // Both postmortems show the link.
    const replay = (id: string) =>
      spawnSync(process.execPath, [BIN, 'replay', id, '--format', 'text'], {
        env,
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
      });
    const oldReport = replay(oldId);
    expect(oldReport.status).toBe(0);
    expect(oldReport.stdout).toContain(`Superseded by ${newId}`);
    const newReport = replay(newId);
    expect(newReport.status).toBe(0);
    expect(newReport.stdout).toContain(
      `Supersedes ${oldId}: a fixed build for ${LANE} (rolled-back after exposing 10.00%)`,
    );
  });
});
