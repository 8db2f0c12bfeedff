// The HTTP API against the real Temporal dev server and the real Kafka broker: the API runs in process beside a
// worker, with the dev issuer. A rollout is started through it with a dev token, the status stream delivers the
// change when a class is paused with a reason, the event log records the token's identity as the actor (never a
// self-declared name), the CLI goes through the API (`ROLLOUT_API_URL`) and maps a refused token to exit 6, and an
// Alertmanager alert pauses the class its labels name.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { startApi, type RunningApi } from '../../api/main';
import type { Grant } from '../../api/roles';
import type { RolloutStatusView } from '../../client';
import type { DomainEvent } from '../../events/domain-events';
import { createLogger } from '../../observability/log';
import { testTemporalClient, testWorkerConnection } from '../support/endpoints';
import { createHarness, eventually, type Harness } from '../support/rollout-harness';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(180_000);

const BIN = join(__dirname, '..', '..', 'bin', 'rollout.js');
const run = promisify(execFile);

let client: Client;
let connection: NativeConnection;
let h: Harness;
let api: RunningApi;
let env: NodeJS.ProcessEnv;
let operatorToken: string;
let viewerToken: string;

const PLAN = `releaseId: bsi-api
artifact: { build: 26.3.1 }
deviceClasses: [phone-a, phone-b]
phases:
  - { share: 1, bake: 1h }
  - { share: 100, bake: 0 }
thresholds: { maxFailureRate: 0.05, minSample: 50, installTimeoutSec: 600 }
breachPolicy: { action: pause }
`;

const grants = (role: Grant['role']): Grant[] => [{ role, namespace: api.config.temporal.namespace }];

beforeAll(async () => {
  client = await testTemporalClient();
  connection = await testWorkerConnection();
  h = await createHarness({ connection, client, prefix: 'api' });
  await h.startWorker();
  env = {
    ...process.env,
    BSI_TOPIC_ROLLOUT_EVENTS: h.config.topics.rolloutEvents,
    BSI_TOPIC_COMMANDS: h.config.topics.commands,
    BSI_TOPIC_INSTALL_EVENTS: h.config.topics.installEvents,
    BSI_TOPIC_INSTALL_EVENTS_DLQ: h.config.topics.installEventsDlq,
    BSI_TOPIC_PARTITIONS: String(h.config.topics.partitions),
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    BSI_API_DEV_ISSUER: '1',
    BSI_DATA_DIR: mkdtempSync(join(tmpdir(), 'api-data-')),
    LOG_LEVEL: 'silent',
  };
  api = await startApi({ port: 0, host: '127.0.0.1', env, client, logger: createLogger('api', 'silent') });
  operatorToken = await api.devIssuer!.mint({ sub: 'sre-alice', grants: grants('operator') });
  viewerToken = await api.devIssuer!.mint({ sub: 'watcher', grants: grants('viewer') });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await h?.close();
  await connection?.close();
  await client?.connection.close();
});

async function call(method: 'GET' | 'POST', path: string, token: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Reads the status stream until a status satisfies `done`; resolves with it. */
async function streamUntil(
  rolloutId: string,
  done: (view: RolloutStatusView) => boolean,
  signal: AbortSignal,
): Promise<RolloutStatusView> {
  const res = await fetch(`${api.url}/api/v1/rollouts/${rolloutId}/stream?interval=250`, {
    headers: { authorization: `Bearer ${viewerToken}` },
    signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done: ended } = (await reader.read()) as { value: Uint8Array | undefined; done: boolean };
    if (ended) throw new Error('the stream ended before the change arrived');
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = block.split('\n');
      if (lines[0] !== 'event: status') continue;
      const view = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as RolloutStatusView;
      if (done(view)) {
        await reader.cancel();
        return view;
      }
    }
  }
}

async function logEvents(rolloutId: string, predicate: (events: DomainEvent[]) => boolean): Promise<DomainEvent[]> {
  return eventually(async () => {
    const res = await call('GET', `/api/v1/rollouts/${rolloutId}/events`, viewerToken);
    const events = (res.body.events ?? []) as DomainEvent[];
    return res.status === 200 && predicate(events) ? events : undefined;
  }, 'the events in the log');
}

