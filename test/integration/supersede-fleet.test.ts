// Superseding a rolled-back class on the real servers, end to end: the worker, the ingest and the fleet simulator run
// as the real `rollout` processes (fresh topics, task queue and consumer groups). A bad build is rolled back from
// laptop-x1 at 10 %; `rollout start fix.yaml --supersedes <old>` (the CLI) brings a fixed build through a linked
// rollout. The fix's first cohort is the old exposed bound under the old rollout's salt — the very devices that
// reported on the bad build report on the fix — the ingest counts them (none dead-lettered as outside the cohort),
// the class completes on the fixed build, and both postmortems (`rollout replay`) name the other rollout.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { startRollout, waitForRollout } from '../../client';
import { cohortOf } from '../../events/cohort';
import { exposureOfferId } from '../../events/lane';
import { parsePlan } from '../../events/plan';
import { readRolloutLog } from '../../replay/read-log';
import { readJsonRecords, startEngineFleet, type EngineFleet } from '../support/engine-fleet';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(300_000);

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

describe('superseding a rolled-back class (worker, ingest and simulator processes)', () => {
  let fleet: EngineFleet;
  let kafka: Kafka;
  let oldId: string;
  let newId: string;
  let dir: string;

  beforeAll(async () => {
    const base = uniqueName('supersede');
    dir = mkdtempSync(path.join(tmpdir(), 'supersede-'));
    writeFileSync(path.join(dir, 'fix.yaml'), FIX_PLAN);
    writeFileSync(path.join(dir, 'scenario.yaml'), SCENARIO);
    fleet = await startEngineFleet(base, path.join(dir, 'scenario.yaml'));
    kafka = fleet.kafka;

    const bad = parsePlan(BAD_PLAN);
    if (!bad.ok) throw new Error('bad plan invalid');
    oldId = `${base}-old`;
    newId = `${base}-fix`;
    await startRollout(fleet.client, {
      plan: bad.plan,
      rolloutId: oldId,
      actor: 'sre-test',
      reason: 'bad build',
      taskQueue: fleet.config.temporal.taskQueue,
    });
    await waitForRollout(fleet.client, oldId);
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the class completes on the fixed build, first offered to the devices that got the bad one', async () => {
    const { config, client } = fleet;
    const oldLog = (await readRolloutLog(kafka, config.topics.rolloutEvents, oldId)).events;
    const rollback = oldLog.find((e) => e.type === 'rollback-started');
    expect(rollback?.type === 'rollback-started' && rollback.data.cohortBound).toBe(1000);
    expect(oldLog.find((e) => e.type === 'rollout-completed')?.data).toEqual({ lanes: { [LANE]: 'rolled-back' } });

    // The CLI, as an SRE runs it; a refusal first: a rollout cannot supersede one that does not exist.
    const refused = fleet.cli([
      'start',
      path.join(dir, 'fix.yaml'),
      '--id',
      `${newId}-x`,
      '--supersedes',
      `${oldId}-nope`,
    ]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toContain(`unknown rollout ${oldId}-nope`);
    const started = fleet.cli([
      'start',
      path.join(dir, 'fix.yaml'),
      '--id',
      newId,
      '--supersedes',
      oldId,
      '--reason',
      'fixed build',
    ]);
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
    const installs = await readJsonRecords(kafka, config.topics.installEvents);
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
    const dead = (await readJsonRecords(kafka, config.topics.installEventsDlq)).filter((r) => r.rolloutId === newId);
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
    const replay = (id: string) => fleet.cli(['replay', id, '--format', 'text']);
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
