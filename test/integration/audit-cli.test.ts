// The audit trail through the real `rollout` binary: a rollout started and steered by different people with the
// CLI (start, pause, resume, abort), read back with `rollout events --json` — every operator command is in the
// event log with who and why; a destructive command without a reason is refused (non-zero exit, nothing recorded).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { DomainEvent } from '../../events/domain-events';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import { createHarness, type Harness } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(180_000);

const BIN = join(__dirname, '..', '..', 'bin', 'rollout.js');
const run = promisify(execFile);

let connection: NativeConnection;
let client: Client;
let h: Harness;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  client = await testTemporalClient();
  connection = await testWorkerConnection();
  h = await createHarness({ connection, client, prefix: 'audit' });
  await h.startWorker();
  env = {
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: h.config.topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: h.config.topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: h.config.topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: h.config.topics.installEventsDlq,
    BSI_TOPIC_PARTITIONS: String(h.config.topics.partitions),
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    LOG_LEVEL: 'silent',
  };
}, 120_000);

afterAll(async () => {
  await h?.close();
  await connection?.close();
  await client?.connection.close();
});

/** Runs the CLI; resolves with exit code and output (never rejects on a non-zero exit). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('rollout events shows who did what and why; a destructive command without a reason is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-'));
  const planFile = join(dir, 'plan.yaml');
  writeFileSync(
    planFile,
    [
      'releaseId: bsi-audit',
      'artifact: { build: 1.0.0 }',
      'deviceClasses: [phone-a, phone-b]',
      'phases:',
      '  - { share: 1, bake: 1h }',
      '  - { share: 100, bake: 0 }',
      'thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 60 }',
      'breachPolicy: { action: pause }',
      '',
    ].join('\n'),
  );
  const id = uniqueName('audit-r');
  const started = await cli('start', planFile, '--id', id, '--actor', 'alice', '--reason', 'CVE-2026-0001 fix');
  expect(started.code === 0 ? 'ok' : started.stderr).toBe('ok');

  // Wait until the lanes run (the lane workflows accept commands).
  for (let i = 0; i < 60; i++) {
    const status = await cli('status', id, '--json');
    if (
      status.code === 0 &&
      (JSON.parse(status.stdout) as { lanes: { status: string }[] }).lanes.every((l) => l.status === 'running')
    )
      break;
    await new Promise((r) => setTimeout(r, 500));
  }

  const refused = await cli('pause', id, '--class', 'phone-a', '--actor', 'mallory');
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/needs --reason/);
  const blank = await cli('abort', id, '--actor', 'mallory', '--reason', '   ');
  expect(blank.code).not.toBe(0);

  expect(
    await cli('pause', id, '--class', 'phone-a', '--actor', 'bob', '--reason', 'crash reports from QA'),
  ).toMatchObject({ code: 0 });
  expect(
    await cli('resume', id, '--class', 'phone-a', '--actor', 'bob', '--reason', 'QA crash was unrelated'),
  ).toMatchObject({ code: 0 });
  expect(await cli('abort', id, '--actor', 'carol', '--reason', 'superseded by 26.3.2')).toMatchObject({ code: 0 });

  let events: DomainEvent[] = [];
  for (let i = 0; i < 30; i++) {
    const read = await cli('events', id, '--json');
    events = read.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DomainEvent);
    if (events.some((e) => e.type === 'operator-command-accepted' && e.actor === 'carol')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const who = events
    .filter((e) => e.actor !== undefined)
    .map((e) => ({ type: e.type, lane: e.lane, actor: e.actor, reason: e.reason }));
  expect(who).toEqual(
    expect.arrayContaining([
      { type: 'rollout-started', lane: null, actor: 'alice', reason: 'CVE-2026-0001 fix' },
      { type: 'operator-command-accepted', lane: 'phone-a', actor: 'bob', reason: 'crash reports from QA' },
      { type: 'lane-paused', lane: 'phone-a', actor: 'bob', reason: 'crash reports from QA' },
      { type: 'operator-command-accepted', lane: 'phone-a', actor: 'bob', reason: 'QA crash was unrelated' },
      { type: 'operator-command-accepted', lane: null, actor: 'carol', reason: 'superseded by 26.3.2' },
    ]),
  );
  // Every operator command in the log names its actor and reason; the refused ones left no trace.
  for (const e of events.filter((x) => x.type === 'operator-command-accepted')) {
    expect(e.actor).toBeTruthy();
    expect(e.reason?.trim()).toBeTruthy();
  }
  expect(events.some((e) => e.actor === 'mallory')).toBe(false);

  // The readable form names them too.
  const text = await cli('events', id);
  expect(text.stdout).toMatch(/bob/);
  expect(text.stdout).toMatch(/carol/);
});