async function cli(extraEnv: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...env, ...extraEnv },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('start and pause through the API: the stream shows the pause, the log records the token’s identity', async () => {
  const rolloutId = uniqueName('api-r');
  const started = await call('POST', '/api/v1/rollouts', operatorToken, {
    plan: PLAN,
    rolloutId,
    reason: 'CVE-2026-0042 fix',
  });
  expect(started).toMatchObject({ status: 201, body: { rolloutId, actor: 'sre-alice' } });

  const abort = new AbortController();
  const paused = streamUntil(
    rolloutId,
    (view) => view.lanes.find((l) => l.lane === 'phone-a')?.status === 'paused',
    abort.signal,
  );
  // Let the stream deliver the running state first, then pause.
  await eventually(async () => {
    const res = await call('GET', `/api/v1/rollouts/${rolloutId}`, viewerToken);
    const lanes = (res.body as unknown as RolloutStatusView).lanes ?? [];
    return lanes.length === 2 && lanes.every((l) => l.status === 'running') ? true : undefined;
  }, 'both lanes running');
  const forged = await call('POST', `/api/v1/rollouts/${rolloutId}/pause`, operatorToken, {
    class: 'phone-a',
    reason: 'x',
    actor: 'somebody-else',
  });
  expect(forged.status).toBe(400);
  const pause = await call('POST', `/api/v1/rollouts/${rolloutId}/pause`, operatorToken, {
    class: 'phone-a',
    reason: 'boot loops reported by support',
  });
  expect(pause).toMatchObject({ status: 200, body: { actor: 'sre-alice', class: 'phone-a', accepted: true } });
  const view = await paused;
  abort.abort();
  expect(view.lanes.find((l) => l.lane === 'phone-a')).toMatchObject({ status: 'paused', pausedBy: 'operator' });

  const events = await logEvents(rolloutId, (es) => es.some((e) => e.type === 'lane-paused'));
  const pausedEvent = events.find((e) => e.type === 'lane-paused')!;
  expect(pausedEvent).toMatchObject({ actor: 'sre-alice', reason: 'boot loops reported by support' });
  expect(events.find((e) => e.type === 'rollout-started')).toMatchObject({
    actor: 'sre-alice',
    reason: 'CVE-2026-0042 fix',
  });
  expect(events.some((e) => (e as { actor?: string }).actor === 'somebody-else')).toBe(false);

  // The CLI through the API: the actor is the token's, a viewer's token is refused (exit 6) with the reason.
  const viaApi = { ROLLOUT_API_URL: api.url, ROLLOUT_API_TOKEN: operatorToken };
  const resumed = await cli(viaApi, 'resume', rolloutId, '--class', 'phone-a', '--reason', 'false alarm');
  expect(resumed.code === 0 ? resumed.stdout : resumed.stderr).toMatch(/resume accepted .* as sre-alice/);
  const status = await cli(viaApi, 'status', rolloutId, '--json');
  expect(JSON.parse(status.stdout)).toMatchObject({ rolloutId, conflicts: [] });
  const withActor = await cli(viaApi, 'pause', rolloutId, '--class', 'phone-a', '--reason', 'r', '--actor', 'ceo');
  expect(withActor.code).toBe(2);
  expect(withActor.stderr).toMatch(/--actor cannot be used through the API/);
  const denied = await cli(
    { ...viaApi, ROLLOUT_API_TOKEN: viewerToken },
    'pause',
    rolloutId,
    '--class',
    'phone-a',
    '--reason',
    'r',
  );
  expect(denied.code).toBe(6);
  expect(denied.stderr).toMatch(/watcher needs role operator/);
  const forgedToken = await cli({ ...viaApi, ROLLOUT_API_TOKEN: `${operatorToken.slice(0, -4)}AAAA` }, 'list');
  expect(forgedToken.code).toBe(6);
  expect(forgedToken.stderr).toMatch(/bad signature/);
  await logEvents(rolloutId, (es) => es.some((e) => e.type === 'lane-resumed' && e.actor === 'sre-alice'));

  await call('POST', `/api/v1/rollouts/${rolloutId}/abort`, operatorToken, { reason: 'test done' });
});

test('an Alertmanager alert pauses the class its labels name, with the alert as the audited reason', async () => {
  const rolloutId = uniqueName('api-am');
  expect((await call('POST', '/api/v1/rollouts', operatorToken, { plan: PLAN, rolloutId })).status).toBe(201);
  const alertmanager = await api.devIssuer!.mint({ sub: 'alertmanager', grants: grants('operator') });
  await eventually(async () => {
    const res = await call('GET', `/api/v1/rollouts/${rolloutId}`, viewerToken);
    const lane = (res.body as unknown as RolloutStatusView).lanes?.find((l) => l.lane === 'phone-b');
    return lane?.status === 'running' ? true : undefined;
  }, 'phone-b running');
  const webhook = {
    version: '4',
    groupKey: '{}:{alertname="BsiBootLoops"}',
    status: 'firing',
    receiver: 'bsi-rollout',
    groupLabels: { alertname: 'BsiBootLoops' },
    commonLabels: { alertname: 'BsiBootLoops' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.local',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'BsiBootLoops', rollout_id: rolloutId, device_class: 'phone-b', severity: 'page' },
        annotations: { summary: 'boot loops on phone-b above 1%' },
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: 'a1b2c3d4',
      },
    ],
  };
  const res = await call('POST', '/api/v1/alertmanager', alertmanager, webhook);
  expect(res.status).toBe(200);
  expect(res.body.results).toEqual([expect.objectContaining({ rolloutId, class: 'phone-b', outcome: 'paused' })]);
  const status = (await call('GET', `/api/v1/rollouts/${rolloutId}`, viewerToken)).body as unknown as RolloutStatusView;
  expect(status.lanes.find((l) => l.lane === 'phone-b')?.status).toBe('paused');
  expect(status.lanes.find((l) => l.lane === 'phone-a')?.status).toBe('running');
  // Alertmanager repeats the notification while the alert fires: the same request id, applied once.
  const again = await call('POST', '/api/v1/alertmanager', alertmanager, webhook);
  expect(again.body.results).toEqual([expect.objectContaining({ outcome: 'paused' })]);
  // Resolved: nothing resumes.
  const resolved = await call('POST', '/api/v1/alertmanager', alertmanager, {
    ...webhook,
    status: 'resolved',
    alerts: [{ ...webhook.alerts[0], status: 'resolved' }],
  });
  expect(resolved.body.results).toEqual([expect.objectContaining({ outcome: 'ignored' })]);
  const events = await logEvents(rolloutId, (es) => es.some((e) => e.type === 'lane-paused'));
  const paused = events.filter((e) => e.type === 'lane-paused');
  expect(paused).toHaveLength(1);
  expect(paused[0]).toMatchObject({
    actor: 'alertmanager',
    reason: 'alert BsiBootLoops: boot loops on phone-b above 1% (Alertmanager, fingerprint a1b2c3d4)',
  });
  const after = (await call('GET', `/api/v1/rollouts/${rolloutId}`, viewerToken)).body as unknown as RolloutStatusView;
  expect(after.lanes.find((l) => l.lane === 'phone-b')?.status).toBe('paused');
  await call('POST', `/api/v1/rollouts/${rolloutId}/abort`, operatorToken, { reason: 'test done' });
});
