// The `rollout` binary, spawned as an SRE runs it, against the real Temporal and Kafka servers and a real worker
// process: every command, its --json output, and each error path (bad plan, unknown rollout, refused command,
// missing reason, unreachable server) with its exit code and without a stack trace; and `status` warning about an
// event id with two contents in the log.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainEvent } from '../../events/domain-events';
import { startEngineProcess, type EngineProcess } from '../../scripts/engine-process';
import { testKafka } from '../support/endpoints';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(180_000);

const BIN = join(__dirname, '../../bin/rollout.js');
const run = uniqueName('cli');
const env: NodeJS.ProcessEnv = {
  BSI_TOPIC_ROLLOUT_EVENTS: `${run}.rollout-events`,
  BSI_TOPIC_COMMANDS: `${run}.commands`,
  BSI_TOPIC_INSTALL_EVENTS: `${run}.install-events`,
  BSI_TOPIC_INSTALL_EVENTS_DLQ: `${run}.dlq`,
  TEMPORAL_TASK_QUEUE: run,
  LOG_LEVEL: 'warn',
};

type Result = { code: number | null; stdout: string; stderr: string };

function rollout(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const noStack = (r: Result) => expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);

const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
const planFile = join(dir, 'plan.yaml');
writeFileSync(
  planFile,
  [
    'releaseId: bsi-cli-test',
    'artifact: { build: 26.3.1 }',
    'deviceClasses: [phone-a, laptop-x1]',
    'phases:',
    '  - { share: 1, bake: 1h }',
    '  - { share: 100, bake: 1h, approval: manual }',
    'thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600 }',
    'breachPolicy: { action: pause }',
  ].join('\n'),
);
const badPlan = join(dir, 'bad.yaml');
writeFileSync(
  badPlan,
  'releaseId: x\nartifact: { build: 1.0 }\ndeviceClasses: [a]\nphases: [{ share: 50, bake: 1m }, { share: 20, bake: 1m }]\nthresholds: { maxFailureRate: 2, minSample: 10, installTimeoutSec: 60 }\nbreachPolicy: { action: pause }\n',
);

let worker: EngineProcess;
const rolloutId = `${run}-r1`;

beforeAll(async () => {
  worker = startEngineProcess('worker', ['worker'], { env: { ...env, LOG_LEVEL: 'info' }, ready: /worker running/ });
  await worker.ready;
});

afterAll(async () => {
  await worker.stop();
});

test('help lists every command', async () => {
  const r = await rollout(['--help']);
  expect(r.code).toBe(0);
  for (const c of [
    'start',
    'status',
    'list',
    'pause',
    'resume',
    'approve',
    'retry',
    'rollback',
    'abort',
    'events',
    'worker',
    'ingest',
    'simulate',
    'dev',
  ]) {
    expect(r.stdout).toContain(c);
  }
});

