// Kafka transport security for real: a CA and a broker certificate are generated now (openssl, keytool) into a
// temp directory, a second local broker starts with only TLS listeners (SSL, and SASL_SSL with SCRAM-SHA-256),
// and the engine — worker and ingest as real processes, configured purely by environment (KAFKA_SSL,
// KAFKA_SSL_CA_FILE) — runs a rollout through it with the fleet simulator until every class completes. Plaintext
// clients and wrong SCRAM passwords are refused. The broker and its keys are removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startRollout, waitForRollout } from '../../client';
import { loadConfig, type Config } from '../../config/env';
import { validatePlan } from '../../events/plan';
import { createKafka } from '../../kafka/client';
import { createLogger } from '../../observability/log';
import { startEngineProcess, type EngineProcess } from '../../scripts/engine-process';
import { kafkaAnswers } from '../../scripts/servers/index';
import { makeTlsMaterial, startTlsBroker, type TlsBroker } from '../../scripts/servers/kafka-tls';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { ScenarioSchema } from '../../simulator/scenario';
import { connectClient } from '../../temporal/connection';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(300_000);

const SSL_PORT = Number(process.env.BSI_KAFKA_TLS_PORT ?? 19093);
const SASL_PORT = SSL_PORT + 2;
const SCRAM = { username: 'bsi-engine', password: `pw-${Date.now().toString(36)}` };

let dir: string;
let broker: TlsBroker | undefined;
let env: Record<string, string>;
let config: Config;
const children: EngineProcess[] = [];
let simulator: FleetSimulator | undefined;
let client: Client | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bsi-kafka-tls-'));
  const tls = makeTlsMaterial(dir);
  broker = await startTlsBroker({
    tls,
    sslPort: SSL_PORT,
    saslPort: SASL_PORT,
    controllerPort: SSL_PORT + 1,
    scram: SCRAM,
  });
  const run = uniqueName('tls');
  env = {
    KAFKA_BROKERS: broker.sslBroker,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: tls.caFile,
    TEMPORAL_TASK_QUEUE: run,
    INGEST_GROUP_ID: `${run}-ingest`,
    INGEST_METRICS_PORT: '0',
    LOG_LEVEL: 'info',
  };
  config = loadConfig({ ...process.env, ...env });
}, 180_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop()));
  await simulator?.stop().catch(() => undefined);
  await client?.connection.close().catch(() => undefined);
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a plaintext client gets nothing from the TLS listener', async () => {
  expect(await kafkaAnswers([broker!.sslBroker])).toBe(false);
});

test('SASL_SSL with SCRAM-SHA-256: the right password is admitted, a wrong one refused', async () => {
  const sasl = (password: string) =>
    createKafka(
      {
        ...config.kafka,
        brokers: [broker!.saslBroker],
        sasl: { mechanism: 'scram-sha-256', username: SCRAM.username, password },
      },
      { clientId: 'tls-sasl-test', logLevel: 'nothing' },
    ).admin();
  const good = sasl(SCRAM.password);
  await good.connect();
  expect((await good.describeCluster()).brokers.length).toBe(1);
  await good.disconnect();
  const bad = sasl('wrong-password');
  await expect(bad.connect()).rejects.toThrow(/SASL|authentication/i);
  await bad.disconnect().catch(() => undefined);
});

test('worker, ingest and fleet run a rollout to completion over Kafka SSL', async () => {
  const logDir = dir;
  children.push(
    startEngineProcess('worker', ['worker'], { env, logFile: join(logDir, 'worker.log'), ready: /worker running/ }),
    startEngineProcess('ingest', ['ingest'], { env, logFile: join(logDir, 'ingest.log'), ready: /"ingest":"started"/ }),
  );
  simulator = new FleetSimulator({
    config,
    scenario: ScenarioSchema.parse({
      seed: 7,
      defaults: {
        failureRate: 0.001,
        errorCodes: { E_NETWORK: 1 },
        silentRate: 0,
        duplicateRate: 0.02,
        reorderRate: 0.02,
        rollbackSuccessRate: 1,
        checkInDelaySec: { median: 0.5, max: 1.5 },
        installDurationSec: { median: 0.5, max: 1.5 },
        rollbackDurationSec: { median: 0.5, max: 1 },
      },
      classes: { 'tls-phone': { devices: 600 }, 'tls-tablet': { devices: 600 } },
    }),
    logger: createLogger('simulator', 'warn'),
    groupId: `${env.TEMPORAL_TASK_QUEUE}-sim`,
  });
  await Promise.all([...children.map((c) => c.ready), simulator.start()]);

  const plan = validatePlan({
    releaseId: 'bsi-tls',
    artifact: { build: '1.0.0' },
    deviceClasses: ['tls-phone', 'tls-tablet'],
    phases: [
      { share: 50, bake: '3s' },
      { share: 100, bake: '5s' },
    ],
    thresholds: { maxFailureRate: 0.05, minSample: 30, installTimeoutSec: 60 },
    breachPolicy: { action: 'pause' },
  });
  if (!plan.ok) throw new Error(JSON.stringify(plan.errors));
  client = await connectClient(config.temporal);
  const rolloutId = `${env.TEMPORAL_TASK_QUEUE}-r`;
  await startRollout(client, {
    plan: plan.plan,
    rolloutId,
    actor: 'kafka-ssl-test',
    reason: 'rollout over TLS',
    taskQueue: config.temporal.taskQueue,
  });
  const summary = await waitForRollout(client, rolloutId);
  expect(summary.lanes).toEqual({ 'tls-phone': 'completed', 'tls-tablet': 'completed' });
  // The fleet really heard the orders over TLS and reported back: every device of both classes reacted.
  const truth = Object.values(simulator.truthOf(rolloutId));
  expect(truth.reduce((n, t) => n + t.reacted, 0)).toBe(1200);
});