test('a bad plan is refused with path, value and rule, exit 2, before anything starts', async () => {
  for (const command of ['validate', 'start']) {
    const r = await rollout([command, badPlan]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('phases[1].share: must be greater than the previous phase (50) (value: 20)');
    expect(r.stderr).toContain('thresholds.maxFailureRate');
    noStack(r);
  }
  const missing = await rollout(['start', join(dir, 'nope.yaml')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('cannot read plan');
});

test('start, status, list and events speak JSON', async () => {
  const started = await rollout([
    'start',
    planFile,
    '--id',
    rolloutId,
    '--reason',
    'cli test',
    '--actor',
    'alice',
    '--json',
  ]);
  expect(started.code).toBe(0);
  const out = JSON.parse(started.stdout) as { rolloutId: string; workflowId: string; ui: string };
  expect(out.rolloutId).toBe(rolloutId);
  expect(out.ui).toContain(encodeURIComponent(`rollout/${rolloutId}`));

  const again = await rollout(['start', planFile, '--id', rolloutId, '--reason', 'twice']);
  expect(again.code).toBe(2);
  expect(again.stderr).toContain('already exists');

  let status: {
    status: string;
    lanes: { lane: string; phase: number; status: string; waitingFor: { kind: string } | null }[];
  };
  const deadline = Date.now() + 60_000;
  do {
    const r = await rollout(['status', rolloutId, '--json']);
    expect(r.code).toBe(0);
    status = JSON.parse(r.stdout) as typeof status;
  } while (status.lanes.some((l) => l.waitingFor?.kind !== 'bake') && Date.now() < deadline);
  expect(status.status).toBe('running');
  expect(status.lanes.map((l) => l.lane).sort()).toEqual(['laptop-x1', 'phone-a']);
  expect(status.lanes.every((l) => l.phase === 0 && l.waitingFor?.kind === 'bake')).toBe(true);

  const text = await rollout(['status', rolloutId]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/CLASS\s+STATUS\s+PHASE\s+EXPOSED/);
  expect(text.stdout).toMatch(/phone-a\s+running\s+1\/2\s+1\.00%/);

  const list = await rollout(['list', '--json']);
  expect(list.code).toBe(0);
  expect((JSON.parse(list.stdout) as { rolloutId: string }[]).map((r) => r.rolloutId)).toContain(rolloutId);
});

test('operator commands: accepted with actor and reason, refused with the reason, reason required', async () => {
  const noReason = await rollout(['pause', rolloutId, '--class', 'phone-a']);
  expect(noReason.code).toBe(2);
  expect(noReason.stderr).toContain('needs --reason');

  const pause = await rollout([
    'pause',
    rolloutId,
    '--class',
    'phone-a',
    '--reason',
    'investigating E_DISK_FULL',
    '--actor',
    'alice',
    '--json',
  ]);
  expect(pause.code).toBe(0);
  expect(JSON.parse(pause.stdout)).toMatchObject({ command: 'pause', lane: 'phone-a', actor: 'alice', accepted: true });

  const approve = await rollout(['approve', rolloutId, '--class', 'laptop-x1', '--reason', 'looks fine']);
  expect(approve.code).toBe(4);
  expect(approve.stderr).toMatch(/^rollout: refused: /);
  noStack(approve);

  const resume = await rollout([
    'resume',
    rolloutId,
    '--class',
    'phone-a',
    '--actor',
    'bob',
    '--reason',
    'false alarm',
  ]);
  expect(resume.code).toBe(0);
  expect(resume.stdout).toContain('resume accepted for class phone-a');

  const unknownClass = await rollout(['pause', rolloutId, '--class', 'watch-z', '--reason', 'x']);
  expect(unknownClass.code).toBe(3);

  const events = await rollout(['events', rolloutId, '--json']);
  expect(events.code).toBe(0);
  const log = events.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; lane: string | null; actor?: string; reason?: string });
  const accepted = log.filter((e) => e.type === 'operator-command-accepted');
  expect(accepted.map((e) => [e.lane, e.actor, e.reason])).toEqual([
    ['phone-a', 'alice', 'investigating E_DISK_FULL'],
    ['phone-a', 'bob', 'false alarm'],
  ]);
  expect(log[0]).toMatchObject({ type: 'rollout-started', actor: 'alice', reason: 'cli test' });

  const readable = await rollout(['events', rolloutId]);
  expect(readable.stdout).toContain('[by alice: investigating E_DISK_FULL]');
});

test('status warns about an event id with two contents in the log, and lists it in --json', async () => {
  const before = await rollout(['status', rolloutId, '--json']);
  expect(before.code).toBe(0);
  expect(JSON.parse(before.stdout)).toMatchObject({ status: 'running', conflicts: [] });

  // A second content for an event the rollout already logged, appended behind the engine's back (as a reset or a
  // non-deterministic run of the workflow would append it).
  const events = await rollout(['events', rolloutId, '--json']);
  const accepted = events.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as DomainEvent)
    .find((e) => e.type === 'operator-command-accepted' && e.lane === 'phone-a');
  if (accepted === undefined) throw new Error('no operator-command-accepted for phone-a in the log');
  const producer = testKafka(`${run}-conflict`).producer();
  await producer.connect();
  try {
    await producer.send({
      topic: `${run}.rollout-events`,
      messages: [{ key: rolloutId, value: JSON.stringify({ ...accepted, reason: 'a second content' }) }],
    });
  } finally {
    await producer.disconnect();
  }

  const json = await rollout(['status', rolloutId, '--json']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toMatchObject({
    status: 'running',
    conflicts: [
      { eventId: accepted.eventId, diff: [`reason: ${JSON.stringify(accepted.reason)} → "a second content"`] },
    ],
  });

  const text = await rollout(['status', rolloutId]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/phone-a\s+running/);
  expect(text.stderr).toContain(`rollout: warning: event ${accepted.eventId} appears with two contents`);
  noStack(text);

  const skipped = await rollout(['status', rolloutId, '--json', '--no-log-check']);
  expect(skipped.code).toBe(0);
  expect(JSON.parse(skipped.stdout)).toMatchObject({ conflicts: null, conflictsUnchecked: 'skipped (--no-log-check)' });
});

test('abort ends the rollout', async () => {
  const abort = await rollout(['abort', rolloutId, '--reason', 'test over', '--json']);
  expect(abort.code).toBe(0);
  const watch = await rollout(['status', rolloutId, '--watch', '--json', '--interval', '300']);
  expect(watch.code).toBe(0);
  const last = JSON.parse(watch.stdout.trim().split('\n').pop() ?? '{}') as { status: string };
  expect(last.status).toBe('aborted');
  const after = await rollout(['pause', rolloutId, '--reason', 'too late']);
  expect([3, 4]).toContain(after.code);
});

test('unknown rollouts and unreachable servers are named, with how to fix it', async () => {
  const unknown = await rollout(['status', `${run}-nope`]);
  expect(unknown.code).toBe(3);
  expect(unknown.stderr).toContain(`unknown rollout ${run}-nope`);
  noStack(unknown);

  const noTemporal = await rollout(['status', 'x'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(noTemporal.code).toBe(5);
  expect(noTemporal.stderr).toContain('Temporal at 127.0.0.1:1 does not answer');
  expect(noTemporal.stderr).toContain('make servers-up');
  noStack(noTemporal);

  const noKafka = await rollout(['events', 'x'], { KAFKA_BROKERS: '127.0.0.1:1' });
  expect(noKafka.code).toBe(5);
  expect(noKafka.stderr).toContain('Kafka at 127.0.0.1:1 does not answer');
  noStack(noKafka);

  const badEnv = await rollout(['list'], { KAFKA_BROKERS: 'nonsense' });
  expect(badEnv.code).toBe(2);
  expect(badEnv.stderr).toContain('KAFKA_BROKERS="nonsense"');
});
